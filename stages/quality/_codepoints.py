"""Per-document code points of a string array, vectorised.

The whole batch is decoded once (UTF-8 -> UTF-32 in C) into one uint32 array; `starts[i]:starts[i+1]` is
document i. Signals then count character classes with the code-point table (`stages.charclass`) and
per-document sums via cumulative sums, so there is no Python loop over documents or characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from stages.charclass import char_classes
from stages.chinese import code_points


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
