"""MinHash LSH near-duplicate removal over the script-folded text, partitioned by shard and by band.

Passes (each `ctx.map` over small items; no process holds the corpus's text, its band hashes or all its links):
1. per shard: fold, shingle, signatures (numpy, datasketch `affine32` conventions) and one 64-bit hash per band,
   written as Arrow (`bands`: per band the hashes sorted, `h<b>`, with their rows, `r<b>`), `.npy` (signatures)
   and Arrow (`meta`: id, length, quality); the fold is ~60% of this pass's CPU;
2. per (band, hash range): the slice of that band's sorted hashes in the range, from every shard (and the
   persistent index): a binary search per source, so a task reads only its range. A plain sort finds the
   repeated hashes and only their members are ordered into buckets; each member of a bucket is linked to the
   bucket's first (not all pairs); a link needs the estimated Jaccard of the full signatures >= threshold,
   checked on the real shingle sets near it with `verify: exact` (`stages.dedup.verify`; members that fail are
   re-linked among themselves, up to 4 rounds);
3. connected components of the links: in one task when they fit the budget (`unionfind.components`), else
   partitioned large-star/small-star rounds (`stars`); then per root partition the keep policy per cluster;
4. per shard: rewrite without the dropped rows; kept rows get `_dup_cluster`; kept documents join the index. Every
   output shard is rewritten, even one that loses nothing, so that all carry `_dup_cluster` (the schema of the
   stage's output does not depend on where duplicates fell); a shard without drops writes no ledger file.

`_dup_cluster` is the id of the kept document of the row's cluster (the row's own id when it is the kept one),
null for a document without near-duplicates. A dropped row's ledger detail is that same id — a document of an
earlier run when it matched the index.

Memory: the hash ranges of pass 2 and the node partitions of pass 3 are counted from the data and the memory
budget (`stages.core.partitions`: ~64 bytes per band row, ~400 per linked document), so a task stays within
`execution.memory_budget_mb` (or the stage's `memory_budget_mb`) at any corpus size; pass 1 and 4 hold one
shard. The output does not depend on the partition counts. Disk: ~0.7 KB per document of work files with 128
permutations (signatures are 512 B of it).
"""

from __future__ import annotations

import itertools
import mmap
import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from stages.base import GlobalContext, GlobalResult, GlobalStage
from stages.chinese import fold
from stages.core.atomic import write_json
from stages.core.partitions import partitions, range_bounds
from stages.core.shards import read_shard, shard_bytes
from stages.core.shuffle import gather, pieces, write_partitioned
from stages.core.stats import StageStats
from stages.dedup.common import (
    Keep,
    ShardRewrite,
    doc_columns,
    quality_array,
    rank_order,
    read_table,
    rewrite_shard,
    save_npy,
    write_table,
)
from stages.dedup.index import DedupIndex
from stages.dedup.lsh import optimal_param
from stages.dedup.signatures import HASH_SCHEME, band_hashes, signatures
from stages.dedup.stars import BYTES_PER_EDGE, star_components
from stages.dedup.unionfind import components
from stages.dedup.verify import decide, shingle_sets, similarity, star, verified_links

REASON = "near_duplicate"
_EDGE_CHUNK = 8192  # pairs whose signatures are compared at once: ~3 x 8192 x 2 x 512 B
BAND_BYTES_PER_ROW = 64  # pass 2: hash, key, sorted copy, bucket positions, masks (measured by bench/scale.py)
CLUSTER_BYTES_PER_NODE = 400  # pass 3 keep policy: key, root, length, quality, id and run objects, sort orders
# (a linked document's share of the star rounds, 2 directed entries x stars.BYTES_PER_EDGE, is less)


# -- pass items ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureItem:
    shard: str
    params: dict[str, Any]  # the LSH parameters (`MinHashDedup.lsh_params`)
    bands: str  # output: sorted band hashes
    sig: str  # output: signatures (.npy)
    meta: str  # output: id, length, quality


@dataclass(frozen=True)
class BandItem:
    band: int
    part: int  # the hash range of this task ...
    parts: int  # ... of this many
    sources: list[dict[str, Any]]  # {bands, sig, meta, rows} of index parts, then of this run's shards (+ shard)
    n_index: int  # documents from earlier runs (the first keys)
    verify: str  # exact, signature, none
    threshold: float
    num_perm: int
    out: str
    ngram: int = 5
    tokenizer: str = "char"
    containment: float | None = None


