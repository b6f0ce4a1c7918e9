"""Exact deduplication on the script-folded text.

Copies that differ only in whitespace, punctuation, full-width forms, case or Traditional/Simplified script are
the same document to a language model; `stages.chinese.fold` maps them to one key (xxh3-128, so collisions are
negligible at any corpus size). Documents whose text folds to nothing (only punctuation or symbols) share the
empty key and are deduplicated together.

Three passes, each a `ctx.map` over small items, so no process holds more than one shard or one key bucket:
1. per shard: (key, shard, row, length, quality, id) into `buckets` Arrow files partitioned by key hash;
2. per bucket: the winner of each key by the keep policy, the index's entries of that bucket first (an earlier
   run's document always wins, whatever the keep policy); drop lists (row -> kept id) per shard; this run's new
   kept keys become the bucket's part of the run's index segment;
3. per shard: the shard rewritten without its dropped rows (order kept); drops go to the ledger as
   `exact_duplicate` with the kept document's id as detail. A shard that loses nothing is hard-linked (same
   bytes, no copy) and has no ledger file.

Incremental (`stages.dedup.index` frame): each run adds one segment of `bucket-NNNNN.arrow` files (`hi`, `lo`,
`id`, `run`; sorted by key) holding the keys its kept documents brought in, partitioned by `hi % buckets` with the
run's bucket count (recorded in the segment's `meta.json`). A later run's bucket b reads only the partitions p of
each segment with p = b modulo gcd(both bucket counts) — one partition when the counts are equal or one divides
the other (the default counts are powers of two). Memory per bucket process: ~200 bytes per document or index entry
of the bucket with sorting and ids, and the bucket count is chosen from that and the memory budget
(`stages.core.partitions`), so a bucket task stays within the budget at any corpus size; pass 1 and 3 hold one shard.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from stages.base import GlobalContext, GlobalResult, GlobalStage
from stages.chinese import fold
from stages.core.partitions import partitions
from stages.core.shards import read_shard, shard_bytes, shard_rows
from stages.core.stats import StageStats
from stages.dedup.common import (
    Keep,
    ShardRewrite,
    doc_columns,
    quality_array,
    rank_order,
    read_table,
    rewrite_shard,
    write_table,
)
from stages.dedup.index import DedupIndex, Owner

REASON = "exact_duplicate"
BYTES_PER_ROW = 200  # pass 2, per row of the bucket: 5 numeric columns, id, sort keys and orders (bench/scale.py)
MIN_BUCKETS = 4
# What makes two runs' keys comparable: bump KEY_DEFINITION when `fold` or the key hash changes.
KEY_DEFINITION = "fold-1/xxh3_128-utf8"
PARAM_KEYS = ("stage", "key_definition")


@dataclass(frozen=True)
class KeyItem:
    shard: str
    no: int  # the shard's position
    dir: str  # where the key partitions go
    buckets: int


@dataclass(frozen=True)
class BucketItem:
    bucket: int
    buckets: int
    files: list[tuple[int, str]]  # (shard no, key partition file) of this bucket
    index_files: list[str]  # partitions of earlier runs' index segments that can hold this bucket's keys
    dir: str  # where the drop lists go
    keep: Keep
    use_quality: bool
    segment: str | None  # this run's index segment file for the bucket (None: not incremental)
    run: str


@dataclass(frozen=True)
class RewriteItem(ShardRewrite):
    drop_files: list[str]
    chars: int


def _key_pass(item: KeyItem) -> dict:
    """Pass 1: keys of one shard, partitioned by key into `buckets` files."""
    cols, has_quality = doc_columns(item.shard)
    parts: list[pa.Table] = []
    row = 0
    for batch in read_shard(item.shard, cols):
        keys = [xxhash.xxh3_128_digest(t.encode("utf-8")) for t in fold(batch.column("text")).to_pylist()]
        raw = np.frombuffer(b"".join(keys), dtype=">u8").reshape(-1, 2).astype(np.uint64)
        n = batch.num_rows
        parts.append(
            pa.table(
                {
                    "hi": raw[:, 0] if n else np.zeros(0, np.uint64),
                    "lo": raw[:, 1] if n else np.zeros(0, np.uint64),
                    "row": np.arange(row, row + n, dtype=np.int64),
                    "length": pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64),
                    "quality": quality_array(batch, has_quality),
                    "id": batch.column("id"),
                }
            )
        )
        row += n
    table = pa.concat_tables(parts) if parts else None
    chars = int(pc.sum(table.column("length")).as_py() or 0) if table is not None else 0
    written = write_buckets(table, item.buckets, item.dir, item.no)
    return {"rows": row, "chars": chars, "has_quality": has_quality, "buckets": written}


def write_buckets(table: pa.Table | None, buckets: int, folder: str, no: int) -> list[int]:
    """Shard `no`'s key rows into one file per key bucket (`hi % buckets`), rows in order; the buckets written.
    One sort, not one filter per bucket (which made pass 1 cost grow with the bucket count)."""
    if table is None or not table.num_rows:
        return []
    bucket = (table.column("hi").to_numpy() % np.uint64(buckets)).astype(np.int64)
    order = np.argsort(bucket, kind="stable")
    table, bucket = table.take(pa.array(order)), bucket[order]
    edges = np.flatnonzero(np.diff(bucket)) + 1
    written = []
    for lo, hi in zip(np.r_[0, edges].tolist(), np.r_[edges, len(bucket)].tolist(), strict=True):
        b = int(bucket[lo])
        write_table(os.path.join(folder, f"s{no:05d}-b{b:04d}.arrow"), table.slice(lo, hi - lo))
        written.append(b)
    return written


def _index_rows(paths: list[str], bucket: int, buckets: int) -> pa.Table:
    """The index entries (`hi`, `lo`, `id`) of this run's key bucket, in segment order."""
    parts = []
    for path in paths:
        t = read_table(path, ["hi", "lo", "id"])
        parts.append(t.filter(pa.array(t.column("hi").to_numpy() % np.uint64(buckets) == bucket)))
    schema = pa.schema([("hi", pa.uint64()), ("lo", pa.uint64()), ("id", pa.string())])
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _bucket_pass(item: BucketItem) -> dict:
    """Pass 2: one key bucket over all shards and the index; per key the index entry wins, else the first row by
    keep policy. New kept keys go to this run's index segment."""
    out = {"drops": {}, "groups": 0, "matched_index": 0, "added": 0}
    tables, shard_nos = [], []
    for no, path in item.files:
        t = read_table(path)
        tables.append(t)
        shard_nos.append(np.full(t.num_rows, no, np.int64))
    if not tables:
        return out
    idx = _index_rows(item.index_files, item.bucket, item.buckets)
    n_idx = idx.num_rows
    t = pa.concat_tables(tables)
    shard = np.concatenate(shard_nos)
    rows = t.column("row").to_numpy()
    hi = np.concatenate([idx.column("hi").to_numpy(), t.column("hi").to_numpy()])
    lo = np.concatenate([idx.column("lo").to_numpy(), t.column("lo").to_numpy()])
    order_key = np.concatenate([np.arange(n_idx, dtype=np.int64) - n_idx, shard * (1 << 40) + rows])  # input order
    length = np.concatenate([np.zeros(n_idx, np.int64), t.column("length").to_numpy()])
    quality = np.concatenate([np.full(n_idx, -np.inf), t.column("quality").to_numpy()])
    new = np.arange(n_idx + t.num_rows) >= n_idx
    rank = rank_order(order_key, length, quality, item.keep, item.use_quality)
    order = np.lexsort([*rank, new, lo, hi])  # in a key group: index entries first, then by keep policy
    hs, ls = hi[order], lo[order]
    first = np.r_[True, (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])]
    winner = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
    ids = pa.chunked_array(
        [*idx.column("id").cast(pa.string()).chunks, *t.column("id").cast(pa.string()).chunks], pa.string()
    )
    lose = ~first & new[order]  # index entries that repeat each other were settled by earlier runs
    losers, kept_by = order[lose] - n_idx, winner[lose]
    loser_shard = shard[losers]
    for no in np.unique(loser_shard):
        sel = loser_shard == no
        path = os.path.join(item.dir, f"b{item.bucket:04d}-s{int(no):05d}.arrow")
        o = np.argsort(rows[losers[sel]], kind="stable")
        write_table(path, pa.table({"row": rows[losers[sel]][o], "kept_id": ids.take(kept_by[sel][o])}))
        out["drops"][int(no)] = path
    out["groups"] = len(np.unique(kept_by))
    out["matched_index"] = int((kept_by < n_idx).sum())
    added = order[first & new[order]]  # this run's new keys, in key order
    if item.segment and len(added):
        run = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(added), np.int32)), pa.array([item.run]))
        part = pa.table({"hi": hi[added], "lo": lo[added], "id": ids.take(added).combine_chunks(), "run": run})
        write_table(item.segment, part)
    out["added"] = len(added)
    return out


