"""Per-document scores, computed the same way on the sample (main process) and on every row (pass 2): the
difficulty, the schedule's ordering key, and the stratum (rule, source or held-back group) a row is cut in.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.curriculum.settings import Settings

if TYPE_CHECKING:
    from stages.curriculum.schedules import Schedule


def columns(table: pa.Table | pa.RecordBatch) -> dict[str, np.ndarray]:
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


def difficulty(settings: Settings, cols: dict[str, np.ndarray], norm: dict[str, Any]) -> np.ndarray:
    """Weighted mean of normalised signals (rank in [0, 1]; z-score); missing values count as typical."""
    n = len(next(iter(cols.values()))) if cols else 0
    total = np.zeros(n)
    weight = 0.0
    for name, col in settings.signal_columns.items():
        w = settings.weights[name]
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


def key_and_stratum(
    settings: Settings, schedule: Schedule, cols: dict[str, np.ndarray], prepared: dict
) -> tuple[np.ndarray, np.ndarray]:
    n = len(cols["_difficulty"])
    key = np.asarray(schedule.key(cols), dtype=np.float64)
    stratum = np.zeros(n, dtype=np.int32)
    if settings.phase_rules is not None:
        stratum[:] = len(settings.phase_rules)  # rest
        open_ = np.ones(n, dtype=bool)
        for i, rule in enumerate(settings.phase_rules):
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
    elif settings.phase_mix is not None:
        values = list(settings.phase_mix.weights)
        other = values.index("*") if "*" in values else len(values)
        stratum[:] = other
        x = cols[settings.phase_mix.column]
        for i, v in enumerate(values):
            if v != "*":
                stratum[x.astype(str) == v] = i
    held = schedule.hold_back(cols, prepared)
    if held is not None:
        stratum[np.asarray(held, dtype=bool)] = settings.n_strata - 1
    return key, stratum
