"""`curriculum.json`: what a person needs to judge an ordering (phase sizes and difficulty ranges, signal
distributions and how redundant the signals are) without reading the data.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from stages.curriculum.settings import Settings

QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


def _r(x: float) -> float:
    return round(float(x), 6)


def _quantiles(x: np.ndarray) -> dict[str, float]:
    return {str(q): _r(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)} if len(x) else {}


def _merge_phase_stats(per_phase: list[dict[int, dict]], n_phases: int) -> dict[int, dict]:
    """Sum the per-bucket phase statistics of pass 3."""
    merged: dict[int, dict] = {
        p: {"docs": 0, "chars": 0, "d_sum": 0.0, "d_min": math.inf, "d_max": -math.inf, "by": Counter()}
        for p in range(n_phases)
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
    return merged


def summarise(
    settings: Settings,
    seed: int,
    names: list[str],
    per_phase: list[dict[int, dict]],
    sample_docs: int,
    cols: dict[str, np.ndarray],
    norm: dict[str, Any],
    prepared: dict,
    n_docs: int,
    chars: int,
) -> dict:
    """The summary from pass 3's phase statistics and the sample's signal columns (`cols`)."""
    merged = _merge_phase_stats(per_phase, len(names))
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
                "by_" + (settings.report_column or "source"): dict(sorted(m["by"].items())),
            }
        )
        start += docs
    signal_quantiles = {}
    for name, col in settings.signal_columns.items():
        if col in cols:
            x = cols[col][np.isfinite(cols[col])]
            if len(x):
                signal_quantiles[name] = _quantiles(x)
    norm_out: dict[str, Any] = {"method": settings.normalize, "sample_docs": sample_docs}
    if settings.normalize == "zscore":
        norm_out["mean_std"] = {k: [_r(a), _r(b)] for k, (a, b) in norm["signals"].items()}
    return {
        "schedule": settings.schedule,
        "seed": int(seed),
        "signals": dict(settings.weights),
        "normalize": norm_out,
        "shuffle_within_phase": settings.shuffle,
        "docs": n_docs,
        "chars": chars,
        "phases": phases,
        "phase_boundaries": [
            {"phase": ph["phase"], "first_doc": ph["first_doc"], "docs": ph["docs"], **ph["difficulty"]}
            for ph in phases
        ],
        "difficulty_quantiles": _quantiles(cols["_difficulty"]),
        "signal_quantiles": signal_quantiles,
        "signal_spearman": spearman_matrix({n: cols[c] for n, c in settings.signal_columns.items() if c in cols}),
        "schedule_stats": prepared,
        "params": settings.params,
    }


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