def _rewrite_pass(item: RewriteItem) -> dict:
    """Pass 3: one shard without its dropped rows."""
    tables = [read_table(p) for p in item.drop_files]
    if tables:
        t = pa.concat_tables(tables)
        o = np.argsort(t.column("row").to_numpy(), kind="stable")
        rows, detail = t.column("row").to_numpy()[o], t.column("kept_id").take(pa.array(o)).to_pylist()
    else:
        rows, detail = np.zeros(0, np.int64), []
    return rewrite_shard(
        item.shard,
        item.out,
        item.rejected,
        item.stage,
        REASON,
        rows,
        detail,
        item.keep_text,
        rows=item.rows,
        chars=item.chars,
    )


class ExactDedup(GlobalStage):
    """Drops documents whose script-folded text (NFKC, no whitespace/punctuation, Traditional -> Simplified)
    equals an earlier one's. `keep` picks the survivor of each group: the first seen (input order), the longest
    original text, or the best `_quality` (longest when the column is absent); ties go to the first seen."""

    name: ClassVar[str] = "exact_dedup"
    version: ClassVar[str] = "2"

    keep: Keep = Field("first", description="which copy stays: first (seen), longest, best_quality")
    buckets: int | None = Field(
        None,
        ge=1,
        description="key partitions of pass 2 (default: from the documents incl. the index and the memory budget, "
        "at least 4, a power of two)",
    )
    index_dir: str | None = Field(None, description="persistent index folder (default: the run's index/)")
    incremental: bool = Field(True, description="match against the index of earlier runs and add this run's keys")

    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        t_start = time.perf_counter()
        stage = self.name
        params = {"stage": self.name, "key_definition": KEY_DEFINITION}
        index = DedupIndex(self.index_dir or ctx.index_dir, PARAM_KEYS) if self.incremental else None
        owner, segments, n_index = earlier_segments(index, params, ctx)
        n_docs = sum(shard_rows(s) for s in shards)
        buckets = self.buckets or partitions(n_docs + n_index, BYTES_PER_ROW, self.budget_mb(ctx), MIN_BUCKETS)
        seg_dir = index.new_segment_dir(ctx.stage_key) if index is not None else None
        run_name = os.path.basename(os.path.normpath(ctx.run_dir))
        p1 = os.path.join(ctx.work_dir, "exact", "keys")
        p2 = os.path.join(ctx.work_dir, "exact", "drops")
        timings = {}
        t0 = time.perf_counter()
        weights = shard_bytes(shards)
        res1 = ctx.map(_key_pass, [KeyItem(s, i, p1, buckets) for i, s in enumerate(shards)], weights=weights)
        timings["keys"] = time.perf_counter() - t0
        use_quality = any(r["has_quality"] for r in res1)
        t0 = time.perf_counter()
        res2, drop_files = bucket_passes(
            ctx, res1, p1, p2, segments, buckets, self.keep, use_quality, seg_dir, run_name
        )
        timings["buckets"] = time.perf_counter() - t0
        rewrites = [
            RewriteItem(
                shard=s,
                out=os.path.join(ctx.out_dir, f"part-{i:05d}.arrow"),
                rejected=os.path.join(ctx.work_dir, "rejected", f"part-{i:05d}.parquet"),
                stage=stage,
                drop_files=drop_files.get(i, []),
                keep_text=ctx.keep_rejected_text,
                rows=r["rows"],
                chars=r["chars"],
            )
            for i, (s, r) in enumerate(zip(shards, res1, strict=True))
        ]
        t0 = time.perf_counter()
        res3 = ctx.map(_rewrite_pass, rewrites, weights=weights)
        timings["rewrite"] = time.perf_counter() - t0
        rejected = [p for p in (r.pop("rejected") for r in res3) if p]
        added = commit_bucket_segment(index, params, seg_dir, run_name, buckets, res2, owner)
        stats = StageStats.total(res3)
        stats.seconds = time.perf_counter() - t_start
        return GlobalResult(
            shards=[it.out for it in rewrites],
            rejected=rejected,
            stats=stats,
            report={
                "keep": self.keep,
                "buckets": buckets,
                "duplicate_groups": sum(r["groups"] for r in res2),
                "dropped": stats.docs_rejected,
                "dropped_matching_index": sum(r["matched_index"] for r in res2),
                "index": None
                if index is None
                else {"path": index.path, "documents_before": n_index, "documents_added": sum(added)},
                "shards_unchanged": sum(not it.drop_files for it in rewrites),
                "seconds": {k: round(v, 3) for k, v in timings.items()},
            },
        )


