"""curriculum_eval.json -> summaries over seeds, a text table and the verdict (no torch needed; the report
layer draws the plot from the same summaries).

Seeds are paired: for one seed every order starts from the same initial model, so the difference to
`shuffle` per seed removes most of the initialisation noise and is what the verdict is based on (a paired
t-test over seeds: with 3 seeds the mean difference must exceed 4.3 standard errors).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from stages.core.atomic import atomic_path, write_json

RESULT_JSON = "curriculum_eval.json"
RESULT_SVG = "curriculum_eval.svg"
BASELINE = "shuffle"


@dataclass(frozen=True)
class Curve:
    """One order over seeds at every evaluation step."""

    name: str
    steps: list[int]
    values: np.ndarray  # seeds x eval points

    @property
    def mean(self) -> np.ndarray:
        return self.values.mean(axis=0)

    @property
    def sd(self) -> np.ndarray:
        return self.values.std(axis=0, ddof=1) if len(self.values) > 1 else np.zeros(self.values.shape[1])


def curves(result: dict, key: str = "heldout_loss") -> list[Curve]:
    out = []
    for name, by_seed in result["runs"].items():
        seeds = sorted(by_seed, key=int)
        out.append(Curve(name, by_seed[seeds[0]]["steps"], np.array([by_seed[s][key] for s in seeds], dtype=float)))
    return out


def deltas(result: dict) -> list[Curve]:
    """Per-seed held-out loss minus the same seed's shuffle; negative means the order helps."""
    by = {c.name: c for c in curves(result)}
    if BASELINE not in by:
        return []
    base = by[BASELINE].values
    return [Curve(c.name, c.steps, c.values - base) for c in by.values() if c.name != BASELINE]


def checkpoints(steps: list[int], count: int = 4) -> list[int]:
    """Indices of a few evaluation points: about 25%, 50%, 75% and 100% of training."""
    last = steps[-1] or 1
    return sorted({int(np.argmin([abs(s - last * k / count) for s in steps])) for k in range(1, count + 1)})


def tokens_at(result: dict, step: int) -> int:
    m = result["settings"]["model"]
    return step * m["batch_size"] * m["context"]


def verdict(result: dict) -> list[str]:
    """One line per order: its final paired difference to shuffle, and whether a paired t-test over seeds
    (two-sided, 95%) tells it from seed noise; with fewer than 3 seeds no claim is made."""
    from scipy.stats import t as student_t

    lines = []
    for d in deltas(result):
        n = len(d.values)
        m, sd = float(d.mean[-1]), float(d.sd[-1])
        if n < 3:
            call = "too few seeds to tell (use 3 or more)"
        else:
            bound = float(student_t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
            if abs(m) <= bound:
                call = f"within seed noise (|difference| <= {bound:.4f}, the 95% t bound): no evidence it differs"
            else:
                call = f"{'lower' if m < 0 else 'higher'} than shuffle beyond seed noise (95% t bound {bound:.4f}): "
                call += "this order helps" if m < 0 else "this order hurts"
        lines.append(f"{d.name}: final held-out loss {m:+.4f} ± {sd:.4f} vs shuffle (paired, {n} seeds): {call}")
    return lines


def text_table(result: dict) -> str:
    """Held-out loss mean ± sd over seeds at a few points of training, then per seed at the end."""
    cs = curves(result)
    steps = cs[0].steps
    idx = checkpoints(steps)
    head = ["order"] + [f"step {steps[i]} ({tokens_at(result, steps[i]) / 1e6:.2f}M B)" for i in idx]
    rows = [[c.name] + [f"{c.mean[i]:.4f} ± {c.sd[i]:.4f}" for i in idx] for c in cs]
    rows += [[f"{d.name} - {BASELINE}"] + [f"{d.mean[i]:+.4f} ± {d.sd[i]:.4f}" for i in idx] for d in deltas(result)]
    seeds = sorted(result["runs"][cs[0].name], key=int)
    per_seed_head = ["order"] + [f"seed {s}" for s in seeds]
    per_seed = [[c.name] + [f"{v:.4f}" for v in c.values[:, -1]] for c in cs]
    return "\n".join(
        [
            f"held-out loss ({result['unit']}), mean ± sd over {len(seeds)} seeds",
            _fmt([head, *rows]),
            "",
            f"final held-out loss per seed (step {steps[-1]})",
            _fmt([per_seed_head, *per_seed]),
        ]
    )


def _fmt(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in table
    )


def write_results(run_dir: str, result: dict) -> list[str]:
    json_path = os.path.join(run_dir, RESULT_JSON)
    write_json(json_path, result, sort_keys=False)
    from pipeline.report.sections_eval import standalone_svg  # the report layer draws; this one only counts

    svg_path = os.path.join(run_dir, RESULT_SVG)
    with atomic_path(svg_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(standalone_svg(result))
    written = [json_path, svg_path]
    if os.path.exists(os.path.join(run_dir, "manifest.json")):
        from pipeline.report import write_report

        written.append(write_report(run_dir))
    return written
