"""Cost growth of `minhash_dedup` with corpus size: time per document and peak RSS at 10k, 100k, 1M documents.

Documents are made by perturbing the texts of ../shared/corpora/docs/ (read at run time): each is a random base
text with ~8% of its characters substituted (so most are distinct at 5-grams / 0.8, the setting run here: at the
defaults, char 2-grams / 0.55, such texts are near-duplicates of each other), and every tenth is a
1-edit copy of an earlier generated document (so clusters form at every size). Shards of 50k documents are
written first (not timed); then the stage runs in a subprocess on a 2-process pool. Peak RSS is the largest
resident size of any process of the run (wait4's ru_maxrss); the work directory's size is the disk cost.

    .venv/bin/python bench/dedup_scale.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared"))
SHARD_DOCS = 50_000
SETTING = {"ngram": 5, "threshold": 0.8, "num_perm": 128, "min_chars": 0, "recall_weight": 0.5}


def make_shards(n: int, out_dir: str, seed: int = 0) -> list[str]:
    import pyarrow as pa

    from stages.core.shards import write_shard

    rng = random.Random(seed)
    base = []
    for path in sorted((SHARED / "corpora" / "docs").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").strip().split("\n"):
            t = json.loads(line).get("text")
            if t:
                base.append(t)
    alphabet = sorted({c for t in base[::20] for c in t if "\u4e00" <= c <= "\u9fff"})
    recent: list[str] = []
    paths = []
    for s in range(0, n, SHARD_DOCS):
        texts = []
        for i in range(s, min(n, s + SHARD_DOCS)):
            if i % 10 == 9 and recent:
                src = list(rng.choice(recent))
                edits = 1
            else:
                src = list(rng.choice(base))
                edits = max(1, len(src) // 12)
            for _ in range(edits):
                src[rng.randrange(len(src))] = rng.choice(alphabet)
            text = "".join(src)
            texts.append(text)
            if i % 7 == 0:
                recent = [*recent[-999:], text]
        ids = [f"gen-{i}" for i in range(s, s + len(texts))]
        path = os.path.join(out_dir, f"shard-{s // SHARD_DOCS:05d}.arrow")
        write_shard(path, [pa.RecordBatch.from_pydict({"id": pa.array(ids), "text": pa.array(texts)})])
        paths.append(path)
    return paths


def worker(shard_dir: str, work: str, out: str) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from stages.dedup.minhash import MinHashDedup
    from stages.testing import local_context

    shards = sorted(str(p) for p in Path(shard_dir).glob("*.arrow"))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        ctx = local_context(work, "minhash_dedup", map=lambda fn, items: list(pool.map(fn, items)))
        result = MinHashDedup(incremental=False, **SETTING).run(shards, ctx)
    secs = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"seconds": secs, "report": result.report, "docs": result.stats.docs_in}))


def du(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        tmp = tempfile.mkdtemp(prefix="dedup-scale-")
        try:
            t0 = time.perf_counter()
            make_shards(n, os.path.join(tmp, "in"))
            gen = time.perf_counter() - t0
            out = os.path.join(tmp, "result.json")
            cmd = [sys.executable, __file__, "--worker", os.path.join(tmp, "in"), os.path.join(tmp, "run"), out]
            proc = subprocess.Popen(cmd, cwd=str(REPO))
            _, status, usage = os.wait4(proc.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                print(f"{n}: worker failed")
                continue
            res = json.loads(Path(out).read_text())
            sec = res["report"]["seconds"]
            rows.append(
                {
                    "docs": n,
                    "seconds": res["seconds"],
                    "us/doc": 1e6 * res["seconds"] / n,
                    "docs/s": round(n / res["seconds"]),
                    "peak RSS MB": round(usage.ru_maxrss / 1024),
                    "work MB": round(du(os.path.join(tmp, "run")) / 1e6),
                    "dropped": res["report"]["dropped"],
                    "clusters": res["report"]["clusters"],
                    "sig s": sec["signatures"],
                    "bands s": sec["bands"],
                    "clusters s": sec["clusters"],
                    "rewrite s": sec["rewrite"],
                    "(generate s)": gen,
                }
            )
            print(f"  done {n} docs", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.path.insert(0, str(REPO / "bench"))
    from dedup_corpus import table

    print(table(rows, list(rows[0]) if rows else ["docs"]))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
    else:
        main()
