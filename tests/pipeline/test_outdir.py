"""The output folder: a run never deletes what it did not write, never runs where its inputs are, and two runs
never share one folder."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import outdir
from pipeline.config import validate_config
from pipeline.runner import run_local

DOC = "长江是中国第一长河，发源于青藏高原的唐古拉山脉，流经十一个省级行政区，最后注入东海，全长约六千三百公里。"


def _config(inputs: str, out: Path, name: str = "t"):
    return validate_config(
        {
            "name": name,
            "input": {"paths": [inputs]},
            "output": {"dir": str(out)},
            "stages": ["normalize"],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )


def _input(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": "a", "text": DOC}, ensure_ascii=False) + "\n", "utf-8")
    return path


def test_an_output_folder_holding_the_inputs_is_refused_and_nothing_is_deleted(tmp_path: Path):
    raw = _input(tmp_path / "data" / "crawl" / "day1.jsonl")
    with pytest.raises(outdir.OutputFolderError, match="contains the input"):
        run_local(_config(str(tmp_path / "data" / "crawl" / "*.jsonl"), tmp_path))
    assert raw.exists() and sorted(os.listdir(tmp_path)) == ["data"]


def test_a_folder_jingxuan_did_not_create_is_refused(tmp_path: Path):
    _input(tmp_path / "in" / "a.jsonl")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(outdir.OutputFolderError, match="not created by jingxuan"):
        run_local(_config(str(tmp_path / "in" / "*.jsonl"), tmp_path / "mine"))
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]  # not even a lock file left behind


def test_an_empty_folder_is_adopted_and_a_foreign_file_in_data_is_never_deleted(tmp_path: Path):
    _input(tmp_path / "in" / "a.jsonl")
    (tmp_path / "out").mkdir()
    cfg = _config(str(tmp_path / "in" / "*.jsonl"), tmp_path / "out")
    assert run_local(cfg).data_rows == 1
    assert json.loads((tmp_path / "out" / outdir.MARKER).read_text())["name"] == "t"
    foreign = tmp_path / "out" / "data" / "my_notes.txt"
    foreign.write_text("keep me")
    with pytest.raises(outdir.OutputFolderError, match=r"my_notes\.txt: not written by jingxuan"):
        run_local(cfg)
    assert foreign.read_text() == "keep me"


def test_a_folder_of_another_config_is_refused_unless_forced(tmp_path: Path):
    _input(tmp_path / "in" / "a.jsonl")
    run_local(_config(str(tmp_path / "in" / "*.jsonl"), tmp_path / "out", name="zh_web"))
    other = _config(str(tmp_path / "in" / "*.jsonl"), tmp_path / "out", name="sample")
    with pytest.raises(outdir.OutputFolderError, match=r"holds the output of config 'zh_web', not 'sample'.*--force"):
        run_local(other)
    assert run_local(other, force=True).data_rows == 1
    assert json.loads((tmp_path / "out" / outdir.MARKER).read_text())["name"] == "sample"


def test_a_run_folder_from_before_markers_is_adopted(tmp_path: Path):
    _input(tmp_path / "in" / "a.jsonl")
    cfg = _config(str(tmp_path / "in" / "*.jsonl"), tmp_path / "out")
    run_local(cfg)
    (tmp_path / "out" / outdir.MARKER).unlink()
    assert run_local(cfg).data_rows == 1


def test_a_second_run_on_a_locked_folder_is_refused_in_one_line(tmp_path: Path, repo_dir: Path):
    """The lock is held by another process (as a second `jingxuan run` would meet it), and dies with it."""
    _input(tmp_path / "in" / "a.jsonl")
    config = tmp_path / "t.yaml"
    config.write_text(
        json.dumps(
            {
                "name": "t",
                "input": {"paths": [str(tmp_path / "in" / "*.jsonl")]},
                "output": {"dir": str(tmp_path / "out")},
                "stages": ["normalize"],
                "execution": {"engine": "local", "task_runner": "sequential"},
            }
        )
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipeline import outdir; "
            f"outdir.claim({str(tmp_path / 'out')!r}, 't', 'h', []); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo_dir,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "run", str(config), "--quiet"],
            capture_output=True,
            text=True,
            cwd=repo_dir,
            timeout=120,
        )
        assert second.returncode == 2
        assert second.stderr.strip().count("\n") == 0, second.stderr
        assert "in use by another jingxuan run (pid " in second.stderr
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert run_local(_config(str(tmp_path / "in" / "*.jsonl"), tmp_path / "out")).data_rows == 1
