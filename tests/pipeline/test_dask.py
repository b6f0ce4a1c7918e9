"""The same config through Prefect on a real Dask cluster (a LocalCluster of 2 worker processes on
127.0.0.1) gives the same bytes as the plain local engine."""

import os
from pathlib import Path

import pytest

from pipeline.config import validate_config

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


def test_dask_cluster_output_is_byte_identical_to_the_local_run(repo_dir: Path, tmp_path: Path):
    from pipeline.flows import run_flow
    from pipeline.runner import run_local

    local = run_local(_config(repo_dir, tmp_path / "local", engine="local", task_runner="process"))
    dask = run_flow(_config(repo_dir, tmp_path / "dask", engine="prefect", task_runner="dask"))
    assert (local.data_rows, local.rejected_rows) == (dask.data_rows, dask.rejected_rows)
    a, b = tmp_path / "local" / "data", tmp_path / "dask" / "data"
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    import json

    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["engine"] == "prefect-dask"
    markers = sorted((tmp_path / "dask" / "work" / "seg00").glob("*.done"))
    workers = {json.loads(m.read_text())["worker"].rsplit(":", 1)[1] for m in markers}
    assert str(os.getpid()) not in workers and len(workers) >= 1  # shard tasks ran in Dask worker processes
