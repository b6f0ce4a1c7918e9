"""Which stage parameters are thresholds of which signal column, so histograms can mark them.

A stage declares them with a ClassVar::

    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_han_ratio": ("min_ratio",)}

A parameter path may go into a dict parameter (`"max_top_ngram_frac.2"`) or over all its keys
(`"min_scores.*"`). A `min_` parameter drops values below it, a `max_` parameter values above it; for other
names say which with `"min:threshold"`. Columns the ClassVar does not name take parameters named
`min_<col>` / `max_<col>` for a column `_<col>` (`max_symbol_ratio` for `_symbol_ratio`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pipeline.report.markup import num


@dataclass(frozen=True)
class Threshold:
    stage: str  # stage key in the run
    param: str  # parameter path, e.g. min_ratio or max_top_ngram_frac.2
    value: float
    kind: str = ""  # "min" or "max" when declared; otherwise taken from the parameter's name

    @property
    def side(self) -> str:
        """'min' (values below are dropped), 'max' (values above are dropped) or '' (unknown)."""
        if self.kind:
            return self.kind
        leaf = self.param.split(".")[0]
        return "min" if leaf.startswith("min") else "max" if leaf.startswith("max") else ""

    @property
    def label(self) -> str:
        return f"{self.stage}.{self.param} = {num(self.value)}"


def _param_values(params: dict[str, Any], path: str) -> list[tuple[str, float]]:
    """Numeric values at a parameter path: `a`, `a.key` (into a dict), `a.*` (every key of a dict)."""
    head, _, rest = path.partition(".")
    if head not in params:
        return []
    value = params[head]
    if not rest:
        return [(path, float(value))] if is_number(value) else []
    if not isinstance(value, dict):
        return []
    if rest == "*":
        return [(f"{head}.{k}", float(v)) for k, v in value.items() if is_number(v)]
    for k, v in value.items():
        if str(k) == rest and is_number(v):
            return [(path, float(v))]
    return []


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _stage_classes(stage_specs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], type | None]]:
    """(key, params, class or None) per resolved stage; None for a user's stage not importable here."""
    from stages.base import STAGES

    out = []
    for spec in stage_specs:
        try:
            cls = STAGES.get(spec.get("ref") or spec["name"])
        except Exception:
            cls = None
        out.append((spec.get("key") or spec.get("name", "?"), spec.get("resolved") or spec.get("params") or {}, cls))
    return out


def column_stages(stage_specs: list[dict[str, Any]]) -> dict[str, str]:
    """Signal column -> key of the first stage that declares it in `adds`."""
    out: dict[str, str] = {}
    for key, _, cls in _stage_classes(stage_specs):
        for col in getattr(cls, "adds", ()) or ():
            out.setdefault(col, key)
    return out


def signal_thresholds(
    stage_specs: list[dict[str, Any]], columns: list[str] | None = None
) -> dict[str, list[Threshold]]:
    """Column -> thresholds configured on it, from the manifest's resolved stages ({name, key, params, ref})."""
    out: dict[str, list[Threshold]] = defaultdict(list)
    for key, params, cls in _stage_classes(stage_specs):
        declared = getattr(cls, "thresholds", None) if cls is not None else None
        declared = declared if isinstance(declared, dict) else {}
        for col, paths in declared.items():
            for path in (paths,) if isinstance(paths, str) else paths:
                kind, _, bare = path.rpartition(":")  # "min:threshold" names the side of an unprefixed name
                for p, v in _param_values(params, bare):
                    out[col].append(Threshold(key, p, v, kind if kind in ("min", "max") else ""))
        candidates = set(columns or ()) | set(getattr(cls, "adds", ()) or ())
        for col in sorted(candidates - set(declared)):
            bare = col.lstrip("_")
            for prefix in ("min_", "max_"):
                for p, v in _param_values(params, prefix + bare):
                    out[col].append(Threshold(key, p, v))
    return dict(out)
