"""Gopher-style repetition signals, adapted to Chinese characters.

Gopher (Rae et al. 2021, table A1) measures repeated lines and paragraphs, the share of the text taken by
the most frequent word 2/3/4-gram, and the share covered by duplicated word 5..10-grams. Chinese has no
spaces, so the n-grams here are over characters (whitespace removed). Everything is vectorised: lines and
paragraphs are dictionary-encoded per batch, and character n-grams are rolling 64-bit hashes sorted once
per n over the whole batch.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter
from stages.charclass import SPACE
from stages.ngram_hash import doc_ngram_hashes, mix
from stages.quality._codepoints import codepoints, safe_ratio
from stages.quality._rules import above, first_reason, per_doc, signal, split_lines, with_signals

_HASH_BITS = 40  # n-gram hash bits kept beside the document index in one uint64 sort key


def duplicate_units(texts: pa.Array, pattern: str, regex: bool) -> tuple[np.ndarray, ...]:
    """Per document: number of units (non-empty lines or paragraphs), units that repeat an earlier unit,
    characters in all units and characters in the repeats. A unit's characters are its trimmed length."""
    n = len(texts)
    units, parent = split_lines(texts, pattern, regex)
    if len(units) == 0:
        z = np.zeros(n)
        return z, z, z, z
    codes = pc.dictionary_encode(units).indices.to_numpy().astype(np.int64)
    key = (parent.astype(np.int64) << 32) | codes
    _, first = np.unique(key, return_index=True)
    dup = np.ones(len(key), dtype=bool)
    dup[first] = False
    lengths = pc.utf8_length(units).to_numpy(zero_copy_only=False).astype(np.float64)
    return (
        per_doc(parent, n),
        per_doc(parent, n, dup.astype(np.float64)),
        per_doc(parent, n, lengths),
        per_doc(parent, n, dup * lengths),
    )


