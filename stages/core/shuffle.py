"""Shuffle files between partitioned passes: a task writes its output as one Arrow IPC file whose record batches
are grouped by destination partition, and returns {partition: [batch numbers]}; the task of a partition of the
next pass reads only its batches from every file (random access in the IPC file format). One file per task, not
one per (task, partition), so file counts stay small on object storage too."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa


def write_partitioned(path: str, table: pa.Table, part: np.ndarray) -> dict[int, list[int]]:
    """Write `table`'s rows grouped by `part` (stable: the row order inside a partition is kept)."""
    order = np.argsort(part, kind="stable")
    sp = part[order]
    table = table.take(pa.array(order)) if len(order) else table
    edges = np.flatnonzero(np.diff(sp)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(sp)]
    index: dict[int, list[int]] = {}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    n = 0
    with pa.OSFile(path + ".tmp", "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            if hi <= lo:
                continue
            for b in table.slice(lo, hi - lo).to_batches():
                w.write_batch(b)
                index.setdefault(int(sp[lo]), []).append(n)
                n += 1
    os.replace(path + ".tmp", path)
    return index


def pieces(results: list[dict], part) -> list[tuple[str, list[int]]]:
    """(file, batches) of partition `part` in each result ({"file", "index"}) that has some."""
    return [(r["file"], r["index"][part]) for r in results if part in r["index"]]


def gather(items: list[tuple[str, list[int]]], schema: pa.Schema | None = None) -> pa.Table:
    """The listed record batches of shuffle files, as one table (in the order listed)."""
    tables = []
    for path, batches in items:
        # read, not memory-mapped: a task gathers a small piece of each of many files, and mapping them put
        # ~1 MB of file pages per file into its RSS (186 MB for 9 MB of rows from 200 files: bench/scale.py)
        with pa.OSFile(path) as src:
            reader = pa.ipc.open_file(src)
            tables.append(pa.Table.from_batches([reader.get_batch(i) for i in batches], reader.schema))
    if not tables:
        return schema.empty_table() if schema is not None else pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")
