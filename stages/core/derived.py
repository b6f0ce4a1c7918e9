"""A per-user cache of data derived from installed packages alone (the character-class tables from Python's
Unicode database and OpenCC's dictionaries, the LSH bands and rows, the `datasets` features of a schema),
like jieba's dictionary cache: derived once per machine instead of once in every worker process of every
run, where it cost 0.3-0.5 s before a worker's first document. Tables are memory-mapped, so the workers of
a machine share one copy.

An entry's name carries a hash of everything it is derived from: the versions of the packages it reads and
the source of the modules that derive it, so a new package version or a changed derivation never reads an
old entry. The folder is `$JINGXUAN_CACHE_DIR`, else `$XDG_CACHE_HOME/jingxuan/derived`, else
`~/.cache/jingxuan/derived`; `JINGXUAN_CACHE_DIR=off` turns the cache off. A folder that cannot be written,
or an entry that cannot be read, costs only the derivation.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from functools import cache
from importlib import metadata

import numpy as np

CACHE_ENV = "JINGXUAN_CACHE_DIR"


def cache_dir() -> str | None:
    folder = os.environ.get(CACHE_ENV)
    if folder == "off":
        return None
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "jingxuan", "derived")
    return folder


@cache
def _file_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def derivation_key(packages: tuple[str, ...], modules: tuple[str, ...], *extra: str | bytes) -> str:
    """A hash of the installed versions of `packages`, the source files `modules` and `extra` inputs."""
    h = hashlib.sha256()
    for name in packages:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}={version}\0".encode())
    for path in modules:
        h.update(_file_digest(path).encode() + b"\0")
    for part in extra:
        h.update((part if isinstance(part, bytes) else part.encode()) + b"\0")
    return h.hexdigest()[:32]


def cached_bytes(name: str, key: str, derive: Callable[[], bytes], valid: Callable[[bytes], bool] = bool) -> bytes:
    """The bytes `derive()` returns, read from the cache entry `name-key` when it is there and `valid`."""
    path = _entry(name, key)
    if path is not None:
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            data = fh.read()
            if valid(data):
                return data
    data = derive()
    if path is not None:
        _write(path, data)
    return data


def cached_array(name: str, key: str, derive: Callable[[], np.ndarray], dtype: type, size: int) -> np.ndarray:
    """The 1-D array `derive()` returns, memory-mapped read-only from the cache entry `name-key`: all worker
    processes of a machine then share one copy of its pages, and of the CPU cache lines lookups touch."""
    path = _entry(name, key)
    nbytes = np.dtype(dtype).itemsize * size
    if path is not None:
        with contextlib.suppress(OSError, ValueError):
            if os.path.getsize(path) == nbytes:
                return np.memmap(path, dtype=dtype, mode="r", shape=(size,))
    table = np.ascontiguousarray(derive(), dtype=dtype)
    if path is not None and table.size == size and _write(path, table.tobytes()):
        with contextlib.suppress(OSError, ValueError):
            return np.memmap(path, dtype=dtype, mode="r", shape=(size,))
    table.flags.writeable = False  # shared by every thread of the process
    return table


def _entry(name: str, key: str) -> str | None:
    folder = cache_dir()
    return None if folder is None else os.path.join(folder, f"{name}-{key}")


def _write(path: str, data: bytes) -> bool:
    """Write an entry whole (temporary name, then rename); False where the folder cannot be written."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # concurrent workers each write a whole entry; the last rename wins
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
