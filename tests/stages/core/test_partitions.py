import numpy as np

from stages.core.partitions import (
    MIN_BUDGET_MB,
    WORKER_BASE_MB,
    hash_partition,
    partitions,
    range_bounds,
    usable_bytes,
)


def test_partition_count_is_the_smallest_power_of_two_that_fits():
    usable = usable_bytes(1024)
    assert usable == (1024 - WORKER_BASE_MB) * 2**20
    assert partitions(0, 64, 1024) == 1
    assert partitions(int(usable // 64), 64, 1024) == 1
    assert partitions(int(usable // 64) + 1, 64, 1024) == 2
    assert partitions(int(5 * usable // 64), 64, 1024) == 8
    assert partitions(10, 64, 1024, minimum=4) == 4
    assert usable_bytes(100) == 25 * 2**20  # a test budget, below what a worker needs: a quarter of it
    # every budget a run accepts leaves exactly budget - base: a floor of a quarter planned 128 MB of data on top
    # of a 440 MB worker at 512 MB, and tasks reached 570 MB (bench/scale.py at 5M documents)
    assert usable_bytes(MIN_BUDGET_MB) == (MIN_BUDGET_MB - WORKER_BASE_MB) * 2**20


def test_hash_and_range_partitions_cover_every_key_once():
    keys = np.arange(100_000, dtype=np.int64)
    part = hash_partition(keys, 16)
    counts = np.bincount(part, minlength=16)
    assert counts.min() > 5500 and counts.max() < 7000  # consecutive keys spread evenly
    h = np.random.default_rng(0).integers(0, 2**64, 50_000, dtype=np.uint64)
    rp = (h >> np.uint64(61)).astype(np.int64)  # the top 3 bits
    for p in range(8):
        lo, hi = range_bounds(p, 8)
        inside = (h >= np.uint64(lo)) & ((h < np.uint64(hi)) if hi is not None else True)
        assert np.array_equal(inside, rp == p)
    assert range_bounds(0, 1) == (0, None) and not hash_partition(keys, 1).any()
