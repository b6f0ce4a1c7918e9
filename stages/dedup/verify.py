"""Verification of MinHash candidate links by true similarity, so precision does not hang on signature luck.

A band collision makes two documents candidates; the fraction of equal signature values estimates their Jaccard
with a standard error of sqrt(J (1 - J) / num_perm) (0.043 at J = 0.4 with 128 permutations). With `exact`
verification a link whose estimate is within `SIGMAS` standard errors of the threshold is decided on the real
shingle sets (the same 32-bit shingle hashes the signatures are built from, so the sets are those MinHash
estimates): Jaccard >= threshold, or, with a `containment` threshold, |A & B| / min(|A|, |B|) >= containment for a
short document inside a long one. Links further from the threshold are decided by the estimate, where it cannot
be wrong by chance (3 standard errors: 1 in 700 per link, and only links near the threshold are that close).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from stages.dedup.signatures import char_shingle_hashes, word_shingle_hashes

SIGMAS = 3.0
ROUNDS = 4


def margin(threshold: float, num_perm: int) -> float:
    """Half-width of the band around the threshold where the estimate is checked against the real sets."""
    return SIGMAS * math.sqrt(max(threshold * (1 - threshold), 1e-4) / num_perm)


def shingle_sets(folded: list[str], ngram: int, tokenizer: str = "char") -> list[np.ndarray]:
    """Sorted unique 32-bit shingle hashes of each script-folded text (empty for an empty text)."""
    hashes, counts = (char_shingle_hashes if tokenizer == "char" else word_shingle_hashes)(folded, ngram)
    return [np.unique(h) for h in np.split(hashes, np.cumsum(counts)[:-1])] if len(folded) else []


def similarity(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(Jaccard, containment of the smaller set in the larger) of each pair of shingle sets."""
    jac = np.zeros(len(a), np.float32)
    con = np.zeros(len(a), np.float32)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        inter = len(np.intersect1d(x, y, assume_unique=True))
        union = len(x) + len(y) - inter
        jac[i] = inter / union if union else 1.0
        con[i] = inter / min(len(x), len(y)) if min(len(x), len(y)) else 0.0
    return jac, con


def star(keys: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Link each member of a group (consecutive equal `group`) to the group's first: (first, member, group)."""
    start = np.r_[True, group[1:] != group[:-1]] if len(group) else np.zeros(0, bool)
    first = keys[np.maximum.accumulate(np.where(start, np.arange(len(keys)), 0))] if len(keys) else keys
    return first[~start], keys[~start], group[~start]


def verified_links(
    u: np.ndarray, v: np.ndarray, g: np.ndarray, check: Callable[[np.ndarray, np.ndarray], tuple]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links (u, v, similarity) that pass `check(u, v) -> (ok, similarity)`. Members that fail against their
    group's first are linked among themselves again (star), up to ROUNDS rounds, so a group holding two
    clusters keeps both."""
    us, vs, js = [], [], []
    for _ in range(ROUNDS):
        if not len(u):
            break
        ok, sim = check(u, v)
        us.append(u[ok])
        vs.append(v[ok])
        js.append(sim[ok])
        u, v, g = star(v[~ok], g[~ok])
    if not us:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(us), np.concatenate(vs), np.concatenate(js).astype(np.float32)


def decide(
    estimate: np.ndarray,
    threshold: float,
    num_perm: int,
    true_sim: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
    containment: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ok, similarity) per link from its estimated Jaccard; links near the threshold are decided by
    `true_sim(selection) -> (known, jaccard, containment)` where it knows both texts (`known`)."""
    ok = estimate >= threshold - 1e-9
    sim = estimate.astype(np.float32).copy()
    if true_sim is None:
        return ok, sim
    m = margin(threshold, num_perm)
    near = np.flatnonzero(np.abs(estimate - threshold) < m)
    if containment is not None:  # a short document inside a long one has a low Jaccard estimate
        near = np.flatnonzero((np.abs(estimate - threshold) < m) | (estimate < threshold))
    if len(near):
        known, jac, con = true_sim(near)
        sel = near[known]
        passed = jac[known] >= threshold - 1e-9
        if containment is not None:
            passed |= con[known] >= containment - 1e-9
        ok[sel] = passed
        sim[sel] = jac[known]
    return ok, sim
