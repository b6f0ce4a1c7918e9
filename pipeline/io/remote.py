"""Paths and URLs: a path with a scheme (`s3://`, `gs://`, `hdfs://`, `memory://` ...) goes through fsspec; plain
paths keep the local fast path. A remote failure becomes one `InputError` line naming the URL."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from pipeline.io.files import InputError


def is_url(path: str) -> bool:
    return "://" in path  # as `RunConfig.resolve`, which leaves such paths alone


def url_fs(url: str) -> tuple[Any, str, Any]:
    """(fsspec filesystem, path inside it, function turning such a path back into a URL) for a URL.

    The URL keeps the user's spelling (scheme alias, host and port of `hdfs://host:8020/...`) when the path
    inside the filesystem is its tail, as for every single-protocol URL; otherwise the filesystem spells it.
    """
    import fsspec.core

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        raise InputError(f"{url}: install {_fs_package(url)} to read {_protocol(url)}:// inputs") from None
    except ValueError as e:
        if "Protocol not known" in str(e):
            raise InputError(f"{url}: unknown protocol {_protocol(url)}:// (no fsspec filesystem for it)") from None
        raise InputError(f"{url}: cannot open: {first_line(e)}") from None
    except Exception as e:  # a filesystem failing to connect (HDFS without Java, a bad endpoint ...)
        raise InputError(f"{url}: cannot open {_protocol(url)}:// filesystem: {first_line(e)}") from None
    head = url[: len(url) - len(path)] if "::" not in url and path and url.endswith(path) else None
    if head is not None:
        return fs, path, lambda p: head + p
    return fs, path, fs.unstrip_protocol


def _protocol(url: str) -> str:
    return url.split("::")[-1].split("://", 1)[0]


def _fs_package(url: str) -> str:
    from fsspec.registry import known_implementations

    impl = known_implementations.get(_protocol(url), {})
    pkg = impl.get("class", "").split(".")[0]
    return pkg if pkg and pkg != "fsspec" else f"the fsspec filesystem for {_protocol(url)}://"


def first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


@contextlib.contextmanager
def remote_errors(url: str, what: str) -> Iterator[None]:
    """A remote filesystem's failure (credentials, network, permissions) becomes one InputError line naming the
    URL; programming errors (TypeError, KeyError ...) pass through."""
    try:
        yield
    except InputError:
        raise
    except Exception as e:
        if type(e).__module__ == "builtins" and not isinstance(e, OSError | ValueError):
            raise
        raise InputError(f"{url}: {what}: {first_line(e)}") from None


def open_raw(path: str) -> BinaryIO:
    if not is_url(path):
        return open(path, "rb")
    fs, p, _ = url_fs(path)
    return fs.open(p, "rb")


def isfile(path: str) -> bool:
    if not is_url(path):
        return os.path.isfile(path)
    fs, p, _ = url_fs(path)
    return bool(fs.isfile(p))


def pjoin(root: str, *names: str) -> str:
    if not is_url(root):
        return os.path.join(root, *names)
    return "/".join([root.rstrip("/"), *names])


def url_glob_base(path: str) -> str:
    fixed = []
    for part in path.split("/"):
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed).rstrip("/") or "/"


def url_rel(path: str, base: str) -> str:
    base = base.rstrip("/")
    path = path.rstrip("/")
    if path == base:
        return ""
    return path[len(base) + 1 :] if path.startswith(base + "/") else path.lstrip("/")


def hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))
