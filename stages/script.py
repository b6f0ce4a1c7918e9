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

from stages import charclass
from stages.charclass import ALPHA, HAN_RANGES, N_CODE_POINTS, char_classes
from stages.charclass import HAN as HAN_FLAG
from stages.charclass import HANGUL as HANGUL_FLAG
from stages.charclass import KANA as KANA_FLAG
from stages.chinese import code_points, converter
from stages.core.derived import cached_array, derivation_key

# Character classes (column index of `class_counts`).
OTHER, HAN, SIMP, TRAD, KANA, HANGUL, LETTER = range(7)
N_CLASSES = 7
CLASS_NAMES = ("other", "han", "simp", "trad", "kana", "hangul", "letter")

# Script labels written to `_script`.
HANS, HANT, AMBIGUOUS, NONE = "Hans", "Hant", "ambiguous", "none"
SCRIPT_LABELS = (HANS, HANT, AMBIGUOUS, NONE)


@cache
def script_tables() -> tuple[frozenset[str], frozenset[str]]:
    """(Simplified-only, Traditional-only) Han characters, derived from OpenCC's character dictionaries."""
    # every Han code point except the compatibility block (neutral: NFKC maps most of it to unified ideographs)
    chars = [chr(c) for lo, hi in HAN_RANGES if lo != 0xF900 for c in range(lo, hi + 1)]
    joined = "\n".join(chars)
    t2s, s2t = converter("t2s").convert, converter("s2t").convert
    to_simp, to_trad = t2s(joined).split("\n"), s2t(joined).split("\n")
    if len(to_simp) != len(chars) or len(to_trad) != len(chars):  # a dictionary entry swallowed a newline
        to_simp, to_trad = [t2s(c) for c in chars], [s2t(c) for c in chars]
    trad = {c for c, s in zip(chars, to_simp, strict=True) if s != c}
    simp = {c for c, t in zip(chars, to_trad, strict=True) if t != c}
    both = trad & simp
    return frozenset(simp - both), frozenset(trad - both)


@cache
def class_table() -> np.ndarray:
    """uint8 class per code point (0..0x10FFFF), derived from the one code-point table plus OpenCC's
    Simplified-only and Traditional-only characters: once per machine (~0.3 s, `stages.core.derived`)."""
    key = derivation_key(("opencc",), (charclass.__file__, __file__), unicodedata.unidata_version)
    return cached_array("class-table", key, _derive_class_table, np.uint8, N_CODE_POINTS)


def _derive_class_table() -> np.ndarray:
    flags = char_classes()
    table = np.full(len(flags), OTHER, dtype=np.uint8)
    table[(flags & ALPHA) != 0] = LETTER
    table[(flags & HANGUL_FLAG) != 0] = HANGUL
    table[(flags & KANA_FLAG) != 0] = KANA
    table[(flags & HAN_FLAG) != 0] = HAN
    simp, trad = script_tables()
    table[[ord(c) for c in simp]] = SIMP
    table[[ord(c) for c in trad]] = TRAD
    return table


def class_counts(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 matrix (documents x N_CLASSES): characters of each class per document."""
    cps, lengths = code_points(texts)
    n = len(lengths)
    if n == 0:
        return np.zeros((0, N_CLASSES), np.int64)
    classes = class_table()[cps]
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
