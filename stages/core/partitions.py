"""How many partitions a global pass needs so that no task holds more than the memory budget allows.

One rule for every global pass (MinHash bands, connected components, exact-dedup key buckets, curriculum
buckets): P = the smallest power of two such that rows / P * bytes_per_row fits the usable part of the budget.
It depends only on the data size and the budget, never on the number of workers, so a run partitions the same
way on 2 processes or 200 Dask nodes, and every pass's output is independent of P (tests check it against P = 1).

The usable part is the budget minus what a worker holds before it reads any data, and never less than a quarter
of the budget, so a small budget in a test still partitions finely. A worker that has run every global pass holds
~430 MB with no data (measured with bench/scale.py: peak RSS of curriculum's per-shard signal tasks): the
interpreter with numpy, pyarrow, scipy and the stages (~135 MB), what curriculum's signals keep loaded (jieba's
frequency table ~60 MB, rjieba ~35 MB, OpenCC ~40 MB) and what the allocator keeps after a shard's signals.
`bytes_per_row` of each pass counts its working copies (sorts, masks, concatenation), measured with
bench/scale.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np
import pyarrow as pa

WORKER_BASE_MB = 440  # RSS of a worker that holds no data: imports, curriculum's signal tables, allocator slack
MIN_BUDGET_MB = 512  # the smallest `memory_budget_mb` a run accepts (pipeline.config)
MAX_PARTITIONS = 1 << 20


def usable_bytes(budget_mb: float) -> float:
    """Bytes a task may spend on data under `budget_mb` (the whole process's peak RSS target). A budget below
    MIN_BUDGET_MB cannot hold a worker at all: tests use one only to force many partitions, and get a quarter."""
    if budget_mb < MIN_BUDGET_MB:
        return budget_mb / 4 * 2**20
    return (budget_mb - WORKER_BASE_MB) * 2**20


def release_memory() -> None:
    """Give the memory a finished task freed back to the system (Arrow's pool, then glibc's malloc), so the
    next task on this worker starts from the worker's base and not from the last task's high-water mark."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


_LIBC = _glibc()


def partitions(rows: int, bytes_per_row: float, budget_mb: float, minimum: int = 1) -> int:
    """Smallest power of two >= `minimum` with rows / P * bytes_per_row <= usable_bytes(budget_mb)."""
    need = math.ceil(rows * bytes_per_row / usable_bytes(budget_mb)) if rows else 1
    p = 1 << (max(need, minimum, 1) - 1).bit_length()
    return min(p, MAX_PARTITIONS)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def hash_partition(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition (0 .. parts-1, parts a power of two) of integer keys by a multiplicative hash of the key, so
    consecutive keys (documents of one shard) spread evenly."""
    if parts == 1:
        return np.zeros(len(keys), np.int64)
    bits = parts.bit_length() - 1
    with np.errstate(over="ignore"):
        mixed = keys.astype(np.uint64) * _GOLDEN
    return (mixed >> np.uint64(64 - bits)).astype(np.int64)


def range_bounds(part: int, parts: int) -> tuple[int, int | None]:
    """[lo, hi) of 64-bit hash values in range partition `part` (hi None: to the end)."""
    if parts == 1:
        return 0, None
    shift = 64 - (parts.bit_length() - 1)
    return part << shift, (None if part == parts - 1 else (part + 1) << shift)
