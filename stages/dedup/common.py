"""Pieces both dedup stages share: keep policy, internal Arrow files, and the final per-shard rewrite."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.core.arrow import text_chars
from stages.core.atomic import atomic_path
from stages.core.ledger import REJECTED_SCHEMA, rejected_batch
from stages.core.shards import ShardWriter, read_shard, shard_schema, write_parquet
from stages.core.stats import StageStats

Keep = Literal["first", "longest", "best_quality"]


@dataclass(frozen=True)
class ShardRewrite:
    """The last pass of a dedup stage, for one shard: the shard, its output and ledger files, and its rows."""

    shard: str
    out: str
    rejected: str
    stage: str
    keep_text: bool
    rows: int


def write_table(path: str, table: pa.Table | pa.RecordBatch) -> None:
    """Internal file (Arrow IPC file format, random access by column), written atomically."""
    with atomic_path(path) as tmp, pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write(table)


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    return table.select(columns) if columns else table


def save_npy(path: str, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def doc_columns(shard: str) -> tuple[list[str], bool]:
    """Columns pass 1 reads (`id`, `text`, `_quality` when present) and whether `_quality` is there."""
    has_quality = "_quality" in shard_schema(shard).names
    return (["id", "text", "_quality"] if has_quality else ["id", "text"]), has_quality


def quality_array(batch: pa.RecordBatch, has_quality: bool) -> np.ndarray:
    """`_quality` as float64, null -> -inf (never preferred); all -inf when the column is absent."""
    if not has_quality:
        return np.full(batch.num_rows, -np.inf)
    q = pc.cast(batch.column("_quality"), pa.float64())
    return pc.fill_null(q, -np.inf).to_numpy(zero_copy_only=False)


def rank_order(keys: np.ndarray, lengths: np.ndarray, quality: np.ndarray, keep: Keep, use_quality: bool):
    """Sort keys (for np.lexsort, last is primary) so that the document to keep comes first in its group:
    first seen; longest then first seen; best `_quality` then first seen (longest when no `_quality`)."""
    if keep == "first":
        return [keys]
    if keep == "best_quality" and use_quality:
        return [keys, -quality]
    return [keys, -lengths]


def link_or_copy(src: str, dest: str) -> None:
    """`dest` becomes `src`'s bytes: a hard link (no copy) where the file system allows, else a copy; atomic."""
    with atomic_path(dest) as tmp:
        if os.path.lexists(tmp):
            os.remove(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def rewrite_shard(
    shard: str,
    out: str,
    rejected_path: str,
    stage: str,
    reason: str,
    drop_rows: np.ndarray,
    drop_detail: list[str],
    keep_text: bool,
    cluster_rows: np.ndarray | None = None,
    cluster_ids: list[str] | None = None,
    rows: int | None = None,
    chars: int | None = None,
) -> dict:
    """Copy a shard without `drop_rows` (sorted row numbers), record them in the ledger with their detail, and
    (MinHash) set `_dup_cluster` for `cluster_rows`. Returns StageStats as a dict, with `rejected`: the ledger
    file, or None when nothing was dropped (no file written).

    A shard that loses nothing and gains no column (exact dedup) is hard-linked, not rewritten, when `rows` and
    `chars` (its documents and characters, known from the first pass) are given."""
    stats = StageStats()
    if not len(drop_rows) and cluster_rows is None and rows is not None and chars is not None:
        link_or_copy(shard, out)
        stats.docs_in = stats.docs_out = rows
        stats.chars_in = stats.chars_out = chars
        return {**stats.to_dict(), "rejected": None}
    n_total = rows if rows is not None else sum(b.num_rows for b in read_shard(shard, ["id"]))
    drop = np.zeros(n_total, bool)
    drop[drop_rows] = True
    detail = np.full(n_total, None, object)
    detail[drop_rows] = drop_detail
    cluster = None
    if cluster_rows is not None:
        cluster = np.full(n_total, None, object)
        cluster[cluster_rows] = cluster_ids
    rejected = []
    row = 0
    empty_schema = shard_schema(shard)
    if cluster is not None and "_dup_cluster" not in empty_schema.names:
        empty_schema = empty_schema.append(pa.field("_dup_cluster", pa.string()))
    w = ShardWriter(out)
    try:
        for batch in read_shard(shard):
            n = batch.num_rows
            d = drop[row : row + n]
            if cluster is not None:
                col = pa.array(cluster[row : row + n], pa.string())
                idx = batch.schema.get_field_index("_dup_cluster")
                batch = (
                    batch.set_column(idx, "_dup_cluster", col) if idx >= 0 else batch.append_column("_dup_cluster", col)
                )
            batch_chars = text_chars(batch)
            stats.docs_in += n
            stats.chars_in += batch_chars
            if d.any():
                kept = batch.filter(pa.array(~d))
                gone = batch.filter(pa.array(d))
                rejected.append(
                    rejected_batch(
                        gone.column("id"),
                        stage,
                        [reason] * gone.num_rows,
                        list(detail[row : row + n][d]),
                        gone.column("text") if keep_text else None,
                    )
                )
                stats.docs_rejected += gone.num_rows
                stats.reasons[reason] += gone.num_rows
                stats.chars_out += text_chars(kept)
            else:
                kept = batch
                stats.chars_out += batch_chars
            stats.docs_out += kept.num_rows
            if kept.num_rows or w.schema is None:
                w.write(kept)
            row += n
    except BaseException:
        w.abort()
        raise
    w.close(empty_schema=empty_schema)
    if not rejected:
        return {**stats.to_dict(), "rejected": None}
    write_parquet(rejected_path, rejected, REJECTED_SCHEMA)
    return {**stats.to_dict(), "rejected": rejected_path}
