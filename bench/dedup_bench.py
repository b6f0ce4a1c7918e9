"""minhash_dedup against peers, in one run on the same corpus (bench/dedup_eval.py's planted corpus).

Every system runs in its own subprocess on the same JSONL files with the same setting (threshold 0.8, 128
permutations, character 5-grams) and 2 worker processes where it has them. docs/s counts from reading the
corpus to having the list of drops (interpreter start and imports excluded, for every system); CPU s is the
user+system time of that span, the worker's own and its worker processes' (not for datatrove: its workers are
children of a forkserver that outlives the span); peak RSS is the largest resident size of any process of the
run (wait4's ru_maxrss). Peers:

- datasketch 2.0 MinHash.bulk + MinHashLSH (query, insert if new), single process: default SHA-1 hashing and
  with xxh32 (`hashfunc`), the fastest way to use it;
- datatrove 0.10.1 MinHash (4 stages, LocalPipelineExecutor, 2 workers, 9 buckets x 13 hashes, a character
  tokenizer) from its own venv /tmp/peer-datatrove; skipped with a message when the venv is absent;
- text-dedup needs Python >= 3.12; this machine has 3.11 only, so it is reported as skipped.

`--docs 16656,100000` runs every system at each size: the unscaled corpus is 16,656 documents; larger ones add
replicas of it (`dedup_eval.scaled_corpus`: base texts with 10% of characters substituted, planted copies made
the same way). For jingxuan the stage's own pass timings are printed too.

    .venv/bin/python bench/dedup_bench.py [--docs 16656,100000] [--systems jingxuan,datasketch-xxh,datatrove]
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
DATATROVE_PY = os.environ.get("DATATROVE_PY", "/tmp/peer-datatrove/bin/python")
THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5
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
    corpus, work, out = sys.argv[1], sys.argv[2], sys.argv[3]
    t0 = time.perf_counter()
    cfg = MinhashConfig(n_grams=5, num_buckets=9, hashes_per_bucket=13)
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
    secs = time.perf_counter() - t0
    json.dump({"drops": drops, "seconds": secs}, open(out, "w"))


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
    import concurrent.futures  # noqa: F401

    import pyarrow as pa
    import pyarrow.json
    import pyarrow.parquet
    from dedup_eval import run_shards

    import stages.dedup.minhash
    import stages.testing  # noqa: F401
    from stages.core.shards import write_shard

    pa.array(["warm-up"])  # pyarrow imports pandas on its first conversion from Python objects: an import

    t0, c0 = time.perf_counter(), cpu_seconds()
    files = sorted(Path(corpus).glob("*.jsonl"))
    table = pa.concat_tables([pyarrow.json.read_json(p) for p in files]).select(["id", "text"])
    paths = []
    for s in range(shards):  # the pipeline hands the stage Arrow shards
        lo, hi = s * table.num_rows // shards, (s + 1) * table.num_rows // shards
        paths.append(os.path.join(work, "input", f"shard-{s:05d}.arrow"))
        write_shard(paths[-1], table.slice(lo, hi - lo).combine_chunks().to_batches())
    t_ingest = time.perf_counter() - t0
    drops, report = run_shards(paths, work, 2, threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM)
    secs = time.perf_counter() - t0
    passes = {"read JSONL (pyarrow.json) + write shards": t_ingest, **report["seconds"]}
    passes["rest (pool start/stop, drops list)"] = secs - sum(passes.values())
    return {"drops": drops, "seconds": secs, "cpu": cpu_seconds() - c0, "passes": passes}


def worker_datasketch(corpus: str, work: str, fast: bool) -> dict:
    import xxhash
    from datasketch import MinHash, MinHashLSH

    t0, c0 = time.perf_counter(), cpu_seconds()
    docs = read_corpus(corpus)
    kw = {"hashfunc": xxhash.xxh32_intdigest} if fast else {}
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    drops, pos = {}, {}
    for start in range(0, len(docs), 1000):
        chunk = docs[start : start + 1000]
        shingles = []
        for d in chunk:
            t = "".join(d["text"].lower().split())
            grams = {t[i : i + NGRAM] for i in range(max(1, len(t) - NGRAM + 1))}
            shingles.append([g.encode("utf-8") for g in grams])
        for d, m in zip(chunk, MinHash.bulk(shingles, num_perm=NUM_PERM, **kw), strict=True):
            hits = lsh.query(m)
            if hits:
                drops[d["id"]] = min(hits, key=pos.__getitem__)  # the earliest kept match
            else:
                lsh.insert(d["id"], m)
                pos[d["id"]] = len(pos)
    return {"drops": drops, "seconds": time.perf_counter() - t0, "cpu": cpu_seconds() - c0}


def run_worker(cmd: list[str]) -> tuple[dict | None, int, str]:
    """Run a worker; (its JSON result, peak RSS in KB over its process tree, stderr tail)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(REPO), start_new_session=True
    )
    watchdog = threading.Timer(TIMEOUT, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    watchdog.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = cmd[-1]
    if proc.returncode != 0 or not os.path.exists(out):
        return None, usage.ru_maxrss, err[-2000:]
    with open(out) as f:
        return json.load(f), usage.ru_maxrss, ""


SYSTEMS = ("jingxuan", "datasketch", "datasketch-xxh", "datatrove")
NAMES = {
    "jingxuan": "jingxuan minhash_dedup (2 procs)",
    "datasketch": "datasketch bulk+LSH (sha1)",
    "datasketch-xxh": "datasketch bulk+LSH (xxh32)",
    "datatrove": "datatrove 0.10.1 MinHash (2 procs)",
}
COLUMNS = ["system", "seconds", "docs/s", "x fastest peer", "CPU s", "peak RSS MB", "dropped", "precision", "recall"]
COLUMNS += ["f1", "twins"]


def run_size(n_docs: int, systems: list[str], shards: int) -> tuple[list[dict], dict | None]:
    """Every system on one corpus of about `n_docs` documents: (rows, jingxuan's pass timings)."""
    from dedup_eval import scaled_corpus, score, write_jsonl

    docs, truth = scaled_corpus(n_docs)
    me = [sys.executable, str(Path(__file__).resolve())]
    rows, passes = [], None
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus")  # two files, so datatrove's 2 tasks both get work
        os.makedirs(corpus)
        half = len(docs) // 2
        write_jsonl(docs[:half], os.path.join(corpus, "part-0.jsonl"))
        write_jsonl(docs[half:], os.path.join(corpus, "part-1.jsonl"))
        size = sum(p.stat().st_size for p in Path(corpus).glob("*.jsonl"))
        print(
            f"\ncorpus: {len(docs)} documents ({size / 1e6:.1f} MB), "
            f"{len(truth)} planted pairs; threshold {THRESHOLD}, {NUM_PERM} permutations, char {NGRAM}-grams",
            flush=True,
        )
        cmds = {}
        for i, kind in enumerate(systems):
            w, r = f"{tmp}/w{i}", f"{tmp}/r{i}.json"
            if kind != "datatrove":
                cmds[kind] = [*me, "--worker", kind, corpus, str(shards), w, r]
            elif os.path.exists(DATATROVE_PY):
                script = os.path.join(tmp, "datatrove_minhash.py")
                Path(script).write_text(DATATROVE_SCRIPT)
                cmds[kind] = [DATATROVE_PY, script, corpus, w, r]
            else:
                print(
                    f"datatrove: skipped, no venv at {DATATROVE_PY} (python3 -m venv /tmp/peer-datatrove && "
                    "/tmp/peer-datatrove/bin/pip install 'datatrove[processing]' orjson)"
                )
        for kind, cmd in cmds.items():
            os.makedirs(cmd[-2], exist_ok=True)
            res, rss, err = run_worker(cmd)
            if res is None:
                print(f"{NAMES[kind]}: failed\n{err}")
                continue
            s = score(docs, truth, res["drops"])
            if kind == "jingxuan":
                passes = res["passes"]
            rows.append(
                {
                    "system": NAMES[kind],
                    "seconds": res["seconds"],
                    "docs/s": round(len(docs) / res["seconds"]),
                    "CPU s": res.get("cpu"),
                    "peak RSS MB": round(rss / 1024),
                    "dropped": s["dropped"],
                    "precision": s["precision"],
                    "recall": s["recall"],
                    "f1": s["f1"],
                    "twins": s["recall twins"],
                    "docs": len(docs),
                }
            )
            print(f"  done: {NAMES[kind]} ({res['seconds']:.2f} s)", flush=True)
    peers = [r for r in rows if not r["system"].startswith("jingxuan")]
    if peers:
        best = max(peers, key=lambda r: r["docs/s"])
        for r in rows:
            r["x fastest peer"] = r["docs/s"] / best["docs/s"]
    return rows, passes


def main() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, str(REPO))
    from dedup_eval import table

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", default="16656", help="corpus sizes, comma-separated (16656 = the unscaled corpus)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"subset of {','.join(SYSTEMS)}")
    ap.add_argument("--shards", type=int, default=4, help="input shards for jingxuan")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}")
    print(
        "text-dedup: skipped, needs Python >= 3.12 (this machine has "
        f"{sys.version_info.major}.{sys.version_info.minor})"
    )
    summary = []
    for n in [int(x) for x in args.docs.split(",")]:
        rows, passes = run_size(n, systems, args.shards)
        print()
        print(table(rows, COLUMNS))
        if passes:
            print("\njingxuan wall time by pass:")
            total = sum(passes.values())
            print(
                table(
                    [{"pass": k, "seconds": v, "share": v / total} for k, v in passes.items()],
                    ["pass", "seconds", "share"],
                )
            )
        me = next((r for r in rows if r["system"].startswith("jingxuan")), None)
        peers = [r for r in rows if r is not me]
        if me and peers:
            best = max(peers, key=lambda r: r["docs/s"])
            summary.append(
                {
                    "docs": me["docs"],
                    "jingxuan docs/s": me["docs/s"],
                    "fastest peer": best["system"],
                    "peer docs/s": best["docs/s"],
                    "x fastest peer": me["docs/s"] / best["docs/s"],
                    "x by CPU s": best["CPU s"] / me["CPU s"] if me["CPU s"] and best["CPU s"] else None,
                    "jingxuan f1": me["f1"],
                    "best peer f1": max(r["f1"] for r in peers),
                }
            )
    if summary:
        print("\nsummary:")
        print(table(summary, list(summary[0])))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(REPO / "bench"))
        sys.path.insert(0, str(REPO))
        kind, corpus, shards, work, out = sys.argv[2:7]
        os.makedirs(work, exist_ok=True)
        if kind == "jingxuan":
            result = worker_jingxuan(corpus, work, int(shards))
        else:
            result = worker_datasketch(corpus, work, fast=kind == "datasketch-xxh")
        with open(out, "w") as f:
            json.dump(result, f)
    else:
        main()
