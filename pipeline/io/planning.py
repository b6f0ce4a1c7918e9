"""How input becomes work: every input file is cut into shards of about `execution.shard_mb` (and at most
`execution.shard_docs` rows), within a file as well as across files, so one big file keeps every worker busy.

A shard is a contiguous range of one file, numbered in file order:

- JSONL: a byte range of the (decompressed) stream that starts where the whole-file reader would start a
  batch (after every `execution.batch_size` non-blank lines), so a shard reads exactly the batches a
  whole-file read would and the output does not change, column order included. The planning pass reads
  the file once (numpy over 8 MB blocks), so a shard knows the line number of its first line and derived
  ids (`<prefix>-<line>`) are the same as ever. `.gz` files get a seek index from that same pass
  (indexed_gzip: a 32 KB window every few MB), so a shard decompresses only its own range rather than
  everything before it (Python's gzip runs at ~55 MB/s here: skipping would cost a late shard of a 1 GB
  file longer than its own work). `.zst` shards decompress from the start of the file and discard what
  precedes them: zstd decompresses at ~430 MB/s here, ~200x faster than the per-shard stages consume
  text, and `zstandard` cannot resume inside a frame.
- Parquet: a run of whole row groups; Arrow (IPC file or stream, `datasets` folders): a run of whole record
  batches. Row numbers come from the metadata.

Near the end of a file bigger than one shard, shards shrink to a quarter of what remains, down to one batch
(row group, record batch): a map then ends on short tasks whatever the number of workers, where a whole
shard on one worker used to keep the others waiting (`tail_target`).

The plan depends only on the input and the shard size, never on the number of workers: ids, task keys,
completion markers and output bytes are the same with 1 or 20 workers, and a killed run resumes per shard.
Another shard size gives the same rows, values and order; only when the documents of one JSONL file bring
new fields part-way through can a global stage's column (`_dup_cluster`) land before such a field, since the
output schema is the union of the shard schemas in shard order.
A file no bigger than one shard is one shard covering it whole, read exactly as before (its task key is the
file's fingerprint, as it always was). Plans of big files are cached beside the run (`work/plan/`), keyed by
fingerprint and shard size, so a resumed run does not scan again.
"""

from __future__ import annotations

import io as _io
import math
import os
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import numpy as np

from pipeline.io import arrow, parquet
from pipeline.io.decoding import line_encoding, open_bytes
from pipeline.io.files import InputError, InputFile
from pipeline.io.jsonl import MAX_BATCH_BYTES
from pipeline.io.remote import is_url, open_raw
from stages.core.atomic import read_json, write_json

SCAN_BLOCK = 8 << 20
COMPRESSION_RATIO = 16  # a compressed file smaller than shard/16 cannot hold more than one shard of text
GZIP_SPACING_MAX = 16 << 20  # seek points at most this far apart (32 KB each)
TAIL_SHARDS = 4  # near the end of a file a shard is cut at a quarter of what remains (`tail_target`)


@dataclass(frozen=True)
class InputShard:
    """One contiguous range of an input file: the unit of a first-segment task and of resume."""

    file: InputFile
    number: int  # within the file, 0-based
    count: int  # shards of this file
    start: int = 0  # JSONL: stream offset of the first line; Parquet: first row group; Arrow: first batch
    stop: int | None = None  # exclusive end of the same unit; None: the end of the file
    row0: int = 0  # row (JSONL: line) number of the first row within the file
    nbytes: int = 0  # about how much (decompressed) input it covers
    gzip_index: str | None = None  # seek index of a .gz file, written by the planning pass

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def key(self) -> str:
        """The file's fingerprint for a whole file (as before shards existed), plus the range otherwise."""
        if self.whole:
            return self.file.fingerprint
        return f"{self.file.fingerprint}:{self.start}-{self.stop}@{self.row0}"

    @property
    def label(self) -> str:
        return self.file.path if self.whole else f"{self.file.path}[{self.number + 1}/{self.count}]"


