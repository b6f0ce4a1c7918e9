"""Runs killed by SIGINT (Ctrl-C), SIGTERM and SIGKILL at seeded random moments stop at once with one line, say so
in manifest.json, and a restart produces the bytes of an uninterrupted run. bench/fault_injection.py does 20+
kills; this keeps CI to a few."""

from pathlib import Path

import pytest

from pipeline import faults

pytestmark = pytest.mark.slow


def _check(kill: faults.Kill) -> None:
    codes, statuses = kill.expected()
    assert kill.returncode in codes, f"{kill}: exit code {kill.returncode}"
    if kill.returncode != 0:
        assert kill.status in statuses, f"{kill}: manifest says {kill.status}"
        assert "Traceback" not in kill.stderr, kill.stderr
        if kill.signal != "SIGKILL" and kill.returncode > 0:
            assert kill.stderr.strip().splitlines()[-1].startswith(f"jingxuan: interrupted by {kill.signal}")
            assert kill.seconds_to_stop < 10
    assert kill.survivors == 0, f"{kill}: processes left running"


def test_runs_killed_at_random_moments_resume_to_identical_bytes(repo_dir: Path, tmp_path: Path):
    config = faults.sample_config(str(repo_dir), str(tmp_path / "sample.yaml"))  # sharded: worker processes run
    base = str(tmp_path / "baseline")
    assert faults.run_to_end(faults.cli_command(config, base, "local")).returncode == 0
    out = str(tmp_path / "killed")
    for kill in faults.random_kills(seed=16, n=3, signals=("SIGINT", "SIGTERM", "SIGKILL"), max_delay=4.0):
        _check(faults.run_killed(faults.cli_command(config, out, "local"), out, kill))
    final = faults.run_to_end(faults.cli_command(config, out, "local"))
    assert final.returncode == 0, final.stderr
    assert faults.output_bytes(out) == faults.output_bytes(base)


@pytest.mark.prefect
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_the_prefect_engine_stops_on_ctrl_c_and_sigterm(repo_dir: Path, tmp_path: Path, sig: str):
    """The default engine: 3 of 3 tries used to hang over 60 s with the manifest left `running`."""
    config = str(repo_dir / "configs" / "sample.yaml")
    out = str(tmp_path / "run")
    kill = faults.run_killed(faults.cli_command(config, out, "prefect"), out, faults.Kill(sig, 1.0))
    assert kill.returncode != 0, "the run finished before the signal"
    _check(kill)
