"""Keyword blocklist (ads, gambling, pornography) matched with Aho-Corasick, as hits per 1,000 characters."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter
from stages.quality._codepoints import safe_ratio, string_array
from stages.quality._rules import above, first_reason, signal, with_signals
from stages.quality.words import read_word_list

RESOURCES = Path(__file__).parent / "resources"
CATEGORIES = ("ads", "gambling", "porn")


def load_keywords(categories: list[str], extra_files: list[str], traditional: bool = True) -> set[str]:
    """Built-in lists by category plus user files, lower-cased; with Traditional forms (OpenCC s2t, s2tw)
    added so that one Simplified list also matches Traditional pages."""
    words: set[str] = set()
    for cat in categories:
        words.update(read_word_list(RESOURCES / f"blocklist_{cat}.txt"))
    for path in extra_files:
        words.update(read_word_list(path))
    words = {w.lower() for w in words}
    if traditional:
        import opencc

        for config in ("s2t", "s2tw"):
            conv = opencc.OpenCC(config).convert
            words |= {conv(w) for w in words}
    return words


class BlocklistFilter(Filter):
    """Drops spam pages by keyword density: `_blocklist_hits` = non-overlapping keyword matches (longest
    first) per 1,000 characters of lower-cased text.

    The lists are written for this project (resources/blocklist_{ads,gambling,porn}.txt): phrases of spam
    and adult-site advertising, not topic words, so news about gambling or medicine is not hit. Add your own
    lists with `extra_files` (one keyword per line).

    Default `max_hits_per_1000` 1.0: ChineseWebText drops a page when distinct sensitive words per line
    exceed 0.5 (preprocess.py, `max_sensitive_word_per_line`); lines vary too much in length for that to
    carry over, so we count per 1,000 characters. No pipeline publishes that number. 1.0 means one spam
    phrase in a 1,000-character article is tolerated and two are not; a 300-character page with one is
    dropped (3.3). On the shared files ~1% of THUCNews articles pass it (game ads with 客服QQ, "点击进入"
    boilerplate), no Wikipedia passage or abstract does.
    """

    name: ClassVar[str] = "blocklist_filter"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_blocklist_hits": ("max_hits_per_1000",)}
    adds: ClassVar[tuple[str, ...]] = ("_blocklist_hits",)
    reason: ClassVar[str] = "blocklist"

    max_hits_per_1000: float | None = Field(1.0, ge=0, description="drop above this many hits per 1,000 characters")
    categories: list[str] = Field(default_factory=lambda: list(CATEGORIES), description="built-in lists to use")
    extra_files: list[str] = Field(default_factory=list, description="user keyword files, one keyword per line")

    def setup(self) -> None:
        import ahocorasick

        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"blocklist_filter.categories: unknown {unknown}; built-in: {list(CATEGORIES)}")
        automaton = ahocorasick.Automaton()
        for word in sorted(load_keywords(self.categories, self.extra_files)):
            automaton.add_word(word, word)
        if len(automaton):
            automaton.make_automaton()
        object.__setattr__(self, "_automaton", automaton)

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        automaton = self._automaton
        texts = pc.utf8_lower(string_array(batch.column("text")))
        hits = np.zeros(batch.num_rows, dtype=np.int64)
        if len(automaton):
            for i, text in enumerate(texts.to_pylist()):
                if text:
                    hits[i] = sum(1 for _ in automaton.iter_long(text))
        n_chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        return with_signals(batch, {"_blocklist_hits": safe_ratio(hits * 1000.0, n_chars)})

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(
            batch.num_rows, [(above(signal(batch, "_blocklist_hits"), self.max_hits_per_1000), self.reason)]
        )
