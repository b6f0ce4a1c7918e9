"""Helpers for testing a stage as a plain object, without a run directory or Prefect."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from stages.base import Filter, GlobalContext, GlobalResult, GlobalStage, Mapper, Stage, StageOutput


def builtin_stages() -> list[str]:
    """Registry names of the stages shipped under `stages/` (not those a test or a plugin registers)."""
    from stages.base import STAGES

    return sorted(name for name, cls in STAGES.available().items() if cls.__module__.startswith("stages."))


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


def local_context(tmp_dir: str, stage_key: str = "stage", seed: int = 0, **overrides: Any) -> GlobalContext:
    """A GlobalContext over a scratch folder, mapping serially in this process."""
    import os

    dirs = {k: os.path.join(tmp_dir, k, stage_key) for k in ("work", "out", "index")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    fields = dict(
        stage_key=stage_key,
        run_dir=tmp_dir,
        work_dir=dirs["work"],
        out_dir=dirs["out"],
        index_dir=dirs["index"],
        seed=seed,
        map=lambda fn, items, weights=None: [fn(i) for i in items],
    )
    fields.update(overrides)
    return GlobalContext(**fields)


def run_global(
    stage: GlobalStage, shards: list[pa.RecordBatch | list[pa.RecordBatch]], tmp_dir: str, **ctx_overrides: Any
) -> GlobalResult:
    """Write each item as one input shard, run the stage, and check conservation."""
    import os

    from stages.core.shards import write_shard

    paths = []
    for i, item in enumerate(shards):
        path = os.path.join(tmp_dir, "input", f"shard-{i:05d}.arrow")
        write_shard(path, item if isinstance(item, list) else [item])
        paths.append(path)
    stage.ensure_setup()
    result = stage.run(paths, local_context(tmp_dir, stage.name, **ctx_overrides))
    result.stats.check(stage.name)
    return result


def read_all(paths: list[str]) -> pa.Table:
    """Concatenate shard files (in order) into one table, for assertions."""
    from stages.core.shards import read_shard

    batches = [b for p in paths for b in read_shard(p)]
    return pa.Table.from_batches(batches) if batches else pa.table({"id": pa.array([], pa.string())})


def ledger(result: GlobalResult) -> dict[str, tuple[str, str | None]]:
    """id -> (reason, detail) of a global stage's rejected rows, for assertions."""
    import pyarrow.parquet as pq

    rows = {}
    for path in result.rejected:
        t = pq.read_table(path).to_pydict()
        rows.update({i: (r, d) for i, r, d in zip(t["id"], t["reason"], t["detail"], strict=True)})
    return rows
