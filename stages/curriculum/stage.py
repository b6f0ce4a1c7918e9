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

This module holds the parameters and runs the passes; passes.py has the per-shard/per-bucket work,
plan.py the boundaries and cuts, sampling.py the sample, scoring.py difficulty, summary.py curriculum.json.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from stages.base import GlobalContext, GlobalResult, GlobalStage
from stages.core.atomic import write_json
from stages.core.partitions import usable_bytes
from stages.core.shards import shard_bytes, shard_schema
from stages.core.stats import StageStats
from stages.curriculum import signals as sig
from stages.curriculum.passes import (
    BucketItem,
    PartItem,
    ScatterItem,
    SignalsItem,
    pass1_signals,
    pass2_scatter,
    pass3_bucket,
    pass4_part,
    renumber,
)
from stages.curriculum.plan import Strata, bucket_bounds, normalisation, phase_layout, save_plan, sub_layout
from stages.curriculum.sampling import merge_samples
from stages.curriculum.schedules import Schedule, UnknownScheduleError, get_schedule
from stages.curriculum.scoring import columns, difficulty, key_and_stratum
from stages.curriculum.settings import Needed, PhaseMix, PhaseRule, Settings
from stages.curriculum.summary import summarise

DEFAULT_SIGNALS = {"length": 1.0, "rarity": 1.0, "sentence_length": 1.0, "entropy": 0.5, "quality": 0.0}
BYTES_OVERHEAD = 96  # per document: signal, key and phase columns added on top of the input row
# Share of the usable budget one bucket's rows may take: pass 3 peaked at ~4.5x its rows' bytes over the worker's
# footprint (mapped pieces, concatenation, sort, take; bench/scale.py at 5M documents), so 0.12 keeps a 512 MB
# budget (428 MB footprint) and leaves room at larger ones.
MEMORY_SHARE = 0.12


def _holds_back(schedule: type[Schedule]) -> bool:
    """Whether the schedule sets documents aside for one extra, final phase."""
    return schedule.hold_back is not Schedule.hold_back