def earlier_segments(
    index: DedupIndex | None, params: dict, ctx: GlobalContext
) -> tuple[Owner | None, list[tuple[str, dict]], int]:
    """What a bucket pass matches against: this run's owner of the index (its parameters checked first, before
    any work), the segments of earlier runs, and how many keys they hold."""
    if index is None:
        return None, [], 0
    index.check_params(params)
    owner = index.owner(ctx.run_dir, ctx.stage_key, ctx.run_id)
    segments = index.segments(exclude=owner)
    return owner, segments, sum(sum(m["parts"]) for _, m in segments)


def commit_bucket_segment(
    index: DedupIndex | None,
    params: dict,
    seg_dir: str | None,
    run: str,
    buckets: int,
    res2: list[dict],
    owner: Owner | None,
) -> list[int]:
    """Record this run's new keys (per bucket, from `bucket_passes`' results) as one index segment; returns how
    many each bucket added."""
    added = [int(r["added"]) for r in res2]
    if index is not None:
        index.write_params(params)
        index.commit_segment(seg_dir, {"run": run, "buckets": buckets, "parts": added}, owner)
    return added


def bucket_passes(
    ctx: GlobalContext,
    res1: list[dict],
    key_dir: str,
    drop_dir: str,
    segments: list[tuple[str, dict]],
    buckets: int,
    keep: Keep,
    use_quality: bool,
    seg_dir: str | None,
    run: str,
) -> tuple[list[dict], dict[int, list[str]]]:
    """Pass 2 over every key bucket (pass 1's results `res1` say which shards wrote to which bucket): the bucket
    results and the drop-list files per shard number. Shared with paragraph_dedup, whose keys are paragraphs."""
    items = [
        BucketItem(
            bucket=b,
            buckets=buckets,
            files=[
                (i, os.path.join(key_dir, f"s{i:05d}-b{b:04d}.arrow")) for i, r in enumerate(res1) if b in r["buckets"]
            ],
            index_files=_index_files(segments, b, buckets),
            dir=drop_dir,
            keep=keep,
            use_quality=use_quality,
            segment=os.path.join(seg_dir, f"bucket-{b:05d}.arrow") if seg_dir else None,
            run=run,
        )
        for b in range(buckets)
    ]
    res2 = ctx.map(_bucket_pass, items)
    drop_files: dict[int, list[str]] = {}
    for r in res2:
        for no, path in r["drops"].items():
            drop_files.setdefault(int(no), []).append(path)
    return res2, drop_files


def _index_files(segments: list[tuple[str, dict]], bucket: int, buckets: int) -> list[str]:
    """Partitions of earlier segments that can hold keys of `bucket`: key % buckets == bucket and key % n == p
    (n the segment's bucket count) both hold only if p == bucket modulo gcd(buckets, n)."""
    out = []
    for d, meta in segments:
        n = meta["buckets"]
        g = math.gcd(buckets, n)
        out += [os.path.join(d, f"bucket-{p:05d}.arrow") for p in range(n) if p % g == bucket % g and meta["parts"][p]]
    return out
