"""Speed-up from 1 to 2 workers: the plain process pool, Prefect's process pool and Prefect on a Dask
LocalCluster, on the same corpus and config. Prints a table; the time is the run itself (`execute`), not the
Prefect server's start-up, which is printed separately.

    .venv/bin/python bench/scaling.py --docs 100000 --shards 8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared")) / "corpora" / "docs"

STAGE_SETS = {
    "shard": [{"normalize": {}}, {"langid": {}}, {"lang_filter": {}}],
    # the global stages too: their passes go through the same executor
    "full": [
        {"normalize": {}},
        {"langid": {}},
        {"lang_filter": {}},
        {"exact_dedup": {}},
        {"minhash_dedup": {}},
        {"curriculum": {"schedule": "phases", "phases": 4}},
    ],
}


def make_corpus(folder: Path, docs: int, shards: int, seed: int = 0) -> int:
    """`docs` documents in `shards` JSONL files, sampled from the shared corpus with a few characters changed."""
    if not SHARED.is_dir():
        sys.exit(f"shared corpora not found at {SHARED}")
    texts = []
    for path in sorted(SHARED.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    files = [open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(shards)]  # noqa: SIM115
    for i in range(docs):
        t = list(rng.choice(texts))
        for _ in range(3):
            t[rng.randrange(len(t))] = chr(0x4E00 + rng.randrange(20000))
        line = json.dumps({"id": f"d{i}", "text": "".join(t)}, ensure_ascii=False) + "\n"
        files[i % shards].write(line)
        size += len(line.encode())
    for f in files:
        f.close()
    return size


def run(kind: str, workers: int, corpus: Path, out: Path, stages: list) -> float:
    from pipeline.config import validate_config

    engine, runner = kind.split("-")
    cfg = validate_config(
        {
            "input": {"paths": [str(corpus / "*.jsonl")]},
            "output": {"dir": str(out)},
            "stages": stages,
            "execution": {"engine": engine, "task_runner": runner, "workers": workers},
        }
    )
    shutil.rmtree(out, ignore_errors=True)
    if engine == "local":
        from pipeline.runner import run_local

        return run_local(cfg).seconds
    from pipeline.flows import run_flow

    return run_flow(cfg).seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--kinds", default="local-process,prefect-process,prefect-dask")
    ap.add_argument("--stages", choices=sorted(STAGE_SETS), default="shard")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    tmp = Path(tempfile.mkdtemp(prefix="jx-scaling-"))
    size = make_corpus(tmp / "in", args.docs, args.shards)
    stages = STAGE_SETS[args.stages]
    print(
        f"corpus: {args.docs:,} docs, {size / 1e6:.1f} MB, {args.shards} shards; stages: "
        + ", ".join(next(iter(s)) for s in stages)
    )
    t0 = time.perf_counter()
    import pipeline.flows  # noqa: F401  (import cost shown apart)

    print(f"import prefect + flows: {time.perf_counter() - t0:.1f} s")
    print(f"{'executor':<18}{'workers':>8}{'seconds':>10}{'docs/s':>10}{'MB/s':>8}{'speed-up':>10}")
    for kind in args.kinds.split(","):
        base = None
        for workers in (1, 2):
            secs = run(kind, workers, tmp / "in", tmp / f"out-{kind}-{workers}", stages)
            base = base or secs
            print(
                f"{kind:<18}{workers:>8}{secs:>10.1f}{args.docs / secs:>10,.0f}{size / 1e6 / secs:>8.2f}"
                f"{base / secs:>9.2f}x",
                flush=True,
            )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
