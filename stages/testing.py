"""Helpers for testing a stage as a plain object, without a run directory or Prefect."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from stages.base import Filter, Mapper, Stage, StageOutput


def make_batch(texts: list[str | None], ids: list[str] | None = None, **columns: list[Any]) -> pa.RecordBatch:
    """A batch with `id` (d0, d1, ... unless given), `text` and any extra columns."""
    ids = ids if ids is not None else [f"d{i}" for i in range(len(texts))]
    data = {"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())}
    data.update({k: pa.array(v) for k, v in columns.items()})
    return pa.RecordBatch.from_pydict(data)


def run_stage(stage: Stage, texts_or_batch: list[str] | pa.RecordBatch, **columns: list[Any]) -> StageOutput:
    """Apply a Mapper or Filter to a list of texts (or a batch) and check that no document was lost."""
    batch = texts_or_batch if isinstance(texts_or_batch, pa.RecordBatch) else make_batch(texts_or_batch, **columns)
    if not isinstance(stage, Mapper | Filter):
        raise TypeError(f"{type(stage).__name__} is a global stage; run it with pipeline.runner")
    out = stage.apply(batch)
    out.stats.check(stage.name)
    return out
