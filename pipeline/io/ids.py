"""Ids must be unique over the whole input: a repeated id makes the ledger say `news-001 duplicate of news-001`
and breaks every later join on id. Each read task records the 64-bit hashes of the ids it read (8 bytes per
document, sorted, beside its output); `check_unique` compares them range by range under the memory budget
and names the id and both files.
`input.duplicate_ids: rekey` instead prefixes every input id with its file's source name, so files never clash.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from pipeline.io.files import InputError, InputFile
from stages.core.atomic import TMP_SUFFIX
from stages.core.partitions import partitions, range_bounds


def id_hashes(ids: Iterable[str]) -> np.ndarray:
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(i.encode("utf-8")) for i in ids), np.uint64)


def write_hashes(path: str, parts: Sequence[np.ndarray]) -> None:
    arr = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
    with open(path + TMP_SUFFIX, "wb") as f:
        np.save(f, arr)
    os.replace(path + TMP_SUFFIX, path)


def rekey(batch: pa.RecordBatch | None, f: InputFile) -> pa.RecordBatch | None:
    """`source:id` for every id of a batch (documents or read rejections)."""
    if batch is None or batch.num_rows == 0:
        return batch
    i = batch.schema.get_field_index("id")
    return batch.set_column(i, "id", pc.binary_join_element_wise(f"{f.source}", batch.column(i), ":"))


BYTES_PER_ID = 40  # one partition's slice, its owners, the argsort and the sorted copy (8 + 8 + 8 + 8, + masks)


def check_unique(
    names: Sequence[str],
    hash_paths: Sequence[str],
    ids_of: Callable[[int], Iterable[str]],
    budget_mb: float | None = None,
) -> None:
    """InputError naming a repeated id and the inputs holding it (`names[i]`, one per hash file). `ids_of(i)`
    yields the ids of input i (read only when hashes repeat, to name the id and rule out a hash collision).

    Each hash file is sorted, so the check runs over ranges of the hash space (as many as `budget_mb` needs,
    `stages.core.partitions`), each holding only its slice of every memory-mapped file: a billion ids need
    8 GB on disk, not 16 GB in this process."""
    arrays = [np.load(p, mmap_mode="r") for p in hash_paths]
    total = sum(len(a) for a in arrays)
    if not total:
        return
    parts = partitions(total, BYTES_PER_ID, budget_mb) if budget_mb else 1
    candidates: list[tuple[int, int, int]] = []  # (hash, owner a, owner b) of the first repeats found
    n_dup = 0
    for q in range(parts):
        lo, hi = range_bounds(q, parts)
        cut = [_slice(a, lo, hi) for a in arrays]
        allh = np.concatenate(cut)
        owner = np.repeat(np.arange(len(cut)), [len(a) for a in cut])
        order = np.argsort(allh, kind="stable")
        s = allh[order]
        rep = np.flatnonzero(s[1:] == s[:-1])
        if not len(rep):
            continue
        n_dup += len(np.unique(s[rep]))
        for k in rep[: 20 - len(candidates)]:  # a hash collision is ~never; a few candidates settle it
            candidates.append((int(s[k]), int(owner[order[k]]), int(owner[order[k + 1]])))
    for target, a, b in candidates:
        found = {}
        for i in dict.fromkeys((a, b)):
            for doc_id in ids_of(i):
                if xxhash.xxh3_64_intdigest(doc_id.encode("utf-8")) == target:
                    found.setdefault(doc_id, []).append(names[i])
        for doc_id, where in found.items():
            if len(where) > 1:
                more = f" ({n_dup - 1} more ids repeat)" if n_dup > 1 else ""
                both = f"{where[0]} and {where[1]}" if where[0] != where[1] else f"{where[0]} (twice)"
                raise InputError(
                    f"id {doc_id!r} appears in {both}{more}; ids must be unique: fix the input, drop "
                    "input.id_field to derive ids, or set input.duplicate_ids: rekey"
                )


def _slice(sorted_hashes: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    a = np.searchsorted(sorted_hashes, np.uint64(lo)) if lo else 0
    b = len(sorted_hashes) if hi is None else np.searchsorted(sorted_hashes, np.uint64(hi))
    return np.asarray(sorted_hashes[a:b])
