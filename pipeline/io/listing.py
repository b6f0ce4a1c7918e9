"""`list_inputs`: input patterns -> the run's `InputFile`s, in a deterministic order.

Files, folders, globs and `datasets` folders, local or through fsspec; each file gets a `source` (its path
relative to the configured folder or glob base, so derived ids survive moving the corpus) and a fingerprint
(xxh3 of its bytes, or the store's checksum: S3 `ETag`, GCS `md5Hash` ..., so listing a bucket does not
download it). Format, compression and encoding are sniffed here, and a wrong text field is refused up front."""

from __future__ import annotations

import glob
import json
import os
import posixpath
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import xxhash

from pipeline.io.columnar import check_columns
from pipeline.io.decoding import check_compression, sniff_compression, sniff_encoding
from pipeline.io.files import ARROW_EXTS, COMPRESSION_EXTS, JSONL_EXTS, PARQUET_EXTS, InputError, InputFile
from pipeline.io.jsonl import check_jsonl_field
from pipeline.io.remote import hidden, is_url, isfile, open_raw, pjoin, remote_errors, url_fs, url_glob_base, url_rel

if TYPE_CHECKING:
    from pipeline.config import InputConfig, SyntheticSource


def list_inputs(
    inp: InputConfig, synthetic: Sequence[SyntheticSource] = (), resolve: Callable[[str], str] = os.path.abspath
) -> list[InputFile]:
    """Every input file of the run, real inputs first, then synthetic sources, in a deterministic order.
    `resolve` turns a configured path into a usable one (`RunConfig.resolve`: relative to the config file)."""
    out: list[InputFile] = []
    for p in inp.paths:
        out += _expand(resolve(p), inp, None)
    for i, src in enumerate(synthetic):
        info = {
            "name": src.name,
            "defaults": dict(src.defaults),
            "required": list(src.required),
            "index": i,
        }
        for p in src.paths:
            out += _expand(resolve(p), inp, info)
    seen: dict[str, InputFile] = {}
    by_source: dict[str, InputFile] = {}
    files = []
    for f in out:
        if f.path in seen:  # listed by two patterns
            continue
        other = by_source.get(f.source)
        if other is not None:
            raise InputError(
                f"{f.path}: has the same source name {f.source!r} as {other.path}; derived ids would collide "
                "(list their parent folders instead)"
            )
        seen[f.path] = by_source[f.source] = f
        files.append(f)
    return files


def _expand(pattern: str, inp: InputConfig, synthetic: dict[str, Any] | None) -> list[InputFile]:
    prefix = f"synthetic/{synthetic['name']}/" if synthetic else ""
    if is_url(pattern):
        with remote_errors(pattern, "cannot list"):
            return _expand_url(pattern, prefix, inp, synthetic)
    fmt = inp.format
    if glob.has_magic(pattern):
        base = _glob_base(pattern)
        matches = sorted(glob.glob(pattern, recursive=True))
        files: list[InputFile] = []
        unsupported = []
        for m in matches:
            rel = prefix + _join(os.path.basename(base), _rel(m, base))  # "" for the base itself (`dir/**`)
            if os.path.isdir(m):
                files += _expand_dir(os.path.abspath(m), rel, inp, synthetic)
            elif _detect_format(m) is not None or fmt != "auto":
                files.append(_input_file(os.path.abspath(m), rel, inp, synthetic, _format_of(m, fmt)))
            else:
                unsupported.append(m)
        if not files:
            raise InputError(_no_match(pattern, unsupported))
        return files
    path = os.path.abspath(pattern)
    if os.path.isdir(path):
        return _expand_dir(path, prefix + os.path.basename(path), inp, synthetic)
    if not os.path.exists(path):
        raise InputError(f"{pattern}: no such file or directory")
    return [_input_file(path, prefix + os.path.basename(path), inp, synthetic, _format_of(path, fmt))]


