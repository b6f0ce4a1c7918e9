"""Reading a run directory in bounded memory: one pass over data/, one over the ledger, and the JSON files.

- `stats.json`: the funnel, drop reasons, counters, seconds and the JSON reports of global stages.
- `data/*.arrow`: the `_` columns only (plus `text` lengths when `_phase` is present): an evenly strided
  sample of at most `SAMPLE_VALUES` values per numeric signal, counts of categorical ones (`_lang`, `_source`
  ...), phase statistics and `_dup_cluster` sizes.
- `rejected/*.parquet`: a few example documents per reason (text read only where an example is needed) and,
  per dedup stage, how many duplicates each kept id matched.
- `curriculum.json`: phase boundaries and whatever else the curriculum stage recorded.
"""

from __future__ import annotations

import glob
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.report.thresholds import Threshold, signal_thresholds
from stages.core.atomic import read_json
from stages.core.shards import read_shard, shard_schema

SAMPLE_VALUES = 200_000  # numeric values per signal column read for histograms, at most
EXAMPLES_PER_REASON = 3
MAX_CATEGORIES = 1000  # a string column with more distinct values is treated as an id, not a category


@dataclass
class PhaseStats:
    docs: int = 0
    chars: int = 0
    difficulty_min: float = math.inf
    difficulty_max: float = -math.inf
    difficulty_sum: float = 0.0
    difficulty_n: int = 0
    sources: Counter = field(default_factory=Counter)


@dataclass
class DataScan:
    """What one pass over data/ collects."""

    rows: int = 0
    files: int = 0
    columns: list[str] = field(default_factory=list)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # sampled values (NaN = null)
    integer: set[str] = field(default_factory=set)  # numeric columns of an integer type
    sample_stride: int = 1
    categorical: dict[str, Counter] = field(default_factory=dict)  # low-cardinality string/bool columns
    phases: dict[int, PhaseStats] = field(default_factory=dict)
    dup_clusters: Counter = field(default_factory=Counter)  # cluster id -> documents kept in data/


def _data_files(run_dir: str) -> list[str]:
    data = os.path.join(run_dir, "data")
    if not os.path.isdir(data):
        return []
    return sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".arrow"))


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_categorical(t: pa.DataType) -> bool:
    types = pa.types
    return types.is_string(t) or types.is_large_string(t) or types.is_boolean(t) or types.is_dictionary(t)


def scan_data(files: list[str], sample_values: int = SAMPLE_VALUES) -> DataScan:
    """One streaming pass over the `_` columns of data/ (and text lengths when there are phases)."""
    scan = DataScan(files=len(files))
    if not files:
        return scan
    schema = shard_schema(files[0])
    for f in files[1:]:
        for fld in shard_schema(f):
            if schema.get_field_index(fld.name) < 0:
                schema = schema.append(fld)
    signal_fields = [f for f in schema if f.name.startswith("_")]
    scan.columns = [f.name for f in signal_fields]
    scan.integer = {f.name for f in signal_fields if pa.types.is_integer(f.type)}
    numeric = [f.name for f in signal_fields if _is_numeric(f.type)]
    categorical = [f.name for f in signal_fields if _is_categorical(f.type) and f.name != "_dup_cluster"]
    has_phase = "_phase" in scan.columns
    needed = [c for c in scan.columns if c in numeric or c in categorical or c == "_dup_cluster"]
    needed += ["text"] if has_phase and schema.get_field_index("text") >= 0 else []
    if not needed:
        needed = ["id"]
    total = sum(b.num_rows for f in files for b in read_shard(f, columns=["id"]))
    stride = max(1, math.ceil(total / max(1, sample_values)))
    scan.sample_stride = stride
    samples: dict[str, list[np.ndarray]] = {c: [] for c in numeric}
    cats: dict[str, Counter | None] = {c: Counter() for c in categorical}
    row = 0
    for f in files:
        names = shard_schema(f).names
        cols = [c for c in needed if c in names]
        for batch in read_shard(f, columns=cols or ["id"]):
            n = batch.num_rows
            start = (-row) % stride
            for c in numeric:
                if c in batch.schema.names:
                    values = pc.cast(batch.column(c), pa.float64()).to_numpy(zero_copy_only=False)
                    samples[c].append(np.asarray(values, dtype=np.float64)[start::stride])
            for c in categorical:
                if c in batch.schema.names and cats[c] is not None:
                    counts = cats[c]
                    counts.update(_value_counts(batch.column(c)))
                    if len(counts) > MAX_CATEGORIES:
                        cats[c] = None
            if "_dup_cluster" in batch.schema.names:
                col = batch.column("_dup_cluster")
                scan.dup_clusters.update({k: v for k, v in _value_counts(col).items() if k is not None})
            if has_phase and "_phase" in batch.schema.names:
                _phase_update(scan.phases, batch)
            row += n
    scan.rows = row
    scan.numeric = {c: np.concatenate(v) if v else np.array([]) for c, v in samples.items()}
    scan.categorical = {c: v for c, v in cats.items() if v is not None}
    return scan


