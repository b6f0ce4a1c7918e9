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


def batches(path: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    with open_parquet(path) as pf:
        yield from pf.iter_batches(batch_size=batch_size)


def schema(path: str) -> pa.Schema:
    with open_parquet(path) as pf:
        return pf.schema_arrow


def rows(path: str) -> int:
    with open_parquet(path) as pf:
        return pf.metadata.num_rows