def _phase_count(strata: Strata) -> int:
    return max(p for _, ids in strata for p in ids) + 1


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
    bucket_docs: int | None = Field(
        None, ge=1, description="documents per bucket (default: from memory_budget_mb / execution.memory_budget_mb)"
    )
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
        if shuffle and n == 1 and self.phase_rules is None and not _holds_back(sched):
            raise ValueError(
                f"schedule {self.schedule!r} with shuffle_within_phase and a single phase shuffles the whole "
                "dataset; set `phases` > 1 or turn shuffle_within_phase off"
            )
        if "quality_last_share" in self.model_fields_set and self.schedule != "quality_last":
            raise ValueError("quality_last_share applies only to schedule: quality_last")
        sched(self.settings()).validate()
        return self

    # -- derived settings ------------------------------------------------------------------------------
    def schedule_class(self) -> type[Schedule]:
        return get_schedule(self.schedule)

    def settings(self) -> Settings:
        """What the schedule, helpers and passes need of the parameters."""
        schedule = self.schedule_class()
        return Settings(
            schedule=self.schedule,
            signal_columns=self.signal_columns(),
            weights=dict(self.signals),
            normalize=self.normalize,
            phase_rules=tuple(self.phase_rules) if self.phase_rules is not None else None,
            phase_mix=self.phase_mix,
            n_strata=len(self._strata(_holds_back(schedule))),
            shuffle=self.shuffles(),
            fold_script=self.fold_script,
            sample_size=self.sample_size,
            quality_last_share=self.quality_last_share,
            report_column=self.report_column,
            params=self.params(),
        )

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
        settings = self.settings()
        schedule = self.schedule_class()(settings)

        # pass 1: signals and samples
        items = [
            SignalsItem(settings, shard=p, index=i, work_dir=ctx.work_dir, needed=needed, batch_size=ctx.batch_size)
            for i, p in enumerate(shards)
        ]
        first = ctx.map(pass1_signals, items, weights=shard_bytes(shards))
        n_docs = sum(r["rows"] for r in first)
        chars = sum(r["chars"] for r in first)
        sample = merge_samples([r["sample"] for r in first], self.sample_size)
        norm = normalisation(settings, sample, first)
        cols = columns(sample)
        cols["_difficulty"] = difficulty(settings, cols, norm)
        prepared = schedule.prepare(cols)
        key, stratum = key_and_stratum(settings, schedule, cols, prepared)
        strata = self.strata(schedule)

        bytes_per_doc = (sum(r["bytes"] for r in first) / max(n_docs, 1)) + BYTES_OVERHEAD
        cap = self.bucket_docs or max(100, int(usable_bytes(self.budget_mb(ctx)) * MEMORY_SHARE / bytes_per_doc))
        bounds = bucket_bounds(key, stratum, len(strata), n_docs, len(sample), cap)
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
        save_plan(plan_path, plan)

        # pass 2: difficulty, scatter into buckets
        items = [
            ScatterItem(
                settings, plan=plan_path, shard=p, side=r["side"], out=os.path.join(ctx.work_dir, f"scatter-{i:05d}")
            )
            for i, (p, r) in enumerate(zip(shards, first, strict=True))
        ]
        second = ctx.map(pass2_scatter, items)
        counts = np.sum([r["counts"] for r in second], axis=0) if second else np.zeros(offsets[-1], np.int64)

        # phase layout: exact rank cuts per stratum
        layout, phase_sizes = phase_layout(counts, offsets, strata)
        direct = not self.shuffles() and self.phase_mix is None
        n_phase = _phase_count(strata)
        subs = None
        if not direct:
            subs = sub_layout(self.shuffles(), key, stratum, strata, phase_sizes, n_phase, cap)

        # pass 3: per bucket sort, phases; write output (direct) or scatter into (phase, part)
        items = []
        for s in range(len(strata)):
            ranks, cuts, phase_ids = layout[s]
            for j in range(offsets[s + 1] - offsets[s]):
                b = offsets[s] + j
                if counts[b] == 0:
                    continue
                items.append(
                    BucketItem(
                        settings,
                        bucket=b,
                        pieces=[(r["file"], r["index"][b]) for r in second if b in r["index"]],
                        rank0=ranks[j],
                        cuts=cuts,
                        phase_ids=phase_ids,
                        direct=direct,
                        subs=subs,
                        out=os.path.join(ctx.out_dir if direct else ctx.work_dir, f"bucket-{b:05d}"),
                        report_column=needed.report,
                    )
                )
        third = ctx.map(pass3_bucket, items)
        if direct:
            outputs = [f for r in third for f in r["files"]]
        else:
            items = [
                PartItem(
                    settings,
                    phase=p,
                    sub=q,
                    pieces=[(r["file"], r["index"][(p, q)]) for r in third if (p, q) in r["index"]],
                    out=os.path.join(ctx.out_dir, f"phase-{p:03d}-{q:05d}"),
                    report_column=needed.report,
                )
                for p in range(n_phase)
                for q in range(subs["n"][p])
            ]
            fourth = ctx.map(pass4_part, items)
            outputs = [f for r in fourth for f in r["files"]]
        per_phase = [r["phases"] for r in third]
        shards_out = renumber(outputs, ctx.out_dir)
        for r in second:
            os.remove(r["file"])
        if not direct:
            for r in third:
                os.remove(r["file"])

        names = self.phase_names(schedule, strata)
        summary = summarise(settings, ctx.seed, names, per_phase, len(sample), cols, norm, prepared, n_docs, chars)
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
    def _input_columns(self, present: set[str]) -> Needed:
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
        return Needed(builtins=tuple(builtins), columns=tuple(dict.fromkeys(wanted)), report=report)

    def strata(self, schedule: Schedule) -> Strata:
        """Per stratum: phase fractions of its rank range and the phase id of each part."""
        return self._strata(_holds_back(type(schedule)))

    def _strata(self, holds_back: bool) -> Strata:
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
        if holds_back:
            strata.append(([1.0], [_phase_count(strata)]))
        return strata

    def phase_names(self, schedule: Schedule, strata: list) -> list[str]:
        n_total = _phase_count(strata)
        names = [f"phase_{p}" for p in range(n_total)]
        if self.phase_rules is not None:
            for i, r in enumerate(self.phase_rules):
                names[i] = r.name
            if len(self.phase_rules) < n_total:
                names[len(self.phase_rules)] = "rest"
        if _holds_back(type(schedule)):
            names[-1] = schedule.hold_back_name
        return names
