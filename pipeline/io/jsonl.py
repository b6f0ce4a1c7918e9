"""JSON Lines reader: every non-blank line becomes a document or a `read` ledger row with a located reason
(malformed JSON, invalid UTF-8/GB18030, not an object, missing/null/empty/non-string text, too long)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
import pyarrow as pa

from pipeline.io.decoding import UTF8_BOM, line_encoding, open_bytes, open_lines
from pipeline.io.files import READ_STAGE, REJECTED_TEXT_CHARS, InputError, InputFile, refuse_reserved
from pipeline.io.provenance import add_provenance_rows
from stages.core.arrow import set_column
from stages.core.ledger import rejected_batch
from stages.core.shards import json_text

if TYPE_CHECKING:
    from pipeline.config import InputConfig

MAX_BATCH_BYTES = 128 << 20  # a JSONL batch is also cut at this much input, so huge documents stay bounded


def check_jsonl_field(path: str, compression: str | None, encoding: str, field: str, lines: int = 200) -> None:
    """A wrong `input.text_field` would reject every line as missing_text: refuse the file up front instead,
    naming the fields its first documents do have."""
    seen: dict[str, None] = {}
    objects = 0
    with open_lines(path, compression, encoding) as f:
        for lineno, raw in enumerate(itertools.islice(f, lines), 1):
            try:
                obj = orjson.loads(raw.decode(line_encoding(encoding)))
            except (UnicodeDecodeError, orjson.JSONDecodeError):
                continue  # malformed lines are the reader's business
            if isinstance(obj, dict):
                refuse_reserved(f"{path}:{lineno}", obj)
                if field in obj:
                    return
                objects += 1
                seen.update(dict.fromkeys(obj))
    if objects:
        fields = ", ".join(list(seen)[:12]) or "none"
        raise InputError(
            f"{path}: no `{field}` field in its first {objects} documents (fields: {fields}); set input.text_field"
        )


class _JsonlBatch:
    """Accumulates parsed lines; rows are kept apart from their id and text so columns build cheaply."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.rej: tuple[list, list, list, list] = ([], [], [], [])
        self.n = 0
        self.nbytes = 0

    def reject(self, id_: str, reason: str, detail: str, text: str | None) -> None:
        for col, v in zip(self.rej, (id_, reason, detail, text), strict=True):
            col.append(v)
        self.n += 1


def read_jsonl(
    f: InputFile, inp: InputConfig, batch_size: int, fh: BinaryIO | None = None, line0: int = 0
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch | None]]:
    """The whole file, or (a shard of it) the lines of the open stream `fh`, the first being line `line0`."""
    text_field, id_field = inp.text_field, inp.id_field
    max_chars = inp.max_doc_chars
    clashes = [(k, field) for k, field in (("text", text_field), ("id", id_field)) if k != field]
    prefix = f.id_prefix()
    src = f.source
    legacy = None if line_encoding(f.encoding) == "utf-8" else f.encoding  # GB18030, Big5: decoded before parsing
    invalid = f"invalid_{legacy.removesuffix('hkscs')}" if legacy else ""  # invalid_gb18030, invalid_big5
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    acc = _JsonlBatch()
    stack = contextlib.ExitStack()
    try:
        fh = stack.enter_context(fh if fh is not None else open_lines(f.path, f.compression, f.encoding))
    except OSError as e:
        raise InputError(f"{f.path}: cannot read: {e.strerror or e}") from None
    with stack:
        lineno = line0 - 1
        first = line0 == 0
        try:
            for raw in fh:
                lineno += 1
                if lineno == 0 and raw.startswith(UTF8_BOM):
                    raw = raw[3:]
                stripped = raw.strip()
                if not stripped:
                    continue  # blank lines are not documents; row numbers stay line numbers
                where = f"{src}:{lineno + 1}"
                try:
                    obj = loads(stripped.decode(legacy) if legacy else stripped)
                except UnicodeDecodeError as e:
                    acc.reject(f"{prefix}-{lineno}", invalid, f"{where}: byte {e.start}", _head(raw, f.encoding))
                except JSONDecodeError as e:
                    bad_utf8 = None if legacy else _utf8_error(stripped)
                    if bad_utf8 is not None:
                        detail = f"{where}: byte {bad_utf8.start}"
                        acc.reject(f"{prefix}-{lineno}", "invalid_utf8", detail, _head(raw, f.encoding))
                    else:
                        if first and stripped in (b"[", b"{"):
                            raise InputError(
                                f"{f.path}: looks like one JSON document, not JSON Lines (one object per line)"
                            ) from None
                        detail = f"{where}: {e.msg} (column {e.colno})"
                        acc.reject(f"{prefix}-{lineno}", "malformed_json", detail, _head(raw, f.encoding))
                else:
                    _accept_json(acc, obj, raw, lineno, where, prefix, text_field, id_field, max_chars, clashes, f)
                first = False
                acc.nbytes += len(raw)
                if acc.n >= batch_size or acc.nbytes >= MAX_BATCH_BYTES:
                    yield _flush_jsonl(acc, f)
                    acc = _JsonlBatch()
        except (OSError, EOFError) as e:
            raise InputError(f"{f.path}: cannot read after line {lineno + 1}: {e}") from None
        except InputError:
            raise
        except UnicodeDecodeError as e:  # UTF-16 is decoded as a stream, not line by line
            raise InputError(f"{f.path}: invalid {e.encoding} after line {lineno + 1}: {e.reason}") from None
        except Exception as e:  # zstandard.ZstdError: a truncated or corrupt archive
            if type(e).__module__.startswith("zstandard"):
                raise InputError(f"{f.path}: cannot decompress after line {lineno + 1}: {e}") from None
            raise
    if acc.n:
        yield _flush_jsonl(acc, f)


