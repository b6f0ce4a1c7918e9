"""Connected components over an edge list, vectorised (hook-and-compress union-find in numpy).

Every root is the smallest node of its component, so with node keys in input order the root is the first-seen
document. Work and memory are proportional to the edges, not to the corpus: nodes are compacted to those that
appear in an edge.
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


class UnionFind:
    """Accumulates edge batches (e.g. one band at a time) and resolves components at the end. Duplicate edges
    are collapsed between batches, so memory stays near the number of distinct edges."""

    def __init__(self) -> None:
        self._u: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._n = 0

    def add(self, u: np.ndarray, v: np.ndarray) -> None:
        self._u.append(np.asarray(u, np.int64))
        self._v.append(np.asarray(v, np.int64))
        self._n += len(u)
        if len(self._u) > 1 and self._n > 1_000_000:
            self._collapse()

    def _collapse(self) -> None:
        # Replace the edges so far by a star per component: same components, at most one edge per node.
        nodes, roots = components(np.concatenate(self._u), np.concatenate(self._v))
        keep = nodes != roots
        self._u, self._v = [roots[keep]], [nodes[keep]]
        self._n = int(keep.sum())

    def components(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._u:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return components(np.concatenate(self._u), np.concatenate(self._v))
