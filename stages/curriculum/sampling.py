"""The bounded sample normalisation and bucket boundaries are drawn from: the k documents with the smallest
id hash. Hashing with a fixed salt makes it independent of shard layout and of the run seed, so difficulty
and phases do not move when only the seed changes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.core.shards import read_shard, shard_schema

SAMPLE_SALT = 0x6A696E67  # fixed: the sample (hence normalisation) must not depend on the run seed


def id_hash(ids: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    import xxhash

    f = xxhash.xxh64_intdigest
    return np.fromiter((f(i.encode(), seed) for i in ids.to_pylist()), dtype=np.uint64, count=len(ids))


def bottom_k(t: pa.Table, k: int) -> pa.Table:
    """The k rows with the smallest id hash (`_h`), in hash order (deterministic whatever the shard layout)."""
    idx = pc.sort_indices(t, sort_keys=[("_h", "ascending")])
    return t.take(idx[:k]) if t.num_rows > k else t.take(idx)


def merge_samples(paths: list[str], k: int) -> pa.Table:
    """The bottom-k of the per-shard bottom-k samples, which is the bottom-k of the whole corpus."""
    tables = [read_table(p) for p in paths]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({"_h": pa.array([], pa.uint64())})
    t = pa.concat_tables(tables, promote_options="permissive")
    return bottom_k(t, k)


def read_table(path: str) -> pa.Table:
    return pa.Table.from_batches(list(read_shard(path)), schema=shard_schema(path))
