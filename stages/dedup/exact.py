"""Exact deduplication on the script-folded text.

Copies that differ only in whitespace, punctuation, full-width forms, case or Traditional/Simplified script are
the same document to a language model; `stages.chinese.fold` maps them to one key (xxh3-128, so collisions are
negligible at any corpus size). Documents whose text folds to nothing (only punctuation or symbols) share the
empty key and are deduplicated together.

Three passes, each a `ctx.map` over small items, so no process holds more than one shard or one key bucket:
1. per shard: (key, shard, row, length, quality, id) into `buckets` Arrow files partitioned by key hash;
2. per bucket: the winner of each key by the keep policy; drop lists (row -> kept id) per shard;
3. per shard: the shard rewritten without its dropped rows (order kept); drops go to the ledger as
   `exact_duplicate` with the kept document's id as detail. A shard that loses nothing is hard-linked (same
   bytes, no copy) and has no ledger file.
"""

from __future__ import annotations

import math
import os
import time
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from pipeline.shards import read_shard, shard_rows
from stages.base import GlobalContext, GlobalResult, GlobalStage
from stages.chinese import fold
from stages.dedup.common import Keep, doc_columns, quality_array, rank_order, read_table, rewrite_shard, write_table
from stages.stats import StageStats

REASON = "exact_duplicate"
_ROWS_PER_BUCKET = 1_000_000  # ~40 bytes each in pass 2: ~100 MB per bucket process with sorting


def _key_pass(item: dict) -> dict:
    """Pass 1: keys of one shard, partitioned by key into `buckets` files."""
    cols, has_quality = doc_columns(item["shard"])
    parts: list[pa.Table] = []
    row = 0
    for batch in read_shard(item["shard"], cols):
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
    written = []
    for b in range(item["buckets"]):
        path = os.path.join(item["dir"], f"s{item['no']:05d}-b{b:04d}.arrow")
        if table is None:
            continue
        part = table.filter(pa.array(table.column("hi").to_numpy() % np.uint64(item["buckets"]) == b))
        if part.num_rows:
            write_table(path, part)
            written.append(b)
    return {"rows": row, "chars": chars, "has_quality": has_quality, "buckets": written}


def _bucket_pass(item: dict) -> dict:
    """Pass 2: one key bucket over all shards; the first row of each key (by keep policy) wins."""
    tables, shard_nos = [], []
    for no, path in item["files"]:
        t = read_table(path)
        tables.append(t)
        shard_nos.append(np.full(t.num_rows, no, np.int64))
    if not tables:
        return {"drops": {}, "groups": 0}
    t = pa.concat_tables(tables)
    shard = np.concatenate(shard_nos)
    hi, lo = t.column("hi").to_numpy(), t.column("lo").to_numpy()
    order_key = shard * (1 << 40) + t.column("row").to_numpy()  # input order: shard, then row
    length = t.column("length").to_numpy()
    quality = t.column("quality").to_numpy()
    order = np.lexsort([*rank_order(order_key, length, quality, item["keep"], item["use_quality"]), lo, hi])
    hi, lo = hi[order], lo[order]
    first = np.r_[True, (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])]
    winner = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
    losers = order[~first]
    ids = t.column("id")
    drops: dict[int, str] = {}
    loser_shard = shard[losers]
    rows = t.column("row").to_numpy()
    for no in np.unique(loser_shard):
        sel = loser_shard == no
        path = os.path.join(item["dir"], f"b{item['bucket']:04d}-s{int(no):05d}.arrow")
        lo_idx = losers[sel]
        o = np.argsort(rows[lo_idx], kind="stable")
        write_table(path, pa.table({"row": rows[lo_idx][o], "kept_id": ids.take(pa.array(winner[~first][sel][o]))}))
        drops[int(no)] = path
    groups_with_dups = len(np.unique(winner[~first])) if len(losers) else 0
    return {"drops": drops, "groups": groups_with_dups}


