"""Decontamination throughput against ~10k benchmark items (the shared benchmark files, read at run time).

Rows:
  fold only                      the floor: NFKC + punctuation strip + OpenCC t2s of every document
  decontaminate (N items)        the stage's apply() per batch of 2000, index over the first N items
  python set + xxh3 per n-gram   a peer design: a Python set of xxh3_64 hashes, one call per n-gram
                                 (lookup only: counts hits, no scoring), on the same folded text
The index is built once per process (setup); its build time and size are printed separately.

Usage: .venv/bin/python bench/decontam_bench.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import xxhash

from stages.chinese import fold
from stages.decontam import Benchmark, Decontaminate
from stages.testing import make_batch

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
BATCH = 2000


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2, help="passes over the documents (best is reported)")
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no shared corpora at {SHARED}")
    items = [r for f in sorted(glob.glob(str(SHARED / "benchmarks" / "*.jsonl"))) for r in read_jsonl(f)]
    docs = [r for f in sorted(glob.glob(str(SHARED / "docs" / "*.jsonl"))) for r in read_jsonl(f)]
    texts = [d["text"] for d in docs]
    ids = [d["id"] for d in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    batches = [make_batch(texts[i : i + BATCH], ids=ids[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    print(f"{len(docs)} documents ({mb:.1f} MB), {len(items)} benchmark items, batches of {BATCH}, 1 process\n")

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best

    rows = []
    t = timed(lambda: [fold(b.column("text")) for b in batches])
    rows.append(("fold only", "-", t, "-"))

    tmp = Path(tempfile.mkdtemp(prefix="jingxuan_decontam_bench_"))
    stage = None
    for n_items in (1000, 5000, len(items)):
        path = tmp / f"items_{n_items}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for it in items[:n_items]:
                f.write(json.dumps({"id": it["id"], "text": it["text"]}, ensure_ascii=False) + "\n")
        stage = Decontaminate(benchmarks=[Benchmark(name="bench", path=str(path))])
        t0 = time.perf_counter()
        stage.ensure_setup()
        build = time.perf_counter() - t0
        dropped = [0]

        def run(stage=stage, dropped=dropped) -> None:
            dropped[0] = sum(stage.apply(b).stats.docs_rejected for b in batches)

        t = timed(run)
        rows.append(
            (f"decontaminate ({n_items} items)", f"{build:.2f}s / {len(stage.index.keys):,} n-grams", t, dropped[0])
        )

    # peer: Python set of xxh3 hashes, one call per n-gram
    n = stage.ngram
    folded_items = fold(pa.array([it["text"] for it in items])).to_pylist()
    t0 = time.perf_counter()
    keyset = {xxhash.xxh3_64_intdigest(s[i : i + n].encode()) for s in folded_items for i in range(len(s) - n + 1)}
    build = time.perf_counter() - t0
    folded_docs = [fold(b.column("text")).to_pylist() for b in batches]

    def peer() -> None:
        h = xxhash.xxh3_64_intdigest
        for part in folded_docs:
            for s in part:
                s = s or ""
                sum(h(s[i : i + n].encode()) in keyset for i in range(len(s) - n + 1))

    t_fold = rows[0][2]
    t = timed(peer) + t_fold  # the peer also has to fold
    rows.append(("python set + xxh3 per n-gram", f"{build:.2f}s / {len(keyset):,} n-grams", t, "(lookup only)"))

    print(f"{'method':<34} {'index build / size':>30} {'docs/s':>9} {'MB/s':>6} {'vs fold':>8} {'dropped':>8}")
    for name, build, t, dropped in rows:
        print(f"{name:<34} {build:>30} {len(docs) / t:>9,.0f} {mb / t:>6.2f} {t / rows[0][2]:>7.2f}x {dropped!s:>8}")
    print(f"\npeak RSS {rss_mb():.0f} MB (whole script)")


if __name__ == "__main__":
    main()
