"""The passes, run through `ctx.map` on workers: module-level functions of one picklable item each.

1. `pass1_signals`, per shard: raw signals into a side file, moments for z-score, a bottom-k sample.
2. `pass2_scatter`, per shard: difficulty, key and stratum; rows grouped by bucket into one IPC file.
3. `pass3_bucket`, per bucket: sort by (key, id), phases from global ranks; write output shards, or (shuffled
   or mixed phases) scatter again into (phase, part).
4. `pass4_part`, per (phase, part): shuffle by seeded id hash or sort by (key, id); write the output shard.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.core.arrow import set_column
from stages.core.shards import conform, read_shard, write_shard
from stages.core.shuffle import gather
from stages.curriculum import signals as sig
from stages.curriculum.plan import load_plan
from stages.curriculum.sampling import SAMPLE_SALT, bottom_k, id_hash, read_table
from stages.curriculum.schedules import get_schedule
from stages.curriculum.scoring import columns, difficulty, key_and_stratum
from stages.curriculum.settings import Needed, Settings

INTERNAL = ("_key", "_stratum", "_u")  # working columns dropped from the output
OUTPUT_BATCH_ROWS = 1000
Pieces = list[tuple[str, list[int]]]  # (scatter file, its record batches to read)


@dataclass(frozen=True)
class SignalsItem:
    settings: Settings
    shard: str
    index: int
    work_dir: str
    needed: Needed
    batch_size: int


@dataclass(frozen=True)
class ScatterItem:
    settings: Settings
    plan: str  # the pickled plan (normalisation, bucket bounds)
    shard: str
    side: str  # pass 1's signal file of this shard
    out: str


@dataclass(frozen=True)
class BucketItem:
    settings: Settings
    bucket: int
    pieces: Pieces
    rank0: int  # global rank of the bucket's first row within its stratum
    cuts: list[int]
    phase_ids: list[int]
    direct: bool  # write output shards (sorted, unmixed phases) rather than scatter again
    subs: dict | None
    out: str
    report_column: str | None


@dataclass(frozen=True)
class PartItem:
    settings: Settings
    phase: int
    sub: int
    pieces: Pieces
    out: str
    report_column: str | None


def _runs(sorted_values: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of equal values."""
    edges = np.flatnonzero(np.diff(sorted_values)) + 1
    starts, ends = np.concatenate([[0], edges]), np.concatenate([edges, [len(sorted_values)]])
    for lo, hi in zip(starts, ends, strict=True):
        if hi > lo:
            yield int(lo), int(hi)


def pass1_signals(item: SignalsItem) -> dict:
    """Signals of one shard into a side file, moments for z-score, and a bottom-k sample by id hash."""
    settings, needed = item.settings, item.needed
    base = os.path.join(item.work_dir, f"signals-{item.index:05d}")
    side_batches = []
    rows = chars = nbytes = 0
    for batch in read_shard(item.shard):
        nbytes += batch.nbytes
        for start in range(0, batch.num_rows, item.batch_size):
            part = batch.slice(start, item.batch_size)
            values = sig.compute(part, list(needed.builtins), settings.fold_script)
            arrays = {sig.column_name(k): pa.array(v, pa.float64()) for k, v in values.items()}
            for col in needed.columns:
                idx = part.schema.get_field_index(col)
                arrays[col] = part.column(idx) if idx >= 0 else pa.nulls(part.num_rows)
            lens = pc.utf8_length(pc.fill_null(part.column("text"), ""))
            arrays["_chars"] = pc.cast(lens, pa.int64())
            arrays["_h"] = pa.array(id_hash(part.column("id"), SAMPLE_SALT), pa.uint64())
            side_batches.append(pa.RecordBatch.from_pydict(arrays))
            chars += int(pc.sum(lens).as_py() or 0)
        rows += batch.num_rows
    if not side_batches:  # an empty shard still has every signal column, so later passes can concatenate it
        empty = {sig.column_name(k): pa.array([], pa.float64()) for k in needed.builtins}
        empty |= {col: pa.array([], pa.float64()) for col in needed.columns}
        side = pa.table({**empty, "_chars": pa.array([], pa.int64()), "_h": pa.array([], pa.uint64())})
    elif len({b.schema for b in side_batches}) == 1:
        side = pa.Table.from_batches(side_batches).combine_chunks()
    else:  # an optional column is all-null in some batches
        side = pa.concat_tables([pa.Table.from_batches([b]) for b in side_batches], promote_options="permissive")
    write_shard(base + ".arrow", side.to_batches() or [pa.RecordBatch.from_pylist([], schema=side.schema)])
    sample = bottom_k(side, settings.sample_size)
    write_shard(base + ".sample.arrow", sample.to_batches(), schema=sample.schema)
    moments = {}
    cols = columns(side.drop_columns(["_h"]))
    for name, x in cols.items():
        if x.dtype == np.float64:
            x = x[np.isfinite(x)]
            moments[name] = (
                len(x),
                float(x.mean()) if len(x) else 0.0,
                float(((x - x.mean()) ** 2).sum()) if len(x) else 0.0,
            )
    return {
        "rows": rows,
        "chars": chars,
        "bytes": nbytes,
        "side": base + ".arrow",
        "sample": base + ".sample.arrow",
        "moments": moments,
    }


