"""Named kill points, so tests can SIGKILL a run at an exact moment and prove that a restart resumes it.

`JINGXUAN_KILL_AT=global:minhash_dedup:1` kills the whole process group when that point is reached for the
first time; `JINGXUAN_KILL_AT=shard-write:0:1` ... Unset (always, outside tests), a checkpoint is one dict
lookup.

The second half kills whole runs with a signal at seeded random moments, for the fault-injection test and bench."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

ENV = "JINGXUAN_KILL_AT"


def checkpoint(name: str) -> None:
    target = os.environ.get(ENV)
    if target and target == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)


# -- kills at random moments (tests/pipeline/test_faults.py, bench/fault_injection.py) -------------------------


@dataclass
class Kill:
    signal: str  # SIGINT (to the process group, as Ctrl-C in a terminal), SIGTERM or SIGKILL (to the main process)
    delay: float  # seconds after manifest.json said `running`
    returncode: int | None = None
    status: str | None = None  # manifest.json's status right after the kill
    stderr: str = ""
    seconds_to_stop: float = 0.0
    survivors: int = 0  # processes of the run still alive 3 s after it stopped

    def expected(self) -> tuple[set[int], set[str]]:
        """Return codes and manifest statuses a kill may leave. A signal that arrives once data/ is whole (while
        the report is written, or while the command exits) leaves `complete`, whatever the exit code says."""
        sig = signal.Signals[self.signal]
        if sig == signal.SIGKILL:
            return {-sig, 0}, {"running", "complete"}  # nothing can record a SIGKILL; the lock is free again
        return {128 + sig, -sig, 0}, {"interrupted", "complete"}


def sample_config(repo: str, dest: str, shard_mb: float = 0.05) -> str:
    """configs/sample.yaml cut into input shards of `shard_mb` (so worker processes run, not one inline task),
    written to `dest` with its relative paths made absolute."""
    with open(os.path.join(repo, "configs", "sample.yaml"), encoding="utf-8") as f:
        text = f.read().replace("../", repo.rstrip("/") + "/")
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text.rstrip("\n") + f"\n  shard_mb: {shard_mb}\n")
    return dest


def cli_command(config: str, output: str, engine: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", config, "--output", output, "--engine", engine, "--quiet"]


def run_killed(cmd: list[str], output: str, kill: Kill, timeout: float = 600) -> Kill:
    """Start `cmd` in its own session, send `kill.signal` `kill.delay` s after the run has started working."""
    import psutil

    env = {k: v for k, v in os.environ.items() if k != ENV}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
    manifest = os.path.join(output, "manifest.json")
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not _says(manifest, "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(kill.delay)
    t0 = time.monotonic()
    if proc.poll() is None:
        sig = signal.Signals[kill.signal]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig) if sig == signal.SIGINT else os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=timeout)
    kill.seconds_to_stop = time.monotonic() - t0
    kill.returncode, kill.stderr = proc.returncode, err.decode("utf-8", "replace")
    kill.status = _status(manifest)
    time.sleep(3)
    kill.survivors = sum(1 for p in psutil.process_iter(["cmdline"]) if _in_group(p, proc.pid))
    return kill


def run_to_end(cmd: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, start_new_session=True)


def output_bytes(run_dir: str) -> dict[str, bytes]:
    """Every file of data/ and rejected/ (what the sample byte check compares)."""
    out = {}
    for sub in ("data", "rejected"):
        d = os.path.join(run_dir, sub)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                out[f"{sub}/{name}"] = f.read()
    return out


def random_kills(seed: int, n: int, signals: tuple[str, ...], max_delay: float) -> list[Kill]:
    rng = random.Random(seed)
    return [Kill(signals[i % len(signals)], round(rng.uniform(0, max_delay), 2)) for i in range(n)]


def _says(manifest: str, status: str) -> bool:
    return _status(manifest) == status


def _status(manifest: str) -> str | None:
    try:
        with open(manifest, encoding="utf-8") as f:
            return json.load(f).get("status")
    except (OSError, ValueError):
        return None


def _in_group(p: Any, pgid: int) -> bool:
    try:
        return os.getpgid(p.pid) == pgid
    except OSError:
        return False
