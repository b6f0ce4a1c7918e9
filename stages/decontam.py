"""Decontamination: drop documents (or only their paragraphs) that contain a benchmark item.

A model evaluated on C-Eval/CMMLU/GAOKAO-style questions it saw in training reports inflated scores, so every
training document is compared with the items of the configured benchmark files. Items and documents are folded
the same way (`stages.chinese.fold`: NFKC, lower case, whitespace/punctuation/symbols stripped,
Traditional->Simplified), so a Traditional or re-punctuated copy of a Simplified question is caught.

Matching is by character n-grams of the folded text. An item's unique n-grams go into one sorted array of
64-bit hashes with a parallel array of item numbers (postings); a batch of documents is hashed in one
vectorised pass and looked up with `np.searchsorted`, so the cost grows with the documents' length, not with
the number of items (no pairwise comparison). A document matches an item when

- `overlap` = share of the item's n-grams found in the document >= `threshold` (the item was copied, perhaps
  with edits or inside longer text), or
- share of the *document's* n-grams found in that one item >= `doc_threshold` (the document is a piece of
  the item, e.g. a truncated copy of a long reading passage; the curator's natural-overlap list used this
  direction).

Defaults: `ngram=13` characters follows the GPT-3 / Llama decontamination tradition (13 tokens there; on
folded Chinese 13 characters is about 8-9 words, long enough that unrelated texts almost never share one).
`threshold=0.25` and `ngram=13` were chosen on half of the shared benchmark items (`bench/decontam_eval.py`:
n in 8/10/13 x threshold 0.25/0.35/0.5; rule: clean drops <= 0.5%, recall within 0.01 of the best, then the
longest n-gram) and hold on the other half: recall 0.99 over exact/Traditional/edited/surrounded copies, 0.97
for copies with 3% of characters edited (one edit destroys up to 13 n-grams, so 0.5 caught only 0.86), 0.15%
of clean documents dropped, most of them real near-copies of FewCLUE iflytek items. A quarter of an item's
13-grams is still >= 2 distinct 13-character runs for the shortest indexed item and hundreds of characters
for a reading passage. `doc_threshold=0.5` is the curator's natural-overlap rule (13-char shingles, share of
the document >= 0.5).

Items too short for n-gram matching (fewer than `min_item_ngrams` n-grams: one edit could remove them all,
and a few shared n-grams are a common phrase rather than a copy) are matched as exact folded substrings when
at least `min_exact_chars` long (`short_items: exact`), or skipped and counted (`short_items: skip`); items
shorter than `min_exact_chars` (`很好吃`, `质量不错`) are always skipped: they occur naturally in clean text.

Hashes: a polynomial hash mod 2^64 over code points, computed for all windows of a batch at once from prefix
sums (O(characters), no Python call per n-gram as `xxhash` per n-gram would need). For windows of at most a
few dozen characters, accidental collisions are ~n^2 / 2^64 and do not decide a match anyway (a match needs
many n-grams).

This is a Filter, not a GlobalStage: the only global thing is the index over benchmark items, which is small
(10k items ~ 1M n-grams, ~16 MB) and is built in `setup()` once per worker process; documents are then
independent, so the stage parallelises per shard and needs no extra pass over the data.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections import Counter
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from stages.base import Filter
from stages.chinese import fold
from stages.core.arrow import set_column
from stages.ngram_hash import RollingHash

log = logging.getLogger(__name__)

_BLOOM_SHIFT = np.uint64(40)  # 2^24 buckets of the hash's top bits (16 MB): ~1M item n-grams fill ~6%


class Benchmark(BaseModel):
    """One benchmark file: a name for the ledger and the fields holding the item text and id."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: str
    text_field: str = "text"
    id_field: str = Field("id", description="item id; the row number (row123) when the file has no such field")
    format: Literal["auto", "jsonl", "parquet", "csv"] = "auto"


# -- hashing ------------------------------------------------------------------------------------------------


