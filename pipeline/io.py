"""Input readers (JSONL, Parquet, Arrow, `datasets` folders) and the `datasets`-compatible output writer.

Readers turn every input file into batches of `(documents, rejected)`: documents carry `id` and `text` first,
then the input's other fields untouched; every non-blank input row is either a document or a ledger row with
stage `read` and a reason, so `docs_in == docs_out + docs_rejected` holds from the first stage on. Errors a
user must fix before anything can be read (nothing matches a path, an unknown format, a GBK file without
`input.encoding`, a missing text column) raise `InputError` with one line naming the file.

Ids are kept from the input (`input.id_field`, cast to string) or derived from the file's `source` (its path
relative to the configured folder or glob base, so ids survive moving the corpus) and the 0-based row.

A path with a scheme (`s3://bucket/crawl/*.jsonl.zst`, `gs://`, `hdfs://`, `file://`, `memory://` ...) is
listed and read through fsspec: `InputFile.path` is then the file's full URL, which a worker turns back into a
filesystem with `fsspec.core.url_to_fs` (credentials come from the worker's environment, as fsspec's do).
Sources, derived ids and the fingerprint are the same as for a local copy with the same layout, except that a
file whose store reports a content checksum (S3 `ETag`, GCS `md5Hash` ...) is fingerprinted by it
(`etag:...`, `md5:...`) instead of by reading it whole. Plain paths keep the local fast path (memory-mapped
Arrow and Parquet, buffered local reads).
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import gzip
import io
import itertools
import json
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from pipeline.shards import TMP_SUFFIX, conform, read_shard, shard_rows, shard_schema, unify
from stages.base import rejected_batch

READ_STAGE = "read"
SNIFF_BYTES = 1 << 20
REJECTED_TEXT_CHARS = 2_000  # a rejected 50 MB document keeps only its head in the ledger
MAX_BATCH_BYTES = 128 << 20  # a JSONL batch is also cut at this much input, so huge documents stay bounded
OUTPUT_BATCH_ROWS = 1_000  # rows per record batch in data/ files (what `datasets.save_to_disk` writes)

JSONL_EXTS = (".jsonl", ".json", ".ndjson")
PARQUET_EXTS = (".parquet",)
ARROW_EXTS = (".arrow", ".feather", ".ipc")
COMPRESSION_EXTS = {".gz": "gzip", ".zst": "zstd"}
FORMATS = ("jsonl", "parquet", "arrow", "datasets")
SYNTHETIC_FIELDS = ("generator", "prompt_id", "seed_id", "params")

_UTF8_BOM = codecs.BOM_UTF8
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class InputError(ValueError):
    """An input the user must fix (missing, unreadable, wrongly encoded); the message names the file."""


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute local path, or the full URL of a remote input
    format: str  # jsonl | parquet | arrow | datasets
    source: str  # relative to the configured folder / glob base: stable across machines, seeds derived ids
    size: int
    fingerprint: str  # xxh3_64 of the file's bytes, or "etag:..." / "md5:..." when the store reports one
    encoding: str = "utf-8"  # utf-8 | gb18030 (JSONL only)
    compression: str | None = None  # None | gzip | zstd (JSONL only)
    synthetic: dict[str, Any] | None = None  # {"name", "defaults", "required", "index"} for synthetic sources

    def id_prefix(self) -> str:
        return xxhash.xxh3_64_hexdigest(self.source.encode("utf-8"))[:12]


# -- listing -----------------------------------------------------------------------------------------------


def list_inputs(cfg: Any) -> list[InputFile]:
    """Every input file of the run, real inputs first, then synthetic sources, in a deterministic order."""
    out: list[InputFile] = []
    for p in cfg.input.paths:
        out += _expand(cfg.resolve(p), cfg, None)
    for i, src in enumerate(getattr(cfg, "synthetic", None) or []):
        info = {
            "name": src.name,
            "defaults": dict(src.defaults),
            "required": list(src.required),
            "index": i,
        }
        for p in src.paths:
            out += _expand(cfg.resolve(p), cfg, info)
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


def _expand(pattern: str, cfg: Any, synthetic: dict[str, Any] | None) -> list[InputFile]:
    prefix = f"synthetic/{synthetic['name']}/" if synthetic else ""
    if _is_url(pattern):
        with _remote_errors(pattern, "cannot list"):
            return _expand_url(pattern, prefix, cfg, synthetic)
    fmt = cfg.input.format
    if glob.has_magic(pattern):
        base = _glob_base(pattern)
        matches = sorted(glob.glob(pattern, recursive=True))
        files: list[InputFile] = []
        for m in matches:
            rel = prefix + _join(os.path.basename(base), _rel(m, base))  # "" for the base itself (`dir/**`)
            if os.path.isdir(m):
                files += _expand_dir(os.path.abspath(m), rel, cfg, synthetic)
            elif _detect_format(m) is not None or fmt != "auto":
                files.append(_input_file(os.path.abspath(m), rel, cfg, synthetic, _format_of(m, fmt)))
        if not files:
            raise InputError(f"{pattern}: no input files match")
        return files
    path = os.path.abspath(pattern)
    if os.path.isdir(path):
        return _expand_dir(path, prefix + os.path.basename(path), cfg, synthetic)
    if not os.path.exists(path):
        raise InputError(f"{pattern}: no such file or directory")
    return [_input_file(path, prefix + os.path.basename(path), cfg, synthetic, _format_of(path, fmt))]


def _expand_url(pattern: str, prefix: str, cfg: Any, synthetic: dict[str, Any] | None) -> list[InputFile]:
    """`_expand` through fsspec: the same sources, order and errors as for a local copy of the same layout."""
    fs, path, url_of = _url_fs(pattern.rstrip("/"))
    fmt = cfg.input.format
    if glob.has_magic(path):
        base = _url_glob_base(path)
        matches = fs.glob(path, detail=True)
        files: list[InputFile] = []
        for m in sorted(matches):
            rel = _url_rel(m, base)
            if _hidden(rel):  # like glob.glob: `*` does not match dot files
                continue
            source = prefix + _join(posixpath.basename(base), rel)
            info = matches[m]
            if info.get("type") == "directory":
                files += _expand_dir(url_of(m), source, cfg, synthetic)
            elif _detect_format(m) is not None or fmt != "auto":
                files.append(_input_file(url_of(m), source, cfg, synthetic, _format_of(url_of(m), fmt), info))
        if not files:
            raise InputError(f"{pattern}: no input files match")
        return files
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InputError(f"{pattern}: no such file or directory") from None
    name = posixpath.basename(path.rstrip("/"))
    if info.get("type") == "directory":
        return _expand_dir(url_of(path), prefix + name, cfg, synthetic)
    return [_input_file(url_of(path), prefix + name, cfg, synthetic, _format_of(pattern, fmt), info)]


def _expand_dir_url(root: str, source_root: str, cfg: Any, synthetic: dict[str, Any] | None) -> list[InputFile]:
    """`_expand_dir` through fsspec: one recursive `find`, hidden names skipped, `datasets` folders kept whole."""
    fs, path, url_of = _url_fs(root)
    path = path.rstrip("/")
    fmt = cfg.input.format
    found = {_url_rel(p, path): info for p, info in fs.find(path, withdirs=False, detail=True).items()}
    found = {rel: info for rel, info in found.items() if rel and not _hidden(rel)}
    dataset_dirs: list[str] = []
    for rel in sorted(found):
        d = posixpath.dirname(rel)
        if posixpath.basename(rel) == "state.json" and d and not any(d.startswith(o + "/") for o in dataset_dirs):
            dataset_dirs.append(d)
    files: list[InputFile] = []
    for d in dataset_dirs:
        files += _datasets_folder(_pjoin(root, d), _join(source_root, d), cfg, synthetic)
    for rel, info in sorted(found.items()):
        if any(rel.startswith(d + "/") for d in dataset_dirs):
            continue
        detected = _detect_format(rel)
        if detected is None or (fmt not in ("auto", "datasets") and detected != fmt):
            continue
        files.append(_input_file(url_of(path + "/" + rel), _join(source_root, rel), cfg, synthetic, detected, info))
    if not files:
        exts = ", ".join(JSONL_EXTS + PARQUET_EXTS + ARROW_EXTS)
        raise InputError(f"{root}: no input files in this folder (looked for {exts}, optionally .gz/.zst)")
    files.sort(key=lambda f: f.source)
    return files


def _expand_dir(root: str, source_root: str, cfg: Any, synthetic: dict[str, Any] | None) -> list[InputFile]:
    if _isfile(_pjoin(root, "dataset_dict.json")) or _isfile(_pjoin(root, "state.json")):
        return _datasets_folder(root, source_root, cfg, synthetic)
    if _is_url(root):
        return _expand_dir_url(root, source_root, cfg, synthetic)
    fmt = cfg.input.format
    files: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = _rel(dirpath, root)
        for d in list(dirnames):
            sub = os.path.join(dirpath, d)
            if os.path.isfile(os.path.join(sub, "state.json")):
                dirnames.remove(d)
                files += _datasets_folder(sub, _join(source_root, rel_dir, d), cfg, synthetic)
        for name in sorted(filenames):
            detected = _detect_format(name)
            if name.startswith(".") or detected is None or (fmt not in ("auto", "datasets") and detected != fmt):
                continue
            path = os.path.join(dirpath, name)
            files.append(_input_file(path, _join(source_root, rel_dir, name), cfg, synthetic, detected))
    if not files:
        exts = ", ".join(JSONL_EXTS + PARQUET_EXTS + ARROW_EXTS)
        raise InputError(f"{root}: no input files in this folder (looked for {exts}, optionally .gz/.zst)")
    files.sort(key=lambda f: f.source)
    return files


def _walk_error(e: OSError) -> None:
    raise InputError(f"{e.filename}: cannot read: {e.strerror or e}")


def _datasets_folder(root: str, source_root: str, cfg: Any, synthetic: dict[str, Any] | None) -> list[InputFile]:
    """A folder written by `datasets.save_to_disk` (state.json), or a DatasetDict of them (dataset_dict.json)."""
    dict_json = _pjoin(root, "dataset_dict.json")
    if _isfile(dict_json):
        splits = _read_json_file(dict_json).get("splits")
        if not isinstance(splits, list):
            raise InputError(f"{dict_json}: no 'splits' list; is this a `datasets` DatasetDict folder?")
        files = []
        for split in splits:
            files += _datasets_folder(_pjoin(root, split), _join(source_root, split), cfg, synthetic)
        return files
    state_path = _pjoin(root, "state.json")
    state = _read_json_file(state_path)
    data_files = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(data_files, list) or not all(isinstance(d, dict) and "filename" in d for d in data_files):
        raise InputError(f"{state_path}: no '_data_files' list; is this a `datasets.save_to_disk` folder?")
    files = []
    for d in data_files:
        path = _pjoin(root, d["filename"])
        if not _isfile(path):
            raise InputError(f"{path}: listed in {state_path} but missing")
        files.append(_input_file(path, _join(source_root, d["filename"]), cfg, synthetic, "datasets"))
    return files


def _input_file(
    path: str,
    source: str,
    cfg: Any,
    synthetic: dict[str, Any] | None,
    fmt: str,
    info: dict[str, Any] | None = None,
) -> InputFile:
    try:
        if _is_url(path):
            if info is None:
                fs, p, _ = _url_fs(path)
                info = fs.info(p)
            size = int(info["size"])
            fingerprint = _store_checksum(info) or _fingerprint(path)
        else:
            size = os.path.getsize(path)
            fingerprint = _fingerprint(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    encoding, compression = "utf-8", None
    if fmt == "jsonl":
        compression = _sniff_compression(path)
        encoding = _sniff_encoding(path, compression, cfg.input.encoding)
        _check_jsonl_field(path, compression, encoding, cfg.input.text_field)
    else:
        _check_columns(path, fmt, cfg)
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
        with _open_raw(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None


def _fingerprint(path: str) -> str:
    h = xxhash.xxh3_64()
    with _open_raw(path) as f:
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


def _sniff_compression(path: str) -> str | None:
    with _open_raw(path) as f:
        head = f.read(4)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return None


def _open_bytes(path: str, compression: str | None) -> BinaryIO:
    if not _is_url(path):
        if compression == "gzip":
            return io.BufferedReader(gzip.GzipFile(path, "rb"), buffer_size=1 << 20)  # type: ignore[arg-type]
        if compression == "zstd":
            return io.BufferedReader(_ZstdReader(open(path, "rb")), buffer_size=1 << 20)
        return open(path, "rb", buffering=1 << 20)
    raw = _open_raw(path)
    try:
        if compression == "gzip":
            return _Buffered(gzip.GzipFile(fileobj=raw, mode="rb"), raw)  # GzipFile leaves fileobj open
        if compression == "zstd":
            return _Buffered(_ZstdReader(raw))
        return _Buffered(raw)
    except BaseException:
        raw.close()
        raise


class _Buffered(io.BufferedReader):
    """A 1 MB buffer over a remote file (C-speed line iteration), closing the file under a decompressor too."""

    def __init__(self, raw: Any, also: Any = None):
        super().__init__(raw, buffer_size=1 << 20)
        self._also = also

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._also is not None:
                self._also.close()


# -- paths and URLs ----------------------------------------------------------------------------------------


def _is_url(path: str) -> bool:
    return "://" in path  # as `RunConfig.resolve`, which leaves such paths alone


def _url_fs(url: str) -> tuple[Any, str, Any]:
    """(fsspec filesystem, path inside it, function turning such a path back into a URL) for a URL.

    The URL keeps the user's spelling (scheme alias, host and port of `hdfs://host:8020/...`) when the path
    inside the filesystem is its tail, as for every single-protocol URL; otherwise the filesystem spells it.
    """
    import fsspec.core

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        raise InputError(f"{url}: install {_fs_package(url)} to read {_protocol(url)}:// inputs") from None
    except ValueError as e:
        if "Protocol not known" in str(e):
            raise InputError(f"{url}: unknown protocol {_protocol(url)}:// (no fsspec filesystem for it)") from None
        raise InputError(f"{url}: cannot open: {_first_line(e)}") from None
    except Exception as e:  # a filesystem failing to connect (HDFS without Java, a bad endpoint ...)
        raise InputError(f"{url}: cannot open {_protocol(url)}:// filesystem: {_first_line(e)}") from None
    head = url[: len(url) - len(path)] if "::" not in url and path and url.endswith(path) else None
    if head is not None:
        return fs, path, lambda p: head + p
    return fs, path, fs.unstrip_protocol


def _protocol(url: str) -> str:
    return url.split("::")[-1].split("://", 1)[0]


def _fs_package(url: str) -> str:
    from fsspec.registry import known_implementations

    impl = known_implementations.get(_protocol(url), {})
    pkg = impl.get("class", "").split(".")[0]
    return pkg if pkg and pkg != "fsspec" else f"the fsspec filesystem for {_protocol(url)}://"


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


@contextlib.contextmanager
def _remote_errors(url: str, what: str) -> Iterator[None]:
    """A remote filesystem's failure (credentials, network, permissions) becomes one InputError line naming the
    URL; programming errors (TypeError, KeyError ...) pass through."""
    try:
        yield
    except InputError:
        raise
    except Exception as e:
        if type(e).__module__ == "builtins" and not isinstance(e, OSError | ValueError):
            raise
        raise InputError(f"{url}: {what}: {_first_line(e)}") from None


def _open_raw(path: str) -> BinaryIO:
    if not _is_url(path):
        return open(path, "rb")
    fs, p, _ = _url_fs(path)
    return fs.open(p, "rb")


def _isfile(path: str) -> bool:
    if not _is_url(path):
        return os.path.isfile(path)
    fs, p, _ = _url_fs(path)
    return bool(fs.isfile(p))


def _pjoin(root: str, *names: str) -> str:
    if not _is_url(root):
        return os.path.join(root, *names)
    return "/".join([root.rstrip("/"), *names])


def _url_glob_base(path: str) -> str:
    fixed = []
    for part in path.split("/"):
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed).rstrip("/") or "/"


def _url_rel(path: str, base: str) -> str:
    base = base.rstrip("/")
    path = path.rstrip("/")
    if path == base:
        return ""
    return path[len(base) + 1 :] if path.startswith(base + "/") else path.lstrip("/")


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


class _ZstdReader(io.RawIOBase):
    """Multi-frame zstd decompression that raises EOFError on a truncated file
    (`zstandard`'s stream_reader just ends early, which would lose documents silently)."""

    def __init__(self, fh: BinaryIO):
        import zstandard

        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._fed = False
        self._buf = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            chunk = self._fh.read(1 << 20)
            if not chunk:
                if self._fed and not self._dobj.eof:
                    raise EOFError("zstd stream ended in the middle of a frame (truncated file)")
                return 0
            out = []
            while chunk:
                if self._dobj.eof:
                    self._dobj = self._dctx.decompressobj()
                self._fed = True
                out.append(self._dobj.decompress(chunk))
                chunk = self._dobj.unused_data if self._dobj.eof else b""
            self._buf, self._pos = b"".join(out), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _check_jsonl_field(path: str, compression: str | None, encoding: str, field: str, lines: int = 200) -> None:
    """A wrong `input.text_field` would reject every line as missing_text: refuse the file up front instead,
    naming the fields its first documents do have."""
    seen: dict[str, None] = {}
    objects = 0
    with _open_bytes(path, compression) as f:
        for raw in itertools.islice(f, lines):
            try:
                obj = orjson.loads(raw.decode(encoding))
            except (UnicodeDecodeError, orjson.JSONDecodeError):
                continue  # malformed lines are the reader's business
            if isinstance(obj, dict):
                if field in obj:
                    return
                objects += 1
                seen.update(dict.fromkeys(obj))
    if objects:
        fields = ", ".join(list(seen)[:12]) or "none"
        raise InputError(
            f"{path}: no `{field}` field in its first {objects} documents (fields: {fields}); set input.text_field"
        )


def _sniff_encoding(path: str, compression: str | None, configured: str) -> str:
    """UTF-8 unless the head of the file is mostly GB18030; a few bad lines in a UTF-8 file are rejected later.

    The first MB (after decompression) is decoded line by line: a line with non-ASCII bytes votes UTF-8 when
    it decodes strictly as UTF-8. If UTF-8 loses, the file is GB18030 when every losing line decodes as such;
    otherwise it is UTF-8 with bad lines when some lines are fine, and refused when none is.
    """
    try:
        with _open_bytes(path, compression) as f:
            sample = f.read(SNIFF_BYTES)
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    except Exception as e:  # zstandard.ZstdError and friends
        raise InputError(f"{path}: cannot decompress {compression}: {e}") from None
    if sample.startswith(_UTF8_BOM):
        return "utf-8"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError as e:
        first_bad = e.start
    lines = sample.split(b"\n")
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    ascii_lines = utf8_lines = bad_lines = 0
    gb_ok = True
    for line in lines:
        if not line.strip():
            continue
        if line.isascii():
            ascii_lines += 1
            continue
        try:
            line.decode("utf-8")
            utf8_lines += 1
        except UnicodeDecodeError:
            bad_lines += 1
            try:
                codecs.getincrementaldecoder("gb18030")().decode(line, final=False)
            except UnicodeDecodeError:
                gb_ok = False
    if utf8_lines >= bad_lines:
        return "utf-8"
    if not gb_ok:
        if ascii_lines + utf8_lines:
            return "utf-8"  # some good lines: the others are rejected as read.invalid_utf8
        raise InputError(f"{path}: neither UTF-8 nor GB18030 (first invalid UTF-8 byte at offset {first_bad})")
    if configured in ("auto", "gb18030"):
        return "gb18030"
    raise InputError(f"{path}: not UTF-8 (looks like GBK/GB18030); set input.encoding: auto or gb18030 to decode it")


# -- reading -----------------------------------------------------------------------------------------------


def read_input(f: InputFile, cfg: Any) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    """(documents, rejected) per batch of at most `execution.batch_size` input rows, in bounded memory."""
    batch_size = cfg.execution.batch_size
    if f.format == "jsonl":
        yield from _read_jsonl(f, cfg, batch_size)
        return
    row = 0
    for raw in _rebatch(_columnar_batches(f, cfg), batch_size):
        yield _split_columnar(raw, f, cfg, row)
        row += raw.num_rows


# JSONL


class _JsonlBatch:
    """Accumulates parsed lines; rows are kept apart from their id and text so columns build cheaply."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.rej: tuple[list, list, list, list] = ([], [], [], [])
        self.n = 0
        self.nbytes = 0

    def reject(self, id_: str, reason: str, detail: str, text: str | None) -> None:
        for col, v in zip(self.rej, (id_, reason, detail, text), strict=True):
            col.append(v)
        self.n += 1


def _read_jsonl(
    f: InputFile, cfg: Any, batch_size: int, fh: BinaryIO | None = None, line0: int = 0
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    """The whole file, or (a shard of it) the lines of the open stream `fh`, the first being line `line0`."""
    text_field, id_field = cfg.input.text_field, cfg.input.id_field
    max_chars = cfg.input.max_doc_chars
    clashes = [(k, field) for k, field in (("text", text_field), ("id", id_field)) if k != field]
    prefix = f.id_prefix()
    src = f.source
    gb = f.encoding == "gb18030"
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    acc = _JsonlBatch()
    try:
        fh = fh or _open_bytes(f.path, f.compression)
    except OSError as e:
        raise InputError(f"{f.path}: cannot read: {e.strerror or e}") from None
    with fh:
        lineno = line0 - 1
        first = line0 == 0
        try:
            for raw in fh:
                lineno += 1
                if lineno == 0 and raw.startswith(_UTF8_BOM):
                    raw = raw[3:]
                stripped = raw.strip()
                if not stripped:
                    continue  # blank lines are not documents; row numbers stay line numbers
                where = f"{src}:{lineno + 1}"
                try:
                    obj = loads(stripped.decode("gb18030") if gb else stripped)
                except UnicodeDecodeError as e:
                    acc.reject(
                        f"{prefix}-{lineno}", "invalid_gb18030", f"{where}: byte {e.start}", _head(raw, f.encoding)
                    )
                except JSONDecodeError as e:
                    bad_utf8 = None if gb else _utf8_error(stripped)
                    if bad_utf8 is not None:
                        detail = f"{where}: byte {bad_utf8.start}"
                        acc.reject(f"{prefix}-{lineno}", "invalid_utf8", detail, _head(raw, f.encoding))
                    else:
                        if first and stripped in (b"[", b"{"):
                            raise InputError(
                                f"{f.path}: looks like one JSON document, not JSON Lines (one object per line)"
                            ) from None
                        detail = f"{where}: {e.msg} (column {e.colno})"
                        acc.reject(f"{prefix}-{lineno}", "malformed_json", detail, _head(raw, f.encoding))
                else:
                    _accept_json(acc, obj, raw, lineno, where, prefix, text_field, id_field, max_chars, clashes, f)
                first = False
                acc.nbytes += len(raw)
                if acc.n >= batch_size or acc.nbytes >= MAX_BATCH_BYTES:
                    yield _flush_jsonl(acc, f)
                    acc = _JsonlBatch()
        except (OSError, EOFError) as e:
            raise InputError(f"{f.path}: cannot read after line {lineno + 1}: {e}") from None
        except InputError:
            raise
        except Exception as e:  # zstandard.ZstdError: a truncated or corrupt archive
            if type(e).__module__.startswith("zstandard"):
                raise InputError(f"{f.path}: cannot decompress after line {lineno + 1}: {e}") from None
            raise
    if acc.n:
        yield _flush_jsonl(acc, f)


def _accept_json(
    acc: _JsonlBatch,
    obj: Any,
    raw: bytes,
    lineno: int,
    where: str,
    prefix: str,
    text_field: str,
    id_field: str,
    max_chars: int,
    clashes: list[tuple[str, str]],
    f: InputFile,
) -> None:
    if type(obj) is not dict:
        acc.reject(
            f"{prefix}-{lineno}", "not_an_object", f"{where}: a JSON {type(obj).__name__}", _head(raw, f.encoding)
        )
        return
    for key, field in clashes:
        if key in obj:
            raise InputError(
                f"{f.path}:{lineno + 1}: has a field {key!r} besides input.{key}_field {field!r}; "
                f"rename it or set input.{key}_field: {key}"
            )
    id_value = obj.pop(id_field, None)
    doc_id = f"{prefix}-{lineno}" if id_value is None else _id_str(id_value)
    if text_field not in obj:
        acc.reject(doc_id, "missing_text", f"{where}: no field {text_field!r}", _head(raw, f.encoding))
        return
    text = obj.pop(text_field)
    if text is None:
        acc.reject(doc_id, "null_text", where, _head(raw, f.encoding))
    elif type(text) is not str:
        acc.reject(
            doc_id, "text_not_string", f"{where}: {text_field} is a JSON {type(text).__name__}", _head(raw, f.encoding)
        )
    elif len(text) > max_chars:
        detail = f"{where}: {len(text)} chars > max_doc_chars {max_chars}"
        acc.reject(doc_id, "too_long", detail, text[:REJECTED_TEXT_CHARS])
    elif not text.strip():
        acc.reject(doc_id, "empty_text", where, text[:REJECTED_TEXT_CHARS])
    else:
        acc.ids.append(doc_id)
        acc.texts.append(text)
        acc.rows.append(obj)
        acc.lines.append(lineno)
        acc.n += 1


def _id_str(v: Any) -> str:
    if type(v) is str:
        return v
    if type(v) is int:
        return str(v)
    return orjson.dumps(v).decode()


def _utf8_error(line: bytes) -> UnicodeDecodeError | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as e:
        return e
    return None


def _head(raw: bytes, encoding: str) -> str:
    return raw[: REJECTED_TEXT_CHARS * 4].decode(encoding, errors="replace").rstrip("\r\n")[:REJECTED_TEXT_CHARS]


def _flush_jsonl(acc: _JsonlBatch, f: InputFile) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    names: dict[str, None] = {}
    seen_shapes: set[tuple[str, ...]] = set()
    for r in acc.rows:
        shape = tuple(r)
        if shape not in seen_shapes:
            seen_shapes.add(shape)
            names.update(dict.fromkeys(shape))
    arrays = [pa.array(acc.ids, pa.string()), pa.array(acc.texts, pa.string())]
    fields = ["id", "text"]
    for name in names:
        arrays.append(_column([r.get(name) for r in acc.rows]))
        fields.append(name)
    docs = pa.RecordBatch.from_arrays(arrays, names=fields)
    if f.synthetic is not None:
        docs = _add_provenance_rows(docs, acc.rows, acc.lines, f)
    else:
        docs = _set(docs, "_source", pa.array(["real"] * docs.num_rows, pa.string()))
    ids, reasons, details, texts = acc.rej
    rejected = rejected_batch(ids, READ_STAGE, reasons, details, texts) if ids else None
    return docs, rejected


def _column(values: list[Any]) -> pa.Array:
    """Arrow infers the type; a field whose JSON types disagree (1 and "1") becomes JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(
            [
                v if v is None or type(v) is str else orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
                for v in values
            ],
            pa.string(),
        )


def _gen_columns(f: InputFile) -> list[str]:
    syn = f.synthetic or {}
    extra = [k for k in [*syn.get("required", []), *syn.get("defaults", {})] if k not in SYNTHETIC_FIELDS]
    return list(dict.fromkeys([*SYNTHETIC_FIELDS, *extra]))


def _missing_provenance(f: InputFile, where: str, key: str) -> InputError:
    syn = f.synthetic or {}
    return InputError(
        f"{where}: synthetic document lacks {key!r} (no default given in synthetic[{syn.get('index', 0)}])"
    )


def _provenance_value(v: Any) -> str | None:
    if v is None or type(v) is str:
        return v
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


def _add_provenance_rows(
    docs: pa.RecordBatch, rows: list[dict[str, Any]], lines: list[int], f: InputFile
) -> pa.RecordBatch:
    syn = f.synthetic or {}
    defaults, required = syn.get("defaults", {}), set(syn.get("required", []))
    cols = {"_source": pa.array(["synthetic"] * docs.num_rows, pa.string())}
    for key in _gen_columns(f):
        default = defaults.get(key)
        values = [_provenance_value(r.get(key)) for r in rows]
        if default is not None:
            values = [default if v is None else v for v in values]
        elif key in required:
            for v, line in zip(values, lines, strict=True):
                if v is None:
                    raise _missing_provenance(f, f"{f.path}:{line + 1}", key)
        cols[f"_gen_{key}"] = pa.array(values, pa.string())
    for name, arr in cols.items():
        docs = _set(docs, name, arr)
    return docs


# Parquet / Arrow / datasets


def _columnar_source(path: str, fmt: str) -> Any:
    """A remote file's fsspec file object (seekable, cached); a memory map of a local Arrow file (local Parquet
    maps itself)."""
    if _is_url(path):
        return _open_raw(path)
    return contextlib.nullcontext() if fmt == "parquet" else pa.memory_map(path)


def _parquet_file(path: str, source: Any) -> pq.ParquetFile:
    return pq.ParquetFile(source) if _is_url(path) else pq.ParquetFile(path, memory_map=True)


def _ipc_reader(source: Any, fmt: str) -> Any:
    """An IPC file reader (random access) or stream reader: `arrow` inputs may be either, `datasets` are streams."""
    if fmt == "arrow":
        try:
            return pa.ipc.open_file(source)
        except pa.ArrowInvalid:
            source.seek(0)
    return pa.ipc.open_stream(source)


def _ipc_batches(reader: Any) -> Iterator[pa.RecordBatch]:
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
    else:
        yield from reader


def _columnar_batches(f: InputFile, cfg: Any) -> Iterator[pa.RecordBatch]:
    try:
        with _columnar_source(f.path, f.format) as source:
            if f.format == "parquet":
                yield from _parquet_file(f.path, source).iter_batches(batch_size=cfg.execution.batch_size)
            else:
                yield from _ipc_batches(_ipc_reader(source, f.format))
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{f.path}: cannot read as {f.format}: {_first_line(e)}") from None


def _open_schema(path: str, fmt: str) -> pa.Schema:
    try:
        with _columnar_source(path, fmt) as source:
            if fmt == "parquet":
                return _parquet_file(path, source).schema_arrow
            return _ipc_reader(source, fmt).schema
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path}: cannot read as {fmt}: {_first_line(e)}") from None


