"""Cost model: hours and memory per global stage for a corpus of D documents (default 1 B of mean 2 KB) on N Dask
nodes, from per-document costs measured on this machine by bench/scale.py.

Inputs (written by bench/scale.py --save): the 100k -> 5M runs of small documents (flatness: CPU per document as
the corpus grows) and a 100k run of ~2 KB documents (680 Han characters = 2,040 UTF-8 bytes: CPU per document at
the target size). Per pass, worker CPU per document at 2 KB x the growth factor measured from 100k to the largest
size (never below 1) gives CPU-hours at D; the driver's CPU (planning, one-task clustering) is serial and not
divided by the nodes. Wall hours = worker CPU-hours / (N x cores x efficiency) + driver hours. Memory: every task
stays within the budget (measured peak RSS per task), so a node needs cores x budget; the partition counts at D
follow from the same rule as the stages (`stages.core.partitions`).

    .venv/bin/python bench/cost_model.py [--docs 1e9] [--nodes 1,4,16,64] [--cores 32] [--budget 2048]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("exact_dedup", "minhash_dedup", "curriculum")
LINKS_PER_DOC = 2.4  # verified MinHash links per document when a run did not record them (30% copies x ~8 bands)


def _stage_cpu(run: dict, stage: str) -> tuple[float, float]:
    """(worker CPU s, driver CPU s) per document of one stage."""
    worker = sum(p["cpu"] for k, p in run["passes"].items() if k.startswith(stage))
    return worker / run["docs"], run["stages"][stage]["driver_cpu"] / run["docs"]


def model(scale: dict, twokb: dict, docs: float, nodes: list[int], cores: int, efficiency: float, budget: float):
    from stages.core.partitions import partitions
    from stages.dedup.exact import BYTES_PER_ROW
    from stages.dedup.minhash import BAND_BYTES_PER_ROW, link_partitions

    runs = sorted(scale["results"], key=lambda r: r["docs"])
    small, large = runs[0], runs[-1]
    target = twokb["results"][0]
    rows = []
    for stage in STAGES:
        w_small, _ = _stage_cpu(small, stage)
        w_large, d_large = _stage_cpu(large, stage)
        growth = max(1.0, w_large / w_small)
        w_2k, _ = _stage_cpu(target, stage)
        worker_h = docs * w_2k * growth / 3600
        driver_h = docs * d_large / 3600  # the largest run partitions every pass, as a run at D does
        rss = max(p["rss"] for k, p in target["passes"].items() if k.startswith(stage))
        rss = max(rss, *(p["rss"] for r in runs for k, p in r["passes"].items() if k.startswith(stage)))
        row = {
            "stage": stage,
            "worker CPU us/doc at 2 KB": round(1e6 * w_2k, 1),
            f"growth {small['docs'] // 1000}k->{large['docs'] // 1000}k": round(w_large / w_small, 2),
            "worker CPU-h": round(worker_h),
            "driver h": round(driver_h, 3),
            "peak RSS/task MB (measured)": round(rss),
        }
        for n in nodes:
            row[f"{n} nodes h"] = round(worker_h / (n * cores * efficiency) + driver_h, 2)
        rows.append(row)
    mh = large["stages"]["minhash_dedup"]["report"]
    links = mh["verified_links"] / large["docs"] if "verified_links" in mh else LINKS_PER_DOC
    parts = {
        "exact buckets": partitions(int(docs), BYTES_PER_ROW, budget, 4),
        "MinHash band ranges": partitions(int(docs), BAND_BYTES_PER_ROW, budget),
        "MinHash link partitions": link_partitions(int(links * docs), int(docs), budget),
        "links per document": round(links, 2),
    }
    return rows, parts


def check(scale: dict) -> list[dict]:
    """Predict each larger run's CPU from the smallest one's per-document cost; the error is the model's."""
    runs = sorted(scale["results"], key=lambda r: r["docs"])
    out = []
    for r in runs[1:]:
        row = {"docs": r["docs"]}
        for stage in STAGES:
            w0, d0 = _stage_cpu(runs[0], stage)
            w1, d1 = _stage_cpu(r, stage)
            row[f"{stage} measured/predicted"] = round((w1 + d1) / (w0 + d0), 2)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--measured", default=str(REPO / "bench" / "scale_measured.json"))
    ap.add_argument("--measured-2k", default=str(REPO / "bench" / "scale_measured_2k.json"))
    ap.add_argument("--docs", type=float, default=1e9)
    ap.add_argument("--nodes", default="1,4,16,64")
    ap.add_argument("--cores", type=int, default=32, help="worker processes per node")
    ap.add_argument("--efficiency", type=float, default=0.7, help="parallel efficiency (measured 0.69-0.9 here)")
    ap.add_argument("--budget", type=float, default=2048, help="memory_budget_mb for the partition counts")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from scale import table

    scale = json.loads(Path(args.measured).read_text())
    twokb = json.loads(Path(args.measured_2k).read_text())
    nodes = [int(x) for x in args.nodes.split(",")]
    rows, parts = model(scale, twokb, args.docs, nodes, args.cores, args.efficiency, args.budget)
    print(f"{args.docs:.3g} documents of ~2 KB; {args.cores} worker processes per node, efficiency {args.efficiency}")
    print(table(rows, list(rows[0])))
    total = {f"{n} nodes h": round(sum(r[f"{n} nodes h"] for r in rows), 2) for n in nodes}
    print("all three stages:", json.dumps(total))
    mem = args.cores * args.budget / 1024
    print(f"memory per node: {args.cores} tasks x {args.budget:g} MB budget = {mem:.0f} GiB; partitions at this size:")
    print("  " + json.dumps(parts))
    print("\ncheck against the measured runs (CPU per document relative to the smallest run; 1.00 = the model):")
    chk = check(scale)
    print(table(chk, list(chk[0])) if chk else "  (one size only)")


if __name__ == "__main__":
    main()