def _accept_json(
    acc: _JsonlBatch,
    obj: Any,
    raw: bytes,
    lineno: int,
    where: str,
    prefix: str,
    text_field: str,
    id_field: str,
    max_chars: int,
    clashes: list[tuple[str, str]],
    f: InputFile,
) -> None:
    if type(obj) is not dict:
        acc.reject(
            f"{prefix}-{lineno}", "not_an_object", f"{where}: a JSON {type(obj).__name__}", _head(raw, f.encoding)
        )
        return
    for key, field in clashes:
        if key in obj:
            raise InputError(
                f"{f.path}:{lineno + 1}: has a field {key!r} besides input.{key}_field {field!r}; "
                f"rename it or set input.{key}_field: {key}"
            )
    id_value = obj.pop(id_field, None)
    if type(id_value) is float:  # orjson turns integers beyond 64 bits into floats: 2**64 and 2**64 + 1 collide
        id_value = json.loads(raw.decode(line_encoding(f.encoding)).strip().lstrip("\ufeff")).get(id_field)
    doc_id = f"{prefix}-{lineno}" if id_value is None else _id_str(id_value)
    if text_field not in obj:
        acc.reject(doc_id, "missing_text", f"{where}: no field {text_field!r}", _head(raw, f.encoding))
        return
    text = obj.pop(text_field)
    if text is None:
        acc.reject(doc_id, "null_text", where, _head(raw, f.encoding))
    elif type(text) is not str:
        acc.reject(
            doc_id, "text_not_string", f"{where}: {text_field} is a JSON {type(text).__name__}", _head(raw, f.encoding)
        )
    elif len(text) > max_chars:
        detail = f"{where}: {len(text)} chars > max_doc_chars {max_chars}"
        acc.reject(doc_id, "too_long", detail, text[:REJECTED_TEXT_CHARS])
    elif not text.strip():
        acc.reject(doc_id, "empty_text", where, text[:REJECTED_TEXT_CHARS])
    else:
        acc.ids.append(doc_id)
        acc.texts.append(text)
        acc.rows.append(obj)
        acc.lines.append(lineno)
        acc.n += 1


def _id_str(v: Any) -> str:
    if type(v) is str:
        return v
    if type(v) is int:
        return str(v)
    return orjson.dumps(v).decode()


def _utf8_error(line: bytes) -> UnicodeDecodeError | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as e:
        return e
    return None


def _head(raw: bytes, encoding: str) -> str:
    raw = raw[: REJECTED_TEXT_CHARS * 4]
    return raw.decode(line_encoding(encoding), errors="replace").rstrip("\r\n")[:REJECTED_TEXT_CHARS]


def _flush_jsonl(acc: _JsonlBatch, f: InputFile) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    names: dict[str, None] = {}
    seen_shapes: set[tuple[str, ...]] = set()
    for r, line in zip(acc.rows, acc.lines, strict=True):
        shape = tuple(r)
        if shape not in seen_shapes:
            seen_shapes.add(shape)
            names.update(dict.fromkeys(shape))
            refuse_reserved(f"{f.path}:{line + 1}", shape)
    arrays = [pa.array(acc.ids, pa.string()), pa.array(acc.texts, pa.string())]
    fields = ["id", "text"]
    for name in names:
        arrays.append(_column([r.get(name) for r in acc.rows]))
        fields.append(name)
    docs = pa.RecordBatch.from_arrays(arrays, names=fields)
    if f.synthetic is not None:
        docs = add_provenance_rows(docs, acc.rows, acc.lines, f)
    else:
        docs = set_column(docs, "_source", pa.array(["real"] * docs.num_rows, pa.string()))
    ids, reasons, details, texts = acc.rej
    rejected = rejected_batch(ids, READ_STAGE, reasons, details, texts) if ids else None
    return docs, rejected


def _column(values: list[Any]) -> pa.Array:
    """Arrow infers the type; a field whose JSON types disagree (1 and "1") becomes JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return json_text(values)


def count_rows(f: InputFile) -> int:
    """Non-empty lines, counted without parsing (for `jingxuan plan`)."""
    rows, last = 0, b"\n"
    if line_encoding(f.encoding) != f.encoding:  # UTF-16
        with open_lines(f.path, f.compression, f.encoding) as lines:
            return sum(1 for line in lines if line.strip())
    with open_bytes(f.path, f.compression) as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            rows += chunk.count(b"\n") - chunk.count(b"\n\n")
            last = chunk[-1:]
    return rows + (last != b"\n")
