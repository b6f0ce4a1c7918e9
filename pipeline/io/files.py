"""What every part of input reading shares: `InputFile` (one listed input), `InputError` and the format names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

READ_STAGE = "read"


REJECTED_TEXT_CHARS = 2_000  # a rejected 50 MB document keeps only its head in the ledger


JSONL_EXTS = (".jsonl", ".json", ".ndjson")


PARQUET_EXTS = (".parquet",)


ARROW_EXTS = (".arrow", ".feather", ".ipc")


COMPRESSION_EXTS = {".gz": "gzip", ".zst": "zstd"}


FORMATS = ("jsonl", "parquet", "arrow", "datasets")


class InputWarning(UserWarning):
    """Input that is readable but probably not what the user meant (an empty file); shown as one line."""


class InputError(ValueError):
    """An input the user must fix (missing, unreadable, wrongly encoded); the message names the file."""


def refuse_reserved(where: str, names: Any) -> None:
    """Columns starting with `_` are the ones stages add (`_lang`, `_phase` ...): an input column of that name
    would be overwritten by a stage, or break one that adds it, after hours of work. Refused before reading,
    rather than renamed, so that a column keeps the name its user gave it everywhere."""
    reserved = [n for n in names if n.startswith("_")]
    if reserved:
        cols = ", ".join(repr(n) for n in reserved[:5]) + (" ..." if len(reserved) > 5 else "")
        these = "columns" if len(reserved) > 1 else "column"
        raise InputError(
            f"{where}: input {these} {cols}: names starting with '_' are reserved for the columns stages add "
            f"(_lang, _quality, _phase ...); rename or drop the {these}"
        )


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute local path, or the full URL of a remote input
    format: str  # jsonl | parquet | arrow | datasets
    source: str  # relative to the configured folder / glob base: stable across machines, seeds derived ids
    size: int
    fingerprint: str  # xxh3_64 of the file's bytes, or "etag:..." / "md5:..." when the store reports one
    encoding: str = "utf-8"  # codec: utf-8 | gb18030 | big5hkscs | utf-16[-le|-be] (JSONL only)
    compression: str | None = None  # None | gzip | zstd (JSONL only)
    synthetic: dict[str, Any] | None = None  # {"name", "defaults", "required", "index"} for synthetic sources

    def id_prefix(self) -> str:
        return xxhash.xxh3_64_hexdigest(self.source.encode("utf-8"))[:12]
