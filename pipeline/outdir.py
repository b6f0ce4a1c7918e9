"""The output folder a run owns: a marker file says jingxuan created it, a lock file keeps a second run out.

A run replaces `data/`, `rejected/` and `parquet/` of its output folder, so it must never run in a folder that
holds anything else: `claim` refuses a folder that contains an input file, a non-empty folder without the marker
(jingxuan did not create it), a folder marked by a config of another name (unless `force`), and a folder whose
`data/`, `rejected/` or `parquet/` holds a file with a name jingxuan does not write. The lock is an exclusive
`flock` on `.jingxuan.lock`: the OS drops it when the process ends, however it ends, so a killed run leaves no
stale lock behind.

This is the local-filesystem implementation (`LocalFolder`); an object-store output needs the same five
operations (exists, entries, read/write the marker, an exclusive lease) from its own class.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MARKER = ".jingxuan.json"
LOCK = ".jingxuan.lock"
# Names jingxuan writes in the folders it replaces wholesale (a trailing .tmp/.old while it writes them).
_OWNED = {
    "data": re.compile(r"((v\d{4}-)?data-\d{5}-of-\d{5}\.arrow|state\.json|dataset_info\.json|README\.md)"),
    "parquet": re.compile(r"data-\d{5}-of-\d{5}\.parquet"),
    "rejected": re.compile(r"seg\d{2}-.+\.parquet"),
}
_LEGACY = ("manifest.json", "runs.json")  # a run folder written before the marker existed


class OutputFolderError(ValueError):
    """An output folder jingxuan may not write to; the message names the folder and what to do."""


@dataclass
class Claim:
    """A held output folder: its identity (stable across moves and copies) and the lock, until `release`."""

    root: str
    folder_id: str
    _fd: int | None = None

    def run_id(self, run_dir: str) -> str:
        """Identity of a run inside this folder: the folder id plus the run's place in it (`.`, `v0002`)."""
        return f"{self.folder_id}/{os.path.relpath(os.path.abspath(run_dir), self.root)}"

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the flock


class LocalFolder:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def marker(self) -> dict[str, Any] | None:
        path = os.path.join(self.root, MARKER)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def write_marker(self, marker: dict[str, Any]) -> None:
        path = os.path.join(self.root, MARKER)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(marker, f, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)

    def entries(self) -> list[str]:
        return [n for n in os.listdir(self.root) if n != LOCK]

    def lock(self) -> int:
        """An exclusive lock on the folder, or OutputFolderError naming the run that holds it."""
        path = os.path.join(self.root, LOCK)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise OutputFolderError(
                f"{self.root}: in use by another jingxuan run ({holder}); wait for it or choose another output.dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {platform.node()} since {_now()}".encode(), 0)
        return fd

    def foreign_files(self, run_dirs: Iterable[str]) -> list[str]:
        """Files in the folders a run replaces that jingxuan would not have written."""
        out = []
        for run_dir in run_dirs:
            for sub, pattern in _OWNED.items():
                d = os.path.join(run_dir, sub)
                if not os.path.isdir(d):
                    continue
                for name in sorted(os.listdir(d)):
                    base = re.sub(r"(\.tmp|\.old)$", "", name)
                    if not (pattern.fullmatch(base) and os.path.isfile(os.path.join(d, name))):
                        out.append(os.path.join(d, name))
        return out


def claim(root: str, name: str, config_hash: str, inputs: Iterable[str], force: bool = False) -> Claim:
    """Take the output folder for a run of config `name`, creating it (with its marker) when missing."""
    folder = LocalFolder(root)
    _refuse_overlap(folder.root, inputs)
    if os.path.exists(folder.root) and not os.path.isdir(folder.root):
        raise OutputFolderError(f"{folder.root}: output.dir is a file, not a folder")
    os.makedirs(folder.root, exist_ok=True)
    if folder.marker() is None:
        _check_adoptable(folder, name, force)  # before the lock file is created in a folder that is not ours
    fd = folder.lock()
    try:
        marker = folder.marker()
        if marker is None:
            marker = _adopt(folder, name, config_hash, force)
        elif marker.get("name") != name:
            if not force:
                raise OutputFolderError(
                    f"{folder.root}: holds the output of config {marker.get('name')!r}, not {name!r}; "
                    "choose another output.dir, or pass --force to replace it"
                )
            marker.update(name=name, config_hash=config_hash)
            folder.write_marker(marker)
        versions = [os.path.join(folder.root, n) for n in folder.entries() if re.fullmatch(r"v\d{4}", n)]
        foreign = folder.foreign_files([folder.root, *versions])
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise OutputFolderError(
                f"{foreign[0]}{more}: not written by jingxuan, in a folder a run replaces; move it out of {folder.root}"
            )
    except BaseException:
        os.close(fd)
        raise
    return Claim(folder.root, marker["folder_id"], fd)


def _check_adoptable(folder: LocalFolder, name: str, force: bool) -> None:
    """A folder without a marker is ours only when new or empty, or a run folder from before markers existed."""
    entries = folder.entries()
    legacy = [n for n in _LEGACY if n in entries]
    if entries and not legacy:
        shown = ", ".join(sorted(entries)[:3]) + (" ..." if len(entries) > 3 else "")
        raise OutputFolderError(
            f"{folder.root}: not empty ({shown}) and not created by jingxuan (no {MARKER}); "
            "choose a new or empty output folder"
        )
    if legacy:
        with open(os.path.join(folder.root, legacy[0]), encoding="utf-8") as f:
            old = json.load(f)
        if legacy[0] == "manifest.json" and old.get("name") not in (None, name) and not force:
            raise OutputFolderError(
                f"{folder.root}: holds the output of config {old.get('name')!r}, not {name!r}; "
                "choose another output.dir, or pass --force to replace it"
            )


def _adopt(folder: LocalFolder, name: str, config_hash: str, force: bool) -> dict[str, Any]:
    _check_adoptable(folder, name, force)
    marker = {
        "created_by": "jingxuan",
        "created": _now(),
        "folder_id": uuid.uuid4().hex,
        "name": name,
        "config_hash": config_hash,
    }
    folder.write_marker(marker)
    return marker


def _refuse_overlap(root: str, inputs: Iterable[str]) -> None:
    real_root = os.path.realpath(root)
    for path in inputs:
        if "://" in path:
            continue
        real = os.path.realpath(path)
        if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise OutputFolderError(
                f"{root}: output.dir contains the input {path}; a run replaces parts of its output folder, "
                "so choose one outside the inputs"
            )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
