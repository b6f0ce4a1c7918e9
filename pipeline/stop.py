"""Stopping a run on Ctrl-C or SIGTERM, on every engine, within a second and with one line.

Prefect's engine replaces the SIGTERM handler and waits for running tasks when a flow is interrupted, so an
exception raised from a handler does not stop it. Instead the handler ends the run itself: it kills the
processes the run started (pool workers, Dask workers, the temporary Prefect API server), records `interrupted`
in manifest.json, prints one line and exits. Everything a run writes is written under a temporary name and
renamed when complete, so a hard stop leaves nothing a re-run cannot resume.

Workers ignore SIGINT (the terminal sends Ctrl-C to the whole process group; the parent decides) and exit when
their parent dies, so even a SIGKILL of the main process leaves no worker writing into the run folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from stages.core.atomic import read_json, write_json

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_ACTIVE: list[str] = []  # manifests of the runs in progress in this process


@contextlib.contextmanager
def stop_on_signals(manifest_path: str | None) -> Iterator[None]:
    """While the block runs, SIGINT/SIGTERM end the run as described above and mark `manifest_path`. Handlers
    can only be set in the main thread: a run in another thread (Prefect runs a small input as a task in a
    worker thread) registers its manifest for the handler that the command (or flow) set in the main thread."""
    if manifest_path is not None:
        _ACTIVE.append(manifest_path)
    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if manifest_path is not None:
            _ACTIVE.remove(manifest_path)


def mark(manifest_path: str, status: str, reason: str | None = None, keep_complete: bool = False) -> None:
    """Record how a run ended in its manifest (complete runs write their manifest themselves). `keep_complete`:
    a signal that arrives once the manifest says `complete` (while the report is written) leaves it: data/ is
    whole."""
    with contextlib.suppress(OSError, ValueError):
        manifest = read_json(manifest_path)
        if keep_complete and manifest.get("status") == "complete":
            return
        manifest.update(status=status, finished=datetime.now(UTC).isoformat(timespec="seconds"))
        if reason:
            manifest["reason"] = reason
        write_json(manifest_path, manifest, sort_keys=False)


def _handler(signum: int, _frame: Any) -> None:
    name = signal.Signals(signum).name
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the stop itself
    kill_children()
    for manifest_path in list(_ACTIVE):
        mark(manifest_path, "interrupted", f"stopped by {name}", keep_complete=True)
    sys.stdout.flush()
    print(f"jingxuan: interrupted by {name}; run the same command again to resume", file=sys.stderr, flush=True)
    os._exit(128 + signum)


def kill_children(timeout: float = 5.0) -> None:
    """SIGKILL every process this one started, recursively, and reap them."""
    import psutil

    me = psutil.Process()
    children = me.children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=timeout)


@contextlib.contextmanager
def workers_spared() -> Iterator[None]:
    """Block SIGINT in this thread while it submits tasks: processes and threads started meanwhile (pool workers,
    Prefect's submitting threads) inherit the mask, so a Ctrl-C cannot hit a worker still importing, before its
    initializer runs. A SIGINT that arrives meanwhile is delivered when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def worker_init(parent_pid: int) -> None:
    """Initializer of pool worker processes: leave Ctrl-C to the parent, and exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="jingxuan-parent-watch").start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)
