"""Arrow IPC input files (`.arrow`, `.feather`, `.ipc`: file or stream format) and the data files of a `datasets`
folder (always streams): memory-mapped when local, through a seekable fsspec file when remote."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from pipeline.io.remote import is_url, open_raw


@contextlib.contextmanager
def open_ipc(path: str, fmt: str) -> Iterator[Any]:
    """An IPC file reader (random access) or stream reader: `arrow` inputs may be either, `datasets` are streams."""
    with open_raw(path) if is_url(path) else pa.memory_map(path) as source:
        reader = None
        if fmt == "arrow":
            try:
                reader = pa.ipc.open_file(source)
            except pa.ArrowInvalid:
                source.seek(0)
        yield reader if reader is not None else pa.ipc.open_stream(source)


def _batches(reader: Any, start: int = 0, stop: int | None = None) -> Iterator[pa.RecordBatch]:
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        for i in range(reader.num_record_batches)[start:stop]:
            yield reader.get_batch(i)
    else:  # a stream: batches before `start` are read (memory-mapped, not copied) and skipped
        yield from itertools.islice(reader, start, stop)


def batches(path: str, fmt: str, start: int = 0, stop: int | None = None) -> Iterator[pa.RecordBatch]:
    """The file's record batches, or batches `start:stop` (a shard)."""
    with open_ipc(path, fmt) as reader:
        yield from _batches(reader, start, stop)


def batch_sizes(path: str, fmt: str) -> list[tuple[int, int]]:
    """(rows, bytes) of every record batch."""
    with open_ipc(path, fmt) as reader:
        return [(b.num_rows, b.nbytes) for b in _batches(reader)]


def schema(path: str, fmt: str) -> pa.Schema:
    with open_ipc(path, fmt) as reader:
        return reader.schema


def rows(path: str) -> int:
    with open_ipc(path, "arrow") as reader:
        return sum(b.num_rows for b in _batches(reader))
