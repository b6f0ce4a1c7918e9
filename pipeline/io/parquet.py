"""Parquet input files: memory-mapped when local, through a seekable fsspec file when remote."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io.remote import is_url, open_raw


@contextlib.contextmanager
def open_parquet(path: str) -> Iterator[pq.ParquetFile]:
    if not is_url(path):
        yield pq.ParquetFile(path, memory_map=True)
        return
    with open_raw(path) as source:
        yield pq.ParquetFile(source)


def batches(path: str, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[pa.RecordBatch]:
    """The file's rows, or those of row groups `start:stop` (a shard)."""
    with open_parquet(path) as pf:
        if start == 0 and stop is None:
            yield from pf.iter_batches(batch_size=batch_size)
        else:
            groups = range(pf.metadata.num_row_groups)[start:stop]
            yield from pf.iter_batches(batch_size=batch_size, row_groups=list(groups))


def row_group_sizes(path: str) -> list[tuple[int, int]]:
    """(rows, uncompressed bytes) of every row group, from the footer."""
    with open_parquet(path) as pf:
        meta = pf.metadata
        return [(meta.row_group(i).num_rows, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)]


def schema(path: str) -> pa.Schema:
    with open_parquet(path) as pf:
        return pf.schema_arrow


def rows(path: str) -> int:
    with open_parquet(path) as pf:
        return pf.metadata.num_rows
