"""The one way a file is written in a run directory: to `path.tmp`, renamed over `path` when complete, so a
killed run never leaves a half-written file under a final name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary name beside `path` to write to; renamed over `path` if the block succeeds, removed if not."""
    tmp = path + TMP_SUFFIX
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        yield tmp
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def write_json(path: str, obj: Any, sort_keys: bool = True) -> None:
    """Atomic JSON file; keys sorted unless their order means something (stages in pipeline order)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, sort_keys=sort_keys)
        f.write("\n")


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