def _expand_url(pattern: str, prefix: str, inp: InputConfig, synthetic: dict[str, Any] | None) -> list[InputFile]:
    """`_expand` through fsspec: the same sources, order and errors as for a local copy of the same layout."""
    fs, path, url_of = url_fs(pattern.rstrip("/"))
    fmt = inp.format
    if glob.has_magic(path):
        base = url_glob_base(path)
        matches = fs.glob(path, detail=True)
        files: list[InputFile] = []
        unsupported = []
        for m in sorted(matches):
            rel = url_rel(m, base)
            if hidden(rel):  # like glob.glob: `*` does not match dot files
                continue
            source = prefix + _join(posixpath.basename(base), rel)
            info = matches[m]
            if info.get("type") == "directory":
                files += _expand_dir(url_of(m), source, inp, synthetic)
            elif _detect_format(m) is not None or fmt != "auto":
                files.append(_input_file(url_of(m), source, inp, synthetic, _format_of(url_of(m), fmt), info))
            else:
                unsupported.append(m)
        if not files:
            raise InputError(_no_match(pattern, unsupported))
        return files
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InputError(f"{pattern}: no such file or directory") from None
    name = posixpath.basename(path.rstrip("/"))
    if info.get("type") == "directory":
        return _expand_dir(url_of(path), prefix + name, inp, synthetic)
    return [_input_file(url_of(path), prefix + name, inp, synthetic, _format_of(pattern, fmt), info)]


def _expand_dir_url(root: str, source_root: str, inp: InputConfig, synthetic: dict[str, Any] | None) -> list[InputFile]:
    """`_expand_dir` through fsspec: one recursive `find`, hidden names skipped, `datasets` folders kept whole."""
    fs, path, url_of = url_fs(root)
    path = path.rstrip("/")
    fmt = inp.format
    found = {url_rel(p, path): info for p, info in fs.find(path, withdirs=False, detail=True).items()}
    found = {rel: info for rel, info in found.items() if rel and not hidden(rel)}
    dataset_dirs: list[str] = []
    for rel in sorted(found):
        d = posixpath.dirname(rel)
        if posixpath.basename(rel) == "state.json" and d and not any(d.startswith(o + "/") for o in dataset_dirs):
            dataset_dirs.append(d)
    files: list[InputFile] = []
    for d in dataset_dirs:
        files += _datasets_folder(pjoin(root, d), _join(source_root, d), inp, synthetic)
    for rel, info in sorted(found.items()):
        if any(rel.startswith(d + "/") for d in dataset_dirs):
            continue
        detected = _detect_format(rel)
        if detected is None or (fmt not in ("auto", "datasets") and detected != fmt):
            continue
        files.append(_input_file(url_of(path + "/" + rel), _join(source_root, rel), inp, synthetic, detected, info))
    if not files:
        exts = ", ".join(JSONL_EXTS + PARQUET_EXTS + ARROW_EXTS)
        raise InputError(f"{root}: no input files in this folder (looked for {exts}, optionally .gz/.zst)")
    files.sort(key=lambda f: f.source)
    return files


def _expand_dir(root: str, source_root: str, inp: InputConfig, synthetic: dict[str, Any] | None) -> list[InputFile]:
    if isfile(pjoin(root, "dataset_dict.json")) or isfile(pjoin(root, "state.json")):
        return _datasets_folder(root, source_root, inp, synthetic)
    if is_url(root):
        return _expand_dir_url(root, source_root, inp, synthetic)
    fmt = inp.format
    files: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = _rel(dirpath, root)
        for d in list(dirnames):
            sub = os.path.join(dirpath, d)
            if os.path.isfile(os.path.join(sub, "state.json")):
                dirnames.remove(d)
                files += _datasets_folder(sub, _join(source_root, rel_dir, d), inp, synthetic)
        for name in sorted(filenames):
            detected = _detect_format(name)
            if name.startswith(".") or detected is None or (fmt not in ("auto", "datasets") and detected != fmt):
                continue
            path = os.path.join(dirpath, name)
            files.append(_input_file(path, _join(source_root, rel_dir, name), inp, synthetic, detected))
    if not files:
        exts = ", ".join(JSONL_EXTS + PARQUET_EXTS + ARROW_EXTS)
        raise InputError(f"{root}: no input files in this folder (looked for {exts}, optionally .gz/.zst)")
    files.sort(key=lambda f: f.source)
    return files


def _no_match(pattern: str, unsupported: list[str]) -> str:
    if not unsupported:
        return f"{pattern}: no input files match"
    exts = sorted({os.path.splitext(u)[1] or os.path.basename(u) for u in unsupported})
    return (
        f"{pattern}: matches {len(unsupported)} file(s) of an unsupported format ({', '.join(exts[:5])}, e.g. "
        f"{unsupported[0]}); use .jsonl/.json/.ndjson (optionally .gz/.zst), .parquet, .arrow/.feather/.ipc, "
        "or set input.format"
    )


def _walk_error(e: OSError) -> None:
    raise InputError(f"{e.filename}: cannot read: {e.strerror or e}")


