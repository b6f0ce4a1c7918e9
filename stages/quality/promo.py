"""App-store copy: release notes (changelogs) and marketing formulas, counted with hand-written regex lists."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter
from stages.chinese import string_array
from stages.quality._rules import above, first_reason, signal, with_signals
from stages.quality.words import read_word_list

RESOURCES = Path(__file__).parent / "resources"


def load_patterns(paths: list[str | Path]) -> str | None:
    """One alternation of every regex in the files (one per line, # comments), or None when there are none."""
    pats = [p for path in paths for p in read_word_list(path)]
    for p in pats:  # fail on the user's line, not inside Arrow
        try:
            pc.count_substring_regex(pa.array([""]), pattern=p)
        except pa.ArrowInvalid as e:
            raise ValueError(f"app_promo_filter: bad regex {p!r}: {e}") from None
    return "|".join(f"(?:{p})" for p in pats) or None


def count_matches(texts: pa.Array, pattern: str | None) -> np.ndarray:
    if pattern is None:
        return np.zeros(len(texts), dtype=np.int64)
    counts = pc.count_substring_regex(texts, pattern=pattern, ignore_case=True)
    return pc.fill_null(counts, 0).to_numpy(zero_copy_only=False).astype(np.int64)


class AppPromoFilter(Filter):
    """Drops app-store copy: descriptions with a release note appended, and marketing written to sell a
    download rather than to say something.

    Signals: `_changelog_hits` (matches of resources/promo_changelog.txt in the document: 更新内容,
    修复已知bug, 提升稳定性, 优化用户体验, V2.3 ...), `_promo_hits` (matches of
    resources/promo_marketing.txt in the document: 快来下载, 还等什么, 注册即送, 秒到账, 震撼来袭, 本应用,
    这款...app ...). Both lists are written for this project as regexes (one per line), and users can
    add files.

    Defaults (no published pipeline has these rules; both measured on the tuning half of the shared files):
    - `max_changelog_hits` 0: a release note is store metadata, so one marker drops the document. It hits
      ~60% of the iFLYTEK app descriptions and no Wikipedia passage, abstract or CCNet page; news about apps
      and games quotes one rarely (<1% of THUCNews).
    - `max_promo_hits` 1: one formula can be a quote in a news article about a launch ("还等什么" in game
      news); two are marketing copy. On the tuning half this drops 2.4% of the app descriptions that have
      no release note, and no news article; allowing one (a density of 4 per 1,000 characters was tried)
      dropped 5% of them but also hit game news. Words that news uses in ordinary reporting (下载, 火爆,
      海量, 手游, 一款...游戏) are not in the list at all.
    """

    name: ClassVar[str] = "app_promo_filter"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {
        "_changelog_hits": ("max_changelog_hits",),
        "_promo_hits": ("max_promo_hits",),
    }
    adds: ClassVar[tuple[str, ...]] = ("_changelog_hits", "_promo_hits")

    max_changelog_hits: int | None = Field(0, ge=0, description="drop above this many release-note markers")
    max_promo_hits: int | None = Field(1, ge=0, description="drop above this many marketing formulas")
    changelog_files: list[str] = Field(default_factory=list, description="extra release-note regex files")
    promo_files: list[str] = Field(default_factory=list, description="extra marketing regex files")

    def setup(self) -> None:
        object.__setattr__(
            self, "_changelog", load_patterns([RESOURCES / "promo_changelog.txt", *self.changelog_files])
        )
        object.__setattr__(self, "_promo", load_patterns([RESOURCES / "promo_marketing.txt", *self.promo_files]))

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        texts = string_array(batch.column("text"))
        signals = {
            "_changelog_hits": count_matches(texts, self._changelog),
            "_promo_hits": count_matches(texts, self._promo),
        }
        return with_signals(batch, signals)

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(
            batch.num_rows,
            [
                (above(signal(batch, "_changelog_hits"), self.max_changelog_hits), "app_changelog"),
                (above(signal(batch, "_promo_hits"), self.max_promo_hits), "app_promo"),
            ],
        )
