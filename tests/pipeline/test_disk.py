"""A full disk and a read-only output folder give one located line, not an OSError traceback.

The real cases mount a small tmpfs (tests run as root here, and chmod does not stop root); where mounting is
not allowed they skip and say so."""

from __future__ import annotations

import contextlib
import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.config import validate_config
from pipeline.disk import OutputError, output_error, writing
from pipeline.runner import run_local


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no `mount` command: the disk-full and read-only cases need a small tmpfs")
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): needs root or CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _config(tmp_path: Path, out: Path) -> dict:
    src = tmp_path / "in.jsonl"
    text = "这是一篇用来把小磁盘写满的测试文档，内容重复也无妨。" * 40
    src.write_text("".join(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n" for i in range(200)))
    return {
        "input": {"paths": [str(src)]},
        "output": {"dir": str(out)},
        "stages": [{"length_filter": {"min_chars": 10}}],
        "execution": {"engine": "local", "task_runner": "sequential", "batch_size": 50},
    }


def test_pyarrow_and_python_errors_name_a_path():
    e = OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert str(output_error(e, "/out/run")) == (
        "/out/run: cannot write: no space left on the device; free space or set output.dir to another disk"
    )
    e = OSError(errno.EROFS, "Failed to open local file '/ro/run/x.arrow'. Detail: [errno 30] Read-only file system")
    assert str(output_error(e, "/ro/run")).startswith("/ro/run/x.arrow: cannot write: read-only file system")
    assert str(output_error(PermissionError(errno.EACCES, "Permission denied", "/a/b"), "/a")).startswith("/a/b:")
    assert output_error(OSError(errno.EIO, "I/O error"), "/a") is None  # not something the user can fix


def test_disk_full_is_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # room for the manifest and part of the shards: the failure comes from pyarrow's writer, with no file name
    with tmpfs(tmp_path / "small", "size=160k") as disk:
        raw = _config(tmp_path, disk / "run")
        with pytest.raises(OutputError, match=rf"^{disk}/run\S*: cannot write: no space left on the device"):
            run_local(validate_config(raw))
        cfg_path = tmp_path / "run.json"  # YAML is a superset of JSON
        cfg_path.write_text(json.dumps(raw))
        assert cli.main(["run", str(cfg_path), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"jingxuan: error: {disk}/run") and "no space left" in err
        assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_read_only_output_folder_is_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        raw = _config(tmp_path, ro / "run")
        with pytest.raises(OutputError, match=rf"^{ro}/run: cannot write: read-only file system"):
            run_local(validate_config(raw))
        cfg_path = tmp_path / "run.json"
        cfg_path.write_text(json.dumps(raw))
        assert cli.main(["run", str(cfg_path), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"jingxuan: error: {ro}/run: cannot write: read-only file system; set output.dir to a writable folder"
        )


def test_other_os_errors_pass_through():
    # an error the user cannot fix by choosing another folder keeps its traceback
    with pytest.raises(OSError, match="boom") as info, writing("/out/run"):
        raise OSError(errno.EIO, "boom")
    assert not isinstance(info.value, OutputError)
