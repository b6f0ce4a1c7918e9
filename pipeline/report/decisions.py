"""Re-deciding a run's filters from the signal columns it recorded, with the configured or new thresholds.

A filter's `reasons(batch)` reads only its signal columns, so an annotate-mode run (every document kept, every
signal recorded) can be judged again for any threshold without recomputing a signal. `jingxuan tune` proposes
thresholds this way; the report shows the configured thresholds' keep rate per source.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from stages.base import STAGES, Filter
from stages.core.shards import read_shard

if TYPE_CHECKING:
    from pipeline.tune import Knob


@dataclass
class Verdict:
    """Combined decision of all filters over one group."""

    docs: int
    kept: int
    reasons: Counter = field(default_factory=Counter)  # stage.reason of the first rule that fires

    @property
    def keep(self) -> float:
        return self.kept / self.docs if self.docs else float("nan")


def filter_specs(stage_specs: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """The run's filters whose signal columns are all present in the data (the others cannot be re-decided)."""
    out = []
    for spec in stage_specs:
        try:
            cls = STAGES.get(spec.get("ref") or spec["name"])
        except Exception:
            continue
        needs = set(cls.adds) or set(cls.requires) - {"text"}
        if issubclass(cls, Filter) and needs and needs <= set(columns):
            out.append(spec)
    return out


def stage_params(specs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    for s in specs:
        if (s.get("key") or s["name"]) == key:
            return dict(s.get("resolved") or s.get("params") or {})
    raise KeyError(key)


def param_value(params: dict[str, Any], path: str) -> Any:
    head, _, rest = path.partition(".")
    v = params.get(head)
    if rest and isinstance(v, dict):
        return next((x for k, x in v.items() if str(k) == rest), None)
    return v


def set_param(params: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        params[head] = value
        return
    d = dict(params.get(head) or {})
    key = next((k for k in d if str(k) == rest), int(rest) if rest.isdigit() else rest)
    d[key] = value
    params[head] = d


def decide(
    stage_specs: list[dict[str, Any]], batch: pa.RecordBatch, overrides: Mapping[Knob, float] | None = None
) -> pa.Array:
    """`stage.reason` of the first filter (in run order) that drops each document, or null; from the signal
    columns only, with `overrides` replacing threshold values."""
    n = batch.num_rows
    out = pa.nulls(n, pa.string())
    for spec in filter_specs(stage_specs, batch.schema.names):
        key = spec.get("key") or spec["name"]
        params = stage_params([spec], key)
        for knob, value in (overrides or {}).items():
            if knob.stage == key:
                set_param(params, knob.param, value)
        params["mode"] = "filter"
        stage = STAGES.get(spec.get("ref") or spec["name"])(**params)
        reasons = pc.binary_join_element_wise(pa.scalar(key), stage.reasons(batch), ".")
        out = pc.coalesce(out, reasons)
    return out


def verdicts(stage_specs: list[dict[str, Any]], groups: Mapping[str, pa.RecordBatch], overrides=None) -> dict:
    out = {}
    for name, batch in groups.items():
        reasons = decide(stage_specs, batch, overrides)
        dropped = reasons.drop_null().to_pylist()
        out[name] = Verdict(batch.num_rows, batch.num_rows - len(dropped), Counter(dropped))
    return out


def keep_by_source(run_dir: str, stage_specs: list[dict[str, Any]], column: str = "source") -> dict[str, Verdict]:
    """Per value of `column`: what the run's filters keep, re-decided from the recorded signals (an annotate run
    keeps every document in data/, so this is the would-keep rate). One pass, one batch at a time."""
    out: dict[str, Verdict] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "data", "*.arrow"))):
        for batch in read_shard(path):
            if column not in batch.schema.names:
                return {}
            reasons = decide(stage_specs, batch)
            sources = pc.cast(batch.column(column), pa.string()).to_pylist()
            for src, reason in zip(sources, reasons.to_pylist(), strict=True):
                v = out.setdefault("(none)" if src is None else str(src), Verdict(0, 0))
                v.docs += 1
                if reason is None:
                    v.kept += 1
                else:
                    v.reasons[reason] += 1
    return out
