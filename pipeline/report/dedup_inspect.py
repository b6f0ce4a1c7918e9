"""`dedup_inspect(run_dir)`: the largest near-duplicate clusters of a run and a sample of (kept, dropped) pairs
with their estimated (MinHash) and true (shingle-set) Jaccard, so a user can judge the threshold.

Reads what `minhash_dedup` leaves in its work dir (`inspect.json` and the cluster files it lists); texts come
from the stage's output shards or the run's `data/`, the dropped ones from the rejected ledger, and those of
documents kept by an earlier run from that run's directory (recorded in the index).
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stages.chinese import fold
from stages.core.atomic import read_json
from stages.core.shards import read_shard
from stages.dedup.common import read_table


def shingle_set(text: str, ngram: int = 5, tokenizer: str = "char") -> set:
    """The exact shingle set MinHash estimates: n-grams of the folded text (the whole text when shorter)."""
    folded = fold(pa.array([text])).to_pylist()[0]
    if tokenizer == "jieba":
        import rjieba

        units = rjieba.cut(folded)
    else:
        units = list(folded)
    if not units:
        return set()
    if len(units) < ngram:
        return {tuple(units)}
    return {tuple(units[i : i + ngram]) for i in range(len(units) - ngram + 1)}


def true_jaccard(a: str, b: str, ngram: int = 5, tokenizer: str = "char") -> float:
    sa, sb = shingle_set(a, ngram, tokenizer), shingle_set(b, ngram, tokenizer)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _texts(ids: set[str], files: list[str]) -> dict[str, str]:
    """Texts of `ids` found in Arrow shards or Parquet ledgers (scanning only `id` and `text`)."""
    found: dict[str, str] = {}
    want = pa.array(sorted(ids), pa.string())
    for path in files:
        if len(found) == len(ids) or not os.path.exists(path):
            continue
        batches = (
            pq.read_table(path, columns=["id", "text"]).to_batches()
            if path.endswith(".parquet")
            else (read_shard(path, ["id", "text"]))
        )
        for b in batches:
            hit = b.filter(pc.is_in(b.column("id"), value_set=want))
            for i, t in zip(hit.column("id").to_pylist(), hit.column("text").to_pylist(), strict=True):
                if t is not None:
                    found.setdefault(i, t)
    return found


def _run_files(run_dir: str) -> list[str]:
    files = sorted(glob.glob(os.path.join(run_dir, "data", "*.arrow")))
    for info in sorted(glob.glob(os.path.join(run_dir, "work", "*", "inspect.json"))):
        files += read_json(info).get("shards", [])
    return files


def _clip(text: str | None, n: int = 24) -> str:
    if text is None:
        return "(text not kept)"
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def dedup_inspect(run_dir: str, top: int = 10, pairs: int = 20) -> str:
    infos = sorted(glob.glob(os.path.join(run_dir, "work", "*", "inspect.json")))
    if not infos:
        return f"{run_dir}: no minhash_dedup results (looked for work/*/inspect.json)"
    out: list[str] = []
    for info_path in infos:
        info = read_json(info_path)
        files = info["clusters"] if isinstance(info["clusters"], list) else [info["clusters"]]
        t = pa.concat_tables([read_table(f) for f in files]) if files else pa.table({"id": pa.array([], pa.string())})
        stage_key = os.path.basename(os.path.dirname(info_path))
        out.append(f"== {stage_key}: threshold {info['threshold']}, {info['tokenizer']} {info['ngram']}-grams")
        if t.num_rows == 0:
            out.append("no near-duplicates found")
            continue
        cluster = np.array(t.column("cluster").to_pylist(), dtype=object)
        ids = np.array(t.column("id").to_pylist(), dtype=object)
        dropped = t.column("dropped").to_numpy(zero_copy_only=False)
        jac = t.column("jaccard").to_numpy()
        names, inverse, sizes = np.unique(cluster, return_inverse=True, return_counts=True)
        out.append(f"{len(names)} clusters, {len(ids)} documents in them, {int(dropped.sum())} dropped")
        out.append("")
        out.append(f"largest clusters (top {top}):")
        out.append(f"  {'size':>5} {'dropped':>7} {'min est J':>9}  kept id / members")
        for c in np.lexsort([names, -sizes])[:top]:
            sel = inverse == c
            members = [m for m in ids[sel] if m != names[c]][:5]
            more = " …" if sel.sum() - 1 > 5 else ""
            low = jac[sel & dropped].min() if (sel & dropped).any() else 1.0
            out.append(
                f"  {sizes[c]:>5} {int(dropped[sel].sum()):>7} {low:>9.3f}"
                f"  {names[c]} <- {', '.join(map(str, members))}{more}"
            )
        # pairs spread over the estimated-Jaccard range, lowest first: those near the threshold matter most
        d_idx = np.flatnonzero(dropped)
        d_idx = d_idx[np.lexsort([ids[d_idx].astype(str), jac[d_idx]])]
        pick = d_idx[np.unique(np.linspace(0, len(d_idx) - 1, min(pairs, len(d_idx))).round().astype(int))]
        want = set(ids[pick]) | set(cluster[pick])
        files = list(info.get("rejected", [])) + sorted(glob.glob(os.path.join(run_dir, "rejected", "*.parquet")))
        files += _run_files(run_dir)
        for earlier in info.get("index_runs", []):
            files += _run_files(earlier)
        texts = _texts(want, files)
        out.append("")
        out.append(f"sample of (kept, dropped) pairs, {len(pick)} of {len(d_idx)}, by estimated Jaccard:")
        out.append(f"  {'est J':>6} {'true J':>6}  kept id | dropped id | kept text | dropped text")
        for i in pick:
            a, b = texts.get(cluster[i]), texts.get(ids[i])
            tj = f"{true_jaccard(a, b, info['ngram'], info['tokenizer']):.3f}" if a and b else "n/a"
            out.append(f"  {jac[i]:>6.3f} {tj:>6}  {cluster[i]} | {ids[i]} | {_clip(a)} | {_clip(b)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
