"""Does the curriculum order mean something? Run `curriculum` on ../shared/corpora/docs and print the phase
composition by source file under easy_to_hard (4 phases, default weights) and Spearman correlations
between the signals over all documents.

    .venv/bin/python bench/curriculum_eval.py [--phases 4] [--schedule easy_to_hard]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.report.phases import phase_table  # noqa: E402
from stages.curriculum import Curriculum  # noqa: E402
from stages.curriculum.summary import spearman_matrix  # noqa: E402
from stages.testing import read_all, run_global  # noqa: E402

SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared"))


def load_docs(folder: Path) -> list[pa.RecordBatch]:
    """One input shard per source file: id, text, _src (file name without .jsonl)."""
    shards = []
    for path in sorted(glob.glob(str(folder / "*.jsonl"))):
        src = os.path.basename(path)[: -len(".jsonl")]
        ids, texts = [], []
        with open(path, "rb") as f:
            for i, line in enumerate(f):
                row = orjson.loads(line)
                if row.get("text"):
                    ids.append(str(row.get("id") or f"{src}-{i}"))
                    texts.append(row["text"])
        shards.append(pa.RecordBatch.from_pydict({"id": ids, "text": texts, "_src": [src] * len(ids)}))
    return shards


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phases", type=int, default=4)
    ap.add_argument("--schedule", default="easy_to_hard")
    ap.add_argument("--bucket-docs", type=int, default=None)
    args = ap.parse_args()
    folder = SHARED / "corpora" / "docs"
    if not folder.is_dir():
        sys.exit(f"{folder} not found (set JINGXUAN_SHARED)")
    shards = load_docs(folder)
    n = sum(s.num_rows for s in shards)
    stage = Curriculum(schedule=args.schedule, phases=args.phases, report_column="_src", bucket_docs=args.bucket_docs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_global(stage, shards, tmp)
        dt = time.perf_counter() - t0
        table = read_all(result.shards)
        run_dir = os.path.dirname(result.files["curriculum.json"])
        print(
            f"{n:,} documents from {len(shards)} files in {dt:.1f} s ({n / dt:,.0f} docs/s), "
            f"{len(result.shards)} output shards, {result.report['buckets']['count']} buckets\n"
        )
        print(phase_table(run_dir))

    phases = table.column("_phase").to_numpy()
    src = np.asarray(table.column("_src").to_pylist(), dtype=object)
    n_phase = int(phases.max()) + 1
    print(f"\nshare of each source's documents per phase ({args.schedule}, {n_phase} phases; rows sum to 100%)")
    sources = sorted(set(src))
    width = max(len(s) for s in sources)
    print(" " * width + "".join(f"{'p' + str(p):>7}" for p in range(n_phase)) + "   mean phase   docs  median chars")
    lengths = np.asarray([len(t) for t in table.column("text").to_pylist()])
    rows = []
    for s in sources:
        m = src == s
        c = Counter(phases[m].tolist())
        rows.append(
            (
                float(phases[m].mean()),
                s,
                [c.get(p, 0) / m.sum() for p in range(n_phase)],
                int(m.sum()),
                float(np.median(lengths[m])),
            )
        )
    for mean, s, shares, docs, med in sorted(rows):
        print(f"{s:<{width}}" + "".join(f"{x:>7.0%}" for x in shares) + f"   {mean:>10.2f} {docs:>6} {med:>13.0f}")

    names = [c for c in table.column_names if c.startswith("_sig_")] + ["_difficulty"]
    values = {c.removeprefix("_sig_"): table.column(c).to_numpy() for c in names}
    rho = spearman_matrix(values)
    print("\nSpearman rank correlation between signals (all documents)")
    keys = list(rho)
    w = max(len(k) for k in keys)
    print(" " * w + "".join(f"{k[:12]:>14}" for k in keys))
    for a in keys:
        print(f"{a:<{w}}" + "".join(f"{rho[a][b]:>14.2f}" for b in keys))


if __name__ == "__main__":
    main()
