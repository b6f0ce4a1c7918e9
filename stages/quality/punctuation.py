"""Line endings and character mix: terminal punctuation, symbols, digits, brackets, bullets, ellipses."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.base import Filter
from stages.charclass import BRACKET, DIGIT, SPACE, SYMBOL
from stages.quality._codepoints import codepoints, safe_ratio
from stages.quality._rules import above, below, first_reason, per_doc, signal, split_lines, with_signals

# A line "ends a sentence" when its last character is one of these. Chinese full stops, exclamation and
# question marks (full- and half-width, since NFKC turns ！？ into !?), ellipses, and closing quotes and
# brackets that follow a sentence-final mark in Chinese typesetting (。” ！」 ...).
TERMINAL = list("。．.！!？?…；;”’\"'」』）)》")
# A line "contains a sentence end" when it has a Chinese or Western sentence-final mark; an ASCII full stop
# counts only when it is not inside a number or a domain name (3.5, www.a.cn), as Chinese abstracts use it.
SENTENCE_END = r"[。！？!?…；]|\.(?:[^0-9A-Za-z]|$)"
# Bullet characters Gopher counts ("•") plus the ones Chinese pages use for lists.
BULLETS = list("•·●○◦■□▪▫◆◇►▶▸➢➤✓✔★☆-*–—")


class PunctuationFilter(Filter):
    """Drops menus, tables, code, lists and symbol soup by how lines end and which characters dominate.

    Signals: `_line_punct_ratio` (non-empty lines with a sentence end / non-empty lines; see
    `line_punct_mode`), `_symbol_ratio`,
    `_digit_ratio`, `_bracket_ratio` (Unicode symbols, decimal digits, and ()[]{}<> with their full-width
    forms and 【】〔〕〈〉, over non-whitespace characters), `_bullet_line_ratio` (lines starting with a
    bullet), `_ellipsis_line_ratio` (lines ending in ... or …).

    Defaults:
    - `min_line_punct_ratio` 0.106: FineWeb-2 `line_punct_thr` for cmn_Hani (configs/cmn_Hani.yml).
      FineWeb-2 counts lines that *end* in terminal punctuation (`line_punct_mode: ends`). On
      single-paragraph documents that is a test of the last character only, and it dropped 30% of THUCNews
      articles (bylines, "我要评论", contact lines after the last sentence) and 12% of CMRC Wikipedia
      passages (ending in a colon before a list) on the tuning half. The default `contains` counts a line
      when it has a sentence-final mark anywhere (SENTENCE_END), which keeps the rule's purpose: menus,
      link lists, product specs and keyword lines have none.
    - `max_bullet_line_ratio` 0.9, `max_ellipsis_line_ratio` 0.3: Gopher (table A1; datatrove
      GopherQualityFilter), kept by FineWeb-2 for every language.
    - `max_symbol_ratio` 0.1: Gopher's symbol-to-word ratio 0.1 (for # and ...), here over characters:
      no published Chinese number. Clean prose has almost no Unicode symbols (p99 of the tuning half of
      the shared Wikipedia/news/abstract files is below 0.04).
    - `max_digit_ratio` 0.3, `max_bracket_ratio` 0.1: no published number. C4 drops any page with "{"
      (code); brackets are normal in Chinese encyclopaedia text (years, glosses), so we bound their share
      instead. Both sit well above the 99th percentile of the clean tuning half (digits ~0.2,
      brackets ~0.07) and catch tables, price lists and markup.
    """

    name: ClassVar[str] = "punctuation_filter"
    adds: ClassVar[tuple[str, ...]] = (
        "_line_punct_ratio",
        "_symbol_ratio",
        "_digit_ratio",
        "_bracket_ratio",
        "_bullet_line_ratio",
        "_ellipsis_line_ratio",
    )

    min_line_punct_ratio: float | None = 0.106
    line_punct_mode: Literal["contains", "ends"] = "contains"
    max_symbol_ratio: float | None = 0.1
    max_digit_ratio: float | None = 0.3
    max_bracket_ratio: float | None = 0.1
    max_bullet_line_ratio: float | None = 0.9
    max_ellipsis_line_ratio: float | None = 0.3

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        n = batch.num_rows
        lines, parent = split_lines(texts)
        n_lines = per_doc(parent, n)
        if self.line_punct_mode == "ends":
            last = pc.utf8_slice_codeunits(lines, -1)
            ends = pc.is_in(last, value_set=pa.array(TERMINAL)).to_numpy(zero_copy_only=False)
        else:
            ends = pc.match_substring_regex(lines, SENTENCE_END).to_numpy(zero_copy_only=False)
        first = pc.utf8_slice_codeunits(lines, 0, 1)
        bullet = pc.is_in(first, value_set=pa.array(BULLETS)).to_numpy(zero_copy_only=False)
        ellipsis = pc.or_(pc.ends_with(lines, "..."), pc.ends_with(lines, "…")).to_numpy(zero_copy_only=False)
        cp = codepoints(texts)
        visible = cp.lengths - cp.count_class(SPACE)
        signals = {
            "_line_punct_ratio": safe_ratio(per_doc(parent, n, ends.astype(np.float64)), n_lines),
            "_symbol_ratio": safe_ratio(cp.count_class(SYMBOL), visible),
            "_digit_ratio": safe_ratio(cp.count_class(DIGIT), visible),
            "_bracket_ratio": safe_ratio(cp.count_class(BRACKET), visible),
            "_bullet_line_ratio": safe_ratio(per_doc(parent, n, bullet.astype(np.float64)), n_lines),
            "_ellipsis_line_ratio": safe_ratio(per_doc(parent, n, ellipsis.astype(np.float64)), n_lines),
        }
        return with_signals(batch, signals)

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(
            batch.num_rows,
            [
                (below(signal(batch, "_line_punct_ratio"), self.min_line_punct_ratio), "line_punct_ratio"),
                (above(signal(batch, "_bullet_line_ratio"), self.max_bullet_line_ratio), "bullet_lines"),
                (above(signal(batch, "_ellipsis_line_ratio"), self.max_ellipsis_line_ratio), "ellipsis_lines"),
                (above(signal(batch, "_symbol_ratio"), self.max_symbol_ratio), "symbol_ratio"),
                (above(signal(batch, "_digit_ratio"), self.max_digit_ratio), "digit_ratio"),
                (above(signal(batch, "_bracket_ratio"), self.max_bracket_ratio), "bracket_ratio"),
            ],
        )
