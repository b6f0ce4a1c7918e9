"""`jingxuan schedule` against a real Prefect server in a temporary PREFECT_HOME, a run triggered through
the API, and the curated output found on disk (~60-90 s: the server migrates a fresh database)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _corpus(folder: Path, name: str, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", encoding="utf-8") as f:
        for i in range(n):
            row = {"id": f"{name}-{i}", "text": f"第{i}篇文档，内容来自{name}。"}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


TRIGGER = """
import sys
from prefect.deployments import run_deployment
run = run_deployment(sys.argv[1], timeout=300)
print(run.state.type.value)
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    subflows = c.read_flow_runs()
    keys = sorted({a.key for fr in subflows for a in c.read_artifacts() if a.key})
print(",".join(keys))
"""


def test_scheduled_deployment_runs_through_the_api_and_writes_a_version(tmp_path: Path):
    from pipeline.server import start_local_server

    t0 = time.monotonic()
    home = tmp_path / "prefect-home"
    server = start_local_server(port=_free_port(), home=str(home))
    serving = None
    try:
        _corpus(tmp_path / "in", "a.jsonl", 30)
        config = tmp_path / "scheduled.yaml"
        config.write_text(
            "name: nightly\ninput: {paths: [in/*.jsonl]}\noutput: {dir: out, mode: versions}\n"
            "stages: []\nexecution: {workers: 2}\n"
        )
        env = dict(
            os.environ,
            PREFECT_API_URL=server.api_url,
            PREFECT_HOME=str(home),
            PREFECT_RUNNER_POLL_FREQUENCY="1",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        serving = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "schedule", str(config), "--cron", "0 3 * * *"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        trigger = None
        while time.monotonic() < deadline:
            trigger = subprocess.run(
                [sys.executable, "-c", TRIGGER, "jingxuan-curate/nightly"],
                env=env,
                capture_output=True,
                text=True,
                timeout=400,
            )
            if trigger.returncode == 0:
                break
            time.sleep(2)  # the deployment is not registered yet
        assert trigger is not None and trigger.returncode == 0, trigger.stderr[-2000:]
        state, artifacts = trigger.stdout.strip().splitlines()[-2:]
        assert state == "COMPLETED"
        assert {"jingxuan-funnel", "jingxuan-summary"} <= set(artifacts.split(","))
        import datasets

        ds = datasets.load_from_disk(str(tmp_path / "out" / "v0001" / "data"))
        assert len(ds) == 30
        runs = json.loads((tmp_path / "out" / "runs.json").read_text())["runs"]
        assert [(r["version"], r["status"]) for r in runs] == [(1, "complete")]
        print(f"schedule -> API-triggered run -> output: {time.monotonic() - t0:.1f} s")
    finally:
        if serving is not None:
            os.killpg(serving.pid, 15)
            serving.wait(30)
        server.stop()
