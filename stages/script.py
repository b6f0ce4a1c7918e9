"""Character classes over code points, vectorised: Han (neutral / Simplified-only / Traditional-only), kana,
Hangul, other letters. Used by `langid` for `_script` and the kanji/kana rules.

The Simplified/Traditional tables are derived once per process from the installed OpenCC character
dictionaries, by converting every CJK ideograph on its own: a character that `t2s` changes exists only in
Traditional writing (發, 這, 們), one that `s2t` changes only in Simplified (发, 这, 们). Characters that both
directions change (variant pairs such as 緼/縕) and CJK compatibility ideographs are treated as neutral.
Most Chinese sentences contain several script-specific characters, so counting them decides the script;
text with none (or a tie) is `ambiguous`: it reads the same in both scripts.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import numpy as np
import pyarrow as pa

from stages.chinese import code_points

# Character classes (column index of `class_counts`).
OTHER, HAN, SIMP, TRAD, KANA, HANGUL, LETTER = range(7)
N_CLASSES = 7
CLASS_NAMES = ("other", "han", "simp", "trad", "kana", "hangul", "letter")

# Script labels written to `_script`.
HANS, HANT, AMBIGUOUS, NONE = "Hans", "Hant", "ambiguous", "none"
SCRIPT_LABELS = (HANS, HANT, AMBIGUOUS, NONE)

_TABLE_SIZE = 0x32000  # through CJK Extension G; larger code points are looked up as OTHER

_HAN_RANGES = (
    (0x3400, 0x4DC0),  # Extension A
    (0x4E00, 0xA000),  # CJK Unified Ideographs
    (0xF900, 0xFB00),  # Compatibility Ideographs (neutral: NFKC maps most of them to unified ones)
    (0x20000, 0x32000),  # Extensions B-H, Compatibility Supplement
)
_KANA_RANGES = (
    (0x3041, 0x30FB),  # Hiragana and Katakana up to, not including, ・ (U+30FB, also used in Chinese names)
    (0x30FD, 0x3100),
    (0x31F0, 0x3200),  # Katakana phonetic extensions
    (0xFF66, 0xFF9E),  # half-width Katakana
)
_HANGUL_RANGES = ((0x1100, 0x1200), (0x3131, 0x318F), (0xA960, 0xA980), (0xAC00, 0xD7B0), (0xD7B0, 0xD800))


@cache
def script_tables() -> tuple[frozenset[str], frozenset[str]]:
    """(Simplified-only, Traditional-only) Han characters, derived from OpenCC's character dictionaries."""
    import opencc

    chars = [chr(c) for lo, hi in _HAN_RANGES if lo != 0xF900 for c in range(lo, hi)]
    joined = "\n".join(chars)
    to_simp = opencc.OpenCC("t2s").convert(joined).split("\n")
    to_trad = opencc.OpenCC("s2t").convert(joined).split("\n")
    if len(to_simp) != len(chars) or len(to_trad) != len(chars):  # a dictionary entry swallowed a newline
        to_simp = [opencc.OpenCC("t2s").convert(c) for c in chars]
        to_trad = [opencc.OpenCC("s2t").convert(c) for c in chars]
    trad = {c for c, s in zip(chars, to_simp, strict=True) if s != c}
    simp = {c for c, t in zip(chars, to_trad, strict=True) if t != c}
    both = trad & simp
    return frozenset(simp - both), frozenset(trad - both)


@cache
def class_table() -> np.ndarray:
    """uint8 class per code point below `_TABLE_SIZE`."""
    table = np.full(_TABLE_SIZE, OTHER, dtype=np.uint8)
    for cp in range(0x30000):
        if (cp < 0xD800 or cp >= 0xE000) and unicodedata.category(chr(cp)).startswith("L"):
            table[cp] = LETTER
    for lo, hi in _HAN_RANGES:
        table[lo:hi] = HAN
    for lo, hi in _KANA_RANGES:
        table[lo:hi] = KANA
    for lo, hi in _HANGUL_RANGES:
        table[lo:hi] = HANGUL
    simp, trad = script_tables()
    table[[ord(c) for c in simp]] = SIMP
    table[[ord(c) for c in trad]] = TRAD
    table[0x3007] = HAN  # 〇
    return table


def class_counts(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 matrix (documents x N_CLASSES): characters of each class per document."""
    cps, lengths = code_points(texts)
    n = len(lengths)
    if n == 0:
        return np.zeros((0, N_CLASSES), np.int64)
    classes = class_table()[np.minimum(cps, _TABLE_SIZE - 1)]
    doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
    counts = np.bincount(doc * N_CLASSES + classes, minlength=n * N_CLASSES)
    return counts.reshape(n, N_CLASSES)


def script_labels(counts: np.ndarray) -> np.ndarray:
    """`Hans` / `Hant` by majority of script-specific characters, `ambiguous` for Han text with none (or a
    tie), `none` without Han characters."""
    han = counts[:, HAN] + counts[:, SIMP] + counts[:, TRAD]
    simp, trad = counts[:, SIMP], counts[:, TRAD]
    out = np.full(len(counts), AMBIGUOUS, dtype=object)
    out[simp > trad] = HANS
    out[trad > simp] = HANT
    out[han == 0] = NONE
    return out


def classify_script(texts: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    """`_script` label per document."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    return pa.array(script_labels(class_counts(texts)), pa.string())
