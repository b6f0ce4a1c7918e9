"""MinHash signatures, vectorised with numpy, in datasketch 2.0's `affine32` scheme.

A shingle is a character n-gram of the script-folded text (or a jieba word n-gram). Its 32-bit hash comes from a
polynomial rolling hash over the code points (mod 2^64, then a 64-bit finaliser), computed for a whole batch in
`ngram` vector operations. Permutations follow datasketch exactly: the input hash is pre-mixed with the 32-bit
MurmurHash3 finaliser and permuted by `a * h + b mod 2^32` (odd `a`), with `a, b` drawn from
`np.random.RandomState(seed)` as `datasketch.MinHash(num_perm, seed)` draws them. So a signature here equals
`MinHash(num_perm=..., seed=..., hashfunc=lambda h: h)` updated with `shingle_hashes(...)` (tested).

Per document the (num_perm, n_shingles) block is computed and reduced with `min(axis=1)`; long documents are
cut into column chunks so memory stays bounded whatever the document length.
"""

from __future__ import annotations

import numpy as np

HASH_SCHEME = "datasketch-affine32/fmix32;shingle=poly64-fmix64-hi32"
EMPTY = np.uint32(0xFFFFFFFF)
_POLY = np.uint64(0x100000001B3)  # odd multiplier of the rolling hash
_CHUNK = 4096  # shingle columns per permutation block: 128 x 4096 x 4 B = 2 MB, stays in cache


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _fmix64_hi32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    h = h ^ (h >> np.uint64(33))
    return (h >> np.uint64(32)).astype(np.uint32)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`(a, b)` as datasketch 2.0 draws them for scheme affine32 (uint32, `a` odd)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _poly(values: np.ndarray, n: int) -> np.ndarray:
    """Rolling polynomial hash of every window of `n` consecutive values (uint64, wrapping)."""
    m = len(values) - n + 1
    h = values[:m].copy()
    for j in range(1, n):
        h *= _POLY
        h += values[j : j + m]
    return h


def _windows(values: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the n-windows inside each document of a concatenated value array; a non-empty document
    shorter than n gives one shingle (all its values). Returns (uint32 hashes, per-document counts)."""
    lengths = lengths.astype(np.int64)
    ends = np.cumsum(lengths)
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    long_docs = lengths >= n
    if len(values) >= n:
        # a window is valid unless it starts in the last n-1 positions of its document
        valid = np.ones(len(values) - n + 1, bool)
        tail = (ends[long_docs][:, None] - np.arange(1, n)[None, :]).ravel()
        valid[tail[tail < len(valid)]] = False
        short_docs = np.flatnonzero(~long_docs & (lengths > 0))
        if len(short_docs):  # windows starting inside a short document cross into the next one
            starts = ends - lengths
            inside = np.repeat(starts[short_docs], lengths[short_docs]) + (
                np.arange(int(lengths[short_docs].sum()))
                - np.repeat(np.cumsum(lengths[short_docs]) - lengths[short_docs], lengths[short_docs])
            )
            valid[inside[inside < len(valid)]] = False
        full = _fmix64_hi32(_poly(values, n)[valid])
    else:
        full = np.zeros(0, np.uint32)
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short) == 0:
        return full, counts
    out = np.empty(int(counts.sum()), np.uint32)
    slot = (np.cumsum(counts) - counts)[short]
    mask = np.ones(len(out), bool)
    mask[slot] = False
    out[mask] = full
    starts = ends - lengths
    out[slot] = [_fmix64_hi32(_poly(values[starts[d] : ends[d]], int(lengths[d])))[0] for d in short]
    return out, counts


def char_shingle_hashes(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of the character n-grams of each text, concatenated, and the count per text."""
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
    return _windows(cps, lengths, n)


def word_shingle_hashes(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """As `char_shingle_hashes`, over jieba words (rjieba, identical to jieba with HMM off)."""
    import rjieba
    import xxhash

    words = [rjieba.cut(t) for t in texts]
    lengths = np.fromiter((len(w) for w in words), np.int64, len(words))
    flat = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode("utf-8")) for ws in words for w in ws), np.uint64, int(lengths.sum())
    )
    return _windows(flat, lengths, n)


def minhash(hashes: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signatures (n_docs, num_perm) uint32 from concatenated shingle hashes; a document without shingles
    gets all 0xFFFFFFFF (datasketch's empty MinHash)."""
    num_perm = len(a)
    sig = np.full((len(counts), num_perm), EMPTY, np.uint32)
    mixed = _fmix32(hashes)
    a2, b2 = a[:, None], b[:, None]
    ends = np.cumsum(counts)
    starts = ends - counts
    # Group consecutive short documents into blocks and reduce each block with one reduceat call.
    d, n_docs = 0, len(counts)
    while d < n_docs:
        if counts[d] == 0:
            d += 1
            continue
        if counts[d] > _CHUNK:
            acc = sig[d]
            for s in range(int(starts[d]), int(ends[d]), _CHUNK):
                block = a2 * mixed[None, s : min(s + _CHUNK, int(ends[d]))]
                block += b2
                acc = np.minimum(acc, block.min(axis=1))
            sig[d] = acc
            d += 1
            continue
        e = d
        while e < n_docs and counts[e] <= _CHUNK and ends[e] - starts[d] <= _CHUNK:
            e += 1
        docs = np.arange(d, e)
        docs = docs[counts[d:e] > 0]
        lo, hi = int(starts[d]), int(ends[e - 1])
        block = a2 * mixed[None, lo:hi]
        block += b2
        sig[docs] = np.minimum.reduceat(block, starts[docs] - lo, axis=1).T
        d = e
    return sig


def signatures(
    folded: list[str], num_perm: int, ngram: int, seed: int, tokenizer: str = "char"
) -> tuple[np.ndarray, np.ndarray]:
    """(signatures (n, num_perm) uint32, has_shingles bool) for script-folded texts."""
    a, b = permutations(num_perm, seed)
    fn = char_shingle_hashes if tokenizer == "char" else word_shingle_hashes
    hashes, counts = fn(folded, ngram)
    return minhash(hashes, counts, a, b), counts > 0


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: a 64-bit hash of each band's `rows` values (collisions ~ n^2 / 2^64)."""
    n = sig.shape[0]
    out = np.empty((n, bands), np.uint64)
    s = sig.astype(np.uint64)
    for i in range(bands):
        h = np.full(n, ((i + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF, np.uint64)
        for j in range(i * rows, (i + 1) * rows):
            h = (h ^ s[:, j]) * np.uint64(0x100000001B3)
            h = h ^ (h >> np.uint64(29))
        out[:, i] = h
    return out


def estimated_jaccard(sig_u: np.ndarray, sig_v: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values, row by row."""
    return (sig_u == sig_v).mean(axis=1)
