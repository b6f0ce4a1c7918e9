"""`output.dir` on object storage (s3://, gs://, any fsspec URL): the run works in a local staging folder and
commits the finished run folder to the store.

Object stores have no rename, so a folder cannot appear at once. Instead a commit uploads every file (one PUT is
atomic per object) and writes `_jingxuan_commit.json` last, listing each committed file with its size and
sha256; files the new record no longer lists are deleted only after it is written. A reader trusts a prefix only
through its record, and a killed upload leaves the previous record in force: the next run uploads what that
record does not list. A run that starts with no staging folder (another machine, a cleaned cache) first
downloads the committed files, so a finished run, its dedup index and earlier versions are not recomputed.

`work/` (intermediates) and lock files stay local: a run killed before its commit resumes from the staging
folder on the same machine, or recomputes the same bytes elsewhere. On a multi-node Dask cluster the staging
folder must be on a mount every worker sees (`output.staging_dir`), as a local `output.dir` must.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import xxhash

from pipeline import faults
from pipeline.disk import OutputError
from pipeline.io.remote import first_line, is_url, url_fs

if TYPE_CHECKING:
    from pipeline.config import RunConfig

COMMIT = "_jingxuan_commit.json"
LOCAL_ONLY = ("work",)  # top-level folders of a run directory that are never committed


def staging_dir(url: str, root: str | None = None) -> str:
    """The local folder a run on `url` works in: stable per URL, so a restart finds its own progress."""
    root = (
        root
        or os.environ.get("JINGXUAN_STAGING")
        or os.path.join(os.path.expanduser("~"), ".cache", "jingxuan", "staging")
    )
    return os.path.join(root, xxhash.xxh3_64_hexdigest(url.rstrip("/").encode()))


@contextlib.contextmanager
def staged(cfg: RunConfig) -> Iterator[RunConfig]:
    """The config to run: `cfg` itself for a local output.dir; for a URL, the same config writing to its staging
    folder (pulled from the store when empty), committed to the store when the block ends without an error."""
    if not is_url(cfg.output.dir):
        yield cfg
        return
    store = ObjectStore(cfg.output.dir)
    local = staging_dir(cfg.output.dir, cfg.output.staging_dir and cfg.resolve(cfg.output.staging_dir))
    if not (os.path.isdir(local) and os.listdir(local)):
        store.pull(local)
    yield cfg.model_copy(update={"output": cfg.output.model_copy(update={"dir": local})})
    store.push(local)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def local_files(root: str) -> dict[str, str]:
    """Relative path -> absolute path of every file of a run folder that a commit carries."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in LOCAL_ONLY]
        for name in files:
            if name.endswith((".lock", ".tmp")) or ".tmp-" in name:
                continue
            rel = name if rel_folder == "." else f"{rel_folder}/{name}".replace(os.sep, "/")
            out[rel] = os.path.join(folder, name)
    return dict(sorted(out.items()))


class ObjectStore:
    """One run folder's prefix in an fsspec filesystem, with the commit record as its only truth."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root, _ = url_fs(self.url)
        self.root = self.root.rstrip("/")

    def _key(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _fail(self, what: str, e: Exception) -> OutputError:
        return OutputError(f"{self.url}: cannot {what}: {first_line(e)}")

    def committed(self) -> dict[str, dict[str, Any]] | None:
        """The files of the last commit, or None for a prefix that holds none. A prefix with objects but no
        record was not written by jingxuan (or only by a commit that never finished its first record): refused,
        so that a commit never overwrites or deletes what it did not write."""
        try:
            with self.fs.open(self._key(COMMIT), "rb") as f:
                return json.load(f)["files"]
        except FileNotFoundError:
            pass
        except Exception as e:
            raise self._fail(f"read {COMMIT}", e) from None
        try:
            foreign = self.fs.find(self.root)
        except FileNotFoundError:
            foreign = []
        except Exception as e:
            raise self._fail("list the output prefix", e) from None
        if foreign:
            raise OutputError(
                f"{self.url}: holds {len(foreign)} objects but no {COMMIT}: not a jingxuan run folder; "
                "choose an empty prefix"
            )
        return None

    def _write_record(self, files: dict[str, dict[str, Any]]) -> None:
        record = json.dumps({"files": files}, indent=1, sort_keys=True).encode()
        try:
            with self.fs.open(self._key(COMMIT), "wb") as f:
                f.write(record)
        except Exception as e:
            raise self._fail(f"write {COMMIT}", e) from None

    def pull(self, local: str) -> int:
        """Download the committed files into an empty staging folder; returns how many."""
        files = self.committed() or {}
        for rel, meta in files.items():
            dest = os.path.join(local, *rel.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            try:
                self.fs.get_file(self._key(rel), dest + ".tmp")
            except Exception as e:
                raise self._fail(f"download {rel}", e) from None
            if os.path.getsize(dest + ".tmp") != meta["size"]:
                raise OutputError(f"{self.url}/{rel}: size differs from {COMMIT}; the store changed under jingxuan")
            os.replace(dest + ".tmp", dest)
        os.makedirs(local, exist_ok=True)
        return len(files)

    def push(self, local: str) -> dict[str, int]:
        """Commit the staging folder: upload what the current record lacks, write the record, delete leftovers."""
        old = self.committed()
        if old is None:  # first commit: claim the prefix before any upload, so an interrupted one is resumable
            old = {}
            self._write_record(old)
        new: dict[str, dict[str, Any]] = {}
        uploaded = 0
        for rel, path in local_files(local).items():
            meta = {"size": os.path.getsize(path), "sha256": _sha256(path)}
            new[rel] = meta
            if old.get(rel) == meta:
                continue  # already committed: earlier versions, an unchanged index segment, a re-commit
            try:
                self.fs.put_file(path, self._key(rel))
            except Exception as e:
                raise self._fail(f"upload {rel}", e) from None
            uploaded += 1
            faults.checkpoint(f"commit:{uploaded}")
        self._write_record(new)
        stale = [self._key(rel) for rel in old if rel not in new]
        if stale:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(stale)
        return {"files": len(new), "uploaded": uploaded, "deleted": len(stale)}
