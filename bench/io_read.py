"""JSONL read throughput of pipeline.io.read_input on ../shared/corpora/docs/*.jsonl, beside simpler readers.

    .venv/bin/python bench/io_read.py [--reps 3]

Rows: `read_input` (plain, .gz, .zst; includes the per-line checks and batch building), the planning pass
that cuts files into 256 KB shards (`plan_shards`: batch boundaries and line numbers; the .gz seek index), the
floor of line iteration + orjson.loads alone, and pyarrow.json.read_json (vectorised, but one bad line fails
the file).
MB/s are of uncompressed input bytes; best of --reps. Compressed copies are written to a temp folder.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import orjson
import pyarrow.json as pj
import zstandard

from pipeline.config import validate_config
from pipeline.io.listing import list_inputs
from pipeline.io.planning import plan_shards
from pipeline.io.reading import read_input
from stages.base import Filter

REPO = Path(__file__).resolve().parents[1]
DOCS = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared")) / "corpora" / "docs"


class _BenchKeepAllFilter(Filter):
    name: ClassVar[str] = "bench_io_keep_all_filter"

    def keep_doc(self, text: str) -> bool:
        return True


def cfg_for(pattern: str, batch_size: int) -> object:
    return validate_config(
        {
            "input": {"paths": [pattern]},
            "output": {"dir": "/tmp/unused"},
            "stages": ["bench_io_keep_all_filter"],
            "execution": {"batch_size": batch_size},
        }
    )


def best(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=2000)
    args = ap.parse_args()
    files = sorted(DOCS.glob("*.jsonl"))
    if not files:
        sys.exit(f"no corpora at {DOCS}")
    total_mb = sum(f.stat().st_size for f in files) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="io_read_"))
    try:
        for f in files:
            data = f.read_bytes()
            (tmp / "gz").mkdir(exist_ok=True)
            (tmp / "zst").mkdir(exist_ok=True)
            (tmp / "gz" / (f.name + ".gz")).write_bytes(gzip.compress(data, compresslevel=6))
            (tmp / "zst" / (f.name + ".zst")).write_bytes(zstandard.ZstdCompressor(level=3).compress(data))

        def run_reader(pattern: str):
            cfg = cfg_for(pattern, args.batch_size)

            def go():
                docs = rej = 0
                for inp in list_inputs(cfg.input, cfg.synthetic, cfg.resolve):
                    for d, r in read_input(inp, cfg.input, cfg.execution.batch_size):
                        docs += d.num_rows
                        rej += 0 if r is None else r.num_rows
                return docs, rej

            return go

        def planner(pattern: str):
            cfg = cfg_for(pattern, args.batch_size)
            inputs = list_inputs(cfg.input, cfg.synthetic, cfg.resolve)

            def go():
                cache = tempfile.mkdtemp(dir=tmp)
                shards = plan_shards(inputs, 0.25, None, cfg.execution.batch_size, cache)
                return len(shards), 0

            return go

        def floor_orjson():
            n = 0
            for f in files:
                with open(f, "rb") as fh:
                    for line in fh:
                        if line.strip():
                            orjson.loads(line)
                            n += 1
            return n, 0

        def pyarrow_json():
            return sum(pj.read_json(f).num_rows for f in files), 0

        def listing():
            cfg = cfg_for(str(DOCS / "*.jsonl"), args.batch_size)
            return len(list_inputs(cfg.input, cfg.synthetic, cfg.resolve)), 0

        rows = [
            ("read_input .jsonl", run_reader(str(DOCS / "*.jsonl"))),
            ("read_input .jsonl.gz", run_reader(str(tmp / "gz" / "*.jsonl.gz"))),
            ("read_input .jsonl.zst", run_reader(str(tmp / "zst" / "*.jsonl.zst"))),
            ("list_inputs only (fingerprint+sniff)", listing),
            ("plan_shards .jsonl (shards in docs col)", planner(str(DOCS / "*.jsonl"))),
            ("plan_shards .jsonl.gz (+ seek index)", planner(str(tmp / "gz" / "*.jsonl.gz"))),
            ("plan_shards .jsonl.zst", planner(str(tmp / "zst" / "*.jsonl.zst"))),
            ("floor: readline + orjson.loads", floor_orjson),
            ("peer: pyarrow.json.read_json", pyarrow_json),
        ]
        print(f"{len(files)} files, {total_mb:.1f} MB uncompressed, batch_size {args.batch_size}, best of {args.reps}")
        print(f"{'reader':40s} {'seconds':>8s} {'MB/s':>8s} {'docs':>8s} {'rejected':>9s}")
        for label, fn in rows:
            sec, (docs, rej) = best(fn, args.reps)
            print(f"{label:40s} {sec:8.3f} {total_mb / sec:8.1f} {docs:8d} {rej:9d}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
