"""`curriculum`: order the dataset for training (easy to hard, phases, quality last) at any corpus size.

Difficulty is a weighted sum of normalised signals (signals.py). Defaults weigh length, lexical rarity and
sentence length equally and character entropy half (it is partly redundant with length), and leave
`_quality` out (weight 0): curriculum papers (arXiv 2506.11300) order by intrinsic difficulty, while quality
is better used by `quality_last`, whose 10% decay share follows MiniCPM. Rank normalisation is the default
because the raw signals have very different, skewed scales; z-score keeps distances (outliers dominate).

The order is built by sample-sort, so no process holds more than one bucket:
1. per shard: signals into a side file, plus a bounded bottom-k sample by id hash (seed-independent, so
   difficulty and phases do not change with the seed: the seed only shuffles inside phases);
2. normalisation and bucket boundaries (quantiles of the schedule's key) from the merged sample; per shard:
   `_difficulty`, then rows scattered into buckets;
3. per bucket: sort by (key, id); global ranks follow from bucket counts, so phase sizes are exact
   fractions of the corpus; write output shards in training order. Shuffled or mixed phases take one more
   scatter into (phase, part) buckets, each ordered by a seeded hash of the id.
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections import Counter
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.shards import read_shard, shard_schema, write_json, write_shard
from stages.base import GlobalContext, GlobalResult, GlobalStage, set_column
from stages.curriculum import signals as sig
from stages.curriculum.schedules import Schedule, UnknownScheduleError, get_schedule
from stages.stats import StageStats

SAMPLE_SALT = 0x6A696E67  # fixed: the sample (hence normalisation) must not depend on the run seed
INTERNAL = ("_key", "_stratum", "_u")
OUTPUT_BATCH_ROWS = 1000
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
DEFAULT_SIGNALS = {"length": 1.0, "rarity": 1.0, "sentence_length": 1.0, "entropy": 0.5, "quality": 0.0}
BYTES_OVERHEAD = 96  # per document: signal, key and phase columns added on top of the input row
MEMORY_SHARE = 0.3  # of the budget one bucket's rows may take (concatenate + sort copy + write buffers)


class PhaseRule(BaseModel):
    """A named phase: documents whose `column` is in `values` (or within [min, max)). A rule without a
    column takes every document no earlier rule took. Documents matching no rule go to a phase `rest`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    column: str | None = None
    values: list[str | int | float | bool] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> PhaseRule:
        has_condition = self.values is not None or self.min is not None or self.max is not None
        if self.column is None and has_condition:
            raise ValueError(f"phase rule {self.name!r}: values/min/max need a `column`")
        if self.column is not None and not has_condition:
            raise ValueError(f"phase rule {self.name!r}: give `values` or `min`/`max` for column {self.column!r}")
        return self


class PhaseMix(BaseModel):
    """How each source's documents are spread over the phases: `weights[value][p]` is the relative share of
    that source's documents (its easiest first) placed in phase p. `*` covers other values; without it,
    other values follow the `phases` fractions."""

    model_config = ConfigDict(extra="forbid")

    column: str
    weights: dict[str, list[float]]