def code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one uint32 code-point array, and the offsets (len(texts)+1) of each text in it."""
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
    return cps, offsets


def _inside(offsets: np.ndarray, n: int, n_windows: int) -> tuple[np.ndarray, np.ndarray]:
    """Of all windows of length n over the concatenated texts: those inside one text, and that text's index."""
    lengths = np.diff(offsets)
    doc = np.repeat(np.arange(len(lengths)), lengths)[:n_windows]
    ok = np.arange(n_windows) + n <= offsets[doc + 1]
    return ok, doc


def window_hashes(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of all n-character windows inside each text: (hashes, index of the text of each hash)."""
    cps, offsets = code_points(texts)
    h = RollingHash(cps).windows(n)
    if len(h) == 0:
        return h, np.empty(0, np.int64)
    ok, doc = _inside(offsets, n, len(h))
    return h[ok], doc[ok]


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """Hashes of the n-character windows of one (already folded) text."""
    return window_hashes([text], n)[0]


# -- benchmark files ----------------------------------------------------------------------------------------


def read_benchmark(spec: Benchmark) -> tuple[list[str], list[str]]:
    """(item ids, item texts) of one benchmark file; rows without text are skipped."""
    path, fmt = spec.path, spec.format
    if fmt == "auto":
        ext = path.lower().rsplit(".", 1)[-1]
        fmt = {"jsonl": "jsonl", "json": "jsonl", "parquet": "parquet", "pq": "parquet", "csv": "csv"}.get(ext, "")
        if not fmt:
            raise ValueError(f"benchmark {spec.name}: cannot tell the format of {path}; set format: jsonl|parquet|csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"benchmark {spec.name}: no such file {path}")
    rows: list[dict[str, Any]]
    if fmt == "jsonl":
        rows = []
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise ValueError(f"benchmark {spec.name}: {path} line {i}: not valid JSON: {e}") from None
    elif fmt == "csv":
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    ids, texts = [], []
    for i, row in enumerate(rows):
        if spec.text_field not in row:
            raise ValueError(f"benchmark {spec.name}: {path} row {i}: no field {spec.text_field!r} (text_field)")
        text = row[spec.text_field]
        if not isinstance(text, str) or not text.strip():
            continue
        item_id = row.get(spec.id_field)
        ids.append(f"row{i}" if item_id is None else str(item_id))
        texts.append(text)
    return ids, texts


class BenchmarkIndex:
    """Sorted n-gram hashes of all benchmark items with postings (item numbers), plus exact short items."""

    def __init__(
        self,
        benchmarks: list[Benchmark],
        ngram: int,
        min_item_ngrams: int,
        short_items: str,
        min_exact_chars: int,
    ):
        self.ngram = ngram
        labels: list[str] = []
        folded: list[str] = []
        self.summary: dict[str, dict[str, int]] = {}
        for spec in benchmarks:
            ids, texts = read_benchmark(spec)
            labels += [f"{spec.name}:{i}" for i in ids]
            folded += fold(pa.array(texts, pa.string())).to_pylist() if texts else []
            self.summary[spec.name] = Counter(items=len(ids))
        self.labels = labels
        bench_of = [lab.split(":", 1)[0] for lab in labels]
        lengths = np.array([len(t) for t in folded], np.int64)
        n_grams = np.maximum(lengths - ngram + 1, 0)
        long_ = n_grams >= max(min_item_ngrams, 1)
        exact = ~long_ & (lengths >= min_exact_chars) & (short_items == "exact")
        for i, b in enumerate(bench_of):
            self.summary[b]["ngram" if long_[i] else "exact" if exact[i] else "skipped_short"] += 1
        self.summary = {b: dict(c) for b, c in self.summary.items()}

        # n-gram index: unique hashes per item, then sorted by hash
        idx = np.flatnonzero(long_)
        h, local = window_hashes([folded[i] for i in idx], ngram)
        item = idx[local]
        order, first = _unique_pairs(h, item)
        self.keys = h[order][first]
        self.postings = item[order][first].astype(np.int64)
        self._bloom = np.zeros(1 << (64 - _BLOOM_SHIFT), bool)
        self._bloom[self.keys >> _BLOOM_SHIFT] = True
        self.item_ngrams = np.bincount(self.postings, minlength=len(labels)).astype(np.int64)

        # exact short items, grouped by folded length
        self.exact: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        eidx = np.flatnonzero(exact)
        for length in np.unique(lengths[eidx]):
            sel = eidx[lengths[eidx] == length]
            hs = np.array([ngram_hashes(folded[i], int(length))[0] for i in sel], np.uint64)
            o = np.argsort(hs, kind="stable")
            self.exact[int(length)] = (hs[o], sel[o])
        self._exact_bloom = np.zeros(1 << (64 - _BLOOM_SHIFT), bool)
        for hs, _ in self.exact.values():
            self._exact_bloom[hs >> _BLOOM_SHIFT] = True

    def __len__(self) -> int:
        return len(self.labels)

    def match(
        self, folded: list[str], threshold: float, doc_threshold: float | None, min_doc_ngrams: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Best matching item per document: (item number or -1, item share, doc share, exact flag)."""
        n_docs = len(folded)
        best_item = np.full(n_docs, -1, np.int64)
        best_item_share = np.zeros(n_docs)
        best_doc_share = np.zeros(n_docs)
        is_exact = np.zeros(n_docs, bool)
        cps, offsets = code_points(folded)
        prefix = RollingHash(cps)
        n = self.ngram

        if len(self.keys):
            h = prefix.windows(n)
            if len(h):
                ok, doc = _inside(offsets, n, len(h))
                h, doc = h[ok], doc[ok]
                maybe = np.flatnonzero(self._bloom[h >> _BLOOM_SHIFT])  # cheap pre-filter: most n-grams miss
                lo = np.searchsorted(self.keys, h[maybe], side="left")
                hi = np.searchsorted(self.keys, h[maybe], side="right")
                hit = hi > lo
                if hit.any():
                    h_hit, doc_hit, lo_hit, cnt = h[maybe][hit], doc[maybe][hit], lo[hit], (hi - lo)[hit]
                    # a document's repeated n-gram counts once
                    order, first = _unique_pairs(h_hit, doc_hit)
                    doc_hit, lo_hit, cnt = doc_hit[order][first], lo_hit[order][first], cnt[order][first]
                    total = int(cnt.sum())
                    rep_doc = np.repeat(doc_hit, cnt)
                    within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
                    items = self.postings[np.repeat(lo_hit, cnt) + within]
                    pair = rep_doc * len(self.labels) + items
                    upair, shared = np.unique(pair, return_counts=True)
                    pdoc, pitem = upair // len(self.labels), upair % len(self.labels)
                    cand = np.zeros(n_docs, bool)
                    cand[pdoc] = True
                    in_cand = cand[doc]
                    doc_ngrams = _unique_counts(h[in_cand], doc[in_cand], n_docs)
                    item_share = shared / self.item_ngrams[pitem]
                    dn = doc_ngrams[pdoc]
                    doc_share = np.where(dn >= min_doc_ngrams, shared / np.maximum(dn, 1), 0.0)
                    passes = item_share >= threshold
                    if doc_threshold is not None:
                        passes |= doc_share >= doc_threshold
                    # rank: passing pairs first, then by item share, then doc share; one best pair per doc
                    score = passes * 4.0 + item_share + doc_share * 1e-3
                    order = np.lexsort((-score, pdoc))
                    pdoc_o = pdoc[order]
                    first_of_doc = np.r_[True, pdoc_o[1:] != pdoc_o[:-1]]
                    sel = order[first_of_doc]
                    d = pdoc[sel]
                    best_item_share[d] = item_share[sel]
                    best_doc_share[d] = doc_share[sel]
                    best_item[d] = np.where(passes[sel], pitem[sel], -1)

        for length, (keys, items) in self.exact.items():
            h = prefix.windows(length)
            if not len(h):
                continue
            ok, doc = _inside(offsets, length, len(h))
            ok &= best_item[doc] < 0
            ok &= self._exact_bloom[h >> _BLOOM_SHIFT]
            h, doc = h[ok], doc[ok]
            pos = np.minimum(np.searchsorted(keys, h), len(keys) - 1)
            hit = keys[pos] == h
            for d, it in zip(doc[hit], items[pos[hit]], strict=True):
                if best_item[d] < 0:
                    best_item[d], best_item_share[d], is_exact[d] = it, 1.0, True
        return best_item, best_item_share, best_doc_share, is_exact

    def item_hashes(self, item: int) -> np.ndarray:
        """Sorted unique n-gram hashes of one indexed item (or the full hash of an exact short item)."""
        return np.sort(self.keys[self.postings == item])


def _unique_pairs(h: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort (hash, group) pairs by hash then group; `first` marks the first of each distinct pair."""
    order = np.lexsort((group, h))
    hs, gs = h[order], group[order]
    first = np.ones(len(order), bool)
    if len(order) > 1:
        first[1:] = (hs[1:] != hs[:-1]) | (gs[1:] != gs[:-1])
    return order, first


def _unique_counts(h: np.ndarray, doc: np.ndarray, n_docs: int) -> np.ndarray:
    """Unique hashes per document."""
    if not len(h):
        return np.zeros(n_docs, np.int64)
    order, first = _unique_pairs(h, doc)
    return np.bincount(doc[order][first], minlength=n_docs)


# -- the stage ----------------------------------------------------------------------------------------------


class Decontaminate(Filter):
    """Drop documents containing benchmark items (n-gram overlap on script-folded text); see module doc."""

    name: ClassVar[str] = "decontaminate"
    version: ClassVar[str] = "1"
    reason: ClassVar[str] = "benchmark_overlap"
    adds: ClassVar[tuple[str, ...]] = ("_contam_item", "_contam_overlap")

    benchmarks: list[Benchmark] = Field(min_length=1, description="[{name, path, text_field, id_field, format}]")
    ngram: int = Field(13, ge=4, le=64, description="characters per n-gram of the folded text")
    threshold: float = Field(0.25, gt=0, le=1, description="share of an item's n-grams found in the document")
    doc_threshold: float | None = Field(
        0.5, gt=0, le=1, description="share of the document's n-grams found in one item (null: off)"
    )
    min_doc_ngrams: int = Field(8, ge=1, description="documents with fewer n-grams are not judged by doc share")
    action: Literal["drop", "remove_paragraphs"] = Field(
        "drop", description="drop the document, or remove only the overlapping paragraphs"
    )
    min_item_ngrams: int = Field(8, ge=1, description="items with fewer n-grams are 'short' (see short_items)")
    short_items: Literal["exact", "skip"] = Field(
        "exact", description="short items: match as exact folded substrings, or skip them"
    )
    min_exact_chars: int = Field(10, ge=1, description="short items shorter than this (folded) are skipped")
    paragraph_cover: float = Field(
        0.5, gt=0, le=1, description="remove_paragraphs: remove a line when this share of it is matched text"
    )

    def setup(self) -> None:
        t0 = time.perf_counter()
        index = BenchmarkIndex(
            self.benchmarks, self.ngram, self.min_item_ngrams, self.short_items, self.min_exact_chars
        )
        object.__setattr__(self, "_index", index)
        log.info(
            "decontaminate: %d items, %d n-grams indexed in %.1fs: %s",
            len(index),
            len(index.keys),
            time.perf_counter() - t0,
            index.summary,
        )

    @property
    def index(self) -> BenchmarkIndex:
        self.ensure_setup()
        return self.__dict__["_index"]

    def index_summary(self) -> dict[str, dict[str, int]]:
        """Items per benchmark: matched by n-grams, matched exactly (short), skipped (too short)."""
        return self.index.summary

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        index = self.index
        folded = fold(batch.column("text")).to_pylist() if batch.num_rows else []
        folded = [t or "" for t in folded]
        match = index.match(folded, self.threshold, self.doc_threshold, self.min_doc_ngrams)
        item = match[0]
        for lab in (index.labels[i].split(":", 1)[0] for i in item[item >= 0]):
            self.count(f"matched.{lab}")
        batch = set_column(
            batch, "_contam_item", pa.array([index.labels[i] if i >= 0 else None for i in item], pa.string())
        )
        batch = set_column(batch, "_contam_overlap", pa.array(np.round(match[1], 4), pa.float32()))
        self.scratch()["match"] = match  # (item, item_share, doc_share, exact) per document, for the hooks below
        return batch

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        item = self.scratch()["match"][0]
        return pa.array([self.reason if i >= 0 else None for i in item], pa.string())

    def edit(self, batch: pa.RecordBatch, reasons: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
        """`action: remove_paragraphs`: keep a matched document without the lines the item covers, when
        something is left."""
        if self.action != "remove_paragraphs":
            return batch, reasons
        item, _, _, exact = self.scratch()["match"]
        texts = batch.column("text").to_pylist()
        out = reasons.to_pylist()
        for i in np.flatnonzero(item >= 0):
            new_text, removed = self._remove_paragraphs(texts[i], int(item[i]), bool(exact[i]))
            if removed and new_text.strip() and (fold(pa.array([new_text])).to_pylist()[0] or ""):
                texts[i] = new_text
                out[i] = None
                self.count("paragraphs_removed", removed)
                self.count("docs_edited")
        return set_column(batch, "text", pa.array(texts, pa.string())), pa.array(out, pa.string())

    def details(self, batch: pa.RecordBatch, reasons: pa.Array) -> list[str | None]:
        item, item_share, doc_share, exact = self.scratch()["match"]
        return [
            self._detail(int(item[i]), float(item_share[i]), float(doc_share[i]), bool(exact[i]))
            if item[i] >= 0
            else None
            for i in range(batch.num_rows)
        ]

    def _detail(self, item: int, item_share: float, doc_share: float, exact: bool) -> str:
        label = self.index.labels[item]
        if exact:
            return f"{label} (overlap 1.00, exact short item)"
        if item_share >= self.threshold:
            return f"{label} (overlap {item_share:.2f})"
        return f"{label} (overlap {item_share:.2f}; {doc_share:.2f} of the document)"

    def _remove_paragraphs(self, text: str, item: int, exact: bool) -> tuple[str, int]:
        """Remove the lines mostly covered by the matched item's n-grams; (new text, lines removed)."""
        lines = text.split("\n")
        folded_lines = [t or "" for t in fold(pa.array(lines, pa.string())).to_pylist()]
        joined = "".join(folded_lines)
        line_of = np.repeat(np.arange(len(lines)), [len(t) for t in folded_lines])
        if not len(line_of):
            return text, 0
        covered = np.zeros(len(joined), bool)
        if exact:
            length = next(k for k, (_, its) in self.index.exact.items() if item in its)
            keys, its = self.index.exact[length]
            target = keys[np.flatnonzero(its == item)]
            n = length
        else:
            target = self.index.item_hashes(item)
            n = self.ngram
        h = ngram_hashes(joined, n)
        starts = np.flatnonzero(np.isin(h, target))
        if len(starts):
            diff = np.zeros(len(joined) + 1, np.int64)
            np.add.at(diff, starts, 1)
            np.add.at(diff, starts + n, -1)
            covered = np.cumsum(diff[:-1]) > 0
        line_chars = np.bincount(line_of, minlength=len(lines))
        line_cov = np.bincount(line_of, weights=covered, minlength=len(lines))
        remove = (line_chars > 0) & (line_cov >= self.paragraph_cover * np.maximum(line_chars, 1))
        if not remove.any():
            return text, 0
        kept = [ln for ln, r in zip(lines, remove, strict=True) if not r]
        return "\n".join(kept).strip("\n"), int(remove.sum())
