"""Document length in characters and mean line length."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter
from stages.chinese import string_array
from stages.quality._codepoints import safe_ratio
from stages.quality._rules import above, below, first_reason, signal, with_signals

# A line break after a clause mark does not end a line for `_mean_line_len`: the sentence goes on. Not after a
# colon: a line ending in one is a form field ("用户名：") as often as a list's introduction.
CONTINUED = r"[，、；,;][ \t]*\n"


class LengthFilter(Filter):
    """Drops fragments and giant pages by length in characters (`_char_len`), and pages made of short
    lines, such as menus, tag clouds and link lists, by mean line length (`_mean_line_len`: characters /
    lines, where lines = newlines + 1).

    - `min_chars` 50: Gopher's `min_doc_words` 50 (kept by FineWeb-2 for every language), counted in
      characters, the unit every quality stage here uses. Counted in jieba words as FineWeb-2 does, 50 words
      are ~100 characters of Chinese (1.9 characters per token with punctuation on the shared Wikipedia and
      news files), which drops 13% of complete scientific abstracts; ChineseWebText's 200 drops 56% of
      them. Reviews and headlines (median 17–31 characters) fall below 50 by design: a pre-training recipe
      wants running text, and fragments without context are better kept in a separate, task-style mix.
    - `max_chars` 200,000: Gopher/FineWeb-2 `max_doc_words` 100,000 at ~2 characters per word.
    - `min_mean_line_len` 10: ChineseWebText `min_line_len` (CASIA-LM/ChineseWebText preprocess.py), the
      same definition (len(text) / number of lines), except that a line ending in a comma, enumeration
      comma or semicolon (full- or half-width) continues on the next one and is not counted apart (not a
      colon: "用户名：" / "密码：" lines are a form).
      Verse (one half-couplet of 5-7 characters per line, "晓雾锁柴扉，") and text wrapped at a clause
      are running text; ChineseWebText's count dropped every such poem, while menus and tag clouds, which
      the rule is for, have no clause marks at their line ends and count as before.
    """

    name: ClassVar[str] = "length_filter"
    version: ClassVar[str] = "2"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_char_len": ("min_chars", "max_chars")}
    adds: ClassVar[tuple[str, ...]] = ("_char_len", "_mean_line_len")

    min_chars: int | None = Field(50, ge=0, description="drop shorter documents (characters); null disables")
    max_chars: int | None = Field(200_000, ge=1, description="drop longer documents (characters); null disables")
    min_mean_line_len: float | None = Field(10, ge=0, description="drop when characters per line is below")

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = string_array(batch.column("text"))
        n_chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
        n_lines = pc.count_substring(texts, "\n").to_numpy(zero_copy_only=False).astype(np.int64) + 1
        n_lines -= pc.count_substring_regex(texts, CONTINUED).to_numpy(zero_copy_only=False).astype(np.int64)
        return with_signals(batch, {"_char_len": n_chars, "_mean_line_len": safe_ratio(n_chars, n_lines)})

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        n = signal(batch, "_char_len")
        return first_reason(
            batch.num_rows,
            [
                (below(n, self.min_chars), "too_short"),
                (above(n, self.max_chars), "too_long"),
                (below(signal(batch, "_mean_line_len"), self.min_mean_line_len), "short_lines"),
            ],
        )
