"""Near-duplicate removal side by side, in one run on one corpus: jingxuan, datatrove and datasketch.

Corpus: bench/dedup_corpus.py over every shared source (~21k documents: planted exact / light / near /
shuffle / twin copies, BUSTM hard negatives), written as two JSONL files every system reads. Each system runs in
its own subprocess:

- jingxuan: `exact_dedup` then `minhash_dedup`, both with their defaults, on a 2-process pool;
- datatrove 0.10.1 MinHash with its default config (5-grams, 14 buckets x 8 hashes) over characters (its
  word tokenizers do not segment Chinese, NOTES.md), 4 stages on `LocalPipelineExecutor` with 2 workers; and
  with jingxuan's n-gram and bands x rows, for the same setting;
- datasketch 2.0 MinHash.bulk (xxh32, its fastest use) + MinHashLSH at threshold 0.8 with 5-grams (the common
  setting), and with jingxuan's n-gram and threshold; single process.

docs/s counts from reading the corpus to having the list of drops (interpreter start and imports excluded);
CPU s is user+system time of that span, the worker's and its finished children's (datatrove's workers are
children of a forkserver that outlives the span, so its CPU is undercounted); peak RSS is the largest sum of
resident sizes over the worker's processes (its session), sampled every 50 ms. Scores as bench/dedup_corpus.py
defines them.

Peers live in their own venvs, made by this script on first use (`--setup`, from the package registry):
/tmp/peer-datatrove (`datatrove[processing]==0.10.1 orjson`); datasketch is a jingxuan dependency.
text-dedup needs Python >= 3.12 and Data-Juicer installs ~1.8 GB with torch: both skipped (NOTES.md).

    flock /tmp/bench.lock .venv/bin/python bench/dedup_bench.py [--systems jingxuan,datatrove,...] [--setup]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATATROVE_VENV = os.environ.get("DATATROVE_VENV", "/tmp/peer-datatrove")
DATATROVE_PY = os.path.join(DATATROVE_VENV, "bin", "python")
TIMEOUT = 1200  # seconds per system

DATATROVE_SCRIPT = r"""
import json, sys, time, os
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
    MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.word_tokenizers import WordTokenizer

class CharTokenizer(WordTokenizer):
    def word_tokenize(self, text):
        return [c for c in text if not c.isspace()]
    def sent_tokenize(self, text):
        return [text]
    def span_tokenize(self, text):
        return [(0, len(text))]

