"""The stage contract: plain classes over `pyarrow.RecordBatch`, no Prefect.

A stage's parameters are its pydantic fields, so the constructor's keyword arguments *are* the YAML block:
unknown keys and wrong types fail with the key's name, and `jingxuan stages` can print them. Anything heavy
(models, dictionaries) is loaded in `setup()` and is not pickled, so stage objects stay small when they are
sent to process-pool or Dask workers.

Three kinds:
- `Mapper`: batch -> batch (adds `_`-prefixed columns or rewrites `text`).
- `Filter`: computes signal columns (`annotate`), then a reason per document (null = keep). Vectorised
  filters override `reasons` or `keep_mask`; others implement `keep_doc(text)`. `mode: annotate` keeps
  everything and counts what would have been dropped, so thresholds can be chosen from distributions.
  Optional hooks: `edit` repairs documents about to be dropped (decontamination removes the matched
  paragraphs), `details` fills the ledger's detail column. One `Filter.apply` runs them all.
- `GlobalStage`: needs the whole dataset; works over shard files in passes (`run`).

A stage object holds parameters and loaded resources only. What one call computes (`count()`, `scratch()`)
belongs to that call, so one instance serves every thread of a process (`task_runner: thread`).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from stages.core.arrow import text_chars
from stages.core.ledger import rejected_batch
from stages.core.registry import Registry, UnknownNameError
from stages.core.stats import StageStats


@dataclass
class _Call:
    """What one `apply` call collects: counts from `count()` and scratch its hooks hand each other."""

    counts: Counter = field(default_factory=Counter)
    scratch: dict[str, Any] = field(default_factory=dict)


# The call in progress in this thread (or task): per-call state lives here, never on the stage object, so one
# stage instance can serve several threads at once.
_CALL: ContextVar[_Call | None] = ContextVar("jingxuan_stage_call", default=None)
_SETUP_LOCK = threading.RLock()


@contextmanager
def _stage_call() -> Iterator[_Call]:
    call = _Call()
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)


@dataclass
class StageOutput:
    kept: pa.RecordBatch
    rejected: pa.RecordBatch | None  # REJECTED_SCHEMA
    stats: StageStats


class Stage(BaseModel):
    """Base of every stage. Subclasses set `name` (the registry key) and declare parameters as fields."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("text",)  # input columns the stage reads
    adds: ClassVar[tuple[str, ...]] = ()  # columns the stage adds (documentation and config checks)
    # Which parameters are thresholds on which signal column, for the report's histograms:
    # {"_han_ratio": ("min_ratio",)}; "max_top_ngram_frac.2" reaches into a dict, "min:threshold" names the side.
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            STAGES.register(cls)

    # -- lifecycle -----------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models and tables. Called once per process before the first batch."""

    def ensure_setup(self) -> None:
        if getattr(self, "_ready", False):
            return
        with _SETUP_LOCK:  # threads sharing the instance load its resources once
            if not getattr(self, "_ready", False):
                self.setup()
                object.__setattr__(self, "_ready", True)

    def __getstate__(self) -> dict[str, Any]:
        # Loaded resources stay behind: workers call setup() again.
        state = super().__getstate__()
        state["__pydantic_private__"] = None
        state["__dict__"] = {k: v for k, v in state["__dict__"].items() if not k.startswith("_")}
        return state

    def count(self, counter: str, n: int = 1) -> None:
        """Count something (PII redactions, ...) into the stats of the batch being applied (outside `apply`,
        e.g. a direct `map()` call in a test, the count goes nowhere)."""
        call = _CALL.get()
        if call is not None:
            call.counts[counter] += n

    def scratch(self) -> dict[str, Any]:
        """A dict private to the `apply` call in progress, for what one hook computes and a later one needs
        (decontamination's matches, from `annotate` to `edit` and `details`)."""
        call = _CALL.get()
        if call is None:
            raise RuntimeError(f"{type(self).__name__}.scratch() is only available inside apply()")
        return call.scratch

    def params(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class UnknownStageError(UnknownNameError):
    """A stage name in a config that no module registers."""


def _import_builtin_stages() -> None:
    """Import every module under `stages/`, so each built-in stage registers itself."""
    import stages

    for mod in pkgutil.walk_packages(stages.__path__, prefix="stages."):
        if not mod.name.startswith("stages.core") and mod.name.rsplit(".", 1)[-1] not in {"base", "testing"}:
            importlib.import_module(mod.name)


STAGES: Registry[type[Stage]] = Registry(
    Stage, "stage", UnknownStageError, discover=_import_builtin_stages, entry_point_group="jingxuan.stages"
)


class Mapper(Stage):
    kind: ClassVar[str] = "mapper"

    def map(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise NotImplementedError

    def apply(self, batch: pa.RecordBatch) -> StageOutput:
        self.ensure_setup()
        with _stage_call() as call:
            t0 = time.perf_counter()
            chars_in = text_chars(batch)
            out = self.map(batch)
            if out.num_rows != batch.num_rows:
                raise RuntimeError(f"mapper {self.name} changed the row count; drop documents in a Filter")
            stats = StageStats(
                docs_in=batch.num_rows,
                docs_out=out.num_rows,
                chars_in=chars_in,
                chars_out=text_chars(out),
                seconds=time.perf_counter() - t0,
                counters=call.counts,
            )
        return StageOutput(out, None, stats)


class Filter(Stage):
    """Drops documents with a reason. Override one of `reasons`, `keep_mask` or `keep_doc`."""

    kind: ClassVar[str] = "filter"
    reason: ClassVar[str] = "rejected"  # the reason used when keep_mask/keep_doc give only True/False

    mode: Literal["filter", "annotate"] = "filter"

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Add signal columns (`_han_ratio`, ...). Runs in both modes."""
        return batch

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        """A string per document: null keeps it, a reason drops it."""
        if type(self).keep_mask is not Filter.keep_mask:
            mask = self.keep_mask(batch)
            mask = pc.fill_null(mask if isinstance(mask, pa.Array) else pa.array(mask, pa.bool_()), False)
            return pc.if_else(mask, pa.scalar(None, pa.string()), pa.scalar(self.reason, pa.string()))
        out: list[str | None] = []
        for text in batch.column("text").to_pylist():
            verdict = self.keep_doc(text)
            if isinstance(verdict, tuple):
                out.append(None if verdict[0] else verdict[1])
            else:
                out.append(None if verdict else self.reason)
        return pa.array(out, pa.string())

    def keep_mask(self, batch: pa.RecordBatch) -> pa.Array | np.ndarray:
        """A boolean per document (True keeps); every drop gets `reason`."""
        raise NotImplementedError

    def keep_doc(self, text: str) -> bool | tuple[bool, str]:
        """Per-document fallback for logic that will not vectorise: True, or (False, "reason")."""
        raise NotImplementedError(f"{type(self).__name__} must implement reasons, keep_mask or keep_doc")

    def edit(self, batch: pa.RecordBatch, reasons: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
        """Filter mode only: a chance to repair documents about to be dropped instead (rewrite their text and
        set their reason to null). Default: none."""
        return batch, reasons

    def details(self, batch: pa.RecordBatch, reasons: pa.Array) -> pa.Array | list[str | None] | None:
        """The ledger's `detail` per document (only dropped ones are used): what it matched, by how much."""
        return None

    def apply(self, batch: pa.RecordBatch) -> StageOutput:
        self.ensure_setup()
        with _stage_call() as call:
            t0 = time.perf_counter()
            chars_in = text_chars(batch)
            batch = self.annotate(batch)
            reasons = self._reasons(batch)
            if self.mode == "filter" and pc.any(pc.is_valid(reasons)).as_py():
                batch, reasons = self.edit(batch, reasons)
                reasons = self._checked(reasons, batch)
            drop = pc.is_valid(reasons)
            reason_counts = _value_counts(pc.filter(reasons, drop))
            if self.mode == "annotate":
                for r, n in reason_counts.items():
                    call.counts[f"would_drop.{r}"] += n
                kept, rejected = batch, None
                stats = StageStats(docs_in=batch.num_rows, chars_in=chars_in)
            else:
                kept = batch.filter(pc.invert(drop))
                dropped = batch.filter(drop)
                details = self.details(batch, reasons) if dropped.num_rows else None
                if details is not None:
                    details = pc.filter(pa.array(details, pa.string()), drop)
                rejected = rejected_batch(
                    dropped.column("id"), self.name, pc.filter(reasons, drop), details, texts=dropped.column("text")
                )
                stats = StageStats(docs_in=batch.num_rows, chars_in=chars_in, docs_rejected=dropped.num_rows)
                stats.reasons.update(reason_counts)
            stats.counters = call.counts
            stats.docs_out = kept.num_rows
            stats.chars_out = text_chars(kept)
            stats.seconds = time.perf_counter() - t0
        return StageOutput(kept, rejected, stats)

    def _reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return self._checked(self.reasons(batch), batch)

    def _checked(self, reasons: pa.Array | list, batch: pa.RecordBatch) -> pa.Array:
        reasons = pa.array(reasons, pa.string()) if not isinstance(reasons, pa.Array) else reasons
        if len(reasons) != batch.num_rows:
            raise RuntimeError(f"filter {self.name} returned {len(reasons)} reasons for {batch.num_rows} rows")
        return reasons


def _value_counts(arr: pa.Array) -> Counter:
    if len(arr) == 0:
        return Counter()
    vc = pc.value_counts(arr)
    return Counter({v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)})


# -- global stages ---------------------------------------------------------------------------------------


@dataclass
class GlobalContext:
    """What the runner gives a global stage.

    Shards are Arrow IPC stream files of documents (`pipeline.io.read_shard` / `ShardWriter`). `map` runs
    `fn(item)` for every item in parallel on the run's executor (process pool or Dask workers) and returns
    the results in order: `fn` must be a module-level function and items must be small and picklable
    (paths, parameters), never tables. `map(fn, items, weights=...)` says what each item costs (a pass over
    each shard: `shard_bytes(shards)`), so an executor that gives one task several items balances them.
    """

    stage_key: str  # unique key of this stage in the run (its name, or name_2 when repeated)
    run_dir: str
    work_dir: str  # private scratch directory for this stage, created by the runner; resumable state lives here
    out_dir: str  # directory for the stage's output shards, created by the runner
    index_dir: str  # persistent per-stage state kept across runs (dedup index ...)
    seed: int
    map: Callable[..., list]  # map(fn, items, weights=None) -> results in order
    keep_rejected_text: bool = True
    batch_size: int = 2000
    memory_budget_mb: float = 2048  # execution.memory_budget_mb: peak RSS one task of a global pass aims at
    run_id: str = ""  # identity of this run, stable when its folder is moved or copied (persistent indexes)


@dataclass
class GlobalResult:
    shards: list[str]  # output shard paths, in output order (curriculum order is kept)
    rejected: list[str] = field(default_factory=list)  # Parquet files in REJECTED_SCHEMA
    stats: StageStats = field(default_factory=StageStats)
    report: dict[str, Any] = field(default_factory=dict)  # JSON-able summary kept in stats.json and the report
    files: dict[str, str] = field(default_factory=dict)  # extra run-dir files: relative name -> source path


class GlobalStage(Stage):
    kind: ClassVar[str] = "global"

    memory_budget_mb: float | None = Field(
        None, gt=0, description="peak RSS per task of this stage's passes (default: execution.memory_budget_mb)"
    )

    def budget_mb(self, ctx: GlobalContext) -> float:
        """The budget this stage's passes partition for: its own parameter, else the run's."""
        return self.memory_budget_mb or ctx.memory_budget_mb

    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        raise NotImplementedError