class Curriculum(GlobalStage):
    """Orders documents by a difficulty score into phases and writes shards in training order."""

    name: ClassVar[str] = "curriculum"
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ("id", "text")
    adds: ClassVar[tuple[str, ...]] = (*(sig.column_name(s) for s in sig.BUILTIN), "_difficulty", "_phase")

    schedule: str = Field(
        "easy_to_hard", description="easy_to_hard, hard_to_easy, phases, quality_last or module:Class"
    )
    signals: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SIGNALS),
        description="weight per signal: built-ins length, rarity, sentence_length, entropy, quality "
        "(the _quality column), or any numeric input column; listed signals are computed even at weight 0",
    )
    normalize: Literal["rank", "zscore"] = Field(
        "rank", description="rank: empirical CDF over a sample; zscore: (x - mean) / std over the corpus"
    )
    phases: int | list[float] | None = Field(
        None, description="number of equal phases, or their fractions (sum 1); default from the schedule"
    )
    phase_rules: list[PhaseRule] | None = Field(
        None, description="named phases by column value or range ({name, column, values | min/max}), in order"
    )
    phase_mix: PhaseMix | None = Field(
        None, description="{column, weights: {value: [weight per phase]}}: how each source spreads over phases"
    )
    quality_last_share: float = Field(0.1, gt=0, lt=1, description="share held back by quality_last")
    shuffle_within_phase: bool | None = Field(None, description="default: True for `phases`, else sorted")
    bucket_docs: int | None = Field(None, ge=1, description="documents per bucket; default from the memory budget")
    sample_size: int = Field(100_000, ge=100, description="documents in the quantile/normalisation sample")
    fold_script: bool = Field(True, description="fold Traditional to Simplified before scoring rarity")
    report_column: str | None = Field("_source", description="column whose values are counted per phase")

    # -- validation ------------------------------------------------------------------------------------
    @field_validator("schedule")
    @classmethod
    def _known_schedule(cls, v: str) -> str:
        try:
            get_schedule(v)
        except UnknownScheduleError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("signals")
    @classmethod
    def _check_signals(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("signals: give at least one signal with a weight")
        if not any(w != 0 for w in v.values()):
            raise ValueError("signals: every weight is 0; give at least one signal a non-zero weight")
        for name, w in v.items():
            if not math.isfinite(w):
                raise ValueError(f"signals: weight of {name!r} must be a finite number")
        return v

    @field_validator("phases")
    @classmethod
    def _check_phases(cls, v: int | list[float] | None) -> int | list[float] | None:
        if isinstance(v, int) and v < 1:
            raise ValueError("phases must be at least 1")
        if isinstance(v, list):
            if not v or any(f <= 0 for f in v):
                raise ValueError("phases: fractions must be positive")
            if abs(sum(v) - 1) > 1e-6:
                raise ValueError(f"phases: fractions must sum to 1 (they sum to {sum(v):g})")
        return v

    @model_validator(mode="after")
    def _check_combinations(self) -> Curriculum:
        sched = self.schedule_class()
        if self.phase_rules is not None and self.phase_mix is not None:
            raise ValueError("phase_rules and phase_mix cannot be combined: rules fix each document's phase")
        if self.phase_rules is not None:
            if not self.phase_rules:
                raise ValueError("phase_rules: give at least one rule")
            if self.phases is not None and self.phases not in (1, [1.0]):
                raise ValueError("phases and phase_rules cannot be combined: each rule is one phase")
            names = [r.name for r in self.phase_rules]
            if len(set(names)) != len(names):
                raise ValueError(f"phase_rules: rule names must be unique ({names})")
        n = self.n_phases()
        if self.phase_mix is not None:
            for value, weights in self.phase_mix.weights.items():
                if len(weights) != n:
                    raise ValueError(
                        f"phase_mix.weights[{value!r}] has {len(weights)} weights for {n} phases (set `phases`)"
                    )
                if any(w < 0 for w in weights) or sum(weights) <= 0:
                    raise ValueError(f"phase_mix.weights[{value!r}]: weights must be >= 0 with a positive sum")
        shuffle = self.shuffles()
        if shuffle and n == 1 and self.phase_rules is None and sched.hold_back is Schedule.hold_back:
            raise ValueError(
                f"schedule {self.schedule!r} with shuffle_within_phase and a single phase shuffles the whole "
                "dataset; set `phases` > 1 or turn shuffle_within_phase off"
            )
        if "quality_last_share" in self.model_fields_set and self.schedule != "quality_last":
            raise ValueError("quality_last_share applies only to schedule: quality_last")
        sched(self).validate()
        return self

    # -- derived settings ------------------------------------------------------------------------------
    def schedule_class(self) -> type[Schedule]:
        return get_schedule(self.schedule)

    def shuffles(self) -> bool:
        if self.shuffle_within_phase is not None:
            return self.shuffle_within_phase
        return self.schedule_class().shuffle

    def n_phases(self) -> int:
        """Phases before any held-back phase (and before a `rest` phase of phase_rules)."""
        if self.phase_rules is not None:
            return len(self.phase_rules)
        if self.phases is None:
            return self.schedule_class().default_phases
        return self.phases if isinstance(self.phases, int) else len(self.phases)

    def phase_fractions(self) -> list[float]:
        n = self.n_phases()
        if isinstance(self.phases, list):
            return list(self.phases)
        return [1.0 / n] * n

    def signal_columns(self) -> dict[str, str]:
        """signal name -> column holding its raw value."""
        out = {}
        for name in self.signals:
            if name in sig.BUILTIN:
                out[name] = sig.column_name(name)
            elif name == "quality":
                out[name] = "_quality"
            else:
                out[name] = name
        return out

    # -- run -------------------------------------------------------------------------------------------
    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        t0 = time.perf_counter()
        present = set()
        for path in shards:
            present |= set(shard_schema(path).names)
        needed = self._input_columns(present)
        schedule = self.schedule_class()(self)

        # pass 1: signals and samples
        items = [
            dict(stage=self, shard=p, i=i, work=ctx.work_dir, needed=needed, batch=ctx.batch_size)
            for i, p in enumerate(shards)
        ]
        first = ctx.map(_pass1_signals, items)
        n_docs = sum(r["rows"] for r in first)
        chars = sum(r["chars"] for r in first)
        sample = _merge_samples([r["sample"] for r in first], self.sample_size)
        norm = self._normalisation(sample, first)
        cols = _columns(sample)
        cols["_difficulty"] = difficulty(self, cols, norm)
        prepared = schedule.prepare(cols)
        key, stratum = _key_and_stratum(self, schedule, cols, prepared)
        strata = self._strata(schedule)

        bytes_per_doc = (sum(r["bytes"] for r in first) / max(n_docs, 1)) + BYTES_OVERHEAD
        cap = self.bucket_docs or max(100, int(ctx.memory_budget_mb * 2**20 * MEMORY_SHARE / bytes_per_doc))
        bounds = []  # per stratum: key boundaries of its buckets
        for s in range(len(strata)):
            ks = np.sort(key[stratum == s])
            est = n_docs * len(ks) / max(len(sample), 1)
            b = max(1, math.ceil(est / cap))
            bounds.append(ks[(np.arange(1, b) * len(ks)) // b] if len(ks) else np.empty(0))
        offsets = np.cumsum([0] + [len(b) + 1 for b in bounds]).tolist()
        plan = dict(
            norm=norm,
            prepared=prepared,
            bounds=bounds,
            offsets=offsets,
            n_buckets=offsets[-1],
            seed=int(ctx.seed) & (2**64 - 1),
            shuffle=self.shuffles(),
        )
        plan_path = os.path.join(ctx.work_dir, "plan.pkl")
        _atomic_pickle(plan_path, plan)

        # pass 2: difficulty, scatter into buckets
        items = [
            dict(
                stage=self, plan=plan_path, shard=p, side=r["side"], out=os.path.join(ctx.work_dir, f"scatter-{i:05d}")
            )
            for i, (p, r) in enumerate(zip(shards, first, strict=True))
        ]
        second = ctx.map(_pass2_scatter, items)
        counts = np.sum([r["counts"] for r in second], axis=0) if second else np.zeros(offsets[-1], np.int64)

        # phase layout: exact rank cuts per stratum
        layout = []  # per stratum: (bucket rank offsets, cut ranks, phase ids)
        phase_sizes = Counter()
        for s, (fractions, phase_ids) in enumerate(strata):
            c = counts[offsets[s] : offsets[s + 1]]
            n_s = int(c.sum())
            cuts = [round(f * n_s) for f in np.cumsum(fractions)[:-1]]
            edges = [0, *cuts, n_s]
            for j, p in enumerate(phase_ids):
                phase_sizes[p] += edges[j + 1] - edges[j]
            layout.append((np.concatenate([[0], np.cumsum(c)]).astype(np.int64).tolist(), cuts, phase_ids))
        direct = not self.shuffles() and self.phase_mix is None
        n_phase = max(p for _, ids in strata for p in ids) + 1
        subs = None
        if not direct:
            subs = _sub_layout(self, cols, key, stratum, strata, phase_sizes, n_phase, cap, len(sample), n_docs)

        # pass 3: per bucket sort, phases; write output (direct) or scatter into (phase, part)
        items = []
        for s in range(len(strata)):
            ranks, cuts, phase_ids = layout[s]
            for j in range(offsets[s + 1] - offsets[s]):
                b = offsets[s] + j
                if counts[b] == 0:
                    continue
                items.append(
                    dict(
                        stage=self,
                        bucket=b,
                        pieces=[(r["file"], r["index"][b]) for r in second if b in r["index"]],
                        rank0=ranks[j],
                        cuts=cuts,
                        phase_ids=phase_ids,
                        direct=direct,
                        subs=subs,
                        out=os.path.join(ctx.out_dir if direct else ctx.work_dir, f"bucket-{b:05d}"),
                        report_column=needed["report"],
                    )
                )
        third = ctx.map(_pass3_bucket, items)
        if direct:
            outputs = [f for r in third for f in r["files"]]
        else:
            items = [
                dict(
                    stage=self,
                    phase=p,
                    sub=q,
                    pieces=[(r["file"], r["index"][(p, q)]) for r in third if (p, q) in r["index"]],
                    out=os.path.join(ctx.out_dir, f"phase-{p:03d}-{q:05d}"),
                    report_column=needed["report"],
                )
                for p in range(n_phase)
                for q in range(subs["n"][p])
            ]
            fourth = ctx.map(_pass4_part, items)
            outputs = [f for r in fourth for f in r["files"]]
        per_phase = [r["phases"] for r in third]
        shards_out = _renumber(outputs, ctx.out_dir)
        for r in second:
            os.remove(r["file"])
        if not direct:
            for r in third:
                os.remove(r["file"])

        summary = self._summary(ctx, schedule, strata, per_phase, sample, cols, norm, prepared, n_docs, chars)
        summary["buckets"] = {"count": int(offsets[-1]), "bucket_docs": int(cap), "largest": int(counts.max(initial=0))}
        summary["output_shards"] = len(shards_out)
        name = "curriculum.json" if ctx.stage_key == self.name else f"{ctx.stage_key}.json"
        path = os.path.join(ctx.work_dir, name)
        write_json(path, summary)
        stats = StageStats(
            docs_in=n_docs,
            docs_out=n_docs,
            chars_in=chars,
            chars_out=chars,
            seconds=time.perf_counter() - t0,
            counters=Counter({f"phase_{p['phase']}": p["docs"] for p in summary["phases"]}),
        )
        return GlobalResult(shards=shards_out, stats=stats, report=summary, files={name: path})

    # -- helpers (main process) ------------------------------------------------------------------------
    def _input_columns(self, present: set[str]) -> dict[str, Any]:
        """Input columns the passes need, checked against the shards' schemas."""
        schedule = self.schedule_class()
        wanted: list[str] = []
        for name, col in self.signal_columns().items():
            if name in sig.BUILTIN:
                continue
            if col not in present:
                if name == "quality" and self.signals[name] == 0:
                    continue
                what = (
                    "the quality score column `_quality` (run a quality stage first)"
                    if name == "quality"
                    else (f"an input column; built-in signals are {', '.join(sig.BUILTIN)}, quality")
                )
                raise ValueError(f"curriculum: signal {name!r} needs {what}; the input has no column {col!r}")
            wanted.append(col)
        for col in schedule.columns:
            if col not in present:
                raise ValueError(f"curriculum: schedule {self.schedule!r} needs the input column {col!r}")
            wanted.append(col)
        for rule in self.phase_rules or []:
            if rule.column is not None:
                if rule.column not in present:
                    raise ValueError(
                        f"curriculum: phase rule {rule.name!r} reads column {rule.column!r}, not in the input"
                    )
                wanted.append(rule.column)
        if self.phase_mix is not None:
            if self.phase_mix.column not in present:
                raise ValueError(f"curriculum: phase_mix.column {self.phase_mix.column!r} is not in the input")
            wanted.append(self.phase_mix.column)
        report = self.report_column if self.report_column in present else None
        builtins = [s for s in self.signals if s in sig.BUILTIN]
        return {"columns": list(dict.fromkeys(wanted)), "builtins": builtins, "report": report}

    def _normalisation(self, sample: pa.Table, first: list[dict]) -> dict[str, Any]:
        cols = _columns(sample)
        out: dict[str, Any] = {"method": self.normalize, "signals": {}}
        for name, col in self.signal_columns().items():
            if col not in cols:
                continue
            if self.normalize == "rank":
                x = cols[col]
                out["signals"][name] = np.sort(x[np.isfinite(x)])
            else:
                n, mean, m2 = 0, 0.0, 0.0
                for r in first:  # Chan et al. merge of per-shard moments
                    nb, mb, m2b = r["moments"].get(col, (0, 0.0, 0.0))
                    if nb == 0:
                        continue
                    delta = mb - mean
                    total = n + nb
                    mean += delta * nb / total
                    m2 += m2b + delta * delta * n * nb / total
                    n = total
                std = math.sqrt(m2 / n) if n else 0.0
                out["signals"][name] = (mean, std)
        return out

    def _strata(self, schedule: Schedule) -> list[tuple[list[float], list[int]]]:
        """Per stratum: phase fractions of its rank range and the phase id of each part."""
        n = self.n_phases()
        if self.phase_rules is not None:
            strata = [([1.0], [i]) for i in range(n)]
            if not any(r.column is None for r in self.phase_rules):
                strata.append(([1.0], [n]))  # rest
        elif self.phase_mix is not None:
            strata = []
            for weights in self.phase_mix.weights.values():
                total = sum(weights)
                strata.append(([w / total for w in weights], list(range(n))))
            if "*" not in self.phase_mix.weights:
                strata.append((self.phase_fractions(), list(range(n))))
        else:
            strata = [(self.phase_fractions(), list(range(n)))]
        if type(schedule).hold_back is not Schedule.hold_back:
            last = max(p for _, ids in strata for p in ids) + 1
            strata.append(([1.0], [last]))
        return strata

    def phase_names(self, schedule: Schedule, strata: list) -> list[str]:
        n_total = max(p for _, ids in strata for p in ids) + 1
        names = [f"phase_{p}" for p in range(n_total)]
        if self.phase_rules is not None:
            for i, r in enumerate(self.phase_rules):
                names[i] = r.name
            if len(self.phase_rules) < n_total:
                names[len(self.phase_rules)] = "rest"
        if type(schedule).hold_back is not Schedule.hold_back:
            names[-1] = schedule.hold_back_name
        return names

    def _summary(self, ctx, schedule, strata, per_phase, sample, cols, norm, prepared, n_docs, chars) -> dict:
        names = self.phase_names(schedule, strata)
        merged: dict[int, dict] = {
            p: {"docs": 0, "chars": 0, "d_sum": 0.0, "d_min": math.inf, "d_max": -math.inf, "by": Counter()}
            for p in range(len(names))
        }
        for part in per_phase:
            for p, st in part.items():
                m = merged[int(p)]
                m["docs"] += st["docs"]
                m["chars"] += st["chars"]
                m["d_sum"] += st["d_sum"]
                m["d_min"] = min(m["d_min"], st["d_min"])
                m["d_max"] = max(m["d_max"], st["d_max"])
                m["by"].update(st["by"])
        phases = []
        start = 0
        for p, name in enumerate(names):
            m = merged[p]
            docs = m["docs"]
            phases.append(
                {
                    "phase": p,
                    "name": name,
                    "docs": docs,
                    "share": round(docs / n_docs, 6) if n_docs else 0.0,
                    "chars": m["chars"],
                    "first_doc": start,
                    "difficulty": {
                        "min": _r(m["d_min"]) if docs else None,
                        "mean": _r(m["d_sum"] / docs) if docs else None,
                        "max": _r(m["d_max"]) if docs else None,
                    },
                    "by_" + (self.report_column or "source"): dict(sorted(m["by"].items())),
                }
            )
            start += docs
        d = cols["_difficulty"]
        signal_quantiles = {}
        for name, col in self.signal_columns().items():
            if col in cols:
                x = cols[col][np.isfinite(cols[col])]
                if len(x):
                    signal_quantiles[name] = {
                        str(q): _r(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)
                    }
        norm_out: dict[str, Any] = {"method": self.normalize, "sample_docs": len(sample)}
        if self.normalize == "zscore":
            norm_out["mean_std"] = {k: [_r(a), _r(b)] for k, (a, b) in norm["signals"].items()}
        return {
            "schedule": self.schedule,
            "seed": int(ctx.seed),
            "signals": dict(self.signals),
            "normalize": norm_out,
            "shuffle_within_phase": self.shuffles(),
            "docs": n_docs,
            "chars": chars,
            "phases": phases,
            "phase_boundaries": [
                {"phase": ph["phase"], "first_doc": ph["first_doc"], "docs": ph["docs"], **ph["difficulty"]}
                for ph in phases
            ],
            "difficulty_quantiles": (
                {str(q): _r(v) for q, v in zip(QUANTILES, np.quantile(d, QUANTILES), strict=True)} if len(d) else {}
            ),
            "signal_quantiles": signal_quantiles,
            "signal_spearman": spearman_matrix({n: cols[c] for n, c in self.signal_columns().items() if c in cols}),
            "schedule_stats": prepared,
            "params": self.params(),
        }


# -- shared computations -------------------------------------------------------------------------------


def _r(x: float) -> float:
    return round(float(x), 6)


def _columns(table: pa.Table | pa.RecordBatch) -> dict[str, np.ndarray]:
    """Columns as numpy: numbers as float64 with NaN for null, others as object arrays."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_null(col.type):  # a column absent from this shard
            out[name] = np.full(len(col), math.nan)
        elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
            col = pc.cast(col, pa.float64(), safe=False)
            out[name] = np.asarray(pc.fill_null(col, math.nan).to_numpy(zero_copy_only=False), dtype=np.float64)
        else:
            out[name] = np.asarray(col.to_pylist(), dtype=object) if len(col) else np.empty(0, dtype=object)
    return out


def difficulty(stage: Curriculum, cols: dict[str, np.ndarray], norm: dict[str, Any]) -> np.ndarray:
    """Weighted mean of normalised signals (rank in [0, 1]; z-score); missing values count as typical."""
    n = len(next(iter(cols.values()))) if cols else 0
    total = np.zeros(n)
    weight = 0.0
    for name, col in stage.signal_columns().items():
        w = stage.signals[name]
        if w == 0 or name not in norm["signals"]:
            continue
        x = cols[col]
        if norm["method"] == "rank":
            ref = norm["signals"][name]
            if len(ref):
                z = (np.searchsorted(ref, x, "left") + np.searchsorted(ref, x, "right")) / (2.0 * len(ref))
            else:
                z = np.full(n, 0.5)
            z = np.where(np.isfinite(x), z, 0.5)
        else:
            mean, std = norm["signals"][name]
            z = (x - mean) / std if std > 0 else np.zeros(n)
            z = np.where(np.isfinite(x), z, 0.0)
        total += w * z
        weight += abs(w)
    return total / weight if weight else total


def _key_and_stratum(
    stage: Curriculum, schedule: Schedule, cols: dict[str, np.ndarray], prepared: dict
) -> tuple[np.ndarray, np.ndarray]:
    n = len(cols["_difficulty"])
    key = np.asarray(schedule.key(cols), dtype=np.float64)
    stratum = np.zeros(n, dtype=np.int32)
    if stage.phase_rules is not None:
        stratum[:] = len(stage.phase_rules)  # rest
        open_ = np.ones(n, dtype=bool)
        for i, rule in enumerate(stage.phase_rules):
            match = open_.copy()
            if rule.column is not None:
                x = cols[rule.column]
                if rule.values is not None:
                    match &= np.isin(x, np.asarray(rule.values, dtype=x.dtype))
                if rule.min is not None:
                    match &= np.asarray(x >= rule.min, dtype=bool)
                if rule.max is not None:
                    match &= np.asarray(x < rule.max, dtype=bool)
            stratum[match] = i
            open_ &= ~match
    elif stage.phase_mix is not None:
        values = list(stage.phase_mix.weights)
        other = values.index("*") if "*" in values else len(values)
        stratum[:] = other
        x = cols[stage.phase_mix.column]
        for i, v in enumerate(values):
            if v != "*":
                stratum[x.astype(str) == v] = i
    held = schedule.hold_back(cols, prepared)
    if held is not None:
        stratum[np.asarray(held, dtype=bool)] = len(stage._strata(schedule)) - 1
    return key, stratum


def _sub_layout(stage, cols, key, stratum, strata, phase_sizes, n_phase, cap, n_sample, n_docs) -> dict:
    """Parts per phase for the second scatter: hash ranges (shuffled) or key ranges from the sample."""
    n_sub = [max(1, math.ceil(phase_sizes[p] / cap)) for p in range(n_phase)]
    bounds: list[np.ndarray] = [np.empty(0)] * n_phase
    if not stage.shuffles():
        sample_phase = np.full(len(key), -1)
        for s, (fractions, phase_ids) in enumerate(strata):
            idx = np.flatnonzero(stratum == s)
            idx = idx[np.argsort(key[idx], kind="stable")]
            cuts = [round(f * len(idx)) for f in np.cumsum(fractions)[:-1]]
            part = np.searchsorted(cuts, np.arange(len(idx)), "right")
            sample_phase[idx] = np.asarray(phase_ids)[part]
        for p in range(n_phase):
            ks = np.sort(key[sample_phase == p])
            b = n_sub[p]
            bounds[p] = ks[(np.arange(1, b) * len(ks)) // b] if len(ks) else np.empty(0)
            n_sub[p] = len(bounds[p]) + 1
    return {"n": n_sub, "bounds": bounds}


def spearman_matrix(values: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Spearman rank correlation between signals (average ranks for ties), over rows where all are finite."""
    names = list(values)
    if not names:
        return {}
    x = np.column_stack([values[n] for n in names]).astype(np.float64)
    x = x[np.all(np.isfinite(x), axis=1)]
    if len(x) < 3:
        return {}
    ranks = np.column_stack([_average_ranks(x[:, j]) for j in range(x.shape[1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(ranks, rowvar=False)
    c = np.atleast_2d(c)
    return {
        a: {b: (None if not np.isfinite(c[i, j]) else _r(c[i, j])) for j, b in enumerate(names)}
        for i, a in enumerate(names)
    }


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    xs = x[order]
    _, first, counts = np.unique(xs, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, counts)
    return ranks


def _id_hash(ids: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    import xxhash

    f = xxhash.xxh64_intdigest
    return np.fromiter((f(i.encode(), seed) for i in ids.to_pylist()), dtype=np.uint64, count=len(ids))


def _merge_samples(paths: list[str], k: int) -> pa.Table:
    tables = [_read_table(p) for p in paths]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({"_h": pa.array([], pa.uint64())})
    t = pa.concat_tables(tables, promote_options="permissive")
    return _bottom_k(t, k)


def _read_table(path: str) -> pa.Table:
    return pa.Table.from_batches(list(read_shard(path)), schema=shard_schema(path))


def _bottom_k(t: pa.Table, k: int) -> pa.Table:
    """The k rows with the smallest id hash, in hash order (deterministic whatever the shard layout)."""
    idx = pc.sort_indices(t, sort_keys=[("_h", "ascending")])
    return t.take(idx[:k]) if t.num_rows > k else t.take(idx)


def _atomic_pickle(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


_PLANS: dict[str, dict] = {}


def _load_plan(path: str) -> dict:
    key = f"{path}:{os.stat(path).st_mtime_ns}"
    if key not in _PLANS:
        _PLANS.clear()
        with open(path, "rb") as f:
            _PLANS[key] = pickle.load(f)
    return _PLANS[key]


def _renumber(paths: list[str], out_dir: str) -> list[str]:
    """Rename output files to part-00000.arrow ... in training order."""
    final = []
    for i, p in enumerate(paths):
        target = os.path.join(out_dir, f"part-{i:05d}.arrow")
        os.replace(p, target)
        final.append(target)
    return final


# -- passes (module-level, run through ctx.map) ---------------------------------------------------------


def _pass1_signals(item: dict) -> dict:
    """Signals of one shard into a side file, moments for z-score, and a bottom-k sample by id hash."""
    stage: Curriculum = item["stage"]
    needed = item["needed"]
    base = os.path.join(item["work"], f"signals-{item['i']:05d}")
    side_batches = []
    rows = chars = nbytes = 0
    for batch in read_shard(item["shard"]):
        nbytes += batch.nbytes
        for start in range(0, batch.num_rows, item["batch"]):
            part = batch.slice(start, item["batch"])
            values = sig.compute(part, needed["builtins"], stage.fold_script)
            arrays = {sig.column_name(k): pa.array(v, pa.float64()) for k, v in values.items()}
            for col in needed["columns"]:
                idx = part.schema.get_field_index(col)
                arrays[col] = part.column(idx) if idx >= 0 else pa.nulls(part.num_rows)
            lens = pc.utf8_length(pc.fill_null(part.column("text"), ""))
            arrays["_chars"] = pc.cast(lens, pa.int64())
            arrays["_h"] = pa.array(_id_hash(part.column("id"), SAMPLE_SALT), pa.uint64())
            side_batches.append(pa.RecordBatch.from_pydict(arrays))
            chars += int(pc.sum(lens).as_py() or 0)
        rows += batch.num_rows
    if not side_batches:
        side = pa.table({"_chars": pa.array([], pa.int64()), "_h": pa.array([], pa.uint64())})
    elif len({b.schema for b in side_batches}) == 1:
        side = pa.Table.from_batches(side_batches).combine_chunks()
    else:  # an optional column is all-null in some batches
        side = pa.concat_tables([pa.Table.from_batches([b]) for b in side_batches], promote_options="permissive")
    write_shard(base + ".arrow", side.to_batches() or [pa.RecordBatch.from_pylist([], schema=side.schema)])
    sample = _bottom_k(side, stage.sample_size)
    write_shard(base + ".sample.arrow", sample.to_batches(), schema=sample.schema)
    moments = {}
    cols = _columns(side.drop_columns(["_h"]))
    for name, x in cols.items():
        if x.dtype == np.float64:
            x = x[np.isfinite(x)]
            moments[name] = (
                len(x),
                float(x.mean()) if len(x) else 0.0,
                float(((x - x.mean()) ** 2).sum()) if len(x) else 0.0,
            )
    return {
        "rows": rows,
        "chars": chars,
        "bytes": nbytes,
        "side": base + ".arrow",
        "sample": base + ".sample.arrow",
        "moments": moments,
    }


def _pass2_scatter(item: dict) -> dict:
    """Difficulty and bucket of every row of one shard; rows written grouped by bucket into one IPC file."""
    stage: Curriculum = item["stage"]
    plan = _load_plan(item["plan"])
    schedule = stage.schedule_class()(stage)
    side = _read_table(item["side"])
    cols = _columns(side)
    d = difficulty(stage, cols, plan["norm"])
    cols["_difficulty"] = d
    key, stratum = _key_and_stratum(stage, schedule, cols, plan["prepared"])
    bucket = np.empty(len(key), dtype=np.int64)
    for s, bounds in enumerate(plan["bounds"]):
        m = stratum == s
        bucket[m] = plan["offsets"][s] + np.searchsorted(bounds, key[m], "right")
    counts = np.bincount(bucket, minlength=plan["n_buckets"]).astype(np.int64)
    sig_cols = [c for c in side.column_names if c.startswith("_sig_")]
    index: dict[int, list[int]] = {}
    path = item["out"] + ".arrow"
    writer = None
    start = 0
    n_written = 0
    for batch in read_shard(item["shard"]):
        n = batch.num_rows
        sl = slice(start, start + n)
        for c in sig_cols:
            batch = set_column(batch, c, side.column(c).slice(start, n).combine_chunks())
        batch = set_column(batch, "_difficulty", pa.array(d[sl], pa.float64()))
        batch = set_column(batch, "_key", pa.array(key[sl], pa.float64()))
        batch = set_column(batch, "_stratum", pa.array(stratum[sl], pa.int32()))
        if plan["shuffle"]:
            batch = set_column(batch, "_u", pa.array(_id_hash(batch.column("id"), plan["seed"]), pa.uint64()))
        b = bucket[sl]
        order = np.argsort(b, kind="stable")
        sorted_b = b[order]
        batch = batch.take(pa.array(order))
        if writer is None:
            schema = batch.schema
            writer = pa.ipc.new_file(path + ".tmp", schema)
        elif not batch.schema.equals(schema):
            batch = _conform(batch, schema)
        edges = np.flatnonzero(np.diff(sorted_b)) + 1
        for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [n]]), strict=True):
            if hi > lo:
                writer.write_batch(batch.slice(lo, hi - lo))
                index.setdefault(int(sorted_b[lo]), []).append(n_written)
                n_written += 1
        start += n
    if writer is None:
        writer = pa.ipc.new_file(path + ".tmp", pa.schema([("id", pa.string())]))
    writer.close()
    os.replace(path + ".tmp", path)
    return {"counts": counts, "file": path, "index": index}


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    from pipeline.shards import conform

    return conform(batch, schema)


def _gather(pieces: list[tuple[str, list[int]]]) -> pa.Table:
    """The listed record batches of scatter files (random access in IPC file format), as one table."""
    tables = []
    for path, batches in pieces:
        with pa.memory_map(path) as src:
            reader = pa.ipc.open_file(src)
            tables.append(pa.Table.from_batches([reader.get_batch(i) for i in batches]))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def _phase_stats(table: pa.Table, phase: np.ndarray, report_column: str | None) -> dict[int, dict]:
    out = {}
    d = table.column("_difficulty").to_numpy()
    chars = pc.utf8_length(pc.fill_null(table.column("text"), "")).to_numpy(zero_copy_only=False)
    by = table.column(report_column).to_pylist() if report_column and report_column in table.column_names else None
    for p in np.unique(phase):
        m = phase == p
        out[int(p)] = {
            "docs": int(m.sum()),
            "chars": int(chars[m].sum()),
            "d_sum": float(d[m].sum()),
            "d_min": float(d[m].min()),
            "d_max": float(d[m].max()),
            "by": dict(Counter(str(v) for v, keep in zip(by, m, strict=True) if keep)) if by is not None else {},
        }
    return out


def _write_output(table: pa.Table, path: str) -> str:
    table = table.drop_columns([c for c in INTERNAL if c in table.column_names])
    write_shard(path, table.to_batches(max_chunksize=OUTPUT_BATCH_ROWS), schema=table.schema)
    return path


def _pass3_bucket(item: dict) -> dict:
    """Sort one bucket by (key, id), assign phases from global ranks, then write or scatter again."""
    stage: Curriculum = item["stage"]
    t = _gather(item["pieces"])
    t = t.take(pc.sort_indices(t, sort_keys=[("_key", "ascending"), ("id", "ascending")]))
    ranks = item["rank0"] + np.arange(t.num_rows)
    phase = np.asarray(item["phase_ids"], dtype=np.int32)[np.searchsorted(item["cuts"], ranks, "right")]
    t = t.append_column("_phase", pa.array(phase, pa.int32()))
    stats = _phase_stats(t, phase, item["report_column"])
    if item["direct"]:
        files = []
        edges = np.flatnonzero(np.diff(phase)) + 1
        for j, (lo, hi) in enumerate(
            zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(phase)]]), strict=True)
        ):
            files.append(_write_output(t.slice(lo, hi - lo), f"{item['out']}-{j:03d}.arrow"))
        return {"files": files, "phases": stats}
    subs = item["subs"]
    if stage.shuffles():
        u = t.column("_u").to_numpy()
        n_sub = np.asarray(subs["n"], dtype=np.uint64)[phase]
        # hash ranges: floor(u * n / 2^64) without overflow
        sub = ((u >> np.uint64(32)) * n_sub >> np.uint64(32)).astype(np.int64)
    else:
        key = t.column("_key").to_numpy()
        sub = np.zeros(len(phase), dtype=np.int64)
        for p in np.unique(phase):
            m = phase == p
            sub[m] = np.searchsorted(subs["bounds"][p], key[m], "right")
    code = phase.astype(np.int64) * (1 << 32) + sub
    order = np.argsort(code, kind="stable")
    t = t.take(pa.array(order))
    code = code[order]
    path = item["out"] + ".arrow"
    edges = np.flatnonzero(np.diff(code)) + 1
    index: dict[tuple[int, int], list[int]] = {}
    n = 0
    with pa.ipc.new_file(path + ".tmp", t.schema) as w:
        for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(code)]]), strict=True):
            k = (int(code[lo] >> 32), int(code[lo] & 0xFFFFFFFF))
            for b in t.slice(lo, hi - lo).to_batches():
                w.write_batch(b)
                index.setdefault(k, []).append(n)
                n += 1
    os.replace(path + ".tmp", path)
    return {"file": path, "phases": stats, "index": index}


def _pass4_part(item: dict) -> dict:
    """One (phase, part): shuffle by seeded id hash, or sort by (key, id); write the output shard."""
    stage: Curriculum = item["stage"]
    t = _gather(item["pieces"])
    if t.num_rows == 0:
        return {"files": [], "phases": {}}
    first = "_u" if stage.shuffles() else "_key"
    t = t.take(pc.sort_indices(t, sort_keys=[(first, "ascending"), ("id", "ascending")]))
    return {"files": [_write_output(t, item["out"] + ".arrow")], "phases": {}}