def _value_counts(col: pa.Array) -> Counter:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if len(col) == 0:
        return Counter()
    vc = pc.value_counts(col)
    return Counter({v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)})


def _phase_update(phases: dict[int, PhaseStats], batch: pa.RecordBatch) -> None:
    names = batch.schema.names
    phase = pc.fill_null(pc.cast(batch.column("_phase"), pa.int64()), -1).to_numpy(zero_copy_only=False)
    chars = (
        pc.fill_null(pc.utf8_length(batch.column("text")), 0).to_numpy(zero_copy_only=False)
        if "text" in names
        else np.zeros(len(phase), np.int64)
    )
    diff = (
        pc.cast(batch.column("_difficulty"), pa.float64()).to_numpy(zero_copy_only=False)
        if "_difficulty" in names
        else None
    )
    source = np.asarray(batch.column("_source").to_pylist(), dtype=object) if "_source" in names else None
    for p in np.unique(phase):
        m = phase == p
        st = phases.setdefault(int(p), PhaseStats())
        st.docs += int(m.sum())
        st.chars += int(chars[m].sum())
        if diff is not None:
            d = diff[m]
            d = d[np.isfinite(d)]
            if len(d):
                st.difficulty_min = min(st.difficulty_min, float(d.min()))
                st.difficulty_max = max(st.difficulty_max, float(d.max()))
                st.difficulty_sum += float(d.sum())
                st.difficulty_n += len(d)
        if source is not None:
            st.sources.update(str(s) if s is not None else "(null)" for s in source[m])


@dataclass
class LedgerScan:
    examples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    rows: int = 0
    matched: dict[str, Counter] = field(default_factory=dict)  # dedup stage -> kept id -> duplicates dropped


def scan_ledger(
    run_dir: str, wanted: set[tuple[str, str]], dedup_stages: set[str], per_reason: int = EXAMPLES_PER_REASON
) -> LedgerScan:
    """A few examples per (stage, reason), and per dedup stage how many duplicates each kept id matched."""
    out = LedgerScan()
    folder = os.path.join(run_dir, "rejected")
    if not os.path.isdir(folder):
        return out
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".parquet"):
            continue
        pf = pq.ParquetFile(os.path.join(folder, name))
        out.rows += pf.metadata.num_rows
        for rg in range(pf.num_row_groups):
            keys = pf.read_row_group(rg, columns=["stage", "reason"])
            stages = keys.column("stage").to_pylist()
            reasons = keys.column("reason").to_pylist()
            take = []
            for i, key in enumerate(zip(stages, reasons, strict=True)):
                got = out.examples.setdefault(key, [])
                if len(got) < per_reason and (not wanted or key in wanted):
                    got.append({})
                    take.append((i, key))
            dedup_here = dedup_stages & set(stages)
            if not take and not dedup_here:
                continue
            detail_cols = ["id", "detail"] + (["text"] if take else [])
            rows = pf.read_row_group(rg, columns=detail_cols)
            details = rows.column("detail").to_pylist()
            for s in dedup_here:
                mask = [st == s and d is not None for st, d in zip(stages, details, strict=True)]
                out.matched.setdefault(s, Counter()).update(d for d, m in zip(details, mask, strict=True) if m)
            if take:
                idx = pa.array([i for i, _ in take], pa.int64())
                sub = rows.take(idx).to_pylist()
                for (_, key), rec in zip(take, sub, strict=True):
                    slot = next(e for e in out.examples[key] if not e)
                    slot.update(rec)
    out.examples = {k: v for k, v in out.examples.items() if v}
    return out


