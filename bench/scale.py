"""Global stages at scale under a memory budget: exact_dedup -> minhash_dedup -> curriculum over N synthetic
small documents, with the partition counts the budget forces, peak RSS of every task, CPU per document per
pass, and a hash of the outputs to compare with an unpartitioned run.

Documents are generated here (no corpus is read): Han characters drawn with Zipf-like frequencies, a 。 every
~20 characters, lengths uniform in [0.5, 1.5] x `--chars`; of every ten documents one is an exact copy and two
are near copies (one or two substituted characters, Jaccard ~0.8-0.9 on 5-grams) of a random original of the
same or the previous shard, so clusters cross shards. Shards of `--shard-docs` documents are written first (not
timed). Each size runs in a fresh subprocess; tasks run on a spawned 2-process pool; before each task the
worker resets its peak RSS (`/proc/self/clear_refs`), after it reads VmHWM, so "peak RSS per task" is the
largest resident size of a worker process during one task (interpreter and imports included, ~135 MB).

    flock /tmp/bench.lock .venv/bin/python bench/scale.py --sizes 100000,1000000,5000000 --budget 256 \\
        --identity 1000000 --save bench/scale_measured.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ALPHABET = (0x4E00 + np.random.default_rng(0).permutation(3000)).astype(np.uint32)  # by falling frequency
UNPARTITIONED_MB = 1_000_000  # a budget so large that every pass runs as one partition (exact: its minimum 4)


# -- synthetic documents ----------------------------------------------------------------------------------


def _utf8(cps: np.ndarray) -> np.ndarray:
    """UTF-8 bytes of BMP code points >= U+0800 (all three bytes long), vectorised."""
    out = np.empty((len(cps), 3), np.uint8)
    out[:, 0] = 0xE0 | (cps >> 12)
    out[:, 1] = 0x80 | ((cps >> 6) & 0x3F)
    out[:, 2] = 0x80 | (cps & 0x3F)
    return out.reshape(-1)


def _shard_texts(rng: np.random.Generator, n: int, chars: int, prev: tuple | None):
    alphabet = ALPHABET
    p = 1.0 / (np.arange(3000) + 10.0)
    lengths = rng.integers(chars // 2, chars * 3 // 2 + 1, n)
    cps = alphabet[rng.choice(3000, int(lengths.sum()), p=p / p.sum())]
    cps[rng.random(len(cps)) < 0.05] = 0x3002  # 。
    offsets = np.r_[0, np.cumsum(lengths)]
    kind = np.arange(n) % 10
    copy = kind >= 7
    base = np.flatnonzero(~copy)
    # sources: an original of this shard, or (one in three) of the previous shard
    pool_cps, pool_off = cps, offsets
    src = base[rng.integers(0, len(base), n)]
    if prev is not None:
        p_cps, p_off, p_base = prev
        from_prev = copy & (rng.random(n) < 1 / 3)
        src = np.where(from_prev, p_base[rng.integers(0, len(p_base), n)] + n, src)
        pool_cps = np.r_[cps, p_cps]
        pool_off = np.r_[offsets[:-1], p_off + offsets[-1]]
    src = np.where(copy, src, np.arange(n))
    out_len = np.diff(pool_off)[src] if prev is not None else lengths[src]
    out_off = np.r_[0, np.cumsum(out_len)]
    gather = np.repeat(pool_off[src] - out_off[:-1], out_len) + np.arange(out_off[-1])
    text_cps = pool_cps[gather]
    for k, edits in ((7, 2), (8, 1)):
        for _ in range(edits):
            docs = np.flatnonzero(kind == k)
            pos = out_off[docs] + (rng.random(len(docs)) * out_len[docs]).astype(np.int64)
            text_cps[pos] = alphabet[rng.integers(0, 3000, len(docs))]
    return text_cps, out_off, (cps, offsets, base)


def make_shards(n: int, out_dir: str, shard_docs: int, chars: int, seed: int = 0) -> list[str]:
    import pyarrow as pa

    from stages.core.shards import write_shard

    paths, prev = [], None
    for s, start in enumerate(range(0, n, shard_docs)):
        m = min(shard_docs, n - start)
        rng = np.random.default_rng([seed, s])
        cps, offsets, prev = _shard_texts(rng, m, chars, prev)
        data = _utf8(cps)
        text = pa.StringArray.from_buffers(m, pa.py_buffer((offsets * 3).astype(np.int32)), pa.py_buffer(data))
        ids = pa.array([f"g{start + i}" for i in range(m)], pa.string())
        path = os.path.join(out_dir, f"shard-{s:05d}.arrow")
        batch = pa.RecordBatch.from_arrays([ids, text], ["id", "text"])
        write_shard(path, [batch.slice(i, 2000) for i in range(0, m, 2000)])
        paths.append(path)
    return paths


# -- measured execution -------------------------------------------------------------------------------------


def _hwm_mb(field: str = "VmHWM") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_hwm() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _measured(job):
    from stages.core.partitions import release_memory

    fn, item = job
    start = _hwm_mb("VmRSS")  # what the worker holds before the task: its base, after earlier tasks
    _reset_hwm()
    c0 = _cpu()
    out = fn(item)
    stats = {"rss": _hwm_mb(), "start": start, "cpu": _cpu() - c0}
    release_memory()  # as the runner does after every task of a global pass
    return out, stats


def _warm(_):
    import stages.curriculum.stage
    import stages.dedup.exact
    import stages.dedup.minhash  # noqa: F401

    return os.getpid()


class MeasuredMap:
    """ctx.map on a process pool that records, per pass, tasks, peak RSS per task and CPU seconds."""

    def __init__(self, pool, stage: str, passes: dict):
        self.pool, self.stage, self.passes = pool, stage, passes

    def __call__(self, fn, items, weights=None):
        t0 = time.perf_counter()
        res = list(self.pool.map(_measured, [(fn, it) for it in items]))
        p = self.passes[f"{self.stage}.{fn.__name__}"]
        p["tasks"] += len(items)
        p["rss"] = max(p["rss"], *(m["rss"] for _, m in res)) if res else p["rss"]
        p["start"] = max(p.get("start", 0.0), *(m["start"] for _, m in res)) if res else p.get("start", 0.0)
        p["cpu"] += sum(m["cpu"] for _, m in res)
        p["wall"] += time.perf_counter() - t0
        return [r for r, _ in res]


def _hash_files(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def _hash_rows(paths: list[str]) -> str:
    """Hash of the rows in order (every column), independent of how they are split into files and batches: one
    running hash per column over all batches (two for a string column: lengths and bytes, so that batch
    boundaries never interleave them), combined at the end."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from stages.core.shards import read_shard

    hashes: dict[str, hashlib._Hash] = {}
    for p in paths:
        for b in read_shard(p):
            for name in b.schema.names:
                col, h = b.column(name), hashes.setdefault(name, hashlib.sha256())
                if pa.types.is_string(col.type):
                    lens = pc.fill_null(pc.binary_length(col), -1).to_numpy(zero_copy_only=False)
                    h.update(lens.astype(np.int64).tobytes())
                    text = hashes.setdefault(name + "\0bytes", hashlib.sha256())
                    text.update("".join(x or "" for x in col.to_pylist()).encode())
                else:
                    h.update(np.asarray(col.to_numpy(zero_copy_only=False)).tobytes())
    total = hashlib.sha256()
    for name in sorted(hashes):
        total.update(name.encode() + hashes[name].digest())
    return total.hexdigest()[:16]


