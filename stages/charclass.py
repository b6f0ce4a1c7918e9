"""The one code-point table: Unicode class flags for every code point (0..0x10FFFF), looked up with numpy.

Quality signals count flags per document (`HAN`, `LETTER`, `DIGIT`, `PUNCT` ...); `script` derives its
exclusive classes (Han, kana, Hangul, other letters; plus Simplified/Traditional from OpenCC) from the same
table, so the Han ranges and letter rules are written once. The table covers every code point, so nothing
above a cut-off is clamped into a neighbouring class.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import numpy as np

from stages.core.derived import cached_array, derivation_key

# Flags (bits of one uint16 per code point).
HAN = 1
LETTER = 2  # alphabetic or non-decimal number (Latin, kana, Hangul, Ⅳ, ①, ...), not Han
DIGIT = 4  # decimal digits (Nd)
PUNCT = 8  # Unicode P*
SYMBOL = 16  # Unicode S* (incl. emoji)
SPACE = 32  # whitespace and other separators
BRACKET = 64  # see BRACKETS
KANA = 128  # Hiragana and Katakana (see KANA_RANGES)
HANGUL = 256
ALPHA = 512  # Unicode L* (letters proper; LETTER without the numbers)

N_CODE_POINTS = 0x110000

# Brackets that mark markup, code or tables rather than prose (C4 drops pages with "{"). The Chinese
# book-title marks 《》 and quotation marks 「」『』“” are prose punctuation and are not counted.
BRACKETS = "()[]{}<>（）［］｛｝【】〔〕〖〗〈〉"

# Inclusive ranges. Han: unified ideographs, Extension A, compatibility ideographs, Extensions B–H with the
# compatibility supplement, and 〇.
HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF), (0x3007, 0x3007))
KANA_RANGES = (
    (0x3041, 0x30FA),  # Hiragana and Katakana up to, not including, ・ (U+30FB, also used in Chinese names)
    (0x30FD, 0x30FF),
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0xFF66, 0xFF9D),  # half-width Katakana
)
HANGUL_RANGES = ((0x1100, 0x11FF), (0x3131, 0x318E), (0xA960, 0xA97F), (0xAC00, 0xD7FF))
EMOJI_RANGE = (0x1F000, 0x1FAFF)  # emoji, mahjong, playing cards, pictographs: symbols even where unassigned

# Code points looked up by category: the BMP and SMP, and tags/variation selectors. Everything assigned in the
# ideographic planes 2-3 is Han (HAN_RANGES); planes 4-13 are unassigned and 15-16 private use: class 0.
_CATEGORY_SPANS = ((0, 0x20000), (0xE0000, 0xE1000))


def _flags(cp: int) -> int:
    ch = chr(cp)
    cat = unicodedata.category(ch)
    c = cat[0]
    if c == "L":
        return LETTER | ALPHA
    if c == "N":
        return DIGIT if cat == "Nd" else LETTER
    if c == "P":
        return PUNCT
    if c == "S":
        return SYMBOL
    if c in "ZC" and (c == "Z" or ch.isspace()):
        return SPACE
    return 0


@cache
def char_classes() -> np.ndarray:
    """uint16 flags for every code point: derived once per machine (~0.12 s), memory-mapped from the cache
    (`stages.core.derived`) in every process."""
    key = derivation_key((), (__file__,), unicodedata.unidata_version)
    return cached_array("char-classes", key, _derive_char_classes, np.uint16, N_CODE_POINTS)


def _derive_char_classes() -> np.ndarray:
    table = np.zeros(N_CODE_POINTS, dtype=np.uint16)
    for lo, hi in _CATEGORY_SPANS:
        table[lo:hi] = np.fromiter((_flags(cp) for cp in range(lo, hi)), np.uint16, hi - lo)
    lo, hi = EMOJI_RANGE
    table[lo : hi + 1] = SYMBOL
    for lo, hi in HAN_RANGES:
        table[lo : hi + 1] = HAN
    for lo, hi in KANA_RANGES:
        table[lo : hi + 1] |= KANA
    for lo, hi in HANGUL_RANGES:
        table[lo : hi + 1] |= HANGUL
    for ch in BRACKETS:
        table[ord(ch)] |= BRACKET
    return table