def main():
    corpus, work, out, ngram, buckets, rows = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
    t0 = time.perf_counter()
    cfg = MinhashConfig(n_grams=ngram, num_buckets=buckets, hashes_per_bucket=rows)
    def reader():
        return JsonlReader(corpus, glob_pattern="*.jsonl", id_key="id", text_key="text")
    tok = CharTokenizer()
    LocalPipelineExecutor([reader(), MinhashDedupSignature(f"{work}/sigs", config=cfg, language=tok)],
                          tasks=2, workers=2, logging_dir=f"{work}/l1").run()
    LocalPipelineExecutor([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=cfg)],
                          tasks=cfg.num_buckets, workers=2, logging_dir=f"{work}/l2").run()
    LocalPipelineExecutor([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=cfg, save_cluster_id=True)],
                          tasks=1, logging_dir=f"{work}/l3").run()
    LocalPipelineExecutor([reader(), MinhashDedupFilter(f"{work}/remove", load_cluster_ids=True,
                           exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                           JsonlWriter(f"{work}/kept", compression=None)],
                          tasks=2, workers=2, logging_dir=f"{work}/l4").run()
    clusters, removed = {}, set()
    for sub in ("kept", "removed"):
        for name in sorted(os.listdir(f"{work}/{sub}")):
            for line in open(f"{work}/{sub}/{name}", encoding="utf-8"):
                d = json.loads(line)
                c = d.get("metadata", {}).get("minhash_cluster_id", -1)
                if sub == "removed":
                    removed.add(d["id"])
                if c != -1:
                    clusters.setdefault(c, []).append(d["id"])
    drops = {}
    for members in clusters.values():
        kept = [m for m in members if m not in removed]
        for m in members:
            if m in removed and kept:
                drops[m] = kept[0]
    json.dump({"drops": drops, "seconds": time.perf_counter() - t0}, open(out, "w"))


if __name__ == "__main__":  # the forkserver of datatrove's workers imports this file
    main()
"""


def read_corpus(corpus: str) -> list[dict]:
    return [
        json.loads(line)
        for p in sorted(Path(corpus).glob("*.jsonl"))
        for line in p.read_text(encoding="utf-8").strip().split("\n")
    ]


def cpu_seconds() -> float:
    """User + system time of this process and its finished children (pool workers)."""
    return sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )


def worker_jingxuan(corpus: str, work: str, shards: int) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    import pyarrow as pa
    import pyarrow.json
    import pyarrow.parquet as pq

    from stages.core.shards import write_shard
    from stages.dedup.exact import ExactDedup
    from stages.dedup.minhash import MinHashDedup
    from stages.testing import local_context

    pa.array(["warm-up"])  # pyarrow imports pandas on its first conversion from Python objects: an import
    t0, c0 = time.perf_counter(), cpu_seconds()
    table = pa.concat_tables([pyarrow.json.read_json(p) for p in sorted(Path(corpus).glob("*.jsonl"))])
    table = table.select(["id", "text"])
    paths = []
    for s in range(shards):  # the pipeline hands global stages Arrow shards
        lo, hi = s * table.num_rows // shards, (s + 1) * table.num_rows // shards
        paths.append(os.path.join(work, "input", f"shard-{s:05d}.arrow"))
        write_shard(paths[-1], table.slice(lo, hi - lo).combine_chunks().to_batches())
    passes = {"read JSONL + write shards": time.perf_counter() - t0}
    drops, report = {}, {}
    with ProcessPoolExecutor(2) as pool:
        for stage in (ExactDedup(incremental=False), MinHashDedup(incremental=False)):
            ctx = local_context(os.path.join(work, stage.name), stage.name, map=lambda fn, it: list(pool.map(fn, it)))
            t1 = time.perf_counter()
            result = stage.run(paths, ctx)
            passes[stage.name] = time.perf_counter() - t1
            paths = result.shards
            report[stage.name] = result.report
            for p in result.rejected:
                t = pq.read_table(p, columns=["id", "detail"]).to_pydict()
                drops.update(zip(t["id"], t["detail"], strict=True))
    secs = time.perf_counter() - t0
    params = report["minhash_dedup"]["params"]
    return {"drops": drops, "seconds": secs, "cpu": cpu_seconds() - c0, "passes": passes, "params": params}


def worker_datasketch(corpus: str, work: str, ngram: int, threshold: float) -> dict:
    import xxhash
    from datasketch import MinHash, MinHashLSH

    t0, c0 = time.perf_counter(), cpu_seconds()
    docs = read_corpus(corpus)
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    drops, pos = {}, {}
    for start in range(0, len(docs), 1000):
        chunk = docs[start : start + 1000]
        shingles = []
        for d in chunk:
            t = "".join(d["text"].lower().split())
            grams = {t[i : i + ngram] for i in range(max(1, len(t) - ngram + 1))}
            shingles.append([g.encode("utf-8") for g in grams])
        for d, m in zip(chunk, MinHash.bulk(shingles, num_perm=128, hashfunc=xxhash.xxh32_intdigest), strict=True):
            hits = lsh.query(m)
            if hits:
                drops[d["id"]] = min(hits, key=pos.__getitem__)  # the earliest kept match
            else:
                lsh.insert(d["id"], m)
                pos[d["id"]] = len(pos)
    return {"drops": drops, "seconds": time.perf_counter() - t0, "cpu": cpu_seconds() - c0}


def session_rss_kb(sid: int) -> int:
    """Resident size (KB) summed over the processes of session `sid` (the worker and everything it started)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # field 6 of stat: the session id
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_worker(cmd: list[str], out: str) -> tuple[dict | None, int, str]:
    """Run a worker in its own session; (its JSON result, peak RSS in KB summed over the session's processes,
    sampled every 50 ms, stderr tail). wait4's ru_maxrss would report this script's own size: a forked child
    counts its parent's pages until it execs."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(REPO), start_new_session=True
    )
    watchdog = threading.Timer(TIMEOUT, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], session_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read().decode(errors="replace")
    _, status, _ = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    watchdog.cancel()
    if os.waitstatus_to_exitcode(status) != 0 or not os.path.exists(out):
        return None, peak[0], err[-2000:]
    with open(out) as f:
        return json.load(f), peak[0], ""


def setup_datatrove() -> None:
    if os.path.exists(DATATROVE_PY):
        return
    print(f"installing datatrove 0.10.1 into {DATATROVE_VENV} (~550 MB, a few minutes) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", DATATROVE_VENV], check=True)
    pip = [DATATROVE_PY, "-m", "pip", "install", "-q", "datatrove[processing]==0.10.1", "orjson"]
    subprocess.run(pip, check=True)


SYSTEMS = ("jingxuan", "datatrove", "datatrove-same", "datasketch", "datasketch-same")
COLUMNS = ["system", "setting", "seconds", "docs/s", "x datatrove", "CPU s", "peak RSS MB", "dropped", "precision"]
COLUMNS += ["recall", "f1", "exact", "light", "near", "shuffle", "twin", "neg_lost"]


def main() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, str(REPO))
    import dedup_corpus as dc

    from stages.dedup.minhash import MinHashDedup

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"subset of {','.join(SYSTEMS)}")
    ap.add_argument("--shards", type=int, default=4, help="input shards for jingxuan")
    ap.add_argument("--per-kind", type=int, default=500)
    ap.add_argument("--setup", action="store_true", help="create the datatrove venv if it is missing")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    if set(systems) - set(SYSTEMS):
        ap.error(f"unknown systems {sorted(set(systems) - set(SYSTEMS))}")
    if not dc.available():
        sys.exit(f"skipped: the shared corpora are not at {dc.SHARED / 'corpora'}")
    if args.setup:
        setup_datatrove()
    print("text-dedup: skipped (needs Python >= 3.12); Data-Juicer: skipped (1.8 GB install with torch)")
    mh = MinHashDedup()
    p = mh.lsh_params()
    corpus_obj = dc.build(dc.source_names(), args.per_kind, 0, cmmlu_twins=True, name="all sources")
    docs = corpus_obj.docs
    me = [sys.executable, str(Path(__file__).resolve())]
    rows, passes = [], None
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus")  # two files, so datatrove's 2 tasks both get work
        half = len(docs) // 2
        dc.write_jsonl(docs[:half], os.path.join(corpus, "part-0.jsonl"))
        dc.write_jsonl(docs[half:], os.path.join(corpus, "part-1.jsonl"))
        size = sum(f.stat().st_size for f in Path(corpus).glob("*.jsonl"))
        print(
            f"corpus: {len(docs)} documents ({size / 1e6:.1f} MB), {len(corpus_obj.family)} planted, "
            f"{len(corpus_obj.negatives)} hard negatives; jingxuan defaults: char {p['ngram']}-grams, threshold "
            f"{p['threshold']}, {p['num_perm']} permutations, {p['bands']} x {p['rows']}, verify {mh.verify}, "
            f"min_chars {mh.min_chars}",
            flush=True,
        )
        settings = {
            "jingxuan": "defaults (exact + minhash)",
            "datatrove": "5-gram, 14x8 (its default)",
            "datatrove-same": f"{p['ngram']}-gram, {p['bands']}x{p['rows']}",
            "datasketch": "5-gram, t=0.8",
            "datasketch-same": f"{p['ngram']}-gram, t={p['threshold']}",
        }
        for i, kind in enumerate(systems):
            w, r = f"{tmp}/w{i}", f"{tmp}/r{i}.json"
            os.makedirs(w, exist_ok=True)
            if kind.startswith("datatrove"):
                if not os.path.exists(DATATROVE_PY):
                    print(f"{kind}: skipped, no venv at {DATATROVE_VENV} (run with --setup)")
                    continue
                script = os.path.join(tmp, "datatrove_minhash.py")
                Path(script).write_text(DATATROVE_SCRIPT)
                cfg = ["5", "14", "8"] if kind == "datatrove" else [str(p["ngram"]), str(p["bands"]), str(p["rows"])]
                cmd = [DATATROVE_PY, script, corpus, w, r, *cfg]
            elif kind.startswith("datasketch"):
                cfg = ["5", "0.8"] if kind == "datasketch" else [str(p["ngram"]), str(p["threshold"])]
                cmd = [*me, "--worker", "datasketch", corpus, w, r, *cfg]
            else:
                cmd = [*me, "--worker", "jingxuan", corpus, w, r, str(args.shards)]
            res, rss, err = run_worker(cmd, r)
            if res is None:
                print(f"{kind}: failed\n{err}")
                continue
            s = dc.score(corpus_obj, dc.resolve(res["drops"]))
            if kind == "jingxuan":
                passes = res["passes"]
            rows.append(
                {"system": kind, "setting": settings[kind], "seconds": res["seconds"]}
                | {
                    "docs/s": round(len(docs) / res["seconds"]),
                    "CPU s": res.get("cpu"),
                    "peak RSS MB": round(rss / 1024),
                }
                | s
            )
            print(f"  done: {kind} ({res['seconds']:.1f} s)", flush=True)
    base = next((r for r in rows if r["system"] == "datatrove"), None)
    for r in rows:
        r["x datatrove"] = r["docs/s"] / base["docs/s"] if base else None
    print()
    print(dc.table(rows, COLUMNS))
    if passes:
        total = sum(passes.values())
        print("\njingxuan wall time by part:")
        print(
            dc.table(
                [{"part": k, "seconds": v, "share": v / total} for k, v in passes.items()], ["part", "seconds", "share"]
            )
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(REPO / "bench"))
        sys.path.insert(0, str(REPO))
        kind, corpus, work, out, *rest = sys.argv[2:]
        if kind == "jingxuan":
            result = worker_jingxuan(corpus, work, int(rest[0]))
        else:
            result = worker_datasketch(corpus, work, int(rest[0]), float(rest[1]))
        with open(out, "w") as f:
            json.dump(result, f)
    else:
        main()
