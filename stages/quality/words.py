"""Word-level signals from jieba segmentation: stopwords, mean word length, alphabetic-word share."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from stages.base import Filter
from stages.charclass import DIGIT, HAN, LETTER, char_classes
from stages.quality._codepoints import safe_ratio
from stages.quality._rules import above, below, first_reason, signal, with_signals

RESOURCES = Path(__file__).parent / "resources"


def read_word_list(path: str | Path) -> list[str]:
    """One entry per line; blank lines and lines starting with # are skipped."""
    with open(path, encoding="utf-8") as f:
        return [s for line in f if (s := line.strip()) and not s.startswith("#")]


@cache
def _segmenter():
    """rjieba with the HMM off: on the 14,486 documents of shared/corpora/docs its output is identical to
    `jieba.lcut(text, HMM=False)` for every document, at ~10x the speed (bench/quality_bench.py)."""
    import rjieba

    return rjieba.cut


def segment(text: str) -> list[str]:
    return _segmenter()(text, False)


class WordFilter(Filter):
    """Drops text that does not read like Chinese sentences, using jieba-compatible words (rjieba, HMM off).

    Signals: `_n_words` (words with a letter or digit: punctuation and whitespace tokens excluded),
    `_stopwords` (tokens in the stopword list), `_mean_word_len` (characters per counted word),
    `_alpha_word_ratio` (counted words with a letter, Han included / counted words: numbers lower it).

    Defaults, all from FineWeb-2's cmn_Hani config and the Gopher rules it runs (datatrove
    GopherQualityFilter with jieba words):
    - `min_stopwords` 2 (FineWeb-2/Gopher `min_stop_words`); the list is our own (resources/stopwords_zh.txt,
      function words in both scripts). It shares most of FineWeb-2's 22 cmn_Hani stopwords but leaves out
      年/月/日/人 and ·, which mark dates and names rather than sentences.
    - `min_mean_word_len` 1, `max_mean_word_len` 5 (cmn_Hani `min/max_avg_word_length`); 1 can never fire
      on real words, 5 catches strings of unsegmentable tokens (URLs, codes, hashes).
    - `min_alpha_word_ratio` 0.735 (cmn_Hani `max_non_alpha_words_ratio`, which despite its name is the
      minimum share of words with an alphabetic character; datatrove divides by the words that are not
      punctuation, as we do).
    - `min_words` null: Gopher's 50 is applied by length_filter in characters, which is cheaper.
    """

    name: ClassVar[str] = "word_filter"
    adds: ClassVar[tuple[str, ...]] = ("_n_words", "_stopwords", "_mean_word_len", "_alpha_word_ratio")

    min_stopwords: int | None = 2
    min_mean_word_len: float | None = 1.0
    max_mean_word_len: float | None = 5.0
    min_alpha_word_ratio: float | None = 0.735
    min_words: int | None = None
    stopword_files: list[str] = Field(
        default_factory=list, description="extra stopword files (one word per line) added to the built-in list"
    )

    def setup(self) -> None:
        words = set(read_word_list(RESOURCES / "stopwords_zh.txt"))
        for path in self.stopword_files:
            words.update(read_word_list(path))
        object.__setattr__(self, "_stopwords", frozenset(words))
        segment("预热")  # load the dictionary now, not inside the first batch

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        n = batch.num_rows
        # Segmentation is per document; everything after it runs once over all tokens of the batch.
        per_doc = [segment(text or "") for text in batch.column("text").to_pylist()]
        tokens = list(itertools.chain.from_iterable(per_doc))
        doc = np.repeat(np.arange(n), np.fromiter(map(len, per_doc), dtype=np.int64, count=n))
        # whitespace tokens start with a space class, so they count as neither words nor letters
        firsts = char_classes()[np.fromiter((ord(t[0]) for t in tokens), dtype=np.int64, count=len(tokens))]
        lengths = np.fromiter(map(len, tokens), dtype=np.float64, count=len(tokens))
        is_word = (firsts & (HAN | LETTER | DIGIT)) != 0
        stop = self._stopwords
        is_stop = np.fromiter((t in stop for t in tokens), dtype=bool, count=len(tokens))
        n_words = np.bincount(doc, weights=is_word, minlength=n).astype(np.int64)
        word_chars = np.bincount(doc, weights=lengths * is_word, minlength=n).astype(np.int64)
        n_alpha = np.bincount(doc, weights=(firsts & (HAN | LETTER)) != 0, minlength=n).astype(np.int64)
        signals = {
            "_n_words": n_words,
            "_stopwords": np.bincount(doc, weights=is_stop, minlength=n).astype(np.int64),
            "_mean_word_len": safe_ratio(word_chars, n_words),
            "_alpha_word_ratio": safe_ratio(n_alpha, n_words),
        }
        return with_signals(batch, signals)

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        mean_len = signal(batch, "_mean_word_len")
        return first_reason(
            batch.num_rows,
            [
                (below(signal(batch, "_n_words"), self.min_words), "too_few_words"),
                (below(signal(batch, "_stopwords"), self.min_stopwords), "few_stopwords"),
                (below(mean_len, self.min_mean_word_len), "short_words"),
                (above(mean_len, self.max_mean_word_len), "long_words"),
                (below(signal(batch, "_alpha_word_ratio"), self.min_alpha_word_ratio), "non_alpha_words"),
            ],
        )