def pass2_scatter(item: ScatterItem) -> dict:
    """Difficulty and bucket of every row of one shard; rows written grouped by bucket into one IPC file."""
    settings = item.settings
    plan = load_plan(item.plan)
    schedule = get_schedule(settings.schedule)(settings)
    side = read_table(item.side)
    cols = columns(side)
    d = difficulty(settings, cols, plan["norm"])
    cols["_difficulty"] = d
    key, stratum = key_and_stratum(settings, schedule, cols, plan["prepared"])
    bucket = np.empty(len(key), dtype=np.int64)
    for s, bounds in enumerate(plan["bounds"]):
        m = stratum == s
        bucket[m] = plan["offsets"][s] + np.searchsorted(bounds, key[m], "right")
    counts = np.bincount(bucket, minlength=plan["n_buckets"]).astype(np.int64)
    sig_cols = [c for c in side.column_names if c.startswith("_sig_")]
    index: dict[int, list[int]] = {}
    path = item.out + ".arrow"
    writer = None
    start = 0
    n_written = 0
    for batch in read_shard(item.shard):
        n = batch.num_rows
        sl = slice(start, start + n)
        for c in sig_cols:
            batch = set_column(batch, c, side.column(c).slice(start, n).combine_chunks())
        batch = set_column(batch, "_difficulty", pa.array(d[sl], pa.float64()))
        batch = set_column(batch, "_key", pa.array(key[sl], pa.float64()))
        batch = set_column(batch, "_stratum", pa.array(stratum[sl], pa.int32()))
        if plan["shuffle"]:
            batch = set_column(batch, "_u", pa.array(id_hash(batch.column("id"), plan["seed"]), pa.uint64()))
        b = bucket[sl]
        order = np.argsort(b, kind="stable")
        sorted_b = b[order]
        batch = batch.take(pa.array(order))
        if writer is None:
            schema = batch.schema
            writer = pa.ipc.new_file(path + ".tmp", schema)
        elif not batch.schema.equals(schema):
            batch = conform(batch, schema)
        for lo, hi in _runs(sorted_b):
            writer.write_batch(batch.slice(lo, hi - lo))
            index.setdefault(int(sorted_b[lo]), []).append(n_written)
            n_written += 1
        start += n
    if writer is None:
        writer = pa.ipc.new_file(path + ".tmp", pa.schema([("id", pa.string())]))
    writer.close()
    os.replace(path + ".tmp", path)
    return {"counts": counts, "file": path, "index": index}


