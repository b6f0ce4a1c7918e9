"""Connected components over partitioned edge files: alternating large-star and small-star rounds (Kiveris,
Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in MapReduce and Beyond", SoCC 2014).

No task needs all links: each phase is one `map` over node partitions (`hash_partition` of the node key), a
task reads the edges grouped under its nodes from the previous phase's shuffle files and writes its output edges
grouped by the node the next phase groups them under.

- large-star, edges under both endpoints: for a node u with neighbours G(u) and m = min(G(u) + u), every
  neighbour v > u is re-linked to m;
- small-star, each edge under its larger endpoint: for u with smaller neighbours S(u) and m = min(S(u)), u and
  every member of S(u) are linked to m.

Both keep the components and never add edges; when a round (large then small) changes nothing, every component
is a star around its smallest node: the same (node, root) as `unionfind.components`, whatever the partition
count. Rounds grow with log(n) of the longest chain (measured: 4-6 on dedup link graphs). A component's star
sits in one task in the last phases, so one huge cluster is the limit of the bound (not the corpus size).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stages.core.partitions import hash_partition
from stages.core.shuffle import gather, pieces, write_partitioned
from stages.dedup.common import read_table

MAX_ROUNDS = 64
EDGE_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])
BYTES_PER_EDGE = 96  # one directed entry in a phase task: a, b, sort order, sorted copies, output


@dataclass(frozen=True)
class LinkItem:
    links: list[str]  # link files (u, v) of the band passes
    parts: int
    out: str


@dataclass(frozen=True)
class StarItem:
    pieces: list[tuple[str, list[int]]]  # this partition's entries in the previous phase's files
    parts: int
    out: str


def _edges(item: StarItem) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a, b) entries of this partition, sorted by (a, b)."""
    t = gather(item.pieces, EDGE_SCHEMA)
    a, b = t.column("a").to_numpy(), t.column("b").to_numpy()
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    if len(a):
        keep = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
        a, b = a[keep], b[keep]
    return a, b


def _group_min(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For entries sorted by (a, b): the first entry of each `a` group, and that group's smallest `b` per entry."""
    start = np.r_[True, a[1:] != a[:-1]] if len(a) else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(start, np.arange(len(a)), 0)) if len(a) else np.zeros(0, np.int64)
    return start, b[first]


def _write(item: LinkItem | StarItem, a: np.ndarray, b: np.ndarray, changes: int) -> dict:
    t = pa.table({"a": a, "b": b}, schema=EDGE_SCHEMA)
    index = write_partitioned(item.out, t, hash_partition(a, item.parts))
    return {"file": item.out, "index": index, "changes": changes, "edges": len(a)}


def scatter_links(item: LinkItem) -> dict:
    """Link files (u, v) -> large-star input: every edge under both endpoints."""
    us, vs = [], []
    for path in item.links:
        t = read_table(path, ["u", "v"])
        us.append(t.column("u").to_numpy())
        vs.append(t.column("v").to_numpy())
    u = np.concatenate(us) if us else np.zeros(0, np.int64)
    v = np.concatenate(vs) if vs else np.zeros(0, np.int64)
    return _write(item, np.r_[u, v], np.r_[v, u], 0)


def large_star(item: StarItem) -> dict:
    a, b = _edges(item)
    _, gmin = _group_min(a, b)
    m = np.minimum(gmin, a)
    up = b > a
    x, mx = b[up], m[up]
    return _write(item, x, mx, int((mx != a[up]).sum()))  # (x, m) with m < x: under x, as small-star wants


def small_star(item: StarItem) -> dict:
    a, b = _edges(item)  # b < a: each edge under its larger endpoint
    start, m = _group_min(a, b)
    rest = ~start  # members of S(a) other than its minimum m
    x = np.r_[a[start], b[rest]]  # a -> m, and every other smaller neighbour -> m
    mx = np.r_[m[start], m[rest]]
    # both directions: the next large-star groups by either endpoint; the final stars are read under the root
    return _write(item, np.r_[x, mx], np.r_[mx, x], int(rest.sum()))


def star_components(
    link_files: list[str], parts: int, work: str, map_fn: Callable[[Callable, list], list]
) -> tuple[list[dict], int]:
    """Run rounds until a round changes nothing. Returns the last phase's results, whose partition q holds
    (root, node) entries with root < node for the roots of q (and (node, root) entries, to be ignored), and the
    number of rounds."""
    os.makedirs(work, exist_ok=True)
    step = max(1, len(link_files) // max(parts, 1))
    chunks = [link_files[i : i + step] for i in range(0, len(link_files), step)]
    res = map_fn(
        scatter_links,
        [LinkItem(c, parts, os.path.join(work, f"links-{i:05d}.arrow")) for i, c in enumerate(chunks)],
    )
    old: list[str] = []
    for rnd in range(MAX_ROUNDS):
        changes = 0
        for name, fn in (("large", large_star), ("small", small_star)):
            out = os.path.join(work, f"r{rnd:02d}-{name}")
            items = [StarItem(pieces(res, q), parts, f"{out}-{q:05d}.arrow") for q in range(parts)]
            for path in old:
                os.remove(path)
            old = [r["file"] for r in res]
            res = map_fn(fn, items)
            changes += sum(r["changes"] for r in res)
        if changes == 0:
            for path in old:
                os.remove(path)
            return res, rnd + 1
    raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
