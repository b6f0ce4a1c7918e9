"""`read_input`: one `InputFile` -> `(documents, rejected)` batches, whatever its format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from pipeline.io import arrow, jsonl, parquet
from pipeline.io.columnar import columnar_batches, rebatch, split_columnar
from pipeline.io.files import InputFile
from pipeline.io.ids import rekey
from pipeline.io.planning import InputShard, open_jsonl_range

if TYPE_CHECKING:
    from pipeline.config import InputConfig


def read_input(
    f: InputFile, inp: InputConfig, batch_size: int
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    """(documents, rejected) per batch of at most `batch_size` input rows, in bounded memory."""
    if f.format == "jsonl":
        yield from jsonl.read_jsonl(f, inp, batch_size)
        return
    row = 0
    for raw in rebatch(columnar_batches(f, batch_size), batch_size):
        yield split_columnar(raw, f, inp, row)
        row += raw.num_rows


def read_input_shard(
    shard: InputShard, inp: InputConfig, batch_size: int
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    """One shard's batches; ids and row numbers as if the file were read whole (`source:id` with
    `input.duplicate_ids: rekey`)."""
    if inp.duplicate_ids == "rekey":
        for docs, rejected in _read_shard(shard, inp, batch_size):
            yield rekey(docs, shard.file), rekey(rejected, shard.file)
    else:
        yield from _read_shard(shard, inp, batch_size)


def _read_shard(
    shard: InputShard, inp: InputConfig, batch_size: int
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    f = shard.file
    if shard.whole:
        yield from read_input(f, inp, batch_size)
    elif f.format == "jsonl":
        yield from jsonl.read_jsonl(f, inp, batch_size, open_jsonl_range(shard), shard.row0)
    else:
        row = shard.row0
        for raw in rebatch(columnar_batches(f, batch_size, shard.start, shard.stop), batch_size):
            yield split_columnar(raw, f, inp, row)
            row += raw.num_rows


def estimate_rows(f: InputFile) -> int:
    """Rows of an input file without parsing documents: non-empty lines of JSONL, metadata elsewhere."""
    if f.format == "parquet":
        return parquet.rows(f.path)
    if f.format in ("arrow", "datasets"):
        return arrow.rows(f.path)
    return jsonl.count_rows(f)
