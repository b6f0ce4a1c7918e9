"""Paragraph (line) deduplication across the corpus: templates, disclaimers, SEO blocks and navigation repeated on
many pages are cut out of every document but the first that has them, as Dolma's paragraph dedup and FineWeb's
line dedup do. A paragraph is a line (`\\n`-separated, as Chinese web text and Dolma's paragraphs are); two
match when their script-folded text (`stages.chinese.fold`) is equal, so punctuation, width and
Traditional/Simplified variants of one boilerplate line are one paragraph.

Passes, on exact_dedup's machinery (`stages.dedup.exact`: the same key buckets, bucket pass and index frame, so
the same memory bound and the same incremental behaviour):
1. per shard: one 128-bit key per paragraph of at least `min_chars` folded characters, into key buckets;
   a paragraph's "row" is its position among the shard's lines;
2. per bucket (`exact._bucket_pass`): the first occurrence of each key wins (input order; a paragraph an earlier
   run kept always wins), later ones are removed; this run's new keys join the index;
3. per shard: documents rewritten without their removed lines; a document left with fewer than `min_chars_left`
   characters (or none) is dropped as `too_little_left`, its ledger detail naming how many paragraphs went and
   the document that kept the first of them. A shard that loses nothing is hard-linked.

Counters (stats.json, per reason): `paragraphs_removed.repeated_across_documents` and
`.repeated_in_document` (a paragraph repeated inside its own document), `chars_removed.*` alike, and
`docs_modified`; the report lists the most removed paragraphs.

Defaults: `min_chars` 10 keeps short structural lines ("一、", "参考文献", dates) and only removes lines long
enough to be a template; `min_chars_left` 50 is zh_web.yaml's `length_filter.min_chars`, so what survives would
pass the length filter that ran before. Measured on the shared web pages by bench/paragraph_dedup_eval.py.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from stages.base import GlobalContext, GlobalResult, GlobalStage
from stages.chinese import fold
from stages.core.arrow import text_chars
from stages.core.ledger import REJECTED_SCHEMA, rejected_batch
from stages.core.partitions import partitions
from stages.core.shards import ShardWriter, read_shard, shard_rows, shard_schema, write_parquet
from stages.core.stats import StageStats
from stages.dedup.common import link_or_copy, read_table
from stages.dedup.exact import (
    BYTES_PER_ROW,
    MIN_BUCKETS,
    bucket_passes,
    commit_bucket_segment,
    earlier_segments,
    write_buckets,
)
from stages.dedup.index import DedupIndex

REASON = "too_little_left"
KEY_DEFINITION = "line-fold-1/xxh3_128-utf8"
PARAM_KEYS = ("stage", "key_definition", "unit", "min_chars")
_PARAGRAPHS_PER_DOC = 32  # for the bucket count, fixed before pass 1 counts them
_TOP = 20


@dataclass(frozen=True)
class KeyItem:
    shard: str
    no: int  # the shard's position
    dir: str  # where the key partitions go
    buckets: int
    unit: str
    min_chars: int


@dataclass(frozen=True)
class RewriteItem:
    shard: str
    out: str
    rejected: str
    stage: str
    drop_files: list[str]
    keep_text: bool
    min_chars_left: int
    unit: str


_ENDS = {"line": "\n", "sentence": "[。！？!?\n]"}
_CUT = "\x1f"  # ASCII unit separator: marks unit ends for the vectorised split


def _units(batch: pa.RecordBatch, unit: str) -> tuple[pa.Array, np.ndarray]:
    """Every unit (line, or sentence) of every document, flattened, each with the character that ends it (so
    joining a document's units gives its text back), and the unit offsets per document."""
    text = pc.fill_null(batch.column("text"), "")
    if pc.any(pc.match_substring(text, _CUT)).as_py():  # the marker is in the text: split in Python instead
        ends = re.compile(f"(?<={_ENDS[unit]})")
        parts = pa.array([[u for u in ends.split(t) if u] or [""] for t in text.to_pylist()], pa.list_(pa.string()))
    else:
        parts = pc.split_pattern(pc.replace_substring_regex(text, f"({_ENDS[unit]})", f"\\1{_CUT}"), _CUT)
    return parts.flatten(), parts.offsets.to_numpy()


def _key_pass(item: KeyItem) -> dict:
    """Pass 1: keys of one shard's paragraphs into `buckets` files (exact_dedup's bucket file layout)."""
    parts, row = [], 0
    for batch in read_shard(item.shard, ["id", "text"]):
        lines, offsets = _units(batch, item.unit)
        folded = fold(lines)
        flen = pc.utf8_length(folded).to_numpy(zero_copy_only=False)
        sel = np.flatnonzero(flen >= item.min_chars)
        keys = [xxhash.xxh3_128_digest(t.encode("utf-8")) for t in folded.take(pa.array(sel)).to_pylist()]
        raw = np.frombuffer(b"".join(keys), dtype=">u8").reshape(-1, 2).astype(np.uint64)
        doc = np.searchsorted(offsets, sel, side="right") - 1
        parts.append(
            pa.table(
                {
                    "hi": raw[:, 0] if len(sel) else np.zeros(0, np.uint64),
                    "lo": raw[:, 1] if len(sel) else np.zeros(0, np.uint64),
                    "row": (sel + row).astype(np.int64),
                    "length": flen[sel].astype(np.int64),
                    "quality": np.full(len(sel), -np.inf),
                    "id": batch.column("id").take(pa.array(doc, pa.int64())),
                }
            )
        )
        row += len(lines)
    table = pa.concat_tables(parts) if parts else None
    written = write_buckets(table, item.buckets, item.dir, item.no)
    return {"paragraphs": 0 if table is None else table.num_rows, "buckets": written}


def _rewrite_pass(item: RewriteItem) -> dict:
    """Pass 3: one shard without its removed lines; documents left too short go to the ledger."""
    tables = [read_table(p) for p in item.drop_files]
    stats = StageStats()
    if not tables:
        link_or_copy(item.shard, item.out)
        n = shard_rows(item.shard)
        stats.docs_in = stats.docs_out = n
        stats.chars_in = stats.chars_out = sum(text_chars(b) for b in read_shard(item.shard, ["text"]))
        return {**stats.to_dict(), "rejected": None, "top": []}
    t = pa.concat_tables(tables)
    removed = dict(zip(t.column("row").to_pylist(), t.column("kept_id").to_pylist(), strict=True))
    removed_rows = np.sort(t.column("row").to_numpy())
    top: Counter = Counter()
    rejected, row = [], 0
    w = ShardWriter(item.out)
    try:
        for batch in read_shard(item.shard):
            lines, offsets = _units(batch, item.unit)
            hit = np.isin(np.arange(row, row + len(lines)), removed_rows)
            docs = np.unique(np.searchsorted(offsets, np.flatnonzero(hit), side="right") - 1)
            texts = batch.column("text").to_pylist()
            ids = batch.column("id").to_pylist()
            drop = np.zeros(batch.num_rows, bool)
            details: list[str] = []
            line_list = None
            for d in docs.tolist():
                if line_list is None:
                    line_list = lines.to_pylist()
                lo, hi = int(offsets[d]), int(offsets[d + 1])
                kept, gone, first_kept_by = [], 0, None
                for j in range(lo, hi):
                    by = removed.get(row + j)
                    if by is None:
                        kept.append(line_list[j])
                        continue
                    why = "repeated_in_document" if by == ids[d] else "repeated_across_documents"
                    stats.counters[f"paragraphs_removed.{why}"] += 1
                    stats.counters[f"chars_removed.{why}"] += len(line_list[j])
                    top[line_list[j].strip()] += 1
                    gone += 1
                    first_kept_by = first_kept_by or by
                new = "".join(kept)
                stats.counters["docs_modified"] += 1
                if len(new.strip()) < item.min_chars_left:
                    drop[d] = True
                    details.append(
                        f"{gone} of {hi - lo} paragraphs repeat earlier documents (first kept in {first_kept_by}); "
                        f"{len(new.strip())} characters left"
                    )
                texts[d] = new
            stats.docs_in += batch.num_rows
            stats.chars_in += text_chars(batch)
            if len(docs):
                idx = batch.schema.get_field_index("text")
                batch = batch.set_column(idx, "text", pa.array(texts, pa.string()))
            if drop.any():
                gone_b = batch.filter(pa.array(drop))
                rejected.append(
                    rejected_batch(
                        gone_b.column("id"),
                        item.stage,
                        [REASON] * gone_b.num_rows,
                        details,
                        gone_b.column("text") if item.keep_text else None,
                    )
                )
                stats.docs_rejected += gone_b.num_rows
                stats.reasons[REASON] += gone_b.num_rows
                batch = batch.filter(pa.array(~drop))
            stats.docs_out += batch.num_rows
            stats.chars_out += text_chars(batch)
            if batch.num_rows or w.schema is None:
                w.write(batch)
            row += len(lines)
    except BaseException:
        w.abort()
        raise
    w.close(empty_schema=shard_schema(item.shard))
    out = {**stats.to_dict(), "rejected": None, "top": top.most_common(_TOP)}
    if rejected:
        write_parquet(item.rejected, rejected, REJECTED_SCHEMA)
        out["rejected"] = item.rejected
    return out


class ParagraphDedup(GlobalStage):
    """Removes paragraphs (lines) that an earlier document of the corpus (or of an earlier run) already has, and
    drops a document only when too little of it remains. Run it after exact/near-duplicate removal, so whole
    copies are counted as duplicates rather than emptied paragraph by paragraph."""

    name: ClassVar[str] = "paragraph_dedup"
    version: ClassVar[str] = "1"

    unit: Literal["line", "sentence"] = Field(
        "line", description="what is matched: lines, or sentences (ending in 。！？ or a line end: glued news text)"
    )
    min_chars: int = Field(10, ge=1, description="folded characters a line needs to be matched (shorter stay)")
    min_chars_left: int = Field(50, ge=0, description="a document with removals keeping fewer characters is dropped")
    buckets: int | None = Field(
        None, ge=1, description="key partitions (default: from the paragraphs incl. the index and the memory budget)"
    )
    index_dir: str | None = Field(None, description="persistent index folder (default: the run's index/)")
    incremental: bool = Field(True, description="match against the index of earlier runs and add this run's keys")

    def run(self, shards: list[str], ctx: GlobalContext) -> GlobalResult:
        t_start = time.perf_counter()
        params = {"stage": self.name, "key_definition": KEY_DEFINITION, "unit": self.unit, "min_chars": self.min_chars}
        index = DedupIndex(self.index_dir or ctx.index_dir, PARAM_KEYS) if self.incremental else None
        owner, segments, n_index = earlier_segments(index, params, ctx)
        n_par = _PARAGRAPHS_PER_DOC * sum(shard_rows(s) for s in shards)
        buckets = self.buckets or partitions(n_par + n_index, BYTES_PER_ROW, self.budget_mb(ctx), MIN_BUCKETS)
        seg_dir = index.new_segment_dir(ctx.stage_key) if index is not None else None
        run_name = os.path.basename(os.path.normpath(ctx.run_dir))
        p1 = os.path.join(ctx.work_dir, "paragraph", "keys")
        p2 = os.path.join(ctx.work_dir, "paragraph", "drops")
        timings = {}
        t0 = time.perf_counter()
        res1 = ctx.map(
            _key_pass,
            [KeyItem(s, i, p1, buckets, self.unit, self.min_chars) for i, s in enumerate(shards)],
        )
        timings["keys"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        res2, drop_files = bucket_passes(ctx, res1, p1, p2, segments, buckets, "first", False, seg_dir, run_name)
        timings["buckets"] = time.perf_counter() - t0
        items3 = [
            RewriteItem(
                shard=s,
                out=os.path.join(ctx.out_dir, f"part-{i:05d}.arrow"),
                rejected=os.path.join(ctx.work_dir, "rejected", f"part-{i:05d}.parquet"),
                stage=self.name,
                drop_files=drop_files.get(i, []),
                keep_text=ctx.keep_rejected_text,
                min_chars_left=self.min_chars_left,
                unit=self.unit,
            )
            for i, s in enumerate(shards)
        ]
        t0 = time.perf_counter()
        res3 = ctx.map(_rewrite_pass, items3)
        timings["rewrite"] = time.perf_counter() - t0
        rejected = [p for p in (r.pop("rejected") for r in res3) if p]
        top: Counter = Counter()
        for r in res3:
            top.update(dict(r.pop("top")))
        added = commit_bucket_segment(index, params, seg_dir, run_name, buckets, res2, owner)
        stats = StageStats.total(res3)
        stats.seconds = time.perf_counter() - t_start
        removed = sum(v for k, v in stats.counters.items() if k.startswith("paragraphs_removed."))
        return GlobalResult(
            shards=[it.out for it in items3],
            rejected=rejected,
            stats=stats,
            report={
                "buckets": buckets,
                "paragraphs_keyed": sum(r["paragraphs"] for r in res1),
                "paragraphs_removed": removed,
                "paragraphs_removed_matching_index": sum(r["matched_index"] for r in res2),
                "chars_removed": sum(v for k, v in stats.counters.items() if k.startswith("chars_removed.")),
                "docs_modified": stats.counters["docs_modified"],
                "dropped": stats.docs_rejected,
                "most_removed": [{"paragraph": p[:200], "removed": n} for p, n in top.most_common(_TOP)],
                "index": None
                if index is None
                else {"path": index.path, "paragraphs_before": n_index, "paragraphs_added": sum(added)},
                "shards_unchanged": sum(not it.drop_files for it in items3),
                "seconds": {k: round(v, 3) for k, v in timings.items()},
            },
        )
