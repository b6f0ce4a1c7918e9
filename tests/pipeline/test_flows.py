"""The real Prefect flow (an ephemeral API server starts once per test session: ~20-40 s)."""

import json
import os
from pathlib import Path

import pytest

from pipeline.config import load_config

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_sample_curation_through_prefect_opens_with_datasets_and_reruns_skip(repo_dir: Path, tmp_path: Path):
    import datasets

    from pipeline.flows import run_flow

    # small shards (and batches: shards start where a batch would), so the sample is cut within its files and
    # runs on the process pool, as a big input would
    overrides = {"output.dir": str(tmp_path / "run"), "execution.shard_mb": 0.01, "execution.batch_size": 8}
    cfg = load_config(str(repo_dir / "configs" / "sample.yaml"), overrides)
    first = run_flow(cfg)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["engine"] == "prefect-process"
    assert len([s for s in manifest["shards"] if s["segment"] == 0]) > len(manifest["inputs"])
    assert first.stats.docs_in == first.data_rows + first.rejected_rows
    assert first.skipped_tasks == 0 and first.total_tasks >= 2
    ds = datasets.load_from_disk(str(tmp_path / "run" / "data"))
    assert len(ds) == first.data_rows > 0
    assert {"id", "text", "_lang", "_script", "_phase", "_difficulty", "_source"} <= set(ds.column_names)
    assert set(ds["_lang"]) == {"zh"}
    assert ds["_phase"] == sorted(ds["_phase"])  # shards in training order
    synthetic = [r for r in ds if r["_source"] == "synthetic"]
    assert synthetic and all(r["_gen_generator"] and r["_gen_prompt_id"] for r in synthetic)

    data = tmp_path / "run" / "data"
    before = {f: (data / f).read_bytes() for f in os.listdir(data)}
    second = run_flow(cfg)
    assert second.skipped_tasks == second.total_tasks
    assert {f: (data / f).read_bytes() for f in os.listdir(data)} == before

    # at the default shard size the sample is one shard's worth: one task in the flow's own process
    small = run_flow(load_config(str(repo_dir / "configs" / "sample.yaml"), {"output.dir": str(tmp_path / "small")}))
    assert json.loads((tmp_path / "small" / "manifest.json").read_text())["engine"] == "prefect-inline"
    assert (small.data_rows, small.rejected_rows) == (first.data_rows, first.rejected_rows)


def test_a_user_error_inside_the_flow_is_one_line_without_a_traceback(tmp_path: Path):
    import subprocess
    import sys

    (tmp_path / "legacy.jsonl").write_bytes('{"text": "中文内容"}\n'.encode("gb18030"))
    (tmp_path / "run.yaml").write_text("input: {paths: [legacy.jsonl]}\noutput: {dir: out}\nstages: [normalize]\n")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_LOGGING_LEVEL"}  # as a user's shell has it
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(tmp_path / "run.yaml"), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "legacy.jsonl: not UTF-8 (looks like GBK/GB18030); set input.encoding" in proc.stderr


def _flaky(path: str) -> int:
    """Fails the first time (a transient error), then succeeds; counts its attempts in a file."""
    attempts = int(Path(path).read_text()) + 1 if Path(path).exists() else 1
    Path(path).write_text(str(attempts))
    if attempts == 1:
        raise OSError("connection reset")
    return attempts


def _broken(path: str) -> int:
    attempts = int(Path(path).read_text()) + 1 if Path(path).exists() else 1
    Path(path).write_text(str(attempts))
    raise ValueError("corrupt input")


def test_transient_failures_are_retried_and_deterministic_ones_fail_fast(tmp_path: Path):
    from prefect import flow

    from pipeline.flows import prefect_map

    @flow(name="jingxuan-retry-probe")
    def probe(fn, path: str) -> list:
        return prefect_map(fn, [path], label="probe")

    assert probe(_flaky, str(tmp_path / "flaky")) == [2]
    with pytest.raises(ValueError, match="corrupt input"):
        probe(_broken, str(tmp_path / "broken"))
    assert (tmp_path / "broken").read_text() == "1"