@dataclass(frozen=True)
class ClusterItem:
    sources: list[dict[str, Any]]
    n_index: int
    n_index_sources: int  # index parts among `sources` (they come first)
    keep: Keep
    use_quality: bool
    num_perm: int
    run: str  # this run's name, for documents that are not from the index
    out: str
    pieces: list[tuple[str, list[int]]] = ()  # star entries of this root partition (partitioned components)
    nodes: np.ndarray | None = None  # or (node, root) of every component (one partition)
    roots: np.ndarray | None = None


@dataclass(frozen=True)
class RewriteItem(ShardRewrite):
    actions: list[tuple[str, list[int]]]  # this shard's cluster rows in the cluster files (empty: no duplicates)
    bands: str
    sig: str
    meta: str
    run: str
    index_part: str | None  # where kept documents join this run's index segment (None: not incremental)


# -- pass 1: signatures and band hashes per shard -------------------------------------------------------------


def _signature_pass(item: SignatureItem) -> dict:
    p = item.params
    cols, has_quality = doc_columns(item.shard)
    sigs, bands, metas, has_all = [], [], [], []
    empty = too_short = 0
    for batch in read_shard(item.shard, cols):
        folded = fold(batch.column("text")).to_pylist()
        sig, has = signatures(folded, p["num_perm"], p["ngram"], p["seed"], p["tokenizer"])
        sigs.append(sig)
        empty += int((~has).sum())
        short = has & (np.fromiter(map(len, folded), np.int64, len(folded)) < p["min_chars"])
        too_short += int(short.sum())
        has &= ~short
        bands.append(band_hashes(sig, p["bands"], p["rows"]))
        has_all.append(has)
        metas.append(
            pa.table(
                {
                    "id": batch.column("id"),
                    "length": pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64),
                    "quality": quality_array(batch, has_quality),
                }
            )
        )
    num_perm = p["num_perm"]
    sig = np.concatenate(sigs) if sigs else np.zeros((0, num_perm), np.uint32)
    has = np.concatenate(has_all) if has_all else np.zeros(0, bool)
    bh = np.concatenate(bands) if bands else np.zeros((0, p["bands"]), np.uint64)
    write_sorted_bands(item.bands, bh, np.flatnonzero(has))
    meta_empty = {"id": pa.array([], pa.string()), "length": np.zeros(0, np.int64), "quality": np.zeros(0)}
    write_table(item.meta, pa.concat_tables(metas) if metas else pa.table(meta_empty))
    save_npy(item.sig, sig)
    return {"rows": len(sig), "has_quality": has_quality, "empty": empty, "too_short": too_short}


def write_sorted_bands(path: str, bh: np.ndarray, rows: np.ndarray) -> None:
    """Per band b: `h<b>` the hashes of `rows` (documents with shingles) sorted, `r<b>` their row numbers (rows
    ascending among equal hashes). One record batch, so pass 2 binary-searches the memory-mapped columns."""
    cols = {}
    for b in range(bh.shape[1]):
        h = bh[rows, b]
        order = np.argsort(h, kind="stable")
        cols[f"h{b}"] = h[order]
        cols[f"r{b}"] = rows[order].astype(np.int64)
    write_table(path, pa.table(cols))