STAGES = ("exact_dedup", "minhash_dedup", "curriculum")


def run_one(n: int, budget: float, shard_docs: int, chars: int, out: str, only: tuple[str, ...] = STAGES) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from stages.core.shards import shard_rows
    from stages.curriculum import Curriculum
    from stages.dedup.exact import ExactDedup
    from stages.dedup.minhash import MinHashDedup
    from stages.testing import local_context

    tmp = tempfile.mkdtemp(prefix="jx-scale-")
    try:
        t0 = time.perf_counter()
        shards = make_shards(n, os.path.join(tmp, "in"), shard_docs, chars)
        generate = time.perf_counter() - t0
        in_bytes = sum(os.path.getsize(p) for p in shards)
        passes: dict = defaultdict(lambda: {"tasks": 0, "rss": 0.0, "cpu": 0.0, "wall": 0.0})
        load0 = os.getloadavg()
        stages, outputs = {}, {}
        with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(_warm, range(4)))
            current, prev_stage = shards, None
            build = {"exact_dedup": ExactDedup, "minhash_dedup": MinHashDedup, "curriculum": Curriculum}
            for name in only:
                stage = build[name]()
                ctx = local_context(
                    os.path.join(tmp, name), name, map=MeasuredMap(pool, name, passes), memory_budget_mb=budget
                )
                _reset_hwm()
                c0, t0 = _cpu(), time.perf_counter()
                result = stage.run(current, ctx)
                stages[name] = {
                    "seconds": time.perf_counter() - t0,
                    "driver_cpu": _cpu() - c0,
                    "driver_rss": _hwm_mb(),
                    "docs_in": result.stats.docs_in,
                    "docs_out": result.stats.docs_out,
                    "report": {
                        k: v
                        for k, v in result.report.items()
                        if k in ("buckets", "partitions", "clusters", "verified_links", "dropped")
                    },
                }
                if name == "curriculum":
                    outputs[name] = _hash_rows(result.shards)
                    stages[name]["report"] = {"buckets": result.report["buckets"]["count"]}
                else:
                    outputs[name] = _hash_files(result.shards + result.rejected)
                if prev_stage:  # its output was this stage's input: no longer needed
                    shutil.rmtree(os.path.join(tmp, prev_stage), ignore_errors=True)
                current, prev_stage = result.shards, name
        load1 = os.getloadavg()
        assert sum(shard_rows(p) for p in current) == stages[only[-1]]["docs_out"]
        Path(out).write_text(
            json.dumps(
                {
                    "docs": n,
                    "budget_mb": budget,
                    "chars": chars,
                    "input_bytes": in_bytes,
                    "shards": len(shards),
                    "generate_s": generate,
                    "load": [load0, load1],
                    "stages": stages,
                    "passes": dict(passes),
                    "hashes": outputs,
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- tables ------------------------------------------------------------------------------------------------


def table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        return f"{v:.2f}" if isinstance(v, float) else ("" if v is None else str(v))

    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(fmt(r.get(c)).rjust(w) for c, w in zip(cols, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def measure(n: int, budget: float, shard_docs: int, chars: int, stages: str = ",".join(STAGES)) -> dict:
    out = tempfile.mktemp(prefix="jx-scale-", suffix=".json")
    cmd = [sys.executable, __file__, "--one", str(n), "--budget", str(budget)]
    cmd += ["--shard-docs", str(shard_docs), "--chars", str(chars), "--stages", stages, "--out", out]
    subprocess.run(cmd, cwd=str(REPO), check=True)
    res = json.loads(Path(out).read_text())
    os.remove(out)
    return res


def summary_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        n, st = r["docs"], r["stages"]
        rep = {k: v.get("report", {}) for k, v in st.items()}
        mh = rep.get("minhash_dedup", {}).get("partitions", {})
        wall = sum(s["seconds"] for s in st.values())
        rows.append(
            {
                "docs": n,
                "chars": r["chars"],
                "budget MB": r["budget_mb"],
                "exact buckets": rep.get("exact_dedup", {}).get("buckets"),
                "band ranges": mh.get("band_ranges"),
                "link parts": mh.get("link_partitions"),
                "star rounds": mh.get("star_rounds"),
                "curr. buckets": rep.get("curriculum", {}).get("buckets"),
                "max task RSS MB": round(max(p["rss"] for p in r["passes"].values())),
                "driver RSS MB": round(max(s["driver_rss"] for s in st.values())),
                "docs/s": round(n / wall),
                **{f"{k.split('_')[0]} s": v["seconds"] for k, v in st.items()},
                "CPU us/doc": 1e6 * _cpu_total(r) / n,
                "load 1m": f"{r['load'][0][0]:.1f}-{r['load'][1][0]:.1f}",
            }
        )
    return rows


def _cpu_total(r: dict) -> float:
    return sum(p["cpu"] for p in r["passes"].values()) + sum(s["driver_cpu"] for s in r["stages"].values())


def _stage_cpu(r: dict, stage: str) -> float:
    return sum(p["cpu"] for k, p in r["passes"].items() if k.startswith(stage)) + r["stages"][stage]["driver_cpu"]


def pass_rows(results: list[dict]) -> list[dict]:
    rows = []
    # every size's passes, in the run order of the largest (small sizes skip the star rounds)
    for name in dict.fromkeys(name for r in reversed(results) for name in r["passes"]):
        row = {"pass": name}
        for r in results:
            p = r["passes"].get(name, {"tasks": 0, "rss": 0, "cpu": 0})
            row[f"{r['docs']}: tasks"] = p["tasks"]
            row[f"{r['docs']}: RSS MB"] = round(p["rss"])
            row[f"{r['docs']}: base MB"] = round(p.get("start", 0))
            row[f"{r['docs']}: CPU us/doc"] = 1e6 * p["cpu"] / r["docs"]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--budget", type=float, default=256)
    ap.add_argument("--shard-docs", type=int, default=25_000)
    ap.add_argument("--chars", type=int, default=150, help="mean characters per document")
    ap.add_argument("--stages", default=",".join(STAGES), help="run only these (in this order)")
    ap.add_argument("--identity", type=int, default=0, help="also run this size unpartitioned and compare outputs")
    ap.add_argument("--save", help="write all measurements as JSON (read by bench/cost_model.py)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(args.one, args.budget, args.shard_docs, args.chars, args.out, tuple(args.stages.split(",")))
        return
    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        results.append(measure(n, args.budget, args.shard_docs, args.chars, args.stages))
        print(f"  done: {json.dumps(summary_rows(results[-1:])[0])}", file=sys.stderr, flush=True)
    identity = None
    if args.identity:
        base = measure(args.identity, UNPARTITIONED_MB, args.shard_docs, args.chars, args.stages)
        part = next((r for r in results if r["docs"] == args.identity), None)
        part = part or measure(args.identity, args.budget, args.shard_docs, args.chars, args.stages)
        identity = {"docs": args.identity, "partitioned": part["hashes"], "unpartitioned": base["hashes"], "base": base}
    print(f"budget {args.budget:g} MB per task; {os.cpu_count()} cores; load average shown per run\n")
    print(table(summary_rows(results), list(summary_rows(results)[0])))
    print()
    print(table(pass_rows(results), list(pass_rows(results)[0])))
    first = results[0]
    print("\nCPU per document relative to the smallest size (1.00 = flat):")
    for r in results:
        ratios = {s: _stage_cpu(r, s) / r["docs"] / (_stage_cpu(first, s) / first["docs"]) for s in r["stages"]}
        total = (_cpu_total(r) / r["docs"]) / (_cpu_total(first) / first["docs"])
        print(f"  {r['docs']:>9}: " + "  ".join(f"{s} {v:.2f}" for s, v in ratios.items()) + f"  total {total:.2f}")
    if identity:
        print(f"\nidentity at {identity['docs']} docs (budget {args.budget:g} MB vs unpartitioned):")
        base_rows = summary_rows([identity["base"]])[0]
        print(f"  unpartitioned run: {json.dumps({k: base_rows[k] for k in list(base_rows)[3:10]})}")
        for s in identity["partitioned"]:
            a, b = identity["partitioned"][s], identity["unpartitioned"][s]
            print(f"  {s}: {a} vs {b} -> {'IDENTICAL' if a == b else 'DIFFER'}")
    if args.save:
        Path(args.save).write_text(json.dumps({"results": results, "identity": identity}, indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