def tail_target(shard_bytes: int, left: int, total: int) -> int:
    """The size a shard is cut at when `left` of the file's `total` bytes remain from its start: `shard_bytes`,
    down to a `TAIL_SHARDS`th of what remains near the end of a file bigger than one shard. The last shards
    of a file are then one or two batches (row groups, record batches), so a map ends on short tasks whatever
    the number of workers, instead of on one worker finishing a whole shard while the others wait."""
    if total <= shard_bytes:
        return shard_bytes  # cut by `shard_docs` only
    return max(1, min(shard_bytes, left // TAIL_SHARDS))


@dataclass(frozen=True)
class Cut:
    start: int
    row0: int
    nbytes: int


def plan_shards(
    inputs: list[InputFile], shard_mb: float, shard_docs: int | None, batch_size: int, cache_dir: str
) -> list[InputShard]:
    """Every input file's shards, in input order (`execution.shard_mb`, `shard_docs`, `batch_size`)."""
    shard_bytes = max(1, int(shard_mb * (1 << 20)))
    return [s for f in inputs for s in plan_file(f, shard_bytes, shard_docs, batch_size, cache_dir)]


def plan_file(
    f: InputFile, shard_bytes: int, shard_docs: int | None, batch_size: int, cache_dir: str
) -> list[InputShard]:
    if _one_shard(f, shard_bytes, shard_docs):
        return [InputShard(f, 0, 1, nbytes=f.size)]
    name = f"{f.fingerprint.replace(':', '_')}-{shard_bytes}-{shard_docs or 0}-{batch_size}-tail{TAIL_SHARDS}"
    cache = os.path.join(cache_dir, name + ".json")
    gzip_index = cache.removesuffix(".json") + ".gzidx" if f.format == "jsonl" and f.compression == "gzip" else None
    if os.path.exists(cache) and (gzip_index is None or os.path.exists(gzip_index)):
        cuts, end = _load_cuts(cache)
    else:
        if f.format == "jsonl":
            cuts, end = _jsonl_cuts(f, shard_bytes, shard_docs, batch_size, gzip_index)
        elif f.format == "parquet":
            cuts, end = _parquet_cuts(f, shard_bytes, shard_docs)
        else:
            cuts, end = _ipc_cuts(f, shard_bytes, shard_docs)
        write_json(cache, {"file": f.path, "cuts": [asdict(c) for c in cuts], "end": end})
    if len(cuts) == 1:
        return [InputShard(f, 0, 1, nbytes=f.size)]
    stops = [c.start for c in cuts[1:]] + [end]
    return [
        InputShard(f, i, len(cuts), c.start, stop, c.row0, c.nbytes, gzip_index)
        for i, (c, stop) in enumerate(zip(cuts, stops, strict=True))
    ]


def _one_shard(f: InputFile, shard_bytes: int, shard_docs: int | None) -> bool:
    if f.format == "jsonl" and line_encoding(f.encoding) != f.encoding:
        return True  # UTF-16: its newline is two bytes and 0x0A occurs inside characters, so it is read whole
    if shard_docs is not None:
        return False
    if f.format == "jsonl" and f.compression:
        return f.size * COMPRESSION_RATIO <= shard_bytes
    return f.size <= shard_bytes


def _load_cuts(path: str) -> tuple[list[Cut], int]:
    d = read_json(path)
    return [Cut(**c) for c in d["cuts"]], d["end"]


# -- JSONL: batch boundaries by byte offset or document count ----------------------------------------------------------


def _jsonl_cuts(
    f: InputFile, shard_bytes: int, shard_docs: int | None, batch_size: int, gzip_index: str | None
) -> tuple[list[Cut], int]:
    """Cut points, in one read of the file, at the first batch boundary of the whole-file reader at or after
    every `shard_bytes` of stream (`tail_target` near the end; or `shard_docs` documents): a shard then reads
    exactly the batches the whole file would, so stages see the same batches and output columns keep the
    same order.

    The reader ends a batch after `batch_size` non-blank lines or `MAX_BATCH_BYTES` of them; blank
    (whitespace-only) lines are found with numpy over 8 MB blocks, lines crossing blocks carried over."""
    bounds: list[tuple[int, int, int]] = []  # every batch boundary: stream offset, line, documents since the last
    pos = lines = 0  # stream offset and newlines before the current block
    n_since = b_since = 0  # non-blank lines and their bytes since the last batch boundary
    carry_content, carry_len = False, 0  # the line crossing into this block
    with _open_stream(f, gzip_index, build_index=True) as fh:
        while block := fh.read(SCAN_BLOCK):
            arr = np.frombuffer(block, np.uint8)
            content = _CONTENT[arr]
            if pos == 0 and block.startswith(b"\xef\xbb\xbf"):
                content[:3] = False  # the reader drops a BOM before stripping
            nl = np.flatnonzero(arr == 10)
            starts = np.concatenate(([0], nl[:-1] + 1)) if len(nl) else nl
            has = np.logical_or.reduceat(content[: nl[-1] + 1], starts) if len(nl) else np.zeros(0, bool)
            length = nl + 1 - starts
            if len(nl):
                has[0] |= carry_content
                length[0] += carry_len
                if pos == 0 and block.startswith(b"\xef\xbb\xbf"):
                    length[0] -= 3
            c_count = np.cumsum(has, dtype=np.int64)
            c_bytes = np.cumsum(np.where(has, length, 0), dtype=np.int64)
            base_count = base_bytes = 0
            while True:
                i = min(
                    int(np.searchsorted(c_count, base_count + batch_size - n_since)),
                    int(np.searchsorted(c_bytes, base_bytes + MAX_BATCH_BYTES - b_since)),
                )
                if i >= len(nl):
                    break
                bounds.append((pos + int(nl[i]) + 1, lines + i + 1, int(c_count[i] - base_count) + n_since))
                base_count, base_bytes, n_since, b_since = int(c_count[i]), int(c_bytes[i]), 0, 0
            if len(nl):
                n_since += int(c_count[-1]) - base_count
                b_since += int(c_bytes[-1]) - base_bytes
                carry_content, carry_len = bool(content[nl[-1] + 1 :].any()), len(block) - int(nl[-1]) - 1
            else:
                carry_content, carry_len = carry_content or bool(content.any()), carry_len + len(block)
            pos += len(block)
            lines += len(nl)
        if gzip_index is not None:
            os.makedirs(os.path.dirname(gzip_index), exist_ok=True)
            fh.export_index(gzip_index + ".tmp")
            os.replace(gzip_index + ".tmp", gzip_index)
    cuts = [Cut(0, 0, 0)]
    docs_since_cut = 0
    for start, line, docs in bounds:
        docs_since_cut += docs
        if start - cuts[-1].start >= tail_target(shard_bytes, pos - cuts[-1].start, pos) or (
            shard_docs and docs_since_cut >= shard_docs
        ):
            cuts.append(Cut(start, line, 0))
            docs_since_cut = 0
    if len(cuts) > 1 and cuts[-1].start >= pos:
        cuts.pop()  # the file ends exactly at a cut: no empty last shard
    ends = [c.start for c in cuts[1:]] + [pos]
    return [Cut(c.start, c.row0, e - c.start) for c, e in zip(cuts, ends, strict=True)], pos


_CONTENT = np.ones(256, bool)
_CONTENT[list(b" \t\n\r\x0b\x0c")] = False  # what bytes.strip() removes


def _open_stream(f: InputFile, gzip_index: str | None, build_index: bool = False) -> BinaryIO:
    """The decompressed byte stream of a JSONL file; a .gz file through indexed_gzip (seekable)."""
    if f.compression != "gzip":
        return open_bytes(f.path, f.compression)
    import indexed_gzip

    kwargs: dict[str, Any] = {"spacing": min(GZIP_SPACING_MAX, max(1 << 20, f.size // 64))}
    if not build_index and gzip_index:
        kwargs["index_file"] = gzip_index
    if is_url(f.path):
        return indexed_gzip.IndexedGzipFile(fileobj=open_raw(f.path), **kwargs)
    return indexed_gzip.IndexedGzipFile(f.path, **kwargs)


class _Window(_io.RawIOBase):
    """At most `length` bytes of an open stream."""

    def __init__(self, fh: BinaryIO, length: int | None):
        self.fh, self.left = fh, math.inf if length is None else length

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.left <= 0:
            return 0
        view = memoryview(b)
        if self.left < len(view):
            view = view[: int(self.left)]
        n = self.fh.readinto(view)
        self.left -= n
        return n

    def close(self) -> None:
        try:
            self.fh.close()
        finally:
            super().close()


def open_jsonl_range(shard: InputShard) -> BinaryIO:
    """The bytes of one JSONL shard: seek (plain, .gz via its index) or read and discard (.zst) to its start."""
    fh = _open_stream(shard.file, shard.gzip_index)
    try:
        if shard.start:
            if shard.file.compression == "zstd":
                left = shard.start
                while left:
                    got = len(fh.read(min(left, SCAN_BLOCK)))
                    if not got:
                        raise InputError(f"{shard.file.path}: ends before byte {shard.start}; was it changed?")
                    left -= got
            else:
                fh.seek(shard.start)
        length = None if shard.stop is None else shard.stop - shard.start
        return _io.BufferedReader(_Window(fh, length), buffer_size=1 << 20)
    except BaseException:
        fh.close()
        raise


# -- Parquet row groups, Arrow record batches -------------------------------------------------------------------


def _group(sizes: list[tuple[int, int]], shard_bytes: int, shard_docs: int | None) -> tuple[list[Cut], int]:
    """Cuts over units of (rows, bytes): a shard takes whole units until it reaches either limit."""
    cuts: list[Cut] = []
    rows_before = unit_bytes = unit_rows = 0
    total = left = sum(nbytes for _, nbytes in sizes)  # left: from the current shard's start to the end
    for i, (rows, nbytes) in enumerate(sizes):
        if (
            not cuts
            or unit_bytes >= tail_target(shard_bytes, left, total)
            or (shard_docs and unit_rows + rows > shard_docs and unit_rows)
        ):
            cuts.append(Cut(i, rows_before, 0))
            left -= unit_bytes
            unit_bytes = unit_rows = 0
        unit_bytes += nbytes
        unit_rows += rows
        rows_before += rows
        cuts[-1] = Cut(cuts[-1].start, cuts[-1].row0, cuts[-1].nbytes + nbytes)
    return cuts or [Cut(0, 0, 0)], len(sizes)


def _parquet_cuts(f: InputFile, shard_bytes: int, shard_docs: int | None) -> tuple[list[Cut], int]:
    return _group(parquet.row_group_sizes(f.path), shard_bytes, shard_docs)


def _ipc_cuts(f: InputFile, shard_bytes: int, shard_docs: int | None) -> tuple[list[Cut], int]:
    return _group(arrow.batch_sizes(f.path, f.format), shard_bytes, shard_docs)
