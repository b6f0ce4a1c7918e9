"""Parquet, Arrow (IPC file or stream) and `datasets` folder files: batches of the file re-cut to the batch
size, split into documents and `read` ledger rows (null, empty, too long text)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.io import arrow, parquet
from pipeline.io.files import READ_STAGE, REJECTED_TEXT_CHARS, InputError, InputFile, refuse_reserved
from pipeline.io.provenance import add_provenance_columns
from pipeline.io.remote import first_line
from stages.core.arrow import concat_batches
from stages.core.ledger import rejected_batch

if TYPE_CHECKING:
    from pipeline.config import InputConfig


def columnar_batches(
    f: InputFile, batch_size: int, start: int = 0, stop: int | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's batches, or those of row groups / record batches `start:stop` (a shard)."""
    try:
        if f.format == "parquet":
            yield from parquet.batches(f.path, batch_size, start, stop)
        else:
            yield from arrow.batches(f.path, f.format, start, stop)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{f.path}: cannot read as {f.format}: {first_line(e)}") from None


def _open_schema(path: str, fmt: str) -> pa.Schema:
    try:
        return parquet.schema(path) if fmt == "parquet" else arrow.schema(path, fmt)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path}: cannot read as {fmt}: {first_line(e)}") from None


def check_columns(path: str, fmt: str, inp: InputConfig) -> None:
    schema = _open_schema(path, fmt)
    text_field, id_field = inp.text_field, inp.id_field
    names = schema.names
    if text_field not in names:
        raise InputError(f"{path}: no column {text_field!r} (columns: {', '.join(names)}); set input.text_field")
    t = schema.field(text_field).type
    if pa.types.is_dictionary(t):
        t = t.value_type  # decoded when read
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
        raise InputError(f"{path}: column {text_field!r} is {t}, not a string")
    for key, field in (("text", text_field), ("id", id_field)):
        if key != field and key in names:
            raise InputError(
                f"{path}: has a column {key!r} besides input.{key}_field {field!r}; "
                f"rename it or set input.{key}_field: {key}"
            )
    refuse_reserved(path, names)


def rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Exactly `size` rows per batch (the last may be shorter), whatever the file's own batching."""
    pending: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        while b.num_rows:
            take = min(size - n, b.num_rows)
            pending.append(b.slice(0, take))
            n += take
            b = b.slice(take)
            if n == size:
                yield concat_batches(pending)
                pending, n = [], 0
    if n:
        yield concat_batches(pending)


def _decoded(col: pa.Array) -> pa.Array:
    """Dictionary-encoded columns (Parquet writers make them from categorical data) as plain arrays: the
    `datasets` features of the output have no dictionary type."""
    return col.dictionary_decode() if pa.types.is_dictionary(col.type) else col


def split_columnar(
    raw: pa.RecordBatch, f: InputFile, inp: InputConfig, row0: int
) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    text_field, id_field = inp.text_field, inp.id_field
    n = raw.num_rows
    text = raw.column(text_field)
    if text.type != pa.string():
        text = text.cast(pa.string())
    prefix = f.id_prefix()
    if id_field in raw.schema.names:
        try:
            ids = raw.column(id_field).cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise InputError(f"{f.path}: column {id_field!r} cannot become a string id: {e}") from None
        if ids.null_count:
            derived = pa.array([f"{prefix}-{row0 + i}" for i in range(n)], pa.string())
            ids = pc.if_else(pc.is_null(ids), derived, ids)
    else:
        ids = pa.array([f"{prefix}-{row0 + i}" for i in range(n)], pa.string())
    others = [(name, _decoded(raw.column(name))) for name in raw.schema.names if name not in (text_field, id_field)]
    docs = pa.RecordBatch.from_arrays(
        [ids, text, *(c for _, c in others)], names=["id", "text", *(name for name, _ in others)]
    )
    docs = add_provenance_columns(docs, f, row0)

    lengths = pc.fill_null(pc.utf8_length(text), 0)
    too_long = pc.greater(lengths, inp.max_doc_chars)
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)
    null = pc.is_null(text)
    reason = pc.case_when(
        pc.make_struct(null, too_long, empty),
        pa.scalar("null_text"),
        pa.scalar("too_long"),
        pa.scalar("empty_text"),
    )
    drop = pc.is_valid(reason)
    if not pc.any(drop).as_py():
        return docs, None
    idx = pc.indices_nonzero(drop).to_numpy()
    dropped_len = pc.take(lengths, idx).to_pylist()
    dropped_reason = pc.take(reason, idx).to_pylist()
    details = [
        f"{f.source}:{row0 + i}: {ln} chars > max_doc_chars {inp.max_doc_chars}"
        if r == "too_long"
        else f"{f.source}:{row0 + i}"
        for i, r, ln in zip(idx.tolist(), dropped_reason, dropped_len, strict=True)
    ]
    rejected = rejected_batch(
        pc.take(ids, idx),
        READ_STAGE,
        dropped_reason,
        details,
        pc.utf8_slice_codeunits(pc.take(text, idx), 0, REJECTED_TEXT_CHARS),
    )
    return docs.filter(pc.invert(drop)), rejected
