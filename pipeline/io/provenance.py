"""Provenance columns of synthetic sources (`_source`, `_gen_generator`, `_gen_prompt_id` ...), filled from the
row, the source's defaults, or refused with the row named when required and missing."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.io.files import InputError, InputFile
from stages.core.arrow import set_column

SYNTHETIC_FIELDS = ("generator", "prompt_id", "seed_id", "params")


def _gen_columns(f: InputFile) -> list[str]:
    syn = f.synthetic or {}
    extra = [k for k in [*syn.get("required", []), *syn.get("defaults", {})] if k not in SYNTHETIC_FIELDS]
    return list(dict.fromkeys([*SYNTHETIC_FIELDS, *extra]))


def _missing_provenance(f: InputFile, where: str, key: str) -> InputError:
    syn = f.synthetic or {}
    return InputError(
        f"{where}: synthetic document lacks {key!r} (no default given in synthetic[{syn.get('index', 0)}])"
    )


def _provenance_value(v: Any) -> str | None:
    if v is None or type(v) is str:
        return v
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


def add_provenance_rows(
    docs: pa.RecordBatch, rows: list[dict[str, Any]], lines: list[int], f: InputFile
) -> pa.RecordBatch:
    syn = f.synthetic or {}
    defaults, required = syn.get("defaults", {}), set(syn.get("required", []))
    cols = {"_source": pa.array(["synthetic"] * docs.num_rows, pa.string())}
    for key in _gen_columns(f):
        default = defaults.get(key)
        values = [_provenance_value(r.get(key)) for r in rows]
        if default is not None:
            values = [default if v is None else v for v in values]
        elif key in required:
            for v, line in zip(values, lines, strict=True):
                if v is None:
                    raise _missing_provenance(f, f"{f.path}:{line + 1}", key)
        cols[f"_gen_{key}"] = pa.array(values, pa.string())
    for name, arr in cols.items():
        docs = set_column(docs, name, arr)
    return docs


def add_provenance_columns(docs: pa.RecordBatch, f: InputFile, row0: int) -> pa.RecordBatch:
    n = docs.num_rows
    if f.synthetic is None:
        return set_column(docs, "_source", pa.array(["real"] * n, pa.string()))
    syn = f.synthetic
    defaults, required = syn.get("defaults", {}), set(syn.get("required", []))
    docs = set_column(docs, "_source", pa.array(["synthetic"] * n, pa.string()))
    for key in _gen_columns(f):
        idx = docs.schema.get_field_index(key)
        if idx >= 0:
            col = docs.column(idx)
            if not (pa.types.is_string(col.type) or pa.types.is_null(col.type)):
                col = pa.array([_provenance_value(v) for v in col.to_pylist()], pa.string())
            col = col.cast(pa.string())
        else:
            col = pa.nulls(n, pa.string())
        if defaults.get(key) is not None:
            col = pc.fill_null(col, defaults[key])
        elif key in required and col.null_count:
            first = pc.indices_nonzero(pc.is_null(col))[0].as_py()
            raise _missing_provenance(f, f"{f.path}: row {row0 + first}", key)
        docs = set_column(docs, f"_gen_{key}", col)
    return docs
