"""Kill a run with SIGKILL at named points across stages, restart it, and compare the output bytes with an
uninterrupted run: nothing duplicated, nothing missing (`pipeline/faults.py` names the points)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

CONFIG = """
name: resume
input: {{paths: ["{repo}/sample_data/*.jsonl", "{repo}/sample_data/gbk/*.jsonl"], encoding: auto}}
output: {{dir: "{out}"}}
stages:
  - normalize: {{}}
  - langid: {{}}
  - lang_filter: {{}}
  - exact_dedup: {{}}
  - minhash_dedup: {{threshold: 0.7}}
  - length_filter: {{min_chars: 20}}
  - curriculum: {{schedule: phases, phases: 3}}
execution: {{engine: local, workers: 2, batch_size: 16}}
"""


def _run(config: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("JINGXUAN_KILL_AT", None)
    if kill_at:
        env["JINGXUAN_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(config), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=600,
    )


def _write(tmp: Path, name: str, repo: Path) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(CONFIG.format(repo=repo, out=tmp / name), encoding="utf-8")
    return path


def _outputs(run_dir: Path) -> tuple[dict[str, bytes], list[tuple]]:
    data = {f: (run_dir / "data" / f).read_bytes() for f in sorted(os.listdir(run_dir / "data"))}
    ledger = pq.read_table(run_dir / "rejected").to_pylist()
    return data, sorted((r["id"], r["stage"], r["reason"], r["detail"]) for r in ledger)


def test_killed_runs_resume_to_identical_output(tmp_path: Path, repo_dir: Path):
    baseline = _write(tmp_path, "baseline", repo_dir)
    done = _run(baseline)
    assert done.returncode == 0, done.stderr
    expected = _outputs(tmp_path / "baseline")
    points = [
        "shard-write:0:1",  # inside a shard write, before its rename
        "global:exact_dedup:1",  # between the passes of exact dedup
        "global:minhash_dedup:2",  # inside MinHash: after signatures, during banding
        "global-done:minhash_dedup",  # dedup finished, its completion marker not yet written
        "shard-write:3:0",  # the per-shard stage after dedup
        "global:curriculum:1",  # during ordering
        "finalize",  # every stage done, data/ not yet written
    ]
    for point in points:
        name = point.replace(":", "_").replace("-", "_")
        config = _write(tmp_path, name, repo_dir)
        killed = _run(config, kill_at=point)
        assert killed.returncode == -signal.SIGKILL, f"{point}: the run was not killed ({killed.stderr[-500:]})"
        resumed = _run(config)
        assert resumed.returncode == 0, f"{point}: {resumed.stderr[-2000:]}"
        assert _outputs(tmp_path / name) == expected, f"killed at {point}: output differs after resuming"