def _check_columns(path: str, fmt: str, cfg: Any) -> None:
    schema = _open_schema(path, fmt)
    text_field, id_field = cfg.input.text_field, cfg.input.id_field
    names = schema.names
    if text_field not in names:
        raise InputError(f"{path}: no column {text_field!r} (columns: {', '.join(names)}); set input.text_field")
    t = schema.field(text_field).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
        raise InputError(f"{path}: column {text_field!r} is {t}, not a string")
    for key, field in (("text", text_field), ("id", id_field)):
        if key != field and key in names:
            raise InputError(
                f"{path}: has a column {key!r} besides input.{key}_field {field!r}; "
                f"rename it or set input.{key}_field: {key}"
            )


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Exactly `size` rows per batch (the last may be shorter), whatever the file's own batching."""
    pending: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        while b.num_rows:
            take = min(size - n, b.num_rows)
            pending.append(b.slice(0, take))
            n += take
            b = b.slice(take)
            if n == size:
                yield _concat(pending)
                pending, n = [], 0
    if n:
        yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _split_columnar(
    raw: pa.RecordBatch, f: InputFile, cfg: Any, row0: int
) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    text_field, id_field = cfg.input.text_field, cfg.input.id_field
    n = raw.num_rows
    text = raw.column(text_field)
    if text.type != pa.string():
        text = text.cast(pa.string())
    prefix = f.id_prefix()
    if id_field in raw.schema.names:
        try:
            ids = raw.column(id_field).cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise InputError(f"{f.path}: column {id_field!r} cannot become a string id: {e}") from None
        if ids.null_count:
            derived = pa.array([f"{prefix}-{row0 + i}" for i in range(n)], pa.string())
            ids = pc.if_else(pc.is_null(ids), derived, ids)
    else:
        ids = pa.array([f"{prefix}-{row0 + i}" for i in range(n)], pa.string())
    others = [(name, raw.column(name)) for name in raw.schema.names if name not in (text_field, id_field)]
    docs = pa.RecordBatch.from_arrays(
        [ids, text, *(c for _, c in others)], names=["id", "text", *(name for name, _ in others)]
    )
    docs = _add_provenance_columns(docs, f, row0)

    lengths = pc.fill_null(pc.utf8_length(text), 0)
    too_long = pc.greater(lengths, cfg.input.max_doc_chars)
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)
    null = pc.is_null(text)
    reason = pc.case_when(
        pc.make_struct(null, too_long, empty),
        pa.scalar("null_text"),
        pa.scalar("too_long"),
        pa.scalar("empty_text"),
    )
    drop = pc.is_valid(reason)
    if not pc.any(drop).as_py():
        return docs, None
    idx = pc.indices_nonzero(drop).to_numpy()
    dropped_len = pc.take(lengths, idx).to_pylist()
    dropped_reason = pc.take(reason, idx).to_pylist()
    details = [
        f"{f.source}:{row0 + i}: {ln} chars > max_doc_chars {cfg.input.max_doc_chars}"
        if r == "too_long"
        else f"{f.source}:{row0 + i}"
        for i, r, ln in zip(idx.tolist(), dropped_reason, dropped_len, strict=True)
    ]
    rejected = rejected_batch(
        pc.take(ids, idx),
        READ_STAGE,
        dropped_reason,
        details,
        pc.utf8_slice_codeunits(pc.take(text, idx), 0, REJECTED_TEXT_CHARS),
    )
    return docs.filter(pc.invert(drop)), rejected


