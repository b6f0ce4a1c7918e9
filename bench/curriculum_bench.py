"""Peak memory and time of the curriculum sample-sort against a full in-memory sort, at 100k and 1M docs.

Documents are synthetic: random slices and concatenations of the texts in ../shared/corpora/docs (read at
run time), up to 2,000 characters at 100k and up to 200 at 1M so the run stays feasible. Each variant runs
in its own subprocess, which reports its peak RSS (VmHWM of itself, ru_maxrss of its largest worker process):

- sample_sort/serial: `curriculum` with ctx.map in one process;
- sample_sort/pool2:  the same on a 2-process pool (what the runner does on this machine);
- in_memory:          one table, signals over all rows, rank normalisation, pyarrow `sort_indices`, write.

    .venv/bin/python bench/curriculum_bench.py [--sizes 100000 1000000] [--budget-mb 64]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared"))
SHARD_DOCS = 25_000


def make_corpus(n: int, max_chars: int, out: str) -> tuple[int, int]:
    """n perturbed documents in shards of SHARD_DOCS; returns (documents, bytes of text)."""
    import orjson
    import pyarrow as pa

    from stages.core.shards import write_shard

    base = []
    for path in sorted(glob.glob(str(SHARED / "corpora" / "docs" / "*.jsonl"))):
        with open(path, "rb") as f:
            base += [orjson.loads(line)["text"] for line in f]
    base = [t for t in base if t]
    rng = random.Random(0)
    total = 0
    for s in range(0, n, SHARD_DOCS):
        texts = []
        for _ in range(min(SHARD_DOCS, n - s)):
            target = rng.randint(5, max_chars)
            t = rng.choice(base)
            while len(t) < target:
                t += "\n" + rng.choice(base)
            start = rng.randrange(max(1, len(t) - target))
            texts.append(t[start : start + target])
        total += sum(len(t.encode()) for t in texts)
        ids = [f"doc-{i:08d}" for i in range(s, s + len(texts))]
        batch = pa.RecordBatch.from_pydict({"id": ids, "text": texts})
        write_shard(os.path.join(out, f"in-{s // SHARD_DOCS:05d}.arrow"), [batch])
    return n, total


def run_sample_sort(shards: list[str], tmp: str, budget_mb: int, workers: int) -> dict:
    from stages.curriculum import Curriculum
    from stages.testing import local_context

    stage = Curriculum()
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers)
        ctx = local_context(tmp, "curriculum", memory_budget_mb=budget_mb, map=lambda fn, it: list(pool.map(fn, it)))
    else:
        ctx = local_context(tmp, "curriculum", memory_budget_mb=budget_mb)
    result = stage.run(shards, ctx)
    if workers > 1:
        pool.shutdown()
    return {"buckets": result.report["buckets"]["count"], "out_shards": len(result.shards)}


def run_in_memory(shards: list[str], tmp: str) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from stages.core.shards import read_shard, write_shard
    from stages.curriculum import signals as sig
    from stages.curriculum.stage import DEFAULT_SIGNALS

    table = pa.Table.from_batches([b for p in shards for b in read_shard(p)])
    weights = {k: w for k, w in DEFAULT_SIGNALS.items() if k in sig.BUILTIN}
    parts = [sig.compute(b, list(weights)) for b in table.to_batches(max_chunksize=2000)]
    total = np.zeros(table.num_rows)
    for name, w in weights.items():
        x = np.concatenate([p[name] for p in parts])
        table = table.append_column(sig.column_name(name), pa.array(x))
        ref = np.sort(x)
        total += w * (np.searchsorted(ref, x, "left") + np.searchsorted(ref, x, "right")) / (2 * len(ref))
    table = table.append_column("_difficulty", pa.array(total / sum(weights.values())))
    table = table.take(pc.sort_indices(table, sort_keys=[("_difficulty", "ascending"), ("id", "ascending")]))
    for i, start in enumerate(range(0, table.num_rows, SHARD_DOCS)):
        write_shard(os.path.join(tmp, f"part-{i:05d}.arrow"), table.slice(start, SHARD_DOCS).to_batches(1000))
    return {"buckets": 1, "out_shards": -(-table.num_rows // SHARD_DOCS)}


def peak_rss_mb() -> float:
    """VmHWM of this process: unlike ru_maxrss it is not inherited from the parent across fork + exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    shards = sorted(glob.glob(os.path.join(args.input, "in-*.arrow")))
    tmp = tempfile.mkdtemp(dir=args.scratch)
    t0 = time.perf_counter()
    if args.variant == "in_memory":
        info = run_in_memory(shards, tmp)
    else:
        info = run_sample_sort(shards, tmp, args.budget_mb, 2 if args.variant.endswith("pool2") else 1)
    info["seconds"] = time.perf_counter() - t0
    info["rss_main_mb"] = peak_rss_mb()
    info["rss_worker_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    shutil.rmtree(tmp)
    print(json.dumps(info))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--budget-mb", type=int, default=64)
    ap.add_argument("--variants", nargs="+", default=["sample_sort/serial", "sample_sort/pool2", "in_memory"])
    ap.add_argument("--variant")
    ap.add_argument("--input")
    ap.add_argument("--scratch")
    ap.add_argument("--make", type=int, nargs=2, metavar=("DOCS", "MAX_CHARS"))
    args = ap.parse_args()
    if args.variant:
        return child(args)
    if args.make:  # in a subprocess, so the corpus never inflates the measured processes' RSS
        print(make_corpus(args.make[0], args.make[1], args.input)[1])
        return None
    scratch = tempfile.mkdtemp(prefix="curriculum-bench-")
    print(f"memory budget for the sample-sort: {args.budget_mb} MB per process\n")
    print(
        f"{'docs':>9} {'MB':>6} {'variant':<19} {'buckets':>7} {'seconds':>8} {'docs/s':>8} {'RSS main MB':>12} "
        f"{'RSS worker MB':>14} {'peak/in_memory':>14}"
    )
    try:
        for n in args.sizes:
            folder = os.path.join(scratch, f"in-{n}")
            os.makedirs(folder)
            cmd = [sys.executable, __file__, "--make", str(n), str(2000 if n <= 200_000 else 200), "--input", folder]
            nbytes = int(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
            results = {}
            for variant in args.variants:
                cmd = [
                    sys.executable,
                    __file__,
                    "--variant",
                    variant,
                    "--input",
                    folder,
                    "--scratch",
                    scratch,
                    "--budget-mb",
                    str(args.budget_mb),
                ]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                results[variant] = json.loads(out)
            base = results.get("in_memory")
            for variant, r in results.items():
                peak = max(r["rss_main_mb"], r["rss_worker_mb"])
                ratio = f"{peak / max(base['rss_main_mb'], base['rss_worker_mb']):.2f}" if base else "-"
                print(
                    f"{n:>9,} {nbytes / 1e6:>6.0f} {variant:<19} {r['buckets']:>7} {r['seconds']:>8.1f} "
                    f"{n / r['seconds']:>8,.0f} {r['rss_main_mb']:>12.0f} {r['rss_worker_mb']:>14.0f} {ratio:>14}"
                )
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
