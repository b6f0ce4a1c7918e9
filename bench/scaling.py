"""Speed-up from 1 to 2 workers: the plain process pool, Prefect's process pool and Prefect on a Dask
LocalCluster, on the same corpus and config. Prints a table; each run is a fresh Python process, as a
`jingxuan run` is, and its time is the run itself (`RunResult.seconds`: planning to the written `data/`), not
the interpreter's imports or the Prefect server's start-up (one server, started first, serves every run).

The corpus is ONE file by default (`--files 1`, the most common shape): the speed-up then comes from cutting
the file into shards (`execution.shard_mb`). The ceiling printed first is the 1 -> 2 speed-up of a pure-Python
CPU loop on a plain process pool, measured in the same run, so a table taken on a busy machine can be judged.

    flock /tmp/bench.lock .venv/bin/python bench/scaling.py --docs 60000 --stages filters,recipe --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared")) / "corpora" / "docs"

FILTERS = [
    {"normalize": {}},
    {"langid": {}},
    {"lang_filter": {}},
    {"length_filter": {}},
    {"han_ratio_filter": {}},
    {"blocklist_filter": {}},
    {"repetition_filter": {}},
]
STAGE_SETS = {
    "shard": [{"normalize": {}}, {"langid": {}}, {"lang_filter": {}}],
    "filters": FILTERS,
    "recipe": [
        *FILTERS,
        {"exact_dedup": {}},
        {"minhash_dedup": {}},
        {"curriculum": {"schedule": "phases", "phases": 4}},
    ],
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


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def cpu_ceiling(tasks: int = 8, n: int = 4_000_000) -> float:
    """1 -> 2 speed-up of a pure-Python loop on a plain spawned process pool: what this machine gives now."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    secs = []
    for workers in (1, 2):
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            list(pool.map(_spin, [1000] * workers))  # start the workers first
            t0 = time.perf_counter()
            list(pool.map(_spin, [n] * tasks))
            secs.append(time.perf_counter() - t0)
    return secs[0] / secs[1]


def run(kind: str, workers: int, corpus: Path, out: Path, stages: list, shard_mb: float, env: dict) -> float:
    """One run in a fresh Python process, as `jingxuan run` would be: nothing an earlier run imported, built
    or started in this process (worker processes, stage tables) flatters a later one."""
    job = {"kind": kind, "workers": workers, "corpus": str(corpus), "out": str(out), "stages": stages}
    job["shard_mb"] = shard_mb
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, __file__, "--one-run", json.dumps(job)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"run failed ({kind}, {workers} workers):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def one_run(job: dict) -> None:
    from pipeline.config import validate_config

    engine, runner = job["kind"].split("-")
    execution = {"engine": engine, "task_runner": runner, "workers": job["workers"], "shard_mb": job["shard_mb"]}
    cfg = validate_config(
        {
            "input": {"paths": [str(Path(job["corpus"]) / "*.jsonl")]},
            "output": {"dir": job["out"]},
            "stages": job["stages"],
            "execution": execution,
        }
    )
    if engine == "local":
        from pipeline.runner import run_local

        result = run_local(cfg)
    else:
        from pipeline.flows import run_flow

        result = run_flow(cfg)
    print(json.dumps({"seconds": result.seconds}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=1, help="input files the corpus is written as")
    ap.add_argument("--shard-mb", type=float, default=4.0, help="execution.shard_mb")
    ap.add_argument("--kinds", default="local-process,prefect-process")
    ap.add_argument("--stages", default="filters,recipe", help=f"comma-separated: {', '.join(STAGE_SETS)}")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is shown")
    ap.add_argument("--one-run", help=argparse.SUPPRESS)  # internal: one run in this (fresh) process
    args = ap.parse_args()
    if args.one_run:
        return one_run(json.loads(args.one_run))
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")}
    # as on a machine that keeps bytecode caches: without them every worker compiles ~50 modules (0.06 s)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    tmp = Path(tempfile.mkdtemp(prefix="jx-scaling-"))
    size = make_corpus(tmp / "in", args.docs, args.files)
    print(f"median of {args.repeat} runs per cell, each run in a fresh process; the time is the run itself")
    print(f"corpus: {args.docs:,} docs, {size / 1e6:.1f} MB in {args.files} file(s); shard_mb {args.shard_mb}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ceiling: pure-Python CPU loop, plain process pool, 1 -> 2 workers: {cpu_ceiling():.2f}x")
    print(
        f"{'stages':<9}{'executor':<17}{'workers':>8}{'seconds':>10}{'min-max':>12}{'docs/s':>10}{'MB/s':>8}"
        f"{'speed-up':>10}"
    )
    server = None
    for kind in args.kinds.split(","):
        if kind.startswith("prefect") and server is None:  # started only now: its own loops cost CPU
            from pipeline.server import start_local_server

            t0 = time.perf_counter()
            server = start_local_server(port=_free_port(), home=str(tmp / "prefect"))
            env["PREFECT_API_URL"] = server.api_url
            print(f"Prefect server start-up (once, shared by the Prefect runs): {time.perf_counter() - t0:.1f} s")
        for name in args.stages.split(","):
            times: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(args.repeat):  # 1 and 2 workers alternate, so a drift of the machine hits both
                for workers in (1, 2):
                    out = tmp / f"out-{name}-{kind}-{workers}"
                    times[workers].append(run(kind, workers, tmp / "in", out, STAGE_SETS[name], args.shard_mb, env))
                    shutil.rmtree(out, ignore_errors=True)
            base = statistics.median(times[1])
            for workers in (1, 2):
                secs = statistics.median(times[workers])
                spread = f"{min(times[workers]):.1f}-{max(times[workers]):.1f}"
                print(
                    f"{name:<9}{kind:<17}{workers:>8}{secs:>10.1f}{spread:>12}{args.docs / secs:>10,.0f}"
                    f"{size / 1e6 / secs:>8.2f}{base / secs:>9.2f}x",
                    flush=True,
                )
    if server is not None:
        server.stop()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ceiling again: {cpu_ceiling():.2f}x")
    shutil.rmtree(tmp, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