def _add_provenance_columns(docs: pa.RecordBatch, f: InputFile, row0: int) -> pa.RecordBatch:
    n = docs.num_rows
    if f.synthetic is None:
        return _set(docs, "_source", pa.array(["real"] * n, pa.string()))
    syn = f.synthetic
    defaults, required = syn.get("defaults", {}), set(syn.get("required", []))
    docs = _set(docs, "_source", pa.array(["synthetic"] * n, pa.string()))
    for key in _gen_columns(f):
        idx = docs.schema.get_field_index(key)
        if idx >= 0:
            col = docs.column(idx)
            if not (pa.types.is_string(col.type) or pa.types.is_null(col.type)):
                col = pa.array([_provenance_value(v) for v in col.to_pylist()], pa.string())
            col = col.cast(pa.string())
        else:
            col = pa.nulls(n, pa.string())
        if defaults.get(key) is not None:
            col = pc.fill_null(col, defaults[key])
        elif key in required and col.null_count:
            first = pc.indices_nonzero(pc.is_null(col))[0].as_py()
            raise _missing_provenance(f, f"{f.path}: row {row0 + first}", key)
        docs = _set(docs, f"_gen_{key}", col)
    return docs


def _set(batch: pa.RecordBatch, name: str, arr: pa.Array) -> pa.RecordBatch:
    idx = batch.schema.get_field_index(name)
    if idx >= 0:
        return batch.set_column(idx, name, arr)
    return batch.append_column(name, arr)


