"""Does the curriculum help a model learn? Curate ../shared/corpora/docs with configs/zh_web.yaml's stages plus
exact and MinHash dedup and `curriculum` (once with easy_to_hard, once with phases), then train the proxy model of
`jingxuan curriculum-eval` on the same documents in four orders: easy_to_hard, its reverse (hard_to_easy),
phases and a shuffle (`--phases-reversed` adds a fifth), with the same bytes, held-out set and seeds. Prints
held-out loss by order (mean ± sd over seeds, and the paired difference to the shuffle) and writes the plot.

    flock /tmp/bench.lock .venv/bin/python bench/curriculum_proxy.py [--budget-minutes 15] [--seeds 0 1 2]

The two curated runs hold the same documents (only the curriculum stage differs), so the shuffle, the training
sample and the held-out documents are shared, and one shuffle run per seed serves both schedules.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.config import validate_config  # noqa: E402
from pipeline.proxy_eval.corpus import load_corpus  # noqa: E402
from pipeline.proxy_eval.harness import EvalSettings, run_curriculum_eval  # noqa: E402
from pipeline.proxy_eval.results import RESULT_JSON, text_table, verdict  # noqa: E402
from pipeline.proxy_eval.train import ModelSettings  # noqa: E402
from pipeline.report.sections_eval import standalone_svg  # noqa: E402
from pipeline.runner import run_local  # noqa: E402
from stages.core.atomic import read_json, write_json  # noqa: E402

SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared"))
SCHEDULES = {"easy_to_hard": {"schedule": "easy_to_hard"}, "phases": {"schedule": "phases", "phases": [0.4, 0.4, 0.2]}}


def curate(schedule: str, out_root: Path) -> tuple[str, float]:
    raw = yaml.safe_load((REPO / "configs" / "zh_web.yaml").read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    raw["name"] = f"bench_curriculum_{schedule}"
    raw["base_dir"] = str(REPO / "configs")
    raw["input"]["paths"] = [str(SHARED / "corpora" / "docs" / "*.jsonl")]
    raw["output"] = {"dir": str(out_root / schedule)}
    raw["stages"] += [{"exact_dedup": {}}, {"minhash_dedup": {}}, {"curriculum": SCHEDULES[schedule]}]
    raw["execution"] = {"engine": "local", "workers": 2, "seed": 0}
    t0 = time.perf_counter()
    result = run_local(validate_config(raw, source=f"bench config ({schedule})"))
    return result.run_dir, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-minutes", type=float, default=15.0, help="for all training runs")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--d-model", type=int, default=128)  # small: 2 shared cores must train 12+ models
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--phases-reversed", action="store_true", help="also train on phases in reverse")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--out", default=str(REPO / "out" / "bench_curriculum_proxy"))
    args = ap.parse_args()
    if not (SHARED / "corpora" / "docs").is_dir():
        sys.exit(f"{SHARED}/corpora/docs not found (set JINGXUAN_SHARED)")
    out = Path(args.out)
    t_all = time.perf_counter()
    runs = {}
    for schedule in SCHEDULES:
        runs[schedule], dt = curate(schedule, out)
        c = load_corpus(runs[schedule])
        print(f"curated {schedule}: {len(c):,} documents, {int(c.nbytes.sum()):,} UTF-8 bytes in {dt:.0f} s")
    a, b = (load_corpus(runs[s]) for s in SCHEDULES)
    assert sorted(a.ids) == sorted(b.ids), "the two schedules should order the same documents"

    model = ModelSettings(
        d_model=args.d_model, layers=args.layers, context=args.context, batch_size=args.batch_size, lr=args.lr
    )
    common = dict(seeds=tuple(args.seeds), evals=6, heldout_windows=96, model=model)
    second_orders = ("curriculum", "reverse") if args.phases_reversed else ("curriculum",)
    log = lambda line: print("  " + line, flush=True)  # noqa: E731
    # easy_to_hard gets 3 of the 4 (or 5) order-runs per seed; its step count is then used for phases unchanged.
    first = run_curriculum_eval(
        runs["easy_to_hard"],
        EvalSettings(
            orders=("curriculum", "shuffle", "reverse"),
            steps=args.steps,
            budget_minutes=args.budget_minutes * 3 / (3 + len(second_orders)),
            **common,
        ),
        log=log,
    )
    steps = first["settings"]["steps"]
    second = run_curriculum_eval(
        runs["phases"],
        EvalSettings(orders=second_orders, steps=steps, budget_minutes=None, **common),
        log=log,
    )
    combined = {
        **first,
        "run_dir": str(out),
        "seconds": first["seconds"] + second["seconds"],
        "runs": {
            "easy_to_hard": first["runs"]["curriculum"],
            "hard_to_easy": first["runs"]["reverse"],
            "phases": second["runs"]["curriculum"],
            "shuffle": first["runs"]["shuffle"],
        },
    }
    if args.phases_reversed:
        combined["runs"]["phases_reversed"] = second["runs"]["reverse"]
    assert read_json(os.path.join(runs["phases"], RESULT_JSON))["train_docs"] == first["train_docs"]
    write_json(str(out / "curriculum_proxy.json"), combined, sort_keys=False)
    (out / "curriculum_proxy.svg").write_text(standalone_svg(combined), encoding="utf-8")
    m = first["settings"]["model"]
    print(
        f"\nmodel {first['parameters'] / 1e6:.2f}M parameters (width {m['d_model']}, {m['layers']} layers, context "
        f"{m['context']}, batch {m['batch_size']}); {steps} steps = {first['tokens_per_run']:,} bytes per run "
        f"({first['train_docs']:,} of {first['train_pool_docs']:,} training documents, one pass); held-out "
        f"{first['heldout_windows']} windows from {first['heldout_docs']:,} documents; "
        f"{first['seconds_per_step_probe']:.3f} s/step; training {combined['seconds'] / 60:.1f} min, "
        f"all {(time.perf_counter() - t_all) / 60:.1f} min; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for n in first["notes"]:
        print("note: " + n)
    print()
    print(text_table(combined))
    print()
    print("\n".join(verdict(combined)))
    print(
        f"\nplot: {out / 'curriculum_proxy.svg'}; per-run reports: {runs['easy_to_hard']}/report.html, "
        f"{runs['phases']}/report.html"
    )


if __name__ == "__main__":
    main()
