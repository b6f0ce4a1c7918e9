import numpy as np
import pyarrow as pa
import pytest

from stages.core.shuffle import gather, pieces
from stages.dedup.common import write_table
from stages.dedup.stars import star_components
from stages.dedup.unionfind import components


def serial(fn, items):
    return [fn(i) for i in items]


def stars(tmp_path, u, v, parts, files=3):
    """(nodes, roots) from the partitioned rounds over `files` link files."""
    paths = []
    for i, (cu, cv) in enumerate(zip(np.array_split(u, files), np.array_split(v, files), strict=True)):
        paths.append(str(tmp_path / f"links-{i}.arrow"))
        write_table(paths[-1], pa.table({"u": cu, "v": cv}))
    res, rounds = star_components(paths, parts, str(tmp_path / "work"), serial)
    found = {}
    for q in range(parts):
        t = gather(pieces(res, q))
        if not t.num_rows:
            continue
        a, b = t.column("a").to_numpy(), t.column("b").to_numpy()
        star = a < b
        for root, node in zip(a[star].tolist(), b[star].tolist(), strict=True):
            assert found.setdefault(node, root) == root  # one root per node
            found.setdefault(root, root)
    nodes = np.array(sorted(found), np.int64)
    return nodes, np.array([found[n] for n in nodes.tolist()], np.int64), rounds


@pytest.mark.parametrize("parts", [1, 2, 8])
@pytest.mark.parametrize("graph", ["random", "chain", "star"])
def test_star_rounds_equal_union_find(tmp_path, parts, graph):
    rng = np.random.default_rng(7)
    if graph == "random":  # many small components, a few larger ones
        u, v = rng.integers(0, 3000, 2500), rng.integers(0, 3000, 2500)
        keep = u != v
        u, v = np.minimum(u, v)[keep], np.maximum(u, v)[keep]
    elif graph == "chain":  # the longest path a dedup graph can have: shuffled keys along one chain
        perm = rng.permutation(500)
        u, v = np.minimum(perm[:-1], perm[1:]), np.maximum(perm[:-1], perm[1:])
    else:  # one big cluster linked to its first member, as a band bucket links
        u, v = np.zeros(400, np.int64), np.arange(1, 401)
    want = components(u, v)
    nodes, roots, rounds = stars(tmp_path, u, v, parts)
    assert np.array_equal(nodes, want[0]) and np.array_equal(roots, want[1])
    assert rounds <= 20


def test_no_links(tmp_path):
    nodes, roots, _ = stars(tmp_path, np.zeros(0, np.int64), np.zeros(0, np.int64), 4, files=1)
    assert len(nodes) == 0 and len(roots) == 0