# -- writing -----------------------------------------------------------------------------------------------


def _plan(shards: list[str], max_shard_docs: int) -> tuple[pa.Schema, list[int]]:
    """The unified output schema and the row count of every output file (contiguous, balanced like
    `Dataset.shard(contiguous=True)`)."""
    schema: pa.Schema | None = None
    total = 0
    for s in shards:
        sch = shard_schema(s)
        schema = sch.remove_metadata() if schema is None else unify(schema, sch)
        total += shard_rows(s)
    if schema is None:
        schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    num = max(1, -(-total // max_shard_docs))
    div, mod = divmod(total, num)
    return schema, [div + (1 if i < mod else 0) for i in range(num)]


def _output_chunks(shards: list[str], schema: pa.Schema, sizes: list[int]) -> Iterator[Iterator[pa.RecordBatch]]:
    """One iterator of `OUTPUT_BATCH_ROWS`-row batches per output file, rows in shard order."""
    stream = _RowStream(conform(b, schema) for s in shards for b in read_shard(s) if b.num_rows)
    for size in sizes:
        yield _take_rows(stream, size)


class _RowStream:
    def __init__(self, batches: Iterator[pa.RecordBatch]):
        self.batches = batches
        self.head: pa.RecordBatch | None = None

    def take(self, n: int) -> pa.RecordBatch | None:
        parts, got = [], 0
        while got < n:
            if self.head is None or self.head.num_rows == 0:
                self.head = next(self.batches, None)
                if self.head is None:
                    break
            k = min(n - got, self.head.num_rows)
            parts.append(self.head.slice(0, k))
            self.head = self.head.slice(k)
            got += k
        return _concat(parts) if parts else None


def _take_rows(stream: _RowStream, n: int) -> Iterator[pa.RecordBatch]:
    left = n
    while left > 0:
        b = stream.take(min(OUTPUT_BATCH_ROWS, left))
        if b is None:
            raise RuntimeError("shards changed while the dataset was being written")
        left -= b.num_rows
        yield b


def _hf_features(schema: pa.Schema) -> tuple[Any, pa.Schema]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    features = datasets.Features.from_arrow_schema(schema)
    return features, features.arrow_schema


def fresh_dir(path: str) -> str:
    tmp = path + TMP_SUFFIX
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    return tmp


def publish_dir(tmp: str, path: str) -> None:
    old = path + ".old"
    if os.path.exists(old):
        shutil.rmtree(old)
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(tmp, path)
    if os.path.exists(old):
        shutil.rmtree(old)


def write_state(folder: str, names: list[str], fingerprint: str) -> None:
    """`state.json` as `Dataset.save_to_disk` writes it, listing the data files in order."""
    state = {
        "_data_files": [{"filename": n} for n in names],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    with open(os.path.join(folder, "state.json"), "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)


def write_dataset(shards: list[str], data_dir: str, max_shard_docs: int) -> dict[str, Any]:
    """Final shards -> a folder `datasets.load_from_disk` opens, byte-identical for identical rows.

    Files are `data-0000i-of-0000N.arrow` (IPC stream, 1,000-row batches, the schema carrying the
    `huggingface` features metadata), `dataset_info.json` and `state.json` as `Dataset.save_to_disk` writes
    them; `_fingerprint` hashes the data files instead of being random. Written to `data_dir.tmp`, then renamed.
    """
    schema, sizes = _plan(shards, max_shard_docs)
    features, out_schema = _hf_features(schema)  # sets the offline switches before `datasets` is imported
    from datasets import DatasetInfo
    from datasets.utils.py_utils import asdict

    tmp = fresh_dir(data_dir)
    num = len(sizes)
    names = [f"data-{i:05d}-of-{num:05d}.arrow" for i in range(num)]
    h = xxhash.xxh3_64()
    nbytes = 0
    for name, chunk in zip(names, _output_chunks(shards, schema, sizes), strict=True):
        path = os.path.join(tmp, name)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, out_schema) as w:
            for b in chunk:
                w.write_batch(conform(b, out_schema))
        with open(path, "rb") as fh:
            while block := fh.read(8 << 20):
                h.update(block)
        nbytes += os.path.getsize(path)
    write_state(tmp, names, h.hexdigest())
    info = asdict(DatasetInfo(features=features))
    with open(os.path.join(tmp, "dataset_info.json"), "w", encoding="utf-8") as fh:
        json.dump({k: info[k] for k in sorted(info)}, fh, indent=2)
    publish_dir(tmp, data_dir)
    return {"files": [os.path.join(data_dir, n) for n in names], "rows": sum(sizes), "bytes": nbytes}


def write_parquet_dataset(shards: list[str], out_dir: str, max_shard_docs: int = 100_000) -> dict[str, Any]:
    """The same rows and file split as `write_dataset`, as `data-0000i-of-0000N.parquet` (zstd)."""
    schema, sizes = _plan(shards, max_shard_docs)
    _, out_schema = _hf_features(schema)  # keeps the features metadata: `datasets` reads it back from Parquet
    tmp = fresh_dir(out_dir)
    num = len(sizes)
    names = [f"data-{i:05d}-of-{num:05d}.parquet" for i in range(num)]
    nbytes = 0
    for name, chunk in zip(names, _output_chunks(shards, schema, sizes), strict=True):
        path = os.path.join(tmp, name)
        with pq.ParquetWriter(path, out_schema, compression="zstd") as w:
            for b in chunk:
                w.write_batch(conform(b, out_schema))
        nbytes += os.path.getsize(path)
    publish_dir(tmp, out_dir)
    return {"files": [os.path.join(out_dir, n) for n in names], "rows": sum(sizes), "bytes": nbytes}


def estimate_rows(f: InputFile) -> int:
    """Rows of an input file without parsing documents: non-empty lines of JSONL, metadata elsewhere."""
    if f.format in ("parquet", "arrow", "datasets"):
        with _columnar_source(f.path, f.format) as source:
            if f.format == "parquet":
                return _parquet_file(f.path, source).metadata.num_rows
            return sum(b.num_rows for b in _ipc_batches(_ipc_reader(source, "arrow")))
    rows, last = 0, b"\n"
    with _open_bytes(f.path, f.compression) as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            rows += chunk.count(b"\n") - chunk.count(b"\n\n")
            last = chunk[-1:]
    return rows + (last != b"\n")