def char_ngram_signals(
    texts: pa.Array, top_ns: tuple[int, ...], dup_ns: tuple[int, ...]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Character n-gram repetition per document, over the text with whitespace removed.

    top[n]: (occurrences of the most frequent n-gram x n) / characters, capped at 1 (Gopher's top n-gram
    fraction; occurrences may overlap, so a run of one character would otherwise exceed 1). 0 when no
    n-gram occurs twice: a short text without repetition is not "dominated" by one of its n-grams.
    dup[n]: characters covered by n-grams that already occurred earlier in the document / characters
    (Gopher's duplicated n-gram fraction; first occurrences do not count, overlaps are counted once).
    """
    cp = codepoints(texts)
    keep = (cp.classes & SPACE) == 0
    c = cp.cps[keep]
    lengths = cp.per_doc_sum(keep)
    n_docs = cp.n_docs
    starts = np.concatenate(([0], np.cumsum(lengths)))
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    pos_in_doc = np.arange(len(c), dtype=np.int64) - starts[doc]
    remaining = lengths[doc] - pos_in_doc  # characters from here to the end of the document
    top: dict[int, np.ndarray] = {}
    dup: dict[int, np.ndarray] = {}
    wanted = sorted(set(top_ns) | set(dup_ns))
    if not wanted:
        return top, dup
    mask40 = np.uint64((1 << _HASH_BITS) - 1)
    # An n-gram can only repeat where its (n-1)-gram prefix repeats, so each n sorts only the positions
    # that were in a repeated group at n-1: one full sort (the smallest n), then ever smaller ones.
    candidate = np.ones(len(c), dtype=bool)
    for n, idx, hashes in doc_ngram_hashes(c, remaining, range(min(wanted), max(wanted) + 1)):
        sel = candidate[idx]
        idx = idx[sel]
        key = (doc[idx].astype(np.uint64) << np.uint64(_HASH_BITS)) | (mix(hashes[sel]) & mask40)
        order = np.argsort(key)
        sk = key[order]
        pos = idx[order]  # positions grouped by n-gram
        run_start = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1]))) if len(sk) else np.zeros(0, int)
        run_len = np.diff(np.append(run_start, len(sk)))
        candidate = np.zeros(len(c), dtype=bool)
        candidate[pos[np.repeat(run_len > 1, run_len)]] = True
        if n in top_ns:
            best = np.zeros(n_docs, dtype=np.int64)
            rep = run_len > 1
            np.maximum.at(best, doc[pos[run_start[rep]]], run_len[rep])
            top[n] = np.minimum(safe_ratio(best * n, lengths), 1.0)
        if n in dup_ns:
            is_dup = candidate.copy()  # repeated groups, minus the earliest occurrence of each
            if len(pos):
                is_dup[np.minimum.reduceat(pos, run_start)] = False
            starts_dup = np.flatnonzero(is_dup)
            # characters covered by [start, start + n) of the duplicate starts, overlaps counted once; an
            # interval never crosses its document's end, so the gap to the next start bounds it
            cover = np.minimum(np.diff(np.append(starts_dup, np.iinfo(np.int64).max)), n)
            dup[n] = safe_ratio(per_doc(doc[starts_dup], n_docs, cover.astype(np.float64)), lengths)
    for n in top_ns:
        top.setdefault(n, np.zeros(n_docs))
    for n in dup_ns:
        dup.setdefault(n, np.zeros(n_docs))
    return top, dup


class RepetitionFilter(Filter):
    """Drops documents that repeat themselves: boilerplate lines, copied paragraphs, keyword stuffing.

    Signals: `_dup_line_frac`, `_dup_para_frac` (repeated units / units), `_dup_line_char_frac`,
    `_dup_para_char_frac` (characters in repeated units / characters in all units), `_top{n}_gram_frac` for
    n in 2..4 and `_dup{n}_gram_frac` for n in 5..10 (character n-grams, see `char_ngram_signals`).

    Defaults:
    - `max_dup_line_frac` 0.287: FineWeb-2 `dup_line_frac` for cmn_Hani (configs/cmn_Hani.yml, the version
      that also carries language_score 0.692; an earlier version had 0.314).
    - `max_dup_line_char_frac` 0.1: FineWeb-2's `char_duplicates_ratio` (FineWebQualityFilter, all languages).
    - `max_dup_para_frac` 0.3, `max_dup_para_char_frac` 0.2: Gopher table A1 (FineWeb-2 disables paragraph
      rules because trafilatura output has few paragraphs; ours may come from anywhere).
    - character n-grams: no pipeline publishes character-level thresholds for Chinese. FineWeb-2's cmn_Hani
      numbers (top 2/3/4: 0.256/0.201/0.171; dup 5..10: 0.198..0.127) are over jieba words, and a word
      n-gram spans about twice as many characters, so they do not transfer. Short texts have high top
      n-gram shares by chance (one 4-gram three times in 70 characters is 0.17), so top 2/3/4 are all 0.20,
      above the 99th percentile of the tuning half of the shared Wikipedia, news and abstract files
      (abstracts: 0.14/0.15/0.18). Duplicated 5..10-grams use Gopher's word thresholds plus 0.25
      (0.40 .. 0.35): Chinese repeats names and terms of 4–8 characters far more than English repeats
      5-word sequences; the clean files' p99 is 0.35–0.37 for 5-grams and below 0.20 for 10-grams, while
      articles with a copied paragraph block reach 0.5.
    Set any threshold to null to disable that rule.
    """

    name: ClassVar[str] = "repetition_filter"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {
        **{f"_top{n}_gram_frac": (f"max_top_ngram_frac.{n}",) for n in (2, 3, 4)},
        **{f"_dup{n}_gram_frac": (f"max_dup_ngram_frac.{n}",) for n in range(5, 11)},
    }
    version: ClassVar[str] = "1"
    adds: ClassVar[tuple[str, ...]] = (
        "_dup_line_frac",
        "_dup_para_frac",
        "_dup_line_char_frac",
        "_dup_para_char_frac",
        *(f"_top{n}_gram_frac" for n in (2, 3, 4)),
        *(f"_dup{n}_gram_frac" for n in range(5, 11)),
    )

    max_dup_line_frac: float | None = 0.287
    max_dup_line_char_frac: float | None = 0.1
    max_dup_para_frac: float | None = 0.3
    max_dup_para_char_frac: float | None = 0.2
    max_top_ngram_frac: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.20, 4: 0.20}, description="n -> max share of the top char n-gram"
    )
    max_dup_ngram_frac: dict[int, float] = Field(
        default_factory=lambda: {5: 0.40, 6: 0.39, 7: 0.38, 8: 0.37, 9: 0.36, 10: 0.35},
        description="n -> max share of characters in repeated char n-grams",
    )

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        n_lines, dup_lines, line_chars, dup_line_chars = duplicate_units(texts, "\n", regex=False)
        n_paras, dup_paras, para_chars, dup_para_chars = duplicate_units(texts, r"\n\s*\n", regex=True)
        top, dup = char_ngram_signals(texts, tuple(self.max_top_ngram_frac), tuple(self.max_dup_ngram_frac))
        signals = {
            "_dup_line_frac": safe_ratio(dup_lines, n_lines),
            "_dup_para_frac": safe_ratio(dup_paras, n_paras),
            "_dup_line_char_frac": safe_ratio(dup_line_chars, line_chars),
            "_dup_para_char_frac": safe_ratio(dup_para_chars, para_chars),
        }
        signals.update({f"_top{n}_gram_frac": v for n, v in sorted(top.items())})
        signals.update({f"_dup{n}_gram_frac": v for n, v in sorted(dup.items())})
        return with_signals(batch, signals)

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        rules = [
            (above(signal(batch, "_dup_para_frac"), self.max_dup_para_frac), "dup_para_frac"),
            (above(signal(batch, "_dup_para_char_frac"), self.max_dup_para_char_frac), "dup_para_char_frac"),
            (above(signal(batch, "_dup_line_frac"), self.max_dup_line_frac), "dup_line_frac"),
            (above(signal(batch, "_dup_line_char_frac"), self.max_dup_line_char_frac), "dup_line_char_frac"),
        ]
        rules += [
            (above(signal(batch, f"_top{n}_gram_frac"), t), f"top_{n}_gram")
            for n, t in sorted(self.max_top_ngram_frac.items())
        ]
        rules += [
            (above(signal(batch, f"_dup{n}_gram_frac"), t), f"dup_{n}_gram")
            for n, t in sorted(self.max_dup_ngram_frac.items())
        ]
        return first_reason(batch.num_rows, rules)