def band_slice(path: str, band: int, part: int, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, rows) of one source's band `band` in hash range `part` of `parts`, read by binary search over the
    memory-mapped sorted column (only the slice is copied). Index parts written before the sorted layout (`b<b>`
    and `has` columns) are filtered instead."""
    lo, hi = range_bounds(part, parts)
    with pa.memory_map(path) as src:
        reader = pa.ipc.open_file(src)
        if f"h{band}" in reader.schema.names:
            if reader.num_record_batches == 0:
                return np.zeros(0, np.uint64), np.zeros(0, np.int64)
            batch = reader.get_batch(0) if reader.num_record_batches == 1 else reader.read_all().combine_chunks()
            h = batch.column(f"h{band}").to_numpy()
            i = int(np.searchsorted(h, np.uint64(lo), "left"))
            j = len(h) if hi is None else int(np.searchsorted(h, np.uint64(hi), "left"))
            return h[i:j].copy(), batch.column(f"r{band}").to_numpy()[i:j].copy()
    t = read_table(path)
    idx = np.flatnonzero(t.column("has").to_numpy(zero_copy_only=False))
    h = t.column(f"b{band}").to_numpy()[idx]
    sel = (h >= np.uint64(lo)) & ((h < np.uint64(hi)) if hi is not None else True)
    return h[sel], idx[sel].astype(np.int64)


# -- signatures of selected documents ------------------------------------------------------------------------


class Sources:
    """Index parts then input shards, numbered consecutively: a document's key is its global position, so key
    order is "first seen" order and every index document precedes every new one."""

    def __init__(self, sources: list[dict]):
        self.sources = sources
        rows = np.array([s["rows"] for s in sources], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self._maps: dict[int, tuple[mmap.mmap | None, np.ndarray]] = {}

    def _signature_file(self, s: int) -> np.ndarray:
        """Source s's signatures, mapped once per task: a task of a partitioned pass reads every source once
        per chunk of pairs, and mapping the file each time cost more than the pass's own work at 5M documents."""
        if s not in self._maps:
            layout = np.load(self.sources[s]["sig"], mmap_mode="r")  # parses the .npy header
            offset, shape, dtype = layout.offset, layout.shape, layout.dtype
            del layout
            if not shape[0]:
                self._maps[s] = (None, np.zeros(shape, dtype))
            else:
                with open(self.sources[s]["sig"], "rb") as f:
                    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                count = int(np.prod(shape))
                self._maps[s] = (m, np.frombuffer(m, dtype, count, offset).reshape(shape))
        return self._maps[s][1]

    def _unmap_pages(self, s: int) -> None:
        """Drop the pages a read touched from this process (they stay in the page cache), so the kept maps do
        not add the signature files to the task's RSS."""
        m = self._maps[s][0]
        if m is not None:
            m.madvise(mmap.MADV_DONTNEED)

    def split(self, keys: np.ndarray):
        """(source number, slice of `keys`, rows) for each source holding some of the sorted `keys`."""
        src = np.searchsorted(self.offsets, keys, side="right") - 1
        cuts = np.r_[0, np.flatnonzero(src[1:] != src[:-1]) + 1, len(keys)] if len(keys) else []
        for a, b in itertools.pairwise(cuts):
            sel = slice(int(a), int(b))
            yield int(src[a]), sel, keys[sel] - self.offsets[src[a]]

    def signatures(self, keys: np.ndarray, num_perm: int) -> np.ndarray:
        """Signatures of sorted unique keys, read from memory-mapped `.npy` files."""
        out = np.empty((len(keys), num_perm), np.uint32)
        for s, sel, rows in self.split(keys):
            out[sel] = self._signature_file(s)[rows]
            self._unmap_pages(s)
        return out

    def columns(self, keys: np.ndarray, defaults: dict[str, Any]) -> dict[str, np.ndarray]:
        """Meta columns (name -> default where a source lacks it) of sorted unique keys, each source read once."""
        out = {
            name: np.full(len(keys), d, dtype=object if isinstance(d, str | type(None)) else None)
            for name, d in defaults.items()
        }
        for s, sel, rows in self.split(keys):
            t = read_table(self.sources[s]["meta"])
            take = pa.array(rows)
            for name in defaults:
                if name in t.column_names:
                    out[name][sel] = t.column(name).take(take).to_numpy(zero_copy_only=False)
        return out

    def folded_texts(self, keys: np.ndarray) -> list[str | None]:
        """Script-folded texts of sorted unique keys; None for documents of the index (no text kept)."""
        out: list[str | None] = [None] * len(keys)
        for s, sel, rows in self.split(keys):
            shard = self.sources[s].get("shard")
            if shard is None:
                continue
            text = pa.Table.from_batches(list(read_shard(shard, ["text"]))).column("text").take(pa.array(rows))
            for i, t in zip(range(sel.start, sel.stop), fold(text).to_pylist(), strict=True):
                out[i] = t
        return out

    def true_similarity(self, u: np.ndarray, v: np.ndarray, ngram: int, tokenizer: str):
        """(known, Jaccard, containment) of the real shingle sets of each pair; known is False where a text is
        not at hand (a document of an earlier run)."""
        keys = np.unique(np.concatenate([u, v]))
        texts = self.folded_texts(keys)
        have = np.array([t is not None for t in texts], bool)
        sets = shingle_sets([t or "" for t in texts], ngram, tokenizer)
        iu, iv = np.searchsorted(keys, u), np.searchsorted(keys, v)
        jac, con = similarity([sets[i] for i in iu], [sets[i] for i in iv])
        return have[iu] & have[iv], jac, con

    def jaccard(self, u: np.ndarray, v: np.ndarray, num_perm: int) -> np.ndarray:
        """Estimated Jaccard (equal signature values / num_perm) of each pair, in chunks."""
        out = np.empty(len(u), np.float32)
        for c in range(0, len(u), _EDGE_CHUNK):
            cu, cv = u[c : c + _EDGE_CHUNK], v[c : c + _EDGE_CHUNK]
            keys = np.unique(np.concatenate([cu, cv]))
            sig = self.signatures(keys, num_perm)
            out[c : c + len(cu)] = (sig[np.searchsorted(keys, cu)] == sig[np.searchsorted(keys, cv)]).mean(axis=1)
        return out


