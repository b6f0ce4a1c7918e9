"""Connected components of an edge list in one process, vectorised (hook-and-compress union-find in numpy).

Every root is the smallest node of its component, so with node keys in input order the root is the first-seen
document. Work and memory are proportional to the edges, not to the corpus: nodes are compacted to those that
appear in an edge. `minhash_dedup` uses it when its links fit one task's memory budget; above that, the
partitioned rounds of `stages.dedup.stars` give the same (node, root).
"""

from __future__ import annotations

import numpy as np


def _compress(parent: np.ndarray) -> np.ndarray:
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def components(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For edges (u, v) of integer node keys: (nodes, roots) — each node in an edge, sorted, and the smallest
    node of its component."""
    u = np.asarray(u, np.int64)
    v = np.asarray(v, np.int64)
    nodes, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
    cu, cv = inv[: len(u)], inv[len(u) :]
    parent = np.arange(len(nodes), dtype=np.int64)
    while True:
        pu, pv = parent[cu], parent[cv]
        differ = pu != pv
        if not differ.any():
            break
        lo = np.minimum(pu, pv)[differ]
        hi = np.maximum(pu, pv)[differ]
        np.minimum.at(parent, hi, lo)  # hook the larger root under the smaller one
        parent = _compress(parent)
    return nodes, nodes[parent]
