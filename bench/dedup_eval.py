"""Precision and recall of `minhash_dedup` on a corpus with planted near-duplicates.

Corpus: every document of ../shared/corpora/docs/ (read at run time, never copied), plus for each edit rate
(1%, 3%, 5%, 10% of the characters: random substitutions, insertions and deletions) one edited copy of 300
different documents of >= 100 characters, a copy with its paragraphs (or sentences) shuffled for 300 more, and
both sides of the Simplified/Traditional twins of neardup_cmmlu_cross_script_pairs.jsonl. Documents are
shuffled with a fixed seed.

A drop (dropped -> matched document) is correct when both come from the same planted family, or when they are
natural near-copies already in the shared corpus: true (folded character 5-gram) Jaccard >= 0.5. Recall per
category: planted pairs whose two documents end in the same cluster (one kept, the other dropped as its
duplicate, directly or through the cluster).

    .venv/bin/python bench/dedup_eval.py [--thresholds 0.8,0.7,0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared"))
RATES = (0.01, 0.03, 0.05, 0.10)
PER_CATEGORY = 300
NATURAL_MIN_JACCARD = 0.5
REPLICA_RATE = 0.10


def _edit(text: str, rate: float, rng: random.Random, alphabet: str) -> str:
    chars = list(text)
    for _ in range(max(1, round(rate * len(text)))):
        op = rng.choice("sid")
        i = rng.randrange(len(chars))
        if op == "s":
            chars[i] = rng.choice(alphabet)
        elif op == "i":
            chars.insert(i, rng.choice(alphabet))
        elif len(chars) > 1:
            del chars[i]
    return "".join(chars)


def _shuffle(text: str, rng: random.Random) -> str:
    parts = text.split("\n") if text.count("\n") >= 2 else [s + "。" for s in text.split("。") if s]
    if len(parts) < 3:
        mid = len(text) // 2
        return text[mid:] + text[:mid]
    rng.shuffle(parts)
    return ("\n" if "\n" in text else "").join(parts)


def _base_docs() -> list[dict]:
    base = []
    for path in sorted((SHARED / "corpora" / "docs").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("text"):
                base.append({"id": row["id"], "text": row["text"]})
    return base


def _substitute(texts: list[str], rate: float, rng: random.Random, alphabet: str) -> list[str]:
    """The same random substitutions (positions and characters) applied to texts of equal length."""
    chars = [list(t) for t in texts]
    n = len(chars[0])
    for _ in range(round(rate * n)):
        i, c = rng.randrange(n), rng.choice(alphabet)
        for cs in chars:
            cs[i] = c
    return ["".join(cs) for cs in chars]


def build_corpus(seed: int = 0, per_category: int = PER_CATEGORY, replica: int = 0) -> tuple[list[dict], dict]:
    """Documents [{id, text}] and truth {id: (family, category)} for planted copies and their originals.

    `replica` > 0 makes another corpus of the same make-up for scaling: every base text (and both sides of every
    twin pair of equal length) first gets REPLICA_RATE of its characters substituted, so replicas are not
    near-duplicates of each other (true Jaccard ~0.4), then copies are planted as in replica 0."""
    rng = random.Random(seed + 1_000_003 * replica)
    base = _base_docs()
    alphabet = "".join(sorted({c for d in base[::50] for c in d["text"] if "\u4e00" <= c <= "\u9fff"}))
    tag = f"~r{replica}" if replica else ""
    if replica:
        base = [{"id": d["id"] + tag, "text": _substitute([d["text"]], REPLICA_RATE, rng, alphabet)[0]} for d in base]
    long_docs = [d for d in base if len(d["text"]) >= 100]
    picks = rng.sample(long_docs, per_category * (len(RATES) + 1))
    docs, truth = list(base), {}
    cats = [f"edit {r:.0%}" for r in RATES] + ["shuffle"]
    for c, cat in enumerate(cats):
        for j, orig in enumerate(picks[c * per_category : (c + 1) * per_category]):
            text = _edit(orig["text"], RATES[c], rng, alphabet) if c < len(RATES) else _shuffle(orig["text"], rng)
            copy_id = f"planted-{c}-{j}{tag}"
            docs.append({"id": copy_id, "text": text})
            truth[copy_id] = (orig["id"], cat)
    twins = SHARED / "corpora" / "neardup" / "neardup_cmmlu_cross_script_pairs.jsonl"
    for j, line in enumerate(twins.read_text(encoding="utf-8").strip().split("\n")):
        p = json.loads(line)
        ta, tb = p["text_a"], p["text_b"]
        if replica:
            if len(ta) != len(tb):
                continue
            ta, tb = _substitute([ta, tb], REPLICA_RATE, rng, alphabet)
        a, b = f"twin-{j}-a{tag}", f"twin-{j}-b{tag}"
        docs += [{"id": a, "text": ta}, {"id": b, "text": tb}]
        truth[b] = (a, "twins")
    rng.shuffle(docs)
    return docs, truth


def scaled_corpus(n_docs: int, seed: int = 0) -> tuple[list[dict], dict]:
    """`build_corpus` replicas (replica 0 is the unscaled corpus) until about `n_docs` documents, shuffled."""
    docs, truth = build_corpus(seed)
    replicas = max(1, round(n_docs / len(docs)))
    for r in range(1, replicas):
        d, t = build_corpus(seed, replica=r)
        docs += d
        truth.update(t)
    if replicas > 1:
        random.Random(seed).shuffle(docs)
    return docs, truth


def write_jsonl(docs: list[dict], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def score(docs: list[dict], truth: dict, drops: dict[str, str], ngram: int = 5) -> dict:
    """Precision/recall of `drops` {dropped id: matched id} against the planted truth."""
    from pipeline.report.dedup_inspect import true_jaccard

    text = {d["id"]: d["text"] for d in docs}
    family = {i: orig for i, (orig, _) in truth.items()}

    def fam(i: str) -> str:
        return family.get(i, i)

    def kept(i: str) -> str:
        seen = set()
        while i in drops and i not in seen:
            seen.add(i)
            i = drops[i]
        return i

    tp = natural = 0
    for d, k in drops.items():
        if fam(d) == fam(k):
            tp += 1
        elif true_jaccard(text[d], text[k], ngram) >= NATURAL_MIN_JACCARD:
            tp += 1
            natural += 1
    out = {"dropped": len(drops), "precision": tp / len(drops) if drops else 1.0, "natural_drops": natural}
    found_all = total_all = 0
    for cat in sorted({c for _, c in truth.values()}):
        pairs = [(i, o) for i, (o, c) in truth.items() if c == cat]
        found = sum(kept(i) == kept(o) for i, o in pairs)
        out[f"recall {cat}"] = found / len(pairs)
        out[f"true J {cat}"] = sum(true_jaccard(text[i], text[o], ngram) for i, o in pairs[:100]) / min(100, len(pairs))
        found_all += found
        total_all += len(pairs)
    out["recall"] = found_all / total_all
    p, r = out["precision"], out["recall"]
    out["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    return out


def write_shards(ids: list[str], texts: list[str], directory: str, n_shards: int = 4) -> list[str]:
    """`n_shards` input shards (Arrow IPC stream) of consecutive documents, as the pipeline hands them over."""
    import pyarrow as pa

    from stages.core.shards import write_shard

    paths = []
    for s in range(n_shards):
        lo, hi = s * len(ids) // n_shards, (s + 1) * len(ids) // n_shards
        batch = pa.RecordBatch.from_pydict({"id": pa.array(ids[lo:hi], pa.string()), "text": pa.array(texts[lo:hi])})
        path = os.path.join(directory, "input", f"shard-{s:05d}.arrow")
        write_shard(path, [batch])
        paths.append(path)
    return paths


def run_shards(paths: list[str], workdir: str, workers: int = 2, **params) -> tuple[dict[str, str], dict]:
    """Run minhash_dedup over shard files on a process pool: (drops {dropped id: matched id}, stage report)."""
    from concurrent.futures import ProcessPoolExecutor

    import pyarrow.parquet as pq

    from stages.dedup.minhash import MinHashDedup
    from stages.testing import local_context

    with ProcessPoolExecutor(workers) as pool:
        ctx = local_context(workdir, "minhash_dedup", map=lambda fn, items: list(pool.map(fn, items)))
        result = MinHashDedup(incremental=False, **params).run(paths, ctx)
    drops = {}
    for p in result.rejected:
        t = pq.read_table(p, columns=["id", "detail"]).to_pydict()
        drops.update(zip(t["id"], t["detail"], strict=True))
    return drops, result.report


def run_jingxuan(docs: list[dict], workdir: str, workers: int = 2, **params) -> tuple[dict[str, str], float]:
    """Run minhash_dedup over `docs` in 4 shards on a process pool; returns (drops, seconds)."""
    t0 = time.perf_counter()
    paths = write_shards([d["id"] for d in docs], [d["text"] for d in docs], workdir)
    drops, _ = run_shards(paths, workdir, workers, **params)
    return drops, time.perf_counter() - t0


def table(rows: list[dict], cols: list[str]) -> str:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(_fmt(r.get(c)).rjust(w) for c, w in zip(cols, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "" if v is None else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--thresholds", default="0.8,0.7,0.5")
    ap.add_argument("--per-category", type=int, default=PER_CATEGORY)
    args = ap.parse_args()
    docs, truth = build_corpus(per_category=args.per_category)
    print(f"corpus: {len(docs)} documents, {len(truth)} planted pairs (incl. twins)")
    rows = []
    for th in [float(x) for x in args.thresholds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            drops, secs = run_jingxuan(docs, tmp, threshold=th)
        res = score(docs, truth, drops)
        rows.append({"threshold": th, "docs/s": round(len(docs) / secs), **res})
    cats = [f"edit {r:.0%}" for r in RATES] + ["shuffle", "twins"]
    print("\nrecall per category (mean true Jaccard of the planted pairs in brackets):")
    j = {c: rows[0][f"true J {c}"] for c in cats}
    print(table(rows, ["threshold", "docs/s", "dropped", "natural_drops", "precision", "recall", "f1"]))
    print()
    print(
        table(
            [{"threshold": r["threshold"], **{f"{c} [J {j[c]:.2f}]": r[f"recall {c}"] for c in cats}} for r in rows],
            ["threshold", *[f"{c} [J {j[c]:.2f}]" for c in cats]],
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
