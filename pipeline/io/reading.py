"""`read_input`: one `InputFile` -> `(documents, rejected)` batches, whatever its format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from pipeline.io import arrow, jsonl, parquet
from pipeline.io.columnar import columnar_batches, rebatch, split_columnar
from pipeline.io.files import InputFile
from pipeline.io.ids import rekey

if TYPE_CHECKING:
    from pipeline.config import InputConfig


def read_input(
    f: InputFile, inp: InputConfig, batch_size: int
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    """(documents, rejected) per batch of at most `batch_size` input rows, in bounded memory."""
    if inp.duplicate_ids == "rekey":
        for docs, rejected in _read(f, inp, batch_size):
            yield rekey(docs, f), rekey(rejected, f)
    else:
        yield from _read(f, inp, batch_size)


def _read(f: InputFile, inp: InputConfig, batch_size: int) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    if f.format == "jsonl":
        yield from jsonl.read_jsonl(f, inp, batch_size)
        return
    row = 0
    for raw in rebatch(columnar_batches(f, batch_size), batch_size):
        yield split_columnar(raw, f, inp, row)
        row += raw.num_rows


def estimate_rows(f: InputFile) -> int:
    """Rows of an input file without parsing documents: non-empty lines of JSONL, metadata elsewhere."""
    if f.format == "parquet":
        return parquet.rows(f.path)
    if f.format in ("arrow", "datasets"):
        return arrow.rows(f.path)
    return jsonl.count_rows(f)
