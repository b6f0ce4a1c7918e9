"""Input cut into shards within a file: every format reads the same rows, ids and row numbers as a whole-file
read; a run's output does not depend on the worker count or the shard size, and a killed run resumes per shard."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline.config import validate_config
from pipeline.io.listing import list_inputs
from pipeline.io.planning import InputShard, plan_shards
from pipeline.io.reading import read_input_shard


def _lines(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        if i % 17 == 5:
            out.append(b"\n")  # a blank line: not a document, but it counts as a line
        elif i % 23 == 7:
            out.append(b'{"text": broken\n')  # malformed: rejected with its line number
        else:
            doc = {"text": f"第{i}篇文档，内容是关于中文语料清洗的一段话。" * (1 + i % 5), "n": i}
            out.append(json.dumps(doc, ensure_ascii=False).encode() + b"\n")
    return out


def _config(paths: list[str], out: Path, **execution) -> object:
    return validate_config(
        {
            "input": {"paths": paths},
            "output": {"dir": str(out)},
            "stages": ["normalize"],
            "execution": {"engine": "local", "batch_size": 50, **execution},
        }
    )


def _plan(cfg, work: Path) -> list[InputShard]:
    ex = cfg.execution
    return plan_shards(list_inputs(cfg.input), ex.shard_mb, ex.shard_docs, ex.batch_size, str(work))


def _read_all(shards: list[InputShard], cfg) -> tuple[list, list]:
    docs, rejected = [], []
    for s in shards:
        for d, r in read_input_shard(s, cfg.input, cfg.execution.batch_size):
            docs += list(zip(d.column("id").to_pylist(), d.column("text").to_pylist(), strict=True))
            rejected += r.column("id").to_pylist() if r is not None else []
    return docs, rejected


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_jsonl_shards_start_at_line_starts_and_read_like_the_whole_file(tmp_path: Path, compression):
    data = b"".join(_lines(700))
    name = {"gzip": "big.jsonl.gz", "zstd": "big.jsonl.zst", None: "big.jsonl"}[compression]
    path = tmp_path / name
    path.write_bytes(
        gzip.compress(data) if compression == "gzip" else zstandard.compress(data) if compression else data
    )
    cfg = _config([str(path)], tmp_path / "out", shard_mb=0.02)
    (f,) = list_inputs(cfg.input)
    whole = _read_all([InputShard(f, 0, 1)], cfg)
    shards = _plan(cfg, tmp_path / "work")
    assert len(shards) >= 5
    for s in shards:
        assert s.start == 0 or data[s.start - 1 : s.start] == b"\n"
        assert s.row0 == data[: s.start].count(b"\n")
    assert [s.stop for s in shards[:-1]] == [s.start for s in shards[1:]]
    assert _read_all(shards, cfg) == whole
    assert len(whole[1]) > 10 and len(whole[0]) > 500
    # a second plan comes from the cache beside the run, with the same shards
    assert _plan(cfg, tmp_path / "work") == shards


def test_jsonl_shards_by_document_count(tmp_path: Path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"".join(_lines(250)))
    cfg = _config([str(path)], tmp_path / "out", shard_docs=100)
    (f,) = list_inputs(cfg.input)
    shards = _plan(cfg, tmp_path / "work")
    per_shard = [sum(map(len, _read_all([s], cfg))) for s in shards]
    assert per_shard[:-1] == [100] * (len(shards) - 1) and 0 < per_shard[-1] <= 100
    assert _read_all(shards, cfg) == _read_all([InputShard(f, 0, 1)], cfg)


def test_the_last_shards_of_a_file_shrink_to_single_batches(tmp_path: Path):
    """A file of 12 shards' worth: full shards first, then a quarter of what remains each, down to one batch
    (50 documents here), so the map ends on short tasks; the old cut left whatever was over at the end."""
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"".join(_lines(2400)))
    cfg = _config([str(path)], tmp_path / "out", shard_mb=path.stat().st_size / 12 / (1 << 20))
    shards = _plan(cfg, tmp_path / "work")
    docs = [sum(map(len, _read_all([s], cfg))) for s in shards]
    assert len(shards) > 12 and min(docs[:6]) >= 150
    assert max(docs[-3:]) <= 50  # one batch each
    half = docs[len(docs) // 2 :]
    assert half == sorted(half, reverse=True)  # shrinking toward the end
    (f,) = list_inputs(cfg.input)
    assert _read_all(shards, cfg) == _read_all([InputShard(f, 0, 1)], cfg)


def test_utf16_jsonl_is_one_shard(tmp_path: Path):
    """Cutting UTF-16 at 0x0A bytes would split characters (上 is U+4E0A): such a file is read whole."""
    path = tmp_path / "u16.jsonl"
    path.write_bytes(b"".join(_lines(250)).decode().encode("utf-16-le"))
    cfg = validate_config(
        {
            "input": {"paths": [str(path)], "encoding": "auto"},
            "output": {"dir": str(tmp_path / "out")},
            "stages": ["normalize"],
            "execution": {"engine": "local", "batch_size": 50, "shard_docs": 100, "shard_mb": 0.01},
        }
    )
    (shard,) = _plan(cfg, tmp_path / "work")
    docs, rejected = _read_all([shard], cfg)
    assert shard.whole and len(docs) == 250 - 15 - 11 and len(rejected) == 11


def _table(n: int) -> pa.Table:
    return pa.table({"text": [f"第{i}篇：中文语料。" * (1 + i % 4) if i % 31 else "" for i in range(n)]})


@pytest.mark.parametrize("fmt", ["parquet", "arrow-file", "arrow-stream"])
def test_columnar_shards_are_whole_row_groups_or_batches(tmp_path: Path, fmt):
    table = _table(1000)
    if fmt == "parquet":
        path = tmp_path / "t.parquet"
        pq.write_table(table, path, row_group_size=90)
    else:
        path = tmp_path / "t.arrow"
        opener = pa.ipc.new_file if fmt == "arrow-file" else pa.ipc.new_stream
        with opener(path, table.schema) as w:
            for b in table.to_batches(max_chunksize=90):
                w.write_batch(b)
    cfg = _config([str(path)], tmp_path / "out", shard_mb=0.005)
    (f,) = list_inputs(cfg.input)
    shards = _plan(cfg, tmp_path / "work")
    assert len(shards) >= 3
    assert all(s.row0 % 90 == 0 for s in shards)
    docs, rejected = _read_all(shards, cfg)
    assert (docs, rejected) == _read_all([InputShard(f, 0, 1)], cfg)
    assert len(docs) + len(rejected) == 1000


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for sub in ("data", "rejected")
        for p in sorted((folder / sub).rglob("*"))
        if p.is_file()
    }


def _dataset(run_dir: Path) -> pa.Table:
    import datasets

    table = datasets.load_from_disk(str(run_dir / "data")).data.table
    return table.select(sorted(table.column_names))


def _recipe(paths: list[str], out: Path, **execution) -> object:
    return validate_config(
        {
            "input": {"paths": paths},
            "output": {"dir": str(out)},
            "stages": ["normalize", {"length_filter": {"min_chars": 30}}, "exact_dedup", "minhash_dedup"],
            "execution": {"engine": "local", "batch_size": 32, **execution},
        }
    )


def test_output_does_not_depend_on_worker_count_or_shard_size(tmp_path: Path, repo_dir: Path):
    from pipeline.runner import run_local

    one = tmp_path / "one.jsonl"
    one.write_bytes(b"".join((repo_dir / "sample_data" / n).read_bytes() for n in ("news.jsonl", "encyclopedia.jsonl")))
    one.write_bytes(one.read_bytes() + b"".join(_lines(300)))
    runs = {}
    for name, ex in {
        "whole": {"workers": 1, "task_runner": "sequential"},
        "small-1": {"workers": 1, "shard_mb": 0.01, "task_runner": "sequential"},
        "small-2": {"workers": 2, "shard_mb": 0.01},
        "small-2-thread": {"workers": 2, "shard_mb": 0.01, "task_runner": "thread"},
        "other-size": {"workers": 2, "shard_mb": 0.03, "task_runner": "thread"},
    }.items():
        result = run_local(_recipe([str(one)], tmp_path / name, **ex))
        runs[name] = (result, _tree(tmp_path / name))
    assert len([m for m in (tmp_path / "small-2" / "work" / "seg00").glob("*.done")]) >= 5
    assert runs["small-1"][1] == runs["small-2"][1] == runs["small-2-thread"][1]  # data/ and rejected/ bytes
    tables = {k: _dataset(tmp_path / k) for k in runs}
    # same rows, values and order whatever the cut; only the column order of a file whose documents have
    # different fields may differ (the output schema is the union of shard schemas, in shard order)
    assert all(t.equals(tables["whole"]) for t in tables.values())
    ledger = {k: sorted(pq.read_table(tmp_path / k / "rejected").column("id").to_pylist()) for k in runs}
    assert all(v == ledger["whole"] for v in ledger.values())


@pytest.mark.slow
def test_a_killed_run_resumes_per_shard(tmp_path: Path, repo_dir: Path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(_lines(600)))
    config = tmp_path / "run.yaml"
    config.write_text(
        f"input: {{paths: [{big}]}}\noutput: {{dir: {tmp_path / 'run'}}}\nstages: [normalize, exact_dedup]\n"
        "execution: {engine: local, workers: 1, shard_mb: 0.02, batch_size: 40}\n"
    )
    cmd = [sys.executable, "-m", "pipeline.cli", "run", str(config), "--quiet"]
    env = {**os.environ, "JINGXUAN_KILL_AT": "shard-write:0:3"}
    killed = subprocess.run(cmd, env=env, capture_output=True, start_new_session=True, timeout=300)
    assert killed.returncode != 0
    seg0 = tmp_path / "run" / "work" / "seg00"
    assert sorted(p.name for p in seg0.glob("*.done")) == [f"shard-{i:05d}.done" for i in range(3)]
    env.pop("JINGXUAN_KILL_AT")
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    markers = [json.loads(p.read_text()) for p in sorted(seg0.glob("*.done"))]
    assert len(markers) >= 5
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    skipped = [s["skipped"] for s in manifest["shards"] if s["segment"] == 0]
    assert skipped[:3] == [True] * 3 and not any(skipped[3:])
    from pipeline.runner import run_local

    fresh = _tree_of(run_local, config, tmp_path / "fresh")
    assert _tree(tmp_path / "run") == fresh


def _tree_of(run_local, config: Path, out: Path) -> dict[str, bytes]:
    from pipeline.config import load_config

    run_local(load_config(str(config), {"output.dir": str(out)}))
    return _tree(out)
