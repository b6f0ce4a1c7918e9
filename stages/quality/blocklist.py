"""Keyword blocklist (ads, gambling, pornography) matched with Aho-Corasick: soft terms as hits per 1,000
characters, hard terms (unambiguous gambling/porn-site vocabulary) as a count per document."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter
from stages.chinese import converter, string_array
from stages.quality._codepoints import safe_ratio
from stages.quality._rules import above, first_reason, signal, with_signals
from stages.quality.words import read_word_list

RESOURCES = Path(__file__).parent / "resources"
CATEGORIES = ("ads", "gambling", "porn", "hard")
SOFT, HARD = 1, 2  # bit flags stored with each keyword in the automaton


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
        for config in ("s2t", "s2tw"):
            conv = converter(config).convert
            words |= {conv(w) for w in words}
    return words


class BlocklistFilter(Filter):
    """Drops spam pages by keyword density: `_blocklist_hits` = non-overlapping keyword matches (longest
    first) per 1,000 characters of lower-cased text; and by any hit of a hard term: `_blocklist_hard_hits`
    = matches of the `hard_categories` lists in the document (hard terms count as soft hits too).

    The lists are written for this project (resources/blocklist_{ads,gambling,porn}.txt): phrases of spam
    and adult-site advertising, not topic words, so news about gambling or medicine is not hit. Add your own
    lists with `extra_files` (one keyword per line).

    Default `max_hits_per_1000` 1.0: ChineseWebText drops a page when distinct sensitive words per line
    exceed 0.5 (preprocess.py, `max_sensitive_word_per_line`); lines vary too much in length for that to
    carry over, so we count per 1,000 characters. No pipeline publishes that number. 1.0 means one spam
    phrase in a 1,000-character article is tolerated and two are not; a 300-character page with one is
    dropped (3.3). On the shared files ~1% of THUCNews articles pass it (game ads with 客服QQ, "点击进入"
    boilerplate), no Wikipedia passage or abstract does.

    Hard terms (resources/blocklist_hard.txt, written for this project): gambling-site and adult-site
    vocabulary with no innocent sense (时时彩, 真人视讯, 现金网, "XX体育app" brands, 成人视频 ...). Spam
    networks splice one such sentence into an otherwise normal news page, which a density threshold
    cannot see in a 2,000-character page, so `max_hard_hits` 0 drops a page on its first hit (ChineseWebText
    and MAP-NEO Matrix also drop on sensitive-word presence, not density). Words with an innocent sense
    (威尼斯人 the Macau resort, 六合彩 the Hong Kong lottery, 彩金, A片 ...) stay out of the hard list. On the
    tuning half of the shared files the hard list hits 3 of 28 CCNet pages, 3 of 1,083 app descriptions
    (lottery apps), and no Wikipedia passage, news article or abstract.
    """

    name: ClassVar[str] = "blocklist_filter"
    version: ClassVar[str] = "2"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {
        "_blocklist_hits": ("max_hits_per_1000",),
        "_blocklist_hard_hits": ("max_hard_hits",),
    }
    adds: ClassVar[tuple[str, ...]] = ("_blocklist_hits", "_blocklist_hard_hits")
    reason: ClassVar[str] = "blocklist"

    max_hits_per_1000: float | None = Field(1.0, ge=0, description="drop above this many hits per 1,000 characters")
    categories: list[str] = Field(
        default_factory=lambda: ["ads", "gambling", "porn"], description="built-in soft lists to use"
    )
    extra_files: list[str] = Field(default_factory=list, description="user keyword files, one keyword per line")
    max_hard_hits: int | None = Field(0, ge=0, description="drop above this many hard-term hits per document")
    hard_categories: list[str] = Field(default_factory=lambda: ["hard"], description="built-in hard lists")
    hard_extra_files: list[str] = Field(default_factory=list, description="user hard-term files, one per line")

    def setup(self) -> None:
        import ahocorasick

        unknown = sorted(set(self.categories + self.hard_categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"blocklist_filter.categories: unknown {unknown}; built-in: {list(CATEGORIES)}")
        flags: dict[str, int] = {}
        for word in load_keywords(self.categories, self.extra_files):
            flags[word] = SOFT
        for word in load_keywords(self.hard_categories, self.hard_extra_files):
            flags[word] = flags.get(word, 0) | HARD
        automaton = ahocorasick.Automaton()
        for word in sorted(flags):
            automaton.add_word(word, flags[word])
        if len(automaton):
            automaton.make_automaton()
        object.__setattr__(self, "_automaton", automaton)

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        automaton = self._automaton
        texts = pc.utf8_lower(string_array(batch.column("text")))
        hits = np.zeros(batch.num_rows, dtype=np.int64)
        hard = np.zeros(batch.num_rows, dtype=np.int64)
        if len(automaton):
            for i, text in enumerate(texts.to_pylist()):
                if text:
                    for _, flag in automaton.iter_long(text):
                        hits[i] += 1
                        hard[i] += flag >> 1
        n_chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        return with_signals(
            batch, {"_blocklist_hits": safe_ratio(hits * 1000.0, n_chars), "_blocklist_hard_hits": hard}
        )

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(
            batch.num_rows,
            [
                (above(signal(batch, "_blocklist_hard_hits"), self.max_hard_hits), "blocklist_hard"),
                (above(signal(batch, "_blocklist_hits"), self.max_hits_per_1000), self.reason),
            ],
        )
