"""Intermediate shard files: Arrow IPC stream, written under a temporary name and renamed when complete.

Stream format is what `datasets.save_to_disk` writes, so a finished shard can become a `data/` file as is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from stages.core.atomic import TMP_SUFFIX, atomic_path


def read_shard(path: str, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Batches of a shard file, memory-mapped."""
    with pa.memory_map(path) as source:
        reader = pa.ipc.open_stream(source)
        for batch in reader:
            yield batch.select(columns) if columns else batch


def shard_schema(path: str) -> pa.Schema:
    with pa.memory_map(path) as source:
        return pa.ipc.open_stream(source).schema


def shard_bytes(paths: list[str]) -> list[float]:
    """What a pass over each shard costs, roughly: its size (`GlobalContext.map` weights)."""
    return [float(os.path.getsize(p)) for p in paths]


def shard_rows(path: str) -> int:
    return sum(b.num_rows for b in read_shard(path, columns=["id"]))


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Reorder, add missing columns as nulls and cast, so batches of one shard share a schema. A column that
    `unify` made a string because its types disagree (a struct in one batch, a list in the next) holds JSON
    text for the values Arrow cannot cast, as the reader does for types that disagree within one batch."""
    arrays = []
    for f in schema:
        idx = batch.schema.get_field_index(f.name)
        col = batch.column(idx) if idx >= 0 else pa.nulls(batch.num_rows, f.type)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                if not pa.types.is_string(f.type):
                    raise
                col = json_text(col.to_pylist())
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def json_text(values: list[Any]) -> pa.Array:
    """Strings stay as they are, anything else becomes compact JSON with sorted keys (deterministic)."""
    return pa.array(
        [
            v if v is None or type(v) is str else orjson.dumps(v, option=orjson.OPT_SORT_KEYS, default=str).decode()
            for v in values
        ],
        pa.string(),
    )


def unify(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    """Union of columns; a column that is all-null (type null) in one schema takes the other's type, and
    a column whose types cannot be promoted (int in one batch, string in the next) becomes a string."""
    a, b = a.remove_metadata(), b.remove_metadata()
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        fields = []
        for f in a:
            other = b.field(f.name) if f.name in b.names else None
            if other is None or other.type == f.type:
                fields.append(f)
            else:
                try:
                    fields.append(
                        pa.unify_schemas([pa.schema([f]), pa.schema([other])], promote_options="permissive")[0]
                    )
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    fields.append(pa.field(f.name, pa.string()))
        fields += [f for f in b if f.name not in a.names]
        return pa.schema(fields)


class ShardWriter:
    """Writes batches to `path` via `path.tmp`; `close()` renames. Column sets may vary between batches
    (JSON input with optional fields): the writer widens its schema and rewrites what it has so far."""

    def __init__(self, path: str, schema: pa.Schema | None = None):
        self.path = path
        self.tmp = path + TMP_SUFFIX
        self.schema = schema
        self.rows = 0
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if schema is not None:
            self._open(schema)

    def _open(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._writer = pa.ipc.new_stream(self.tmp, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._open(batch.schema.remove_metadata())
        elif not batch.schema.equals(self.schema):
            if set(batch.schema.names) - set(self.schema.names):
                self._widen(unify(self.schema, batch.schema))
            try:
                batch = conform(batch, self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self._widen(unify(self.schema, batch.schema))
                batch = conform(batch, self.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def _widen(self, schema: pa.Schema) -> None:
        self._writer.close()
        old = self.tmp + ".old"
        os.replace(self.tmp, old)
        self._open(schema)
        for b in read_shard(old):
            self._writer.write_batch(conform(b, schema))
        os.remove(old)

    def close(self, empty_schema: pa.Schema | None = None) -> int:
        """Finish the file; a shard with no rows still gets a schema (given, or the last one seen)."""
        if self._writer is None:
            self._open(empty_schema or self.schema or pa.schema([("id", pa.string()), ("text", pa.string())]))
        self._writer.close()
        os.replace(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shard(path: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema | None = None) -> int:
    with ShardWriter(path, schema) as w:
        for b in batches:
            w.write(b)
    return w.rows


def write_parquet(path: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
    """Atomic Parquet file (the rejected ledger and optional Parquet output)."""
    rows = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        for b in batches:
            if b.num_rows:
                w.write_batch(conform(b, schema))
                rows += b.num_rows
    return rows
