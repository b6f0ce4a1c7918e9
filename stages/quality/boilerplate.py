"""Web-page structure: boilerplate lines (removed by a mapper), text outside sentences, title and keyword stuffing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter, Mapper
from stages.chinese import string_array
from stages.core.arrow import set_column
from stages.quality._codepoints import safe_ratio
from stages.quality._rules import above, first_reason, per_doc, signal, split_lines, with_signals
from stages.quality.punctuation import prose_lines
from stages.quality.words import read_word_list

RESOURCES = Path(__file__).parent / "resources"

# Keyword lists: a sentence-sized segment (between sentence ends or newlines) cut by the separators SEO
# pages put between keywords. The Chinese enumeration comma 、 and the comma ， are left out: prose uses them
# for lists of names, and encyclopaedia text is full of those.
SEGMENT_END = r"[。！？!?；;…\n]"
KEYWORD_SEP = r"[\s|｜/／_\\]+"
# A token "reads like a sentence" when it holds a Chinese function character (both scripts) or is an
# English function word: keyword lists have almost none.
FUNCTION_TOKEN = (
    r"[的了是在和有不这這我也就都而与與及但把被对對从從向到为為让讓给給将將之其着著过過得吗嗎呢吧]"
    r"|^(?:the|of|and|to|in|a|an|is|are|was|for|on|with|by|as|at|from|that|this|it)$"
)
KEYWORD_MIN_TOKENS = 6
KEYWORD_MAX_MEAN_LEN = 10.0
KEYWORD_MAX_FUNCTION_SHARE = 0.15
TITLE_MIN_CHARS, TITLE_MAX_CHARS = 4, 40


def load_line_patterns(paths: list[str | Path]) -> str:
    """One case-insensitive alternation (RE2 and Python `re` alike) of every regex in the files."""
    pats = [p for path in paths for p in read_word_list(path)]
    for p in pats:  # fail on the user's line, not inside Arrow
        try:
            pc.match_substring_regex(pa.array([""]), pattern=p)
            re.compile(p)
        except (pa.ArrowInvalid, re.error) as e:
            raise ValueError(f"boilerplate_mapper: bad regex {p!r}: {e}") from None
    return "|".join(f"(?:{p})" for p in pats)


def remove_lines(text: str, rx: re.Pattern, max_chars: int) -> tuple[str, int]:
    """`text` without its short lines that match `rx` (blank lines kept); and how many were removed."""
    kept, removed = [], 0
    for line in text.split("\n"):
        s = line.strip()
        if 0 < len(s) <= max_chars and rx.search(s):
            removed += 1
        else:
            kept.append(line)
    return "\n".join(kept), removed


class BoilerplateMapper(Mapper):
    """Removes the template lines of web pages (上一篇/下一篇, 首页 > 栏目 breadcrumbs, 责任编辑/来源/点击量
    bylines, 相关文章 headers, 版权所有/ICP备 footers) so that the filters after it judge the article, and a
    clean article on a templated page is kept rather than dropped. `_boilerplate_lines` counts the lines
    removed per document; the counter `boilerplate_lines_removed` sums them.

    The patterns (resources/boilerplate_lines.txt, one regex per line, extensible with `pattern_files`) are
    written for this project; C4 and Gopher remove lines by similar lists for English (javascript, cookie
    policy, lorem ipsum), and CCNet already removes the lines repeated across pages of a shard, so what is
    left on a Chinese page is the per-page part of the template: links that carry the neighbouring titles,
    counters, dates. Only lines of at most `max_line_chars` (60) characters are candidates: a byline or a
    pager is short, a sentence that mentions 首页 is not (the longest template line on the tuning half of
    the CCNet file, a byline with date, reader count and reading time, is ~55 characters). A document whose
    lines would all go is left as it is, for the filters to judge.
    """

    name: ClassVar[str] = "boilerplate_mapper"
    adds: ClassVar[tuple[str, ...]] = ("_boilerplate_lines",)

    max_line_chars: int = Field(60, ge=1, description="longest line that may be removed")
    pattern_files: list[str] = Field(default_factory=list, description="extra regex files, one pattern per line")

    def setup(self) -> None:
        pattern = load_line_patterns([RESOURCES / "boilerplate_lines.txt", *self.pattern_files])
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_rx", re.compile(pattern, re.IGNORECASE))

    def map(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        texts = string_array(batch.column("text"))
        n = batch.num_rows
        removed = np.zeros(n, dtype=np.int64)
        if n:
            # candidates found vectorised; only the documents with a hit are rewritten in Python
            lines, parent = split_lines(texts)
            short = pc.less_equal(pc.utf8_length(lines), self.max_line_chars)
            hit = pc.and_(short, pc.match_substring_regex(lines, self._pattern, ignore_case=True))
            candidates = np.unique(parent[hit.to_numpy(zero_copy_only=False)])
            if len(candidates):
                new_texts = []
                for i, text in zip(candidates, texts.take(pa.array(candidates)).to_pylist(), strict=True):
                    new, k = remove_lines(text, self._rx, self.max_line_chars)
                    if not new.strip():  # all template: leave it whole for the filters
                        new, k = text, 0
                    new_texts.append(new)
                    removed[i] = k
                mask = np.zeros(n, dtype=bool)
                mask[candidates] = True
                texts = pc.replace_with_mask(texts, pa.array(mask), pa.array(new_texts, pa.string()))
                self.count("boilerplate_lines_removed", int(removed.sum()))
        batch = set_column(batch, "text", texts)
        return set_column(batch, "_boilerplate_lines", pa.array(removed, pa.int64()))


class PageStructureFilter(Filter):
    """Drops web pages that are not running text: link lists, spec sheets, forms and headline lists
    (`_nonprose_char_frac`), SEO pages that repeat their title through the body (`_title_repeats`), and
    keyword stuffing (`_keyword_list_frac`).

    Signals:
    - `_nonprose_char_frac`: characters in lines that do not read as prose (`punctuation.prose_lines`: no
      sentence end, half-width ones after Han characters included, and fewer than one comma per 40
      characters) over characters in non-empty lines. The character-weighted form of FineWeb-2's
      line-punctuation rule, which counts lines (a page of one long article and ten short link lines passes
      it) and C4's rule, which deletes such lines one by one. Changed in version 2 (issue 17): version 1
      counted only sentence-final marks, so every line of text that is not a web page but breaks lines
      inside sentences was "outside sentences": hard-wrapped PDF text (7 of 8 domain-shift documents
      dropped), verse written one half-couplet per line ("晓雾锁柴扉，"), forum replies and reviews written
      with commas only. On collections of 10 shared reviews per document it kept 9-24%, now 88-95%. The
      colon and 、 do not count, because spec sheets ("产品名称：口罩"), forms ("姓名：") and tag lists are
      made of them; after the change the rule still drops the CCNet link lists, spec sheets and forms it
      dropped (26% of the file, as before), but keeps 36% of headline lists (10 headlines per document,
      5% before), since a headline with a comma reads like a clause: that is the price of the change.
    - `_title_repeats`: how often the first line (the page title on a crawled page; 4-40 characters, and
      only when the document has more lines) reappears later in the text. SEO pages paste the target
      query into the body again and again ("什么药治咳喘效果好" after every paragraph).
    - `_keyword_list_frac`: characters in keyword lists over all characters. A keyword list is a segment
      between sentence ends or newlines cut by spaces, |, / or _ into at least 6 tokens of at most 10
      characters on average, of which at most 15% hold a function word (的, 了, 是 ... or the, of, and ...).

    Defaults, measured on the tuning half of the shared files (no published Chinese pipeline has these):
    - `max_nonprose_char_frac` 0.15: on the tuning half of the CCNet file, after boilerplate_mapper, pages
      that read as an article put at most 0.08 of their text outside sentences (headline, captions); link
      lists, product spec sheets, sign-up forms and query lists put 0.20-0.92 there; 0.15 sits in the gap.
      Wikipedia passages, abstracts and news articles in the shared files are single lines (0, or 1 with no
      sentence end at all, which punctuation_filter drops first), so the number rests on ~14 web pages:
      check it on your crawl in annotate mode.
    - `max_title_repeats` 2: a headline quoted once in the lead and once in the conclusion is normal; the
      third repetition is stuffing.
    - `max_keyword_list_frac` 0.5: a page that is half keyword lists. The clean files reach 0.6 only once
      (a Wikipedia cast list of English names in parentheses) and stay below 0.13 at the 99th percentile.
    """

    name: ClassVar[str] = "page_structure_filter"
    version: ClassVar[str] = "2"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {
        "_nonprose_char_frac": ("max_nonprose_char_frac",),
        "_title_repeats": ("max_title_repeats",),
        "_keyword_list_frac": ("max_keyword_list_frac",),
    }
    adds: ClassVar[tuple[str, ...]] = ("_nonprose_char_frac", "_title_repeats", "_keyword_list_frac")

    max_nonprose_char_frac: float | None = Field(0.15, ge=0, le=1)
    max_title_repeats: int | None = Field(2, ge=0)
    max_keyword_list_frac: float | None = Field(0.5, ge=0, le=1)

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = string_array(batch.column("text"))
        n = batch.num_rows
        lines, parent = split_lines(texts)
        line_len = pc.utf8_length(lines).to_numpy(zero_copy_only=False).astype(np.float64)
        ends = prose_lines(lines)
        signals = {
            "_nonprose_char_frac": safe_ratio(per_doc(parent, n, line_len * ~ends), per_doc(parent, n, line_len)),
            "_title_repeats": self._title_repeats(texts, lines, parent, line_len),
            "_keyword_list_frac": keyword_list_frac(texts),
        }
        return with_signals(batch, signals)

    @staticmethod
    def _title_repeats(texts: pa.Array, lines: pa.Array, parent: np.ndarray, line_len: np.ndarray) -> np.ndarray:
        n = len(texts)
        out = np.zeros(n, dtype=np.int64)
        if not len(parent):
            return out
        n_lines = per_doc(parent, n)
        first = np.searchsorted(parent, np.arange(n))  # parent is sorted: index of each document's first line
        ok = (n_lines >= 2) & (first < len(parent))
        ok[ok] &= (line_len[first[ok]] >= TITLE_MIN_CHARS) & (line_len[first[ok]] <= TITLE_MAX_CHARS)
        docs = np.nonzero(ok)[0]
        if len(docs):
            titles = lines.take(pa.array(first[docs])).to_pylist()
            bodies = texts.take(pa.array(docs)).to_pylist()
            out[docs] = [body.count(title) - 1 for title, body in zip(titles, bodies, strict=True)]
        return out

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        return first_reason(
            batch.num_rows,
            [
                (above(signal(batch, "_nonprose_char_frac"), self.max_nonprose_char_frac), "nonprose_text"),
                (above(signal(batch, "_title_repeats"), self.max_title_repeats), "title_stuffing"),
                (above(signal(batch, "_keyword_list_frac"), self.max_keyword_list_frac), "keyword_list"),
            ],
        )


def keyword_list_frac(texts: pa.Array) -> np.ndarray:
    """Share of each document's characters that sit in keyword-list segments (see PageStructureFilter)."""
    n = len(texts)
    total = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.float64)
    segs_nested = pc.split_pattern_regex(texts, SEGMENT_END)
    seg_parent = pc.list_parent_indices(segs_nested).to_numpy()
    segs = pc.list_flatten(segs_nested)
    if not len(segs):
        return np.zeros(n)
    # cheap pre-filter: a keyword list needs at least KEYWORD_MIN_TOKENS - 1 separators
    n_sep = pc.count_substring_regex(segs, KEYWORD_SEP).to_numpy(zero_copy_only=False)
    cand = np.nonzero(n_sep >= KEYWORD_MIN_TOKENS - 1)[0]
    if not len(cand):
        return np.zeros(n)
    cand_segs = segs.take(pa.array(cand))
    toks_nested = pc.split_pattern_regex(cand_segs, KEYWORD_SEP)
    tok_parent = pc.list_parent_indices(toks_nested).to_numpy()
    toks = pc.list_flatten(toks_nested)
    tok_len = pc.utf8_length(toks).to_numpy(zero_copy_only=False).astype(np.float64)
    nonempty = tok_len > 0
    is_fn = pc.match_substring_regex(toks, FUNCTION_TOKEN, ignore_case=True).to_numpy(zero_copy_only=False)
    m = len(cand)
    n_tok = per_doc(tok_parent, m, nonempty.astype(np.float64))
    mean_len = safe_ratio(per_doc(tok_parent, m, tok_len), n_tok)
    fn_share = safe_ratio(per_doc(tok_parent, m, (is_fn & nonempty).astype(np.float64)), n_tok)
    is_list = (
        (n_tok >= KEYWORD_MIN_TOKENS) & (mean_len <= KEYWORD_MAX_MEAN_LEN) & (fn_share <= KEYWORD_MAX_FUNCTION_SHARE)
    )
    seg_len = pc.utf8_length(cand_segs).to_numpy(zero_copy_only=False).astype(np.float64)
    list_chars = per_doc(seg_parent[cand], n, seg_len * is_list)
    return safe_ratio(list_chars, total)
