"""The same config through Prefect on Dask gives the same bytes as the plain local engine: on a LocalCluster of
2 worker processes, and on a real cluster (`dask scheduler` and two `dask worker` processes started as
subprocesses on 127.0.0.1, what a user runs on several machines) reached through `execution.dask_address`."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import load_config, validate_config

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _config(repo: Path, out: Path, **execution) -> object:
    return validate_config(
        {
            "input": {"paths": [str(repo / "sample_data" / "*.jsonl")]},
            "output": {"dir": str(out)},
            "stages": ["normalize", "langid", "lang_filter", "exact_dedup", {"minhash_dedup": {"threshold": 0.7}}],
            "execution": {"batch_size": 32, "workers": 2, **execution},
        }
    )


def _same_data(local, dask, a: Path, b: Path) -> None:
    assert (local.data_rows, local.rejected_rows) == (dask.data_rows, dask.rejected_rows)
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _workers(run_dir: Path) -> set[int]:
    """The processes the shard tasks ran in, from their completion markers."""
    markers = list((run_dir / "work").glob("seg*/*.done"))
    assert markers, "no shard markers written"
    return {int(json.loads(m.read_text())["worker"].rsplit(":", 1)[1]) for m in markers}


def test_dask_cluster_output_is_byte_identical_to_the_local_run(repo_dir: Path, tmp_path: Path):
    from pipeline.flows import run_flow
    from pipeline.runner import run_local

    local = run_local(_config(repo_dir, tmp_path / "local", engine="local", task_runner="process"))
    dask = run_flow(_config(repo_dir, tmp_path / "dask", engine="prefect", task_runner="dask"))
    _same_data(local, dask, tmp_path / "local" / "data", tmp_path / "dask" / "data")
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["engine"] == "prefect-dask"
    assert os.getpid() not in _workers(tmp_path / "dask")  # shard tasks ran in Dask worker processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, procs: list[subprocess.Popen], timeout: float = 90) -> list[int]:
    from distributed import Client

    deadline = time.monotonic() + timeout
    with Client(address, timeout=timeout) as client:
        while time.monotonic() < deadline:
            for p in procs:
                assert p.poll() is None, f"a dask process exited early ({p.args})"
            pids = client.run(os.getpid)
            if len(pids) >= n:
                return sorted(pids.values())
            time.sleep(0.5)
    raise TimeoutError(f"{n} dask workers did not join {address} within {timeout} s")


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """A scheduler and two single-threaded workers, each its own process, bound to loopback only."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    common = ["--dashboard-address", "127.0.0.1:0"]
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            stdout=open(logs / "scheduler.log", "wb"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", *common],
                stdout=open(logs / f"worker-{i}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        )
    try:
        yield address, _wait_for_workers(address, 2, procs)
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def _sample(repo: Path, out: Path, **execution):
    overrides = {"output.dir": str(out), **{f"execution.{k}": v for k, v in execution.items()}}
    return load_config(str(repo / "configs" / "sample.yaml"), overrides)


def test_sample_recipe_on_a_subprocess_cluster_is_byte_identical_to_local(repo_dir, tmp_path, dask_cluster):
    from pipeline.flows import run_flow
    from pipeline.runner import run_local

    address, worker_pids = dask_cluster
    local = run_local(_sample(repo_dir, tmp_path / "local", engine="local"))
    dask = run_flow(_sample(repo_dir, tmp_path / "dask", engine="prefect", task_runner="dask", dask_address=address))

    _same_data(local, dask, tmp_path / "local" / "data", tmp_path / "dask" / "data")
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["engine"] == "prefect-dask"
    ran_in = _workers(tmp_path / "dask")
    assert ran_in <= set(worker_pids), f"shard tasks ran outside the dask workers: {ran_in} vs {worker_pids}"
