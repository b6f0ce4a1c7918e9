"""bench/scale.py's identity check: its row hash must see rows, not how they are split into files and batches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bench.scale import _hash_rows, make_shards
from stages.core.shards import read_shard, write_shard
from stages.curriculum import Curriculum
from stages.testing import local_context


def _write(table: pa.Table, path: str, chunk: int) -> str:
    write_shard(str(path), table.to_batches(max_chunksize=chunk), schema=table.schema)
    return str(path)


def test_row_hash_ignores_batch_and_file_boundaries(tmp_path):
    n = 50
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(n)],
            "text": [None if i % 7 == 0 else "字" * (i % 5) for i in range(n)],
            "x": np.arange(n, dtype=np.float64) / 3,
        }
    )
    one = _hash_rows([_write(table, tmp_path / "one.arrow", n)])
    split = [
        _write(table.slice(0, 13), tmp_path / "a.arrow", 4),
        _write(table.slice(13, 30), tmp_path / "b.arrow", 7),
        _write(table.slice(43), tmp_path / "c.arrow", 3),
    ]
    assert _hash_rows(split) == one
    swapped = table.take(pa.array([1, 0, *range(2, n)]))
    assert _hash_rows([_write(swapped, tmp_path / "swapped.arrow", n)]) != one


def test_curriculum_many_buckets_same_rows_and_row_hash(tmp_path):
    """The 1M identity check's setting at small size: bench documents, many buckets (bucket-sized output
    batches) against one bucket."""
    shards = make_shards(6000, str(tmp_path / "in"), 1500, 150)
    tables, hashes = {}, {}
    for name, bucket_docs in (("one", 10**6), ("many", 200)):
        result = Curriculum(bucket_docs=bucket_docs).run(shards, local_context(str(tmp_path / name), "curriculum"))
        assert (result.report["buckets"]["count"] == 1) == (name == "one")
        tables[name] = pa.Table.from_batches([b for p in result.shards for b in read_shard(p)])
        hashes[name] = _hash_rows(result.shards)
    assert tables["many"].equals(tables["one"])
    assert hashes["many"] == hashes["one"]
