"""Per-document code points of a string array, vectorised.

The whole batch is decoded once (UTF-8 -> UTF-32 in C) into one uint32 array; `starts[i]:starts[i+1]` is
document i. Signals then count character classes with a lookup table and per-document sums via cumulative
sums, so there is no Python loop over documents or characters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pyarrow as pa

from stages.chinese import code_points

# Character classes (bit flags in one uint8 per code point).
HAN = 1
LETTER = 2  # alphabetic, not Han (Latin, kana, Hangul, ...)
DIGIT = 4
PUNCT = 8  # Unicode P*
SYMBOL = 16  # Unicode S* (incl. emoji)
SPACE = 32  # whitespace and other separators / controls
BRACKET = 64  # see BRACKETS

# Brackets that mark markup, code or tables rather than prose (C4 drops pages with "{"). The Chinese
# book-title marks 《》 and quotation marks 「」『』“” are prose punctuation and are not counted.
BRACKETS = "()[]{}<>（）［］｛｝【】〔〕〖〗〈〉"

# Unified ideographs, Extension A, compatibility ideographs, Extensions B–H, and 〇.
_HAN_RANGES = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF), (0x3007, 0x3007)]


@cache
def char_classes() -> np.ndarray:
    """uint8 class flags for every code point (0..0x10FFFF); built once per process (~50 ms)."""
    table = np.zeros(0x110000, dtype=np.uint8)
    for cp in range(0x10000):  # the BMP by Unicode category; above it only Han, letters and emoji matter
        cat = unicodedata.category(chr(cp))
        c = cat[0]
        if c == "L":
            table[cp] = LETTER
        elif c == "N":
            table[cp] = DIGIT if cat == "Nd" else LETTER
        elif c == "P":
            table[cp] = PUNCT
        elif c == "S":
            table[cp] = SYMBOL
        elif c in "ZC":
            table[cp] = SPACE if chr(cp).isspace() or c == "Z" else 0
    table[0x10000:0x20000] = LETTER
    table[0x1F000:0x1FB00] = SYMBOL  # emoji, mahjong, playing cards, pictographs
    for lo, hi in _HAN_RANGES:
        table[lo : hi + 1] = HAN
    for ch in BRACKETS:
        table[ord(ch)] |= BRACKET
    return table


@dataclass
class CodePoints:
    """Code points of a batch of documents: `cps[starts[i]:starts[i + 1]]` is document i."""

    cps: np.ndarray  # uint32
    starts: np.ndarray  # int64, len n_docs + 1

    @property
    def n_docs(self) -> int:
        return len(self.starts) - 1

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    @cached_property
    def classes(self) -> np.ndarray:
        return char_classes()[self.cps]

    @cached_property
    def doc_index(self) -> np.ndarray:
        """The document each code point belongs to (int32)."""
        return np.repeat(np.arange(self.n_docs, dtype=np.int32), self.lengths)

    def per_doc_sum(self, mask: np.ndarray) -> np.ndarray:
        """Per-document count of True (or sum of values) in an array aligned with `cps`."""
        cs = np.concatenate(([0], np.cumsum(mask, dtype=np.int64 if mask.dtype == bool else None)))
        return cs[self.starts[1:]] - cs[self.starts[:-1]]

    def count_class(self, flags: int) -> np.ndarray:
        return self.per_doc_sum((self.classes & flags) != 0)


def codepoints(arr: pa.Array | pa.ChunkedArray) -> CodePoints:
    """Decode a string array into one code-point array with per-document offsets."""
    cps, lengths = code_points(arr)
    return CodePoints(cps, np.concatenate(([0], np.cumsum(lengths))))


def safe_ratio(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """num / den, with `empty` where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out
