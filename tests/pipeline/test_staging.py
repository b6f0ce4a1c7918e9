"""`output.dir: s3://...` against a real S3-compatible server (moto's, started on 127.0.0.1 by the test): the
committed objects equal a local run's files, `datasets` opens the dataset from the bucket, and runs killed
during the curation or during the commit resume to the same objects."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("s3fs", reason="s3fs is part of the dev extra")
pytest.importorskip("moto", reason="moto[server] is part of the dev extra")

pytestmark = pytest.mark.slow

BUCKET = "curated"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server on loopback; credentials and endpoint reach s3fs (here and in subprocesses) through the
    environment, as they would for a user of any S3-compatible store."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "wb"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_ENDPOINT_URL=endpoint)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        fs = _fs()
        fs.mkdir(BUCKET)
        yield endpoint
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fs():
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]})


def _cli(repo: Path, output: str) -> list[str]:
    config = str(repo / "configs" / "sample.yaml")
    return [sys.executable, "-m", "pipeline.cli", "run", config, "--engine", "local", "--output", output, "--quiet"]


def _run(repo: Path, output: str, staging: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "JINGXUAN_KILL_AT"}
    env["JINGXUAN_STAGING"] = str(staging)
    if kill_at:
        env["JINGXUAN_KILL_AT"] = kill_at
    return subprocess.run(
        _cli(repo, output),
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,  # a kill point kills its process group, not pytest
        timeout=600,
    )


@pytest.fixture(scope="module")
def local_run(repo_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    done = subprocess.run(
        _cli(repo_dir, str(out)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out


def _committed(prefix: str) -> dict[str, bytes]:
    """The objects a reader may trust: those the commit record lists, checked against it."""
    fs = _fs()
    record = json.loads(fs.cat(f"{BUCKET}/{prefix}/_jingxuan_commit.json"))["files"]
    objects = {p.split(f"{BUCKET}/{prefix}/", 1)[1] for p in fs.find(f"{BUCKET}/{prefix}")}
    assert objects == set(record) | {"_jingxuan_commit.json"}, "objects the record does not list, or missing ones"
    out = {rel: fs.cat(f"{BUCKET}/{prefix}/{rel}") for rel in record}
    assert {rel: len(b) for rel, b in out.items()} == {rel: m["size"] for rel, m in record.items()}
    return out


def _same_as_local(objects: dict[str, bytes], local: Path) -> None:
    for folder in ("data", "rejected"):
        names = sorted(p.name for p in (local / folder).iterdir())
        assert sorted(r.split("/", 1)[1] for r in objects if r.startswith(folder + "/")) == names
        for name in names:
            assert objects[f"{folder}/{name}"] == (local / folder / name).read_bytes(), f"{folder}/{name}"
    assert "manifest.json" in objects and "stats.json" in objects and "report.html" in objects
    assert not any(r.startswith("work/") for r in objects), "intermediates are not committed"


def test_a_run_on_s3_commits_the_local_runs_bytes_and_datasets_opens_it(s3_endpoint, repo_dir, tmp_path, local_run):
    done = _run(repo_dir, f"s3://{BUCKET}/sample", tmp_path / "staging")
    assert done.returncode == 0, done.stderr
    assert f"committed  s3://{BUCKET}/sample" in done.stdout
    _same_as_local(_committed("sample"), local_run)

    import datasets

    ds = datasets.load_from_disk(f"s3://{BUCKET}/sample/data", storage_options={"endpoint_url": s3_endpoint})
    assert len(ds) == json.loads((local_run / "manifest.json").read_text())["output"]["rows"]

    # another machine (no staging folder) downloads the committed run instead of curating it again
    shutil.rmtree(tmp_path / "staging")
    again = _run(repo_dir, f"s3://{BUCKET}/sample", tmp_path / "staging")
    assert again.returncode == 0, again.stderr
    _same_as_local(_committed("sample"), local_run)


@pytest.mark.parametrize("kill_at", ["global:minhash_dedup:1", "finalize", "commit:1", "commit:7"])
def test_a_killed_s3_run_resumes_to_the_same_objects(s3_endpoint, repo_dir, tmp_path, local_run, kill_at):
    prefix = f"killed-{kill_at.replace(':', '-')}"
    killed = _run(repo_dir, f"s3://{BUCKET}/{prefix}", tmp_path / "staging", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    fs = _fs()
    record = f"{BUCKET}/{prefix}/_jingxuan_commit.json"
    if kill_at.startswith("commit:"):
        assert json.loads(fs.cat(record))["files"] == {}, "an interrupted first commit lists nothing"
    else:
        assert not fs.exists(record), "nothing is committed before the run finishes"
    resumed = _run(repo_dir, f"s3://{BUCKET}/{prefix}", tmp_path / "staging")
    assert resumed.returncode == 0, resumed.stderr
    _same_as_local(_committed(prefix), local_run)


def test_a_prefix_jingxuan_did_not_write_is_refused(s3_endpoint, repo_dir, tmp_path):
    fs = _fs()
    fs.pipe(f"{BUCKET}/foreign/keep-me.txt", b"not ours")
    done = _run(repo_dir, f"s3://{BUCKET}/foreign", tmp_path / "staging")
    assert done.returncode == 2
    assert "no _jingxuan_commit.json: not a jingxuan run folder" in done.stderr
    assert "Traceback" not in done.stderr
    assert fs.cat(f"{BUCKET}/foreign/keep-me.txt") == b"not ours"
