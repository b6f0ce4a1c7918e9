"""The `datasets`-compatible output: final shards -> `data/` (what `datasets.load_from_disk` opens) and an
optional Parquet copy, byte-identical for identical rows."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from stages.core.arrow import concat_batches
from stages.core.atomic import TMP_SUFFIX
from stages.core.derived import cached_bytes, derivation_key
from stages.core.shards import conform, read_shard, shard_rows, shard_schema, unify

OUTPUT_BATCH_ROWS = 1_000  # rows per record batch in data/ files (what `datasets.save_to_disk` writes)


def _plan(shards: list[str], max_shard_docs: int) -> tuple[pa.Schema, list[int]]:
    """The unified output schema and the row count of every output file (contiguous, balanced like
    `Dataset.shard(contiguous=True)`)."""
    schema: pa.Schema | None = None
    total = 0
    for s in shards:
        sch = shard_schema(s)
        schema = sch.remove_metadata() if schema is None else unify(schema, sch)
        total += shard_rows(s)
    if schema is None:
        schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    num = max(1, -(-total // max_shard_docs))
    div, mod = divmod(total, num)
    return schema, [div + (1 if i < mod else 0) for i in range(num)]


def _output_chunks(shards: list[str], schema: pa.Schema, sizes: list[int]) -> Iterator[Iterator[pa.RecordBatch]]:
    """One iterator of `OUTPUT_BATCH_ROWS`-row batches per output file, rows in shard order."""
    stream = _RowStream(conform(b, schema) for s in shards for b in read_shard(s) if b.num_rows)
    for size in sizes:
        yield _take_rows(stream, size)


class _RowStream:
    def __init__(self, batches: Iterator[pa.RecordBatch]):
        self.batches = batches
        self.head: pa.RecordBatch | None = None

    def take(self, n: int) -> pa.RecordBatch | None:
        parts, got = [], 0
        while got < n:
            if self.head is None or self.head.num_rows == 0:
                self.head = next(self.batches, None)
                if self.head is None:
                    break
            k = min(n - got, self.head.num_rows)
            parts.append(self.head.slice(0, k))
            self.head = self.head.slice(k)
            got += k
        return concat_batches(parts) if parts else None


def _take_rows(stream: _RowStream, n: int) -> Iterator[pa.RecordBatch]:
    left = n
    while left > 0:
        b = stream.take(min(OUTPUT_BATCH_ROWS, left))
        if b is None:
            raise RuntimeError("shards changed while the dataset was being written")
        left -= b.num_rows
        yield b


def _hf_features(schema: pa.Schema) -> tuple[pa.Schema, str]:
    """The schema with `datasets`' features metadata and the `dataset_info.json` text for it. Both depend
    only on the schema and the installed `datasets`, so they are cached per machine (`stages.core.derived`):
    importing `datasets` costs ~0.5 s of a run's serial end."""
    key = derivation_key(("datasets",), (__file__,), schema.serialize().to_pybytes())
    derived = cached_bytes("hf-features", key, lambda: _derive_hf_features(schema), lambda b: b.count(b"\0") == 1)
    schema_bytes, info = derived.split(b"\0")
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(schema_bytes))), info.decode()


def _derive_hf_features(schema: pa.Schema) -> bytes:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets
    from datasets.utils.py_utils import asdict

    features = datasets.Features.from_arrow_schema(schema)
    info = asdict(datasets.DatasetInfo(features=features))
    text = json.dumps({k: info[k] for k in sorted(info)}, indent=2)
    return base64.b64encode(features.arrow_schema.serialize().to_pybytes()) + b"\0" + text.encode()


def fresh_dir(path: str) -> str:
    tmp = path + TMP_SUFFIX
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    return tmp


def publish_dir(tmp: str, path: str) -> None:
    old = path + ".old"
    if os.path.exists(old):
        shutil.rmtree(old)
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(tmp, path)
    if os.path.exists(old):
        shutil.rmtree(old)


def write_state(folder: str, names: list[str], fingerprint: str) -> None:
    """`state.json` as `Dataset.save_to_disk` writes it, listing the data files in order."""
    state = {
        "_data_files": [{"filename": n} for n in names],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    with open(os.path.join(folder, "state.json"), "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)


def write_dataset(
    shards: list[str], data_dir: str, max_shard_docs: int, extra_files: dict[str, str] | None = None
) -> dict[str, Any]:
    """Final shards -> a folder `datasets.load_from_disk` opens, byte-identical for identical rows.

    Files are `data-0000i-of-0000N.arrow` (IPC stream, 1,000-row batches, the schema carrying the
    `huggingface` features metadata), `dataset_info.json` and `state.json` as `Dataset.save_to_disk` writes
    them; `_fingerprint` hashes the data files instead of being random. `extra_files` (name -> text, e.g. the
    dataset card README.md) go in beside them. Written to `data_dir.tmp`, then renamed.
    """
    schema, sizes = _plan(shards, max_shard_docs)
    out_schema, info = _hf_features(schema)
    tmp = fresh_dir(data_dir)
    num = len(sizes)
    names = [f"data-{i:05d}-of-{num:05d}.arrow" for i in range(num)]
    h = xxhash.xxh3_64()
    nbytes = 0
    for name, chunk in zip(names, _output_chunks(shards, schema, sizes), strict=True):
        path = os.path.join(tmp, name)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, out_schema) as w:
            for b in chunk:
                w.write_batch(conform(b, out_schema))
        with open(path, "rb") as fh:
            while block := fh.read(8 << 20):
                h.update(block)
        nbytes += os.path.getsize(path)
    write_state(tmp, names, h.hexdigest())
    with open(os.path.join(tmp, "dataset_info.json"), "w", encoding="utf-8") as fh:
        fh.write(info)
    for name, text in (extra_files or {}).items():
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    publish_dir(tmp, data_dir)
    return {"files": [os.path.join(data_dir, n) for n in names], "rows": sum(sizes), "bytes": nbytes}


def write_parquet_dataset(shards: list[str], out_dir: str, max_shard_docs: int = 100_000) -> dict[str, Any]:
    """The same rows and file split as `write_dataset`, as `data-0000i-of-0000N.parquet` (zstd)."""
    schema, sizes = _plan(shards, max_shard_docs)
    out_schema, _ = _hf_features(schema)  # keeps the features metadata: `datasets` reads it back from Parquet
    tmp = fresh_dir(out_dir)
    num = len(sizes)
    names = [f"data-{i:05d}-of-{num:05d}.parquet" for i in range(num)]
    nbytes = 0
    for name, chunk in zip(names, _output_chunks(shards, schema, sizes), strict=True):
        path = os.path.join(tmp, name)
        with pq.ParquetWriter(path, out_schema, compression="zstd") as w:
            for b in chunk:
                w.write_batch(conform(b, out_schema))
        nbytes += os.path.getsize(path)
    publish_dir(tmp, out_dir)
    return {"files": [os.path.join(out_dir, n) for n in names], "rows": sum(sizes), "bytes": nbytes}