# -- pass 2: candidate links per band ------------------------------------------------------------------------


def _buckets(h: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members of buckets (equal band hash `h`) with two or more members: (keys, bucket number), by bucket and
    then by key. A plain sort (SIMD, ~20x faster than a stable argsort) finds the hash values that repeat; only
    their members are sorted."""
    hs = np.sort(h)
    rep = np.unique(hs[1:][hs[1:] == hs[:-1]])
    if not len(rep):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pos = np.minimum(np.searchsorted(rep, h), len(rep) - 1)
    sel = np.flatnonzero(rep[pos] == h)
    order = np.lexsort((k[sel], pos[sel]))  # keys ascend within a bucket
    return k[sel][order], pos[sel][order]


def _band_pass(item: BandItem) -> dict:
    band, n_index = item.band, item.n_index
    sources = Sources(item.sources)
    hs, ks = [], []
    for s, src in enumerate(item.sources):
        h, rows = band_slice(src["bands"], band, item.part, item.parts)
        hs.append(h)
        ks.append(rows + sources.offsets[s])
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    k = np.concatenate(ks) if ks else np.zeros(0, np.int64)
    del hs, ks
    k, group = _buckets(h, k)
    del h
    u, v, g = star(k, group)
    new = v >= n_index  # links between two index documents were settled by earlier runs
    u, v, g = u[new], v[new], g[new]
    candidates = len(u)
    checked = [0]

    def check(cu: np.ndarray, cv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est = sources.jaccard(cu, cv, item.num_perm)
        if item.verify != "exact":
            return decide(est, item.threshold, item.num_perm, None)

        def true_sim(sel: np.ndarray):
            checked[0] += len(sel)
            return sources.true_similarity(cu[sel], cv[sel], item.ngram, item.tokenizer)

        return decide(est, item.threshold, item.num_perm, true_sim, item.containment)

    if item.verify == "none":
        eu, ev, ej = u, v, np.full(len(u), np.nan, np.float32)
    else:
        eu, ev, ej = verified_links(u, v, g, check)
    write_table(item.out, pa.table({"u": eu, "v": ev, "jaccard": ej.astype(np.float32)}))
    return {"candidates": candidates, "links": len(eu), "checked_exactly": checked[0]}


def link_partitions(n_links: int, n_docs: int, budget_mb: float) -> int:
    """Node partitions of the connected components: a star-round task holds both directed entries of its links
    (duplicates across bands included); the cluster pass holds its nodes, at most 2 per link and one per document."""
    return max(
        partitions(2 * n_links, BYTES_PER_EDGE, budget_mb),
        partitions(min(2 * n_links, n_docs), CLUSTER_BYTES_PER_NODE, budget_mb),
    )


# -- pass 3: clusters per root partition ---------------------------------------------------------------------

CLUSTER_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("id", pa.string()),
        ("key", pa.int64()),
        ("kept", pa.bool_()),
        ("dropped", pa.bool_()),
        ("from_index", pa.bool_()),
        ("jaccard", pa.float32()),
        ("run", pa.string()),
        ("row", pa.int64()),
    ]
)


def _cluster_pass(item: ClusterItem) -> dict:
    """The clusters whose roots fall in one partition: the kept document of each by the keep policy (an index
    document, from an earlier run, always wins), written grouped by shard for pass 4."""
    if item.nodes is not None:  # one partition: (node, root) from `components`
        nodes, roots = item.nodes, item.roots
    else:  # star entries (root, node) with root < node under the root's partition
        t = gather(item.pieces)
        a = t.column("a").to_numpy() if t.num_rows else np.zeros(0, np.int64)
        b = t.column("b").to_numpy() if t.num_rows else np.zeros(0, np.int64)
        star = a < b
        roots = np.unique(a[star])
        nodes = np.r_[b[star], roots]
        roots = np.r_[a[star], roots]
        order = np.argsort(nodes, kind="stable")
        nodes, roots = nodes[order], roots[order]
    sources = Sources(item.sources)
    c = cluster_rows(nodes, roots, sources, item)
    n_index, n_src = item.n_index, item.n_index_sources
    shard = np.searchsorted(sources.offsets, c["key"], side="right") - 1 - n_src  # < 0: an index document
    run = np.where(c["run"] == None, item.run, c["run"])  # noqa: E711
    table = pa.table(
        {
            "cluster": pa.array(c["cluster"], pa.string()),
            "id": pa.array(c["id"], pa.string()),
            "key": c["key"],
            "kept": ~c["dropped"] & (c["key"] == c["kept_key"]),
            "dropped": c["dropped"],
            "from_index": c["key"] < n_index,
            "jaccard": c["jaccard"].astype(np.float32),
            "run": pa.array(run, pa.string()),
            "row": c["key"] - sources.offsets[np.maximum(shard + n_src, 0)],
        },
        schema=CLUSTER_SCHEMA,
    )
    index = write_partitioned(item.out, table, np.maximum(shard, -1))
    return {
        "file": item.out,
        "index": index,
        "clusters": len(np.unique(roots)),
        "matching_index": int((c["dropped"] & (c["kept_key"] < n_index)).sum()),
    }


def cluster_rows(nodes: np.ndarray, roots: np.ndarray, sources: Sources, item: ClusterItem) -> dict:
    """Kept document per cluster by the keep policy; `nodes` sorted. An index document always wins."""
    n = len(nodes)
    if n == 0:
        z = np.zeros(0, np.int64)
        return {
            "key": z,
            "kept_key": z,
            "dropped": np.zeros(0, bool),
            "cluster": np.zeros(0, object),
            "id": np.zeros(0, object),
            "jaccard": np.zeros(0, np.float32),
            "run": np.zeros(0, object),
        }
    meta = sources.columns(nodes, {"length": 0, "quality": -np.inf, "id": None, "run": None})
    length, quality = meta["length"].astype(np.float64), meta["quality"].astype(np.float64)
    old = nodes < item.n_index
    length[old], quality[old] = np.inf, np.inf  # earlier runs' documents are already published: keep them
    order = np.lexsort([*rank_order(nodes, length, quality, item.keep, item.use_quality), roots])
    r = roots[order]
    start = np.r_[True, r[1:] != r[:-1]]
    kept_sorted = nodes[order][np.maximum.accumulate(np.where(start, np.arange(n), 0))]
    kept = np.empty(n, np.int64)
    kept[order] = kept_sorted
    ids = meta["id"]
    return {
        "key": nodes,
        "kept_key": kept,
        "dropped": (nodes != kept) & ~old,
        "cluster": ids[np.searchsorted(nodes, kept)],
        "id": ids,
        "jaccard": sources.jaccard(nodes, kept, item.num_perm),
        "run": meta["run"],
    }


# -- pass 4: rewrite per shard, add kept documents to the index ---------------------------------------------------


def _rewrite_pass(item: RewriteItem) -> dict:
    t = gather(item.actions, CLUSTER_SCHEMA)
    o = np.argsort(t.column("row").to_numpy(), kind="stable")
    rows = t.column("row").to_numpy()[o]
    drop = t.column("dropped").to_numpy(zero_copy_only=False)[o]
    cluster = np.array(t.column("cluster").take(pa.array(o)).to_pylist(), dtype=object)
    stats = rewrite_shard(
        item.shard,
        item.out,
        item.rejected,
        item.stage,
        REASON,
        rows[drop],
        list(cluster[drop]),
        item.keep_text,
        cluster_rows=rows[~drop],
        cluster_ids=list(cluster[~drop]),
        rows=item.rows,
    )
    part = item.index_part
    if part:
        keep = np.ones(item.rows, bool)
        keep[rows[drop]] = False
        meta = read_table(item.meta, ["id"])
        with pa.memory_map(item.bands) as src:
            bands = pa.ipc.open_file(src).read_all()
            has = np.zeros(item.rows, bool)
            if bands.num_rows:
                has[bands.column("r0").to_numpy()] = True
            idx = np.flatnonzero(keep & has)
            new_row = np.cumsum(keep & has) - 1  # a kept row's number in the index part
            cols = {}
            for b in range(bands.num_columns // 2):
                h, r = bands.column(f"h{b}").to_numpy(), bands.column(f"r{b}").to_numpy()
                sel = keep[r]
                cols[f"h{b}"], cols[f"r{b}"] = h[sel], new_row[r[sel]]
        write_table(part + ".bands.arrow", pa.table(cols))
        save_npy(part + ".sig.npy", np.load(item.sig, mmap_mode="r")[idx])
        ids = meta.column("id").take(pa.array(idx))
        write_table(part + ".docs.arrow", pa.table({"id": ids, "run": pa.array([item.run] * len(idx), pa.string())}))
        stats["index_rows"] = len(idx)
    return stats


class MinHashDedup(GlobalStage):
    """Drops near-duplicates: documents whose character n-gram sets (of the script-folded text, so Traditional
    and Simplified copies match) have Jaccard similarity >= `threshold` with a kept document, by MinHash LSH.

    Defaults are measured (bench/dedup_sweep.py: char 2-5-grams x thresholds 0.30-0.85 x 64/128/256 permutations
    x bands/rows x verification x min_chars on real Chinese documents with planted exact, 1-3% and 5-10% edited,
    paragraph-shuffled and Simplified/Traditional copies, BUSTM paraphrases as hard negatives; tuned on nine sources,
    checked on THUCNews held out): character 2-grams at threshold 0.55 with 64 permutations gave F1 0.998 at
    precision 0.998 (held out: F1 1.000), where the usual web setting (5-grams, 0.8, 128) finds 70% of the copies
    (F1 0.83): on Chinese a character is nearly a word, and scattered edits break few bigrams. Documents under 40
    characters (one-line utterances, reviews) are left to exact_dedup: two requests to a voice assistant that differ
    by a word share most bigrams without being the same text. Bands x rows minimise datasketch's weighted error with
    missed pairs weighing 3x (`recall_weight` 0.75; 0.55 / 64 -> 16 x 4), since `verify: exact` removes false
    candidates: links whose estimate is within 3 standard errors of the threshold are decided on the real shingle
    sets (`stages.dedup.verify`). `jingxuan dedup-inspect` shows pairs near the threshold.
    """

    name: ClassVar[str] = "minhash_dedup"
    version: ClassVar[str] = "1"
    adds: ClassVar[tuple[str, ...]] = ("_dup_cluster",)

    threshold: float = Field(0.55, gt=0, le=1, description="Jaccard similarity that makes two documents duplicates")
    num_perm: int = Field(64, ge=8, description="MinHash permutations; bands x rows are chosen from these")
    ngram: int = Field(2, ge=1, description="shingle length (characters, or words with tokenizer: jieba)")
    tokenizer: Literal["char", "jieba"] = Field("char", description="shingles of characters or of jieba words")
    seed: int = Field(1, description="seed of the permutations (datasketch's convention)")
    verify: Literal["exact", "signature", "none"] = Field(
        "exact",
        description="candidate links kept: exact = estimated Jaccard, checked on the real shingle sets near the "
        "threshold; signature = estimated Jaccard only; none = every band collision",
    )
    containment: float | None = Field(
        None,
        gt=0,
        le=1,
        description="with verify: exact, also a duplicate: this share of the shorter's shingles inside the longer "
        "(a short document quoted in a long one)",
    )
    min_chars: int = Field(40, ge=0, description="documents with fewer (folded) characters are left to exact_dedup")
    recall_weight: float = Field(
        0.75, gt=0, lt=1, description="weight of missed pairs (false positives: 1 - this) when choosing bands x rows"
    )
    bands: int | None = Field(None, ge=1, description="LSH bands (default: the optimum for threshold, recall_weight)")
    rows: int | None = Field(None, ge=1, description="rows per band (with bands; bands x rows <= num_perm)")

    @field_validator("verify", mode="before")
    @classmethod
    def _verify_bool(cls, v):
        return {True: "signature", False: "none"}.get(v, v) if isinstance(v, bool) else v  # the earlier flag

    @model_validator(mode="after")
    def _bands_rows(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    keep: Keep = Field("first", description="which cluster member stays: first, longest, best_quality")
    index_dir: str | None = Field(None, description="persistent index folder (default: the run's index/)")
    incremental: bool = Field(True, description="match against the index of earlier runs and add this run's")

    def lsh_params(self) -> dict:
        bands, rows = (
            (self.bands, self.rows)
            if self.bands
            else optimal_param(self.threshold, self.num_perm, 1 - self.recall_weight, self.recall_weight)
        )
        return {
            "threshold": self.threshold,
            "num_perm": self.num_perm,
            "ngram": self.ngram,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
            "bands": bands,
            "rows": rows,
            "hash_scheme": HASH_SCHEME,
            "min_chars": self.min_chars,
        }

    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        t_start = time.perf_counter()
        params = self.lsh_params()
        index = DedupIndex(self.index_dir or ctx.index_dir) if self.incremental else None
        if index is not None:
            index.check_params(params)  # fail before any work
            owner = index.owner(ctx.run_dir, ctx.stage_key, ctx.run_id)
        work = os.path.join(ctx.work_dir, "minhash")
        timings = {}

        # pass 1
        t0 = time.perf_counter()
        items = []
        for i, s in enumerate(shards):
            base = os.path.join(work, "shards", f"s{i:05d}")
            items.append(SignatureItem(s, params, base + ".bands.arrow", base + ".sig.npy", base + ".meta.arrow"))
        weights = shard_bytes(shards)
        res1 = ctx.map(_signature_pass, items, weights=weights)
        use_quality = any(r["has_quality"] for r in res1)
        timings["signatures"] = time.perf_counter() - t0

        index_parts = index.parts(exclude=owner) if index is not None else []
        n_index = sum(p["rows"] for p in index_parts)
        src_list = [{k: p[k] for k in ("bands", "sig", "meta", "rows")} for p in index_parts]
        src_list += [
            {"bands": it.bands, "sig": it.sig, "meta": it.meta, "rows": r["rows"], "shard": it.shard}
            for it, r in zip(items, res1, strict=True)
        ]
        budget = self.budget_mb(ctx)
        run_name = os.path.basename(os.path.normpath(ctx.run_dir))

        # pass 2: (band, hash range) tasks; the ranges come from the rows of one band and the budget
        t0 = time.perf_counter()
        band_rows = n_index + sum(r["rows"] - r["empty"] - r["too_short"] for r in res1)
        ranges = partitions(band_rows, BAND_BYTES_PER_ROW, budget)
        band_items = [
            BandItem(
                band=b,
                part=q,
                parts=ranges,
                sources=src_list,
                n_index=n_index,
                verify=self.verify,
                threshold=self.threshold,
                num_perm=self.num_perm,
                out=os.path.join(work, "links", f"band-{b:03d}-{q:05d}.arrow"),
                ngram=self.ngram,
                tokenizer=self.tokenizer,
                containment=self.containment,
            )
            for b in range(params["bands"])
            for q in range(ranges)
        ]
        res2 = ctx.map(_band_pass, band_items)
        timings["bands"] = time.perf_counter() - t0

        # pass 3: connected components, then the keep policy per root partition
        t0 = time.perf_counter()
        n_links = sum(r["links"] for r in res2)
        node_parts = link_partitions(n_links, int(sum(s["rows"] for s in src_list)), budget)
        common = dict(
            sources=src_list,
            n_index=n_index,
            n_index_sources=len(index_parts),
            keep=self.keep,
            use_quality=use_quality,
            num_perm=self.num_perm,
            run=run_name,
        )
        cdir = os.path.join(work, "clusters")
        rounds = 0
        if node_parts == 1:  # the links fit one task: union-find in this process
            us, vs = [], []
            for it in band_items:
                t = read_table(it.out, ["u", "v"])
                us.append(t.column("u").to_numpy())
                vs.append(t.column("v").to_numpy())
            nodes, roots = components(np.concatenate(us), np.concatenate(vs))
            del us, vs
            res3 = [
                _cluster_pass(ClusterItem(**common, out=os.path.join(cdir, "c00000.arrow"), nodes=nodes, roots=roots))
            ]
        else:
            stars, rounds = star_components(
                [it.out for it in band_items], node_parts, os.path.join(work, "stars"), ctx.map
            )
            c_items = [
                ClusterItem(**common, out=os.path.join(cdir, f"c{q:05d}.arrow"), pieces=pieces(stars, q))
                for q in range(node_parts)
            ]
            res3 = ctx.map(_cluster_pass, c_items)
            for r in stars:
                os.remove(r["file"])
        cluster_files = [r["file"] for r in res3]
        timings["clusters"] = time.perf_counter() - t0

        # pass 4
        t0 = time.perf_counter()
        seg_dir = index.new_segment_dir(ctx.stage_key) if index is not None else None
        items4 = []
        for i, s in enumerate(shards):
            items4.append(
                RewriteItem(
                    shard=s,
                    out=os.path.join(ctx.out_dir, f"part-{i:05d}.arrow"),
                    rejected=os.path.join(ctx.work_dir, "rejected", f"part-{i:05d}.parquet"),
                    stage=self.name,
                    actions=pieces(res3, i),
                    keep_text=ctx.keep_rejected_text,
                    bands=items[i].bands,
                    sig=items[i].sig,
                    meta=items[i].meta,
                    rows=res1[i]["rows"],
                    run=run_name,
                    index_part=os.path.join(seg_dir, f"part-{i:05d}") if seg_dir else None,
                )
            )
        res4 = ctx.map(_rewrite_pass, items4, weights=weights)
        timings["rewrite"] = time.perf_counter() - t0
        index_rows = [int(r.pop("index_rows", 0)) for r in res4]
        rejected = [p for p in (r.pop("rejected") for r in res4) if p]
        if index is not None:
            os.makedirs(index.segments_dir, exist_ok=True)
            index.write_params(params)
            index.commit_segment(seg_dir, {"run": run_name, "parts": index_rows}, owner)

        stats = StageStats.total(res4)
        stats.seconds = time.perf_counter() - t_start
        report = {
            "params": params,
            "verify": self.verify,
            "keep": self.keep,
            "candidate_links": int(sum(r["candidates"] for r in res2)),
            "verified_links": int(sum(r["links"] for r in res2)),
            "links_checked_exactly": int(sum(r["checked_exactly"] for r in res2)),
            "clusters": int(sum(r["clusters"] for r in res3)),
            "dropped": stats.docs_rejected,
            "dropped_matching_index": int(sum(r["matching_index"] for r in res3)),
            "partitions": {"band_ranges": ranges, "link_partitions": node_parts, "star_rounds": rounds},
            "documents_without_shingles": int(sum(r["empty"] for r in res1)),
            "documents_below_min_chars": int(sum(r["too_short"] for r in res1)),
            "index": None
            if index is None
            else {"path": index.path, "documents_before": n_index, "documents_added": int(sum(index_rows))},
            "seconds": {k: round(v, 3) for k, v in timings.items()},
        }
        write_json(
            os.path.join(ctx.work_dir, "inspect.json"),
            {
                "clusters": cluster_files,
                "shards": [it.out for it in items4],
                "rejected": rejected,
                "ngram": self.ngram,
                "tokenizer": self.tokenizer,
                "threshold": self.threshold,
                "index_runs": sorted({p["run_dir"] for p in index_parts}),
            },
        )
        return GlobalResult(
            shards=[it.out for it in items4],
            rejected=rejected,
            stats=stats,
            report=report,
        )