@dataclass
class RunData:
    """Everything the sections read; `load_run` fills it, `funnel_records` uses only the stats."""

    run_dir: str
    manifest: dict[str, Any]
    stats: dict[str, Any] | None
    curriculum: dict[str, Any] | list | None
    data: DataScan
    ledger: LedgerScan
    thresholds: dict[str, list[Threshold]]

    @property
    def stage_specs(self) -> list[dict[str, Any]]:
        return list((self.manifest.get("config") or {}).get("stages") or [])

    @property
    def stage_names(self) -> dict[str, str]:
        """Stage key -> registry name."""
        return {s.get("key", s.get("name")): s.get("name", "") for s in self.stage_specs}

    @property
    def stage_stats(self) -> dict[str, dict[str, Any]]:
        """Stats per stage key in pipeline order (stats.json is written with sorted keys)."""
        stats = dict((self.stats or {}).get("stages") or {})
        order = ["read", *(s.get("key", s.get("name")) for s in self.stage_specs)]
        return {k: stats[k] for k in order if k in stats} | {k: v for k, v in stats.items() if k not in order}

    @property
    def reports(self) -> dict[str, Any]:
        return dict((self.stats or {}).get("reports") or {})

    def in_stage_order(self, keys: Iterable[str]) -> list[str]:
        """Stage keys in pipeline order; keys of no configured stage come last, by name."""
        order = list(self.stage_names)
        return sorted(keys, key=lambda k: (k not in order, order.index(k) if k in order else 0, k))

    def is_dedup(self, key: str) -> bool:
        return "dedup" in key or "dedup" in self.stage_names.get(key, "")

    @property
    def dedup_keys(self) -> list[str]:
        """Dedup stages that have stats or a report, in pipeline order."""
        found = {k for k in self.stage_stats if self.is_dedup(k)} | {k for k in self.reports if "dedup" in k}
        return self.in_stage_order(found)

    @property
    def synthetic_keys(self) -> list[str]:
        """Stages that reported on synthetic data, in the order of their reports."""
        names = self.stage_names
        return [k for k in self.reports if "synthetic" in k or "synthetic" in names.get(k, "")]


def _read_optional(path: str) -> Any:
    if not os.path.exists(path):
        return None
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def load_run(run_dir: str, sample_values: int = SAMPLE_VALUES) -> RunData:
    manifest_path = os.path.join(run_dir, "manifest.json")
    if not os.path.exists(manifest_path):
        raise FileNotFoundError(f"{run_dir}: not a run directory (no manifest.json)")
    manifest = read_json(manifest_path)
    stats = _read_optional(os.path.join(run_dir, "stats.json"))
    found = sorted(glob.glob(os.path.join(glob.escape(run_dir), "curriculum*.json")))
    curriculum = _read_optional(found[0]) if found else None
    data = scan_data(_data_files(run_dir), sample_values)
    run = RunData(run_dir, manifest, stats, curriculum, data, LedgerScan(), {})
    wanted = {(k, r) for k, s in run.stage_stats.items() for r in (s.get("reasons") or {})}
    run.ledger = scan_ledger(run_dir, wanted, {k for k in run.stage_stats if run.is_dedup(k)})
    run.thresholds = signal_thresholds(run.stage_specs, data.columns)
    return run