def _rewrite_pass(item: dict) -> dict:
    """Pass 3: one shard without its dropped rows."""
    tables = [read_table(p) for p in item["drop_files"]]
    if tables:
        t = pa.concat_tables(tables)
        o = np.argsort(t.column("row").to_numpy(), kind="stable")
        rows, detail = t.column("row").to_numpy()[o], t.column("kept_id").take(pa.array(o)).to_pylist()
    else:
        rows, detail = np.zeros(0, np.int64), []
    return rewrite_shard(
        item["shard"],
        item["out"],
        item["rejected"],
        item["stage"],
        REASON,
        rows,
        detail,
        item["keep_text"],
        rows=item["rows"],
        chars=item["chars"],
    )


class ExactDedup(GlobalStage):
    """Drops documents whose script-folded text (NFKC, no whitespace/punctuation, Traditional -> Simplified)
    equals an earlier one's. `keep` picks the survivor of each group: the first seen (input order), the longest
    original text, or the best `_quality` (longest when the column is absent); ties go to the first seen."""

    name: ClassVar[str] = "exact_dedup"
    version: ClassVar[str] = "1"

    keep: Keep = Field("first", description="which copy stays: first (seen), longest, best_quality")
    buckets: int | None = Field(
        None, ge=1, description="key partitions of pass 2 (default: one per million documents, at least 4)"
    )

    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        t_start = time.perf_counter()
        stage = self.name
        n_docs = sum(shard_rows(s) for s in shards)
        buckets = self.buckets or max(4, math.ceil(n_docs / _ROWS_PER_BUCKET))
        p1 = os.path.join(ctx.work_dir, "exact", "keys")
        p2 = os.path.join(ctx.work_dir, "exact", "drops")
        timings = {}
        t0 = time.perf_counter()
        res1 = ctx.map(_key_pass, [{"shard": s, "no": i, "dir": p1, "buckets": buckets} for i, s in enumerate(shards)])
        timings["keys"] = time.perf_counter() - t0
        use_quality = any(r["has_quality"] for r in res1)
        items = []
        for b in range(buckets):
            files = [(i, os.path.join(p1, f"s{i:05d}-b{b:04d}.arrow")) for i, r in enumerate(res1) if b in r["buckets"]]
            items.append({"bucket": b, "files": files, "dir": p2, "keep": self.keep, "use_quality": use_quality})
        t0 = time.perf_counter()
        res2 = ctx.map(_bucket_pass, items)
        timings["buckets"] = time.perf_counter() - t0
        drop_files: dict[int, list[str]] = {}
        for r in res2:
            for no, path in r["drops"].items():
                drop_files.setdefault(int(no), []).append(path)
        items = [
            {
                "shard": s,
                "out": os.path.join(ctx.out_dir, f"part-{i:05d}.arrow"),
                "rejected": os.path.join(ctx.work_dir, "rejected", f"part-{i:05d}.parquet"),
                "stage": stage,
                "drop_files": drop_files.get(i, []),
                "keep_text": ctx.keep_rejected_text,
                "rows": r["rows"],
                "chars": r["chars"],
            }
            for i, (s, r) in enumerate(zip(shards, res1, strict=True))
        ]
        t0 = time.perf_counter()
        res3 = ctx.map(_rewrite_pass, items)
        timings["rewrite"] = time.perf_counter() - t0
        rejected = [p for p in (r.pop("rejected") for r in res3) if p]
        stats = StageStats()
        for r in res3:
            stats = stats + StageStats.from_dict(r)
        stats.seconds = time.perf_counter() - t_start
        return GlobalResult(
            shards=[it["out"] for it in items],
            rejected=rejected,
            stats=stats,
            report={
                "keep": self.keep,
                "buckets": buckets,
                "duplicate_groups": sum(r["groups"] for r in res2),
                "dropped": stats.docs_rejected,
                "shards_unchanged": sum(not it["drop_files"] for it in items),
                "seconds": {k: round(v, 3) for k, v in timings.items()},
            },
        )
