"""Rolling 64-bit hashes of character n-grams over a batch's code points (shared by repetition and the
quality classifier)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_BASE = np.uint64(0x100000001B3)  # FNV prime: odd, mixes 21-bit code points well


def mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, so the low bits we keep depend on every character."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def iter_ngram_hashes(
    chars: np.ndarray, remaining: np.ndarray, ns: list[int] | tuple[int, ...]
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each n in `ns` (ascending): (n, start positions, raw hashes) of the n-grams that end inside
    their document; pass the hashes (or a subset) through `mix` before using their low bits. `chars` is
    the concatenated code points of all documents, `remaining[i]` the number of characters from position
    i to the end of its document."""
    wanted = set(ns)
    if not wanted:
        return
    c = chars.astype(np.uint64)
    h = np.zeros(len(c), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, max(wanted) + 1):
            m = len(c) - n + 1
            if m <= 0:
                return
            h = h[:m] * _BASE + c[n - 1 :]
            if n in wanted:
                idx = np.flatnonzero(remaining[:m] >= n)
                yield n, idx, h[idx] ^ np.uint64(n)
