"""Small Arrow helpers every layer uses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def text_chars(batch: pa.RecordBatch) -> int:
    """Characters (code points) in the batch's `text` column."""
    if batch.num_rows == 0:
        return 0
    return int(pc.sum(pc.utf8_length(batch.column("text"))).as_py() or 0)


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array | np.ndarray | list) -> pa.RecordBatch:
    """Add or replace a column, keeping the position of an existing one."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    idx = batch.schema.get_field_index(name)
    if idx >= 0:
        return batch.set_column(idx, name, arr)
    return batch.append_column(name, arr)


def concat_batches(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One contiguous batch from several of one schema."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