def _phase_stats(table: pa.Table, phase: np.ndarray, report_column: str | None) -> dict[int, dict]:
    out = {}
    d = table.column("_difficulty").to_numpy()
    chars = pc.utf8_length(pc.fill_null(table.column("text"), "")).to_numpy(zero_copy_only=False)
    by = table.column(report_column).to_pylist() if report_column and report_column in table.column_names else None
    for p in np.unique(phase):
        m = phase == p
        out[int(p)] = {
            "docs": int(m.sum()),
            "chars": int(chars[m].sum()),
            "d_sum": float(d[m].sum()),
            "d_min": float(d[m].min()),
            "d_max": float(d[m].max()),
            "by": dict(Counter(str(v) for v, keep in zip(by, m, strict=True) if keep)) if by is not None else {},
        }
    return out


def _write_output(table: pa.Table, path: str) -> str:
    table = table.drop_columns([c for c in INTERNAL if c in table.column_names])
    write_shard(path, table.to_batches(max_chunksize=OUTPUT_BATCH_ROWS), schema=table.schema)
    return path


def pass3_bucket(item: BucketItem) -> dict:
    """Sort one bucket by (key, id), assign phases from global ranks, then write or scatter again."""
    t = gather(item.pieces)
    t = t.take(pc.sort_indices(t, sort_keys=[("_key", "ascending"), ("id", "ascending")]))
    ranks = item.rank0 + np.arange(t.num_rows)
    phase = np.asarray(item.phase_ids, dtype=np.int32)[np.searchsorted(item.cuts, ranks, "right")]
    t = t.append_column("_phase", pa.array(phase, pa.int32()))
    stats = _phase_stats(t, phase, item.report_column)
    if item.direct:
        files = [
            _write_output(t.slice(lo, hi - lo), f"{item.out}-{j:03d}.arrow") for j, (lo, hi) in enumerate(_runs(phase))
        ]
        return {"files": files, "phases": stats}
    subs = item.subs
    if item.settings.shuffle:
        u = t.column("_u").to_numpy()
        n_sub = np.asarray(subs["n"], dtype=np.uint64)[phase]
        # hash ranges: floor(u * n / 2^64) without overflow
        sub = ((u >> np.uint64(32)) * n_sub >> np.uint64(32)).astype(np.int64)
    else:
        key = t.column("_key").to_numpy()
        sub = np.zeros(len(phase), dtype=np.int64)
        for p in np.unique(phase):
            m = phase == p
            sub[m] = np.searchsorted(subs["bounds"][p], key[m], "right")
    code = phase.astype(np.int64) * (1 << 32) + sub
    order = np.argsort(code, kind="stable")
    t = t.take(pa.array(order))
    code = code[order]
    path = item.out + ".arrow"
    index: dict[tuple[int, int], list[int]] = {}
    n = 0
    with pa.ipc.new_file(path + ".tmp", t.schema) as w:
        for lo, hi in _runs(code):
            k = (int(code[lo] >> 32), int(code[lo] & 0xFFFFFFFF))
            for b in t.slice(lo, hi - lo).to_batches():
                w.write_batch(b)
                index.setdefault(k, []).append(n)
                n += 1
    os.replace(path + ".tmp", path)
    return {"file": path, "phases": stats, "index": index}


def pass4_part(item: PartItem) -> dict:
    """One (phase, part): shuffle by seeded id hash, or sort by (key, id); write the output shard."""
    t = gather(item.pieces)
    if t.num_rows == 0:
        return {"files": [], "phases": {}}
    first = "_u" if item.settings.shuffle else "_key"
    t = t.take(pc.sort_indices(t, sort_keys=[(first, "ascending"), ("id", "ascending")]))
    return {"files": [_write_output(t, item.out + ".arrow")], "phases": {}}


def renumber(paths: list[str], out_dir: str) -> list[str]:
    """Rename output files to part-00000.arrow ... in training order."""
    final = []
    for i, p in enumerate(paths):
        target = os.path.join(out_dir, f"part-{i:05d}.arrow")
        os.replace(p, target)
        final.append(target)
    return final
