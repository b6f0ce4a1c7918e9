"""MinHash signatures, vectorised with numpy, in datasketch 2.0's `affine32` scheme.

A shingle is a character n-gram of the script-folded text (or a jieba word n-gram). Its 32-bit hash comes from a
polynomial rolling hash over the code points (`stages.ngram_hash`, mod 2^64, then a 64-bit finaliser), computed
for a whole batch in a few vector operations. Permutations follow datasketch exactly: the input hash is pre-mixed
with the 32-bit MurmurHash3 finaliser and permuted by `a * h + b mod 2^32` (odd `a`), with `a, b` drawn from
`np.random.RandomState(seed)` as `datasketch.MinHash(num_perm, seed)` draws them. So a signature here equals
`MinHash(num_perm=..., seed=..., hashfunc=lambda h: h)` updated with `shingle_hashes(...)` (tested).

Documents are processed in groups of ~16k characters: the group's shingle hashes, then one (num_perm, shingles)
product `a * h + b` in a reused per-thread buffer, reduced per document with `np.minimum.reduceat` along the
shingle axis (the per-document `min(axis=1)` layout; reducing along axis 0 is ~8x slower). Small arrays stay in
cache and fresh temporaries are not page-faulted in: ~1.7x faster than whole-batch arrays with a Python loop
over documents. Long documents are cut into column blocks, so memory is bounded whatever the length.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np

from stages.ngram_hash import RollingHash

HASH_SCHEME = "datasketch-affine32/fmix32;shingle=poly64-fmix64-hi32"
EMPTY = np.uint32(0xFFFFFFFF)
_CHUNK = 16384  # shingle columns per permutation block (8 MB at 128 permutations); longer documents are cut
_GROUP = 1 << 14  # characters hashed and reduced together


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
        full = _fmix64_hi32(RollingHash(values).windows(n)[valid])
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
    out[slot] = [_fmix64_hi32(RollingHash(values[starts[d] : ends[d]]).windows(int(lengths[d])))[0] for d in short]
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


_SCRATCH = threading.local()


def _buffer(num_perm: int) -> np.ndarray:
    """The product buffer, one per thread (a fresh 16 MB array per block would be page-faulted in each time;
    one per process was overwritten by another thread's block mid-reduction under `task_runner: thread`)."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    if num_perm not in buffers:
        buffers[num_perm] = np.empty((num_perm, 2 * _CHUNK), np.uint32)
    return buffers[num_perm]


def _segment_min(mixed: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(num_perm, len(starts)): per permutation, the minimum of `a * mixed + b` over each segment
    `[starts[i], starts[i + 1])` (the last runs to the end). The (num_perm, columns) product is formed in blocks of
    `_CHUNK` columns in one reused buffer, so it stays in cache; a segment crossing a block boundary is split
    there and its parts are reduced again at the end."""
    total = len(mixed)
    a2, b2 = a[:, None], b[:, None]
    buf = _buffer(len(a))
    if total <= buf.shape[1]:  # one block: a group of `_GROUP` characters, or a document of up to 2 blocks
        blk = buf[:, :total]
        np.multiply(a2, mixed[None, :], out=blk)
        blk += b2
        return np.minimum.reduceat(blk, starts, axis=1)
    block_starts = np.arange(0, total, _CHUNK)
    cuts = np.union1d(starts, block_starts)
    out = np.empty((len(a), len(cuts)), np.uint32)
    bounds = np.searchsorted(cuts, np.r_[block_starts, total])
    for c, lo in enumerate(block_starts.tolist()):
        hi = min(lo + _CHUNK, total)
        blk = buf[:, : hi - lo]
        np.multiply(a2, mixed[None, lo:hi], out=blk)
        blk += b2
        s0, s1 = bounds[c], bounds[c + 1]
        out[:, s0:s1] = np.minimum.reduceat(blk, cuts[s0:s1] - lo, axis=1)
    if len(cuts) == len(starts):
        return out
    return np.minimum.reduceat(out, np.searchsorted(cuts, starts), axis=1)


def minhash(hashes: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signatures (n_docs, num_perm) uint32 from concatenated shingle hashes; a document without shingles
    gets all 0xFFFFFFFF (datasketch's empty MinHash)."""
    sig = np.full((len(counts), len(a)), EMPTY, np.uint32)
    if len(hashes) == 0:
        return sig
    nz = np.flatnonzero(counts)
    starts = (np.cumsum(counts) - counts)[nz]
    sig[nz] = _segment_min(_fmix32(hashes), starts, a, b).T
    return sig


def signatures(
    folded: list[str], num_perm: int, ngram: int, seed: int, tokenizer: str = "char"
) -> tuple[np.ndarray, np.ndarray]:
    """(signatures (n, num_perm) uint32, has_shingles bool) for script-folded texts.

    Character shingles are hashed and reduced in groups of about `_GROUP` characters, so every intermediate
    array stays small (in cache, no page faults on fresh temporaries): ~3x faster than whole-batch arrays."""
    a, b = permutations(num_perm, seed)
    if tokenizer != "char":
        hashes, counts = word_shingle_hashes(folded, ngram)
        return minhash(hashes, counts, a, b), counts > 0
    n = len(folded)
    lengths = np.fromiter(map(len, folded), np.int64, n)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    group = starts // _GROUP
    bounds = [*np.flatnonzero(np.r_[True, group[1:] != group[:-1]]).tolist(), n] if n else [0]
    sig = np.empty((n, num_perm), np.uint32)
    for x, y in itertools.pairwise(bounds):
        cps = np.frombuffer("".join(folded[x:y]).encode("utf-32-le"), np.uint32).astype(np.uint64)
        hashes, counts = _windows(cps, lengths[x:y], ngram)
        sig[x:y] = minhash(hashes, counts, a, b)
    return sig, lengths > 0


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: a 64-bit hash of each band's `rows` values (collisions ~ n^2 / 2^64)."""
    n = sig.shape[0]
    out = np.empty((bands, n), np.uint64)
    s = np.ascontiguousarray(sig[:, : bands * rows].T, dtype=np.uint64)  # one contiguous row per permutation
    mult, shift = np.uint64(0x100000001B3), np.uint64(29)
    tmp = np.empty(n, np.uint64)
    for i in range(bands):
        h = out[i]
        h.fill(((i + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        for j in range(i * rows, (i + 1) * rows):
            h ^= s[j]
            h *= mult
            np.right_shift(h, shift, out=tmp)
            h ^= tmp
    return out.T


def estimated_jaccard(sig_u: np.ndarray, sig_v: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values, row by row."""
    return (sig_u == sig_v).mean(axis=1)
