"""The plan the passes follow, made in the main process: normalisation, bucket boundaries and phase cuts.

Boundaries are quantiles of the ordering key over the sample, so each bucket holds about `cap` documents
and no process sorts more than one bucket. Phase cuts are exact ranks computed from the real bucket counts,
so phase sizes are exact fractions of the corpus even though the boundaries are estimates.
"""

from __future__ import annotations

import math
import os
import pickle
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from stages.core.atomic import atomic_path
from stages.curriculum.scoring import columns
from stages.curriculum.settings import Settings

Strata = list[tuple[list[float], list[int]]]  # per stratum: phase fractions of its rank range, phase ids


def normalisation(settings: Settings, sample: pa.Table, first: list[dict]) -> dict[str, Any]:
    """Rank: the sorted sample values per signal; z-score: mean and std merged from pass 1's moments."""
    cols = columns(sample)
    out: dict[str, Any] = {"method": settings.normalize, "signals": {}}
    for name, col in settings.signal_columns.items():
        if col not in cols:
            continue
        if settings.normalize == "rank":
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


def quantile_bounds(sorted_keys: np.ndarray, parts: int) -> np.ndarray:
    """`parts - 1` boundaries splitting sorted keys into parts of (nearly) equal size."""
    ks = sorted_keys
    return ks[(np.arange(1, parts) * len(ks)) // parts] if len(ks) else np.empty(0)


def rank_cuts(fractions: list[float], n: int) -> list[int]:
    """Ranks where each phase of `n` documents ends (all but the last)."""
    return [round(f * n) for f in np.cumsum(fractions)[:-1]]


def bucket_bounds(
    key: np.ndarray, stratum: np.ndarray, n_strata: int, n_docs: int, n_sample: int, cap: int
) -> list[np.ndarray]:
    """Per stratum: key boundaries of its buckets, enough buckets for about `cap` documents each."""
    bounds = []
    for s in range(n_strata):
        ks = np.sort(key[stratum == s])
        est = n_docs * len(ks) / max(n_sample, 1)
        bounds.append(quantile_bounds(ks, max(1, math.ceil(est / cap))))
    return bounds


def phase_layout(counts: np.ndarray, offsets: list[int], strata: Strata) -> tuple[list[tuple], Counter]:
    """Per stratum (rank offset of each bucket, cut ranks, phase ids), and the size of every phase."""
    layout = []
    phase_sizes: Counter = Counter()
    for s, (fractions, phase_ids) in enumerate(strata):
        c = counts[offsets[s] : offsets[s + 1]]
        n_s = int(c.sum())
        cuts = rank_cuts(fractions, n_s)
        edges = [0, *cuts, n_s]
        for j, p in enumerate(phase_ids):
            phase_sizes[p] += edges[j + 1] - edges[j]
        layout.append((np.concatenate([[0], np.cumsum(c)]).astype(np.int64).tolist(), cuts, phase_ids))
    return layout, phase_sizes


def sub_layout(
    shuffle: bool, key: np.ndarray, stratum: np.ndarray, strata: Strata, phase_sizes: Counter, n_phase: int, cap: int
) -> dict:
    """Parts per phase for the second scatter: hash ranges (shuffled) or key ranges from the sample."""
    n_sub = [max(1, math.ceil(phase_sizes[p] / cap)) for p in range(n_phase)]
    bounds: list[np.ndarray] = [np.empty(0)] * n_phase
    if not shuffle:
        sample_phase = np.full(len(key), -1)
        for s, (fractions, phase_ids) in enumerate(strata):
            idx = np.flatnonzero(stratum == s)
            idx = idx[np.argsort(key[idx], kind="stable")]
            part = np.searchsorted(rank_cuts(fractions, len(idx)), np.arange(len(idx)), "right")
            sample_phase[idx] = np.asarray(phase_ids)[part]
        for p in range(n_phase):
            bounds[p] = quantile_bounds(np.sort(key[sample_phase == p]), n_sub[p])
            n_sub[p] = len(bounds[p]) + 1
    return {"n": n_sub, "bounds": bounds}


def save_plan(path: str, plan: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(plan, f, protocol=pickle.HIGHEST_PROTOCOL)


_PLANS: dict[str, dict] = {}  # one per worker process: pass 2 tasks of a run share it


def load_plan(path: str) -> dict:
    key = f"{path}:{os.stat(path).st_mtime_ns}"
    plan = _PLANS.get(key)
    if plan is None:  # threads may race here: each returns the plan it loaded, never a cleared entry
        with open(path, "rb") as f:
            plan = pickle.load(f)
        _PLANS.clear()
        _PLANS[key] = plan
    return plan