def _datasets_folder(
    root: str, source_root: str, inp: InputConfig, synthetic: dict[str, Any] | None
) -> list[InputFile]:
    """A folder written by `datasets.save_to_disk` (state.json), or a DatasetDict of them (dataset_dict.json)."""
    dict_json = pjoin(root, "dataset_dict.json")
    if isfile(dict_json):
        splits = _read_json_file(dict_json).get("splits")
        if not isinstance(splits, list):
            raise InputError(f"{dict_json}: no 'splits' list; is this a `datasets` DatasetDict folder?")
        files = []
        for split in splits:
            files += _datasets_folder(pjoin(root, split), _join(source_root, split), inp, synthetic)
        return files
    state_path = pjoin(root, "state.json")
    state = _read_json_file(state_path)
    data_files = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(data_files, list) or not all(isinstance(d, dict) and "filename" in d for d in data_files):
        raise InputError(f"{state_path}: no '_data_files' list; is this a `datasets.save_to_disk` folder?")
    files = []
    for d in data_files:
        path = pjoin(root, d["filename"])
        if not isfile(path):
            raise InputError(f"{path}: listed in {state_path} but missing")
        files.append(_input_file(path, _join(source_root, d["filename"]), inp, synthetic, "datasets"))
    return files


def _input_file(
    path: str,
    source: str,
    inp: InputConfig,
    synthetic: dict[str, Any] | None,
    fmt: str,
    info: dict[str, Any] | None = None,
) -> InputFile:
    try:
        if is_url(path):
            if info is None:
                fs, p, _ = url_fs(path)
                info = fs.info(p)
            size = int(info["size"])
            fingerprint = _store_checksum(info) or file_fingerprint(path)
        else:
            size = os.path.getsize(path)
            fingerprint = file_fingerprint(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    encoding, compression = "utf-8", None
    if fmt == "jsonl":
        compression = sniff_compression(path)
        check_compression(path, compression)
        encoding = sniff_encoding(path, compression, inp.encoding)
        check_jsonl_field(path, compression, encoding, inp.text_field)
    else:
        check_columns(path, fmt, inp)
    return InputFile(path, fmt, source, size, fingerprint, encoding, compression, synthetic)


def _format_of(path: str, configured: str) -> str:
    if configured != "auto":
        return configured
    fmt = _detect_format(path)
    if fmt is None:
        raise InputError(
            f"{path}: unknown input format; use .jsonl/.json/.ndjson (optionally .gz/.zst), .parquet, "
            ".arrow/.feather/.ipc, or set input.format"
        )
    return fmt


def _detect_format(path: str) -> str | None:
    name = path.lower()
    for ext in COMPRESSION_EXTS:
        if name.endswith(ext):
            name = name[: -len(ext)]
            return "jsonl" if name.endswith(JSONL_EXTS) else None
    if name.endswith(JSONL_EXTS):
        return "jsonl"
    if name.endswith(PARQUET_EXTS):
        return "parquet"
    if name.endswith(ARROW_EXTS):
        return "arrow"
    return None


def _glob_base(pattern: str) -> str:
    parts = pattern.split(os.sep)
    fixed = []
    for p in parts:
        if glob.has_magic(p):
            break
        fixed.append(p)
    return os.path.abspath(os.sep.join(fixed) or ".")


def _rel(path: str, base: str) -> str:
    rel = os.path.relpath(os.path.abspath(path), base)
    return "" if rel == "." else rel.replace(os.sep, "/")


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _read_json_file(path: str) -> Any:
    try:
        with open_raw(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None


def file_fingerprint(path: str) -> str:
    h = xxhash.xxh3_64()
    with open_raw(path) as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


# Content checksums object stores report in `fs.info`, best first: an MD5 of the content, then the ETag (the
# MD5 for single-part S3 uploads, a digest of part digests otherwise: a changed file always gets a new one).
_CHECKSUM_KEYS = (("md5Hash", "md5"), ("md5", "md5"), ("ETag", "etag"), ("etag", "etag"), ("crc32c", "crc32c"))


def _store_checksum(info: dict[str, Any]) -> str | None:
    """A fingerprint from the store's metadata, so listing a bucket does not download it; None: hash the bytes.

    Differs from the xxh3 of a local copy, so moving a corpus from disk to a bucket re-curates it once under
    `output.mode: versions`; a missed change is worse than one extra run.
    """
    for key, kind in _CHECKSUM_KEYS:
        v = info.get(key)
        if isinstance(v, bytes | bytearray):
            v = v.hex()
        v = v.strip('"') if isinstance(v, str) else None
        if v:
            return f"{kind}:{v}"
    return None
