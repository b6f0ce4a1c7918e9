"""The one rolling hash of n-grams: `h(w_0..w_{n-1}) = sum_k w_k * P^(n-1-k) mod 2^64`, `P = 0x100000001B3`.

MinHash shingles, decontamination windows, the repetition filter and the quality classifier's features all
hash n-grams of code points (or of word hashes) with it, each applying its own finaliser to the raw value.
Prefix sums make the hash of every window of any length a few vector operations over the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np

BASE = np.uint64(0x100000001B3)  # odd (FNV prime), so invertible mod 2^64; mixes 21-bit code points well
_BASE_INV = np.uint64(pow(int(BASE), -1, 2**64))


@cache
def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(P^i, P^-i) for i < size (a power of two); cached per process, never mutated, so threads share it."""
    out = []
    for base in (BASE, _BASE_INV):
        p = np.empty(size, np.uint64)
        p[0] = 1
        if size > 1:
            p[1:] = np.cumprod(np.full(size - 1, base, np.uint64))  # wraps mod 2^64
        out.append(p)
    return out[0], out[1]


def powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(P^i, P^-i) for i < n."""
    pw, inv = _powers(1 << max(n - 1, 1).bit_length())
    return pw[:n], inv[:n]


class RollingHash:
    """Prefix hashes of a value array (code points, or 64-bit word hashes)."""

    def __init__(self, values: np.ndarray):
        n = len(values)
        pw, inv = powers(n + 1)
        with np.errstate(over="ignore"):
            # prefix[i] = sum_{k<i} v[k] * P^(i-1-k) = P^(i-1) * sum_{k<i} v[k] * P^-k
            s = np.zeros(n + 1, np.uint64)
            np.cumsum(values.astype(np.uint64) * inv[:n], out=s[1:])
            self.prefix = s * np.concatenate([[np.uint64(0)], pw[:n]]) if n else s
        self.n = n

    def windows(self, n: int) -> np.ndarray:
        """Hash of every window [s, s+n) for s in 0..len-n (uint64)."""
        if self.n < n:
            return np.empty(0, np.uint64)
        pw, _ = powers(n + 1)
        with np.errstate(over="ignore"):
            return self.prefix[n:] - self.prefix[: self.n - n + 1] * pw[n]


def mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, so the low bits one keeps depend on every character."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def doc_ngram_hashes(
    chars: np.ndarray, remaining: np.ndarray, ns: list[int] | tuple[int, ...] | range
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each n in `ns` (ascending): (n, start positions, raw hashes ^ n) of the n-grams that end inside
    their document; pass the hashes (or a subset) through `mix` before using their low bits. `chars` is
    the concatenated code points of all documents, `remaining[i]` the number of characters from position
    i to the end of its document."""
    if not len(ns) or len(chars) == 0:
        return
    rolling = RollingHash(chars)
    for n in sorted(set(ns)):
        h = rolling.windows(n)
        if len(h) == 0:
            return
        idx = np.flatnonzero(remaining[: len(h)] >= n)
        yield n, idx, h[idx] ^ np.uint64(n)
