"""Printable per-phase difficulty table from a run directory's `curriculum.json` (for `jingxuan stats`)."""

from __future__ import annotations

import glob
import json
import os


def find_summary(run_dir: str) -> str:
    """Path of the curriculum summary: `run_dir` itself if it is a JSON file, else curriculum*.json in it."""
    if os.path.isfile(run_dir):
        return run_dir
    found = sorted(glob.glob(os.path.join(run_dir, "curriculum*.json")))
    if not found:
        raise FileNotFoundError(f"{run_dir}: no curriculum.json (did the run include a curriculum stage?)")
    return found[0]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def phase_table(run_dir: str, top: int = 3) -> str:
    """One line per phase: documents, share, characters, mean length, difficulty min/mean/max, and the
    `top` most frequent values of the report column (e.g. `_source`)."""
    with open(find_summary(run_dir), encoding="utf-8") as f:
        s = json.load(f)
    weights = ", ".join(f"{k}={v:g}" for k, v in s["signals"].items())
    lines = [
        f"curriculum: schedule {s['schedule']}, {s['docs']:,} documents, seed {s['seed']}, "
        f"{s['normalize']['method']} normalisation, shuffle within phase: {s['shuffle_within_phase']}",
        f"signals: {weights}",
    ]
    header = ("phase", "name", "docs", "share", "chars", "chars/doc", "d_min", "d_mean", "d_max", "composition")
    rows = []
    for p in s["phases"]:
        by = next((v for k, v in p.items() if k.startswith("by_")), {}) or {}
        total = sum(by.values()) or 1
        comp = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(by.items(), key=lambda kv: -kv[1])[:top])
        d = p["difficulty"]
        rows.append(
            (
                str(p["phase"]),
                p["name"],
                f"{p['docs']:,}",
                f"{p['share']:.1%}",
                f"{p['chars']:,}",
                f"{p['chars'] / p['docs']:.0f}" if p["docs"] else "-",
                _fmt(d["min"]),
                _fmt(d["mean"]),
                _fmt(d["max"]),
                comp,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        lines.append(
            "  ".join(c.ljust(w) if i in (1, 9) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
    return "\n".join(line.rstrip() for line in lines)
