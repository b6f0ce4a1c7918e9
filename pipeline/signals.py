"""Percentiles of the signal columns (`_han_ratio`, `_dup_line_frac`, ...) of a run: `jingxuan stats RUN_DIR`.

Run the filters with `mode: annotate` first (nothing is dropped, every signal is recorded), look at these
numbers, then choose thresholds.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def _is_signal(field: pa.Field) -> bool:
    t = field.type
    return field.name.startswith("_") and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def collect_signals(batches: Iterable[pa.RecordBatch]) -> dict[str, np.ndarray]:
    """Numeric `_` columns of the batches, concatenated (nulls dropped)."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        for field in batch.schema:
            if _is_signal(field):
                col = batch.column(field.name).drop_null()
                parts.setdefault(field.name, []).append(col.to_numpy(zero_copy_only=False).astype(np.float64))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def signal_percentiles(source: Iterable[pa.RecordBatch] | Iterable[str]) -> str:
    """A printable table: one row per numeric `_` column, with n, mean and percentiles p1..p99.

    `source` is batches, or paths of Arrow IPC stream files (a run's `data/*.arrow`)."""
    items = list(source)
    batches: list[pa.RecordBatch] = []
    for item in items:
        if isinstance(item, str | os.PathLike):
            with pa.ipc.open_stream(item) as reader:
                batches.extend(reader)
        else:
            batches.append(item)
    return format_table(collect_signals(batches))


def format_table(signals: dict[str, np.ndarray]) -> str:
    if not signals:
        return "no signal columns (numeric columns starting with `_`) found"
    head = ["signal", "n", "mean", *(f"p{p}" for p in PERCENTILES)]
    rows = []
    for name in sorted(signals):
        v = signals[name]
        if len(v) == 0:
            rows.append([name, "0", "", *([""] * len(PERCENTILES))])
            continue
        q = np.percentile(v, PERCENTILES)
        rows.append([name, str(len(v)), _fmt(float(v.mean())), *(_fmt(float(x)) for x in q)])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(x: float) -> str:
    if x == int(x) and abs(x) < 1e9:
        return str(int(x))
    return f"{x:.4g}"


def signal_table(run_dir: str) -> str:
    """Percentiles of every signal column in a run's output shards (`RUN_DIR/data/*.arrow`)."""
    paths = sorted(glob.glob(os.path.join(run_dir, "data", "*.arrow")))
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no data/*.arrow shards (is this a run directory of a finished run?)")
    return f"{run_dir}: {len(paths)} shard(s)\n" + signal_percentiles(paths)
