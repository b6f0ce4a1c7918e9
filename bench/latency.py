"""Latency of the README's first command (`jingxuan run configs/sample.yaml`): wall and CPU seconds of the
whole command (its child processes included: the temporary Prefect server, pool workers), default Prefect
engine against `--engine local`, next to Prefect's own floor (an empty flow in a fresh process).

    cold    fresh PREFECT_HOME (database migrations), fresh temp dir (jieba cache), fresh output folder
    warm    migrated PREFECT_HOME and jieba cache from an earlier run, fresh output folder
    rerun   the same command again on the finished output folder (nothing to do)

    flock /tmp/bench.lock .venv/bin/python bench/latency.py --runs 5

Each run is a new process, as a user's is; the median and the range of `--runs` runs are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JINGXUAN = Path(sys.executable).with_name("jingxuan")
EMPTY_FLOW = "from prefect import flow\n\n@flow\ndef empty():\n    pass\n\nempty()\n"
ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of a command and every descendant it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


class Sandbox:
    """A PREFECT_HOME and TMPDIR of the bench's own, so that "cold" is really cold and ~/.prefect is untouched."""

    def __init__(self, root: Path):
        self.root = root

    def fresh(self, name: str) -> dict[str, str]:
        home, tmp = self.root / name / "prefect", self.root / name / "tmp"
        shutil.rmtree(self.root / name, ignore_errors=True)
        home.mkdir(parents=True)
        tmp.mkdir(parents=True)
        return self.env(name)

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(ENV)
        env.update(PREFECT_HOME=str(self.root / name / "prefect"), TMPDIR=str(self.root / name / "tmp"))
        return env


def case_command(case: str, out: Path) -> list[str]:
    if case == "floor":
        return [sys.executable, "-c", EMPTY_FLOW]
    cmd = [str(JINGXUAN), "run", "configs/sample.yaml", "--quiet", "--output", str(out)]
    return cmd + (["--engine", "local"] if case == "local" else [])


def measure(case: str, state: str, runs: int, box: Sandbox) -> list[tuple[float, float]]:
    out = box.root / "out" / case
    samples = []
    warm_env = box.env("warm")
    for _ in range(runs):
        if state == "cold":
            env = box.fresh("cold")
            shutil.rmtree(out, ignore_errors=True)
        elif state == "warm":
            env = warm_env
            shutil.rmtree(out, ignore_errors=True)
        else:  # rerun: the output folder holds the finished run of the previous iteration
            env = warm_env
            if not (out / "manifest.json").exists():
                timed(case_command(case, out), env)
        samples.append(timed(case_command(case, out), env))
    return samples


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cases", default="floor,prefect,local", help="floor (empty flow), prefect, local")
    ap.add_argument("--states", default="cold,warm,rerun")
    args = ap.parse_args()
    box = Sandbox(Path(tempfile.mkdtemp(prefix="jx-latency-")))
    box.fresh("warm")
    print("warming PREFECT_HOME and the jieba cache ...", file=sys.stderr)
    timed(case_command("prefect", box.root / "out" / "warmup"), box.env("warm"))
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.runs} runs each, median (min-max)")
    print(f"{'case':<10}{'state':<8}{'wall s':>20}{'CPU s':>20}")
    for case in args.cases.split(","):
        for state in args.states.split(","):
            if case == "floor" and state == "rerun":
                continue
            samples = measure(case, state, args.runs, box)
            walls, cpus = [w for w, _ in samples], [c for _, c in samples]
            print(f"{case:<10}{state:<8}{fmt(walls):>20}{fmt(cpus):>20}", flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    shutil.rmtree(box.root, ignore_errors=True)


if __name__ == "__main__":
    main()
