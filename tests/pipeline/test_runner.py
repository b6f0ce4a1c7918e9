import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.config import validate_config
from pipeline.runner import RunPaths, finished_run, run_local, segments
from stages.base import Filter, GlobalResult, GlobalStage, Mapper
from stages.core.arrow import set_column
from stages.core.stats import ConservationError, StageStats


class _UpperMapper(Mapper):
    """Test mapper: upper-cases ASCII so a test can see it ran."""

    name = "runner_upper_mapper"

    def map(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return set_column(batch, "text", pc.utf8_upper(batch.column("text")))


class _MinLengthFilter(Filter):
    """Test filter: drops documents shorter than min_chars."""

    name = "runner_min_length_filter"
    reason = "too_short"
    min_chars: int = 5

    def keep_mask(self, batch: pa.RecordBatch) -> pa.Array:
        return pc.greater_equal(pc.utf8_length(batch.column("text")), self.min_chars)


class _ReverseGlobal(GlobalStage):
    """Test global stage: reverses shard order and drops ids ending in 7."""

    name = "runner_reverse_global"

    def run(self, shards, ctx):
        from stages.core.ledger import REJECTED_SCHEMA, rejected_batch
        from stages.core.shards import read_shard, write_parquet, write_shard

        stats = StageStats()
        outs, dropped = [], []
        for i, path in enumerate(reversed(shards)):
            table = pa.Table.from_batches(list(read_shard(path)))
            stats.docs_in += table.num_rows
            bad = pc.ends_with(table.column("id"), "7")
            dropped.append(
                rejected_batch(
                    table.filter(bad).column("id").combine_chunks(), self.name, ["ends_in_7"] * pc.sum(bad).as_py()
                )
            )
            kept = table.filter(pc.invert(bad))
            out = os.path.join(ctx.out_dir, f"part-{i:05d}.arrow")
            write_shard(out, kept.to_batches() or [kept.schema.empty_table().to_batches()])
            outs.append(out)
            stats.docs_out += kept.num_rows
        rejected = os.path.join(ctx.work_dir, "rejected.parquet")
        write_parquet(rejected, dropped, REJECTED_SCHEMA)
        stats.docs_rejected = stats.docs_in - stats.docs_out
        stats.reasons["ends_in_7"] = stats.docs_rejected
        return GlobalResult(outs, [rejected], stats, {"shards": len(outs)})


def _corpus(tmp_path: Path, files: int = 3, per_file: int = 20) -> Path:
    src = tmp_path / "in"
    src.mkdir(parents=True)
    for f in range(files):
        with open(src / f"part{f}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(per_file):
                text = "短" if i % 4 == 0 else f"文档{f}-{i} abc 中文内容"
                fh.write(json.dumps({"id": f"f{f}-{i}", "text": text, "meta": i}, ensure_ascii=False) + "\n")
            fh.write("{broken json\n")
    return src


def _config(tmp_path: Path, stages, **execution):
    src = _corpus(tmp_path)
    return validate_config(
        {
            "input": {"paths": [str(src / "*.jsonl")]},
            "output": {"dir": str(tmp_path / "run")},
            "stages": stages,
            "execution": {"engine": "local", "task_runner": "sequential", "batch_size": 7, **execution},
        }
    )


def test_segments_split_at_global_stages():
    cfg = validate_config(
        {
            "input": {"paths": ["x"]},
            "output": {"dir": "o"},
            "stages": [
                "runner_upper_mapper",
                "runner_reverse_global",
                "runner_min_length_filter",
                "runner_min_length_filter",
            ],
        }
    )
    segs = segments(cfg)
    assert [(s.kind, [p.key for p in s.specs]) for s in segs] == [
        ("shard", ["runner_upper_mapper"]),
        ("global", ["runner_reverse_global"]),
        ("shard", ["runner_min_length_filter", "runner_min_length_filter_2"]),
    ]


def test_run_accounts_for_every_document_and_opens_with_datasets(tmp_path: Path):
    import datasets

    cfg = _config(tmp_path, ["runner_upper_mapper", "runner_min_length_filter"])
    result = run_local(cfg)
    stats = result.stats
    # 3 files x (20 documents + 1 malformed line)
    assert stats.docs_in == 63
    assert stats.stages["read"].reasons == {"malformed_json": 3}
    assert stats.stages["runner_min_length_filter"].reasons == {"too_short": 15}
    assert stats.docs_out == result.data_rows == 45
    assert stats.docs_in == stats.docs_out + stats.docs_rejected
    ds = datasets.load_from_disk(str(tmp_path / "run" / "data"))
    assert len(ds) == 45 and ds[0]["text"].startswith("文档0-1 ABC")
    assert ds.column_names[:2] == ["id", "text"] and "meta" in ds.column_names
    ledger = pq.read_table(str(tmp_path / "run" / "rejected")).to_pylist()
    assert {(r["stage"], r["reason"]) for r in ledger} == {
        ("read", "malformed_json"),
        ("runner_min_length_filter", "too_short"),
    }
    assert all(r["detail"] and ".jsonl:21" in r["detail"] for r in ledger if r["reason"] == "malformed_json")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["inputs"]) == 3
    assert manifest["stage_versions"] == {
        "runner_upper_mapper": "runner_upper_mapper@1",
        "runner_min_length_filter": "runner_min_length_filter@1",
    }
    assert {"pyarrow", "datasets", "prefect"} <= set(manifest["packages"])
    assert json.loads((tmp_path / "run" / "stats.json").read_text())["docs_out"] == 45


def test_rerun_skips_completed_shards_and_gives_identical_bytes(tmp_path: Path):
    cfg = _config(tmp_path, ["runner_min_length_filter", "runner_reverse_global", "runner_upper_mapper"])
    first = run_local(cfg)
    data = RunPaths(cfg.run_dir).data
    before = {f: Path(data, f).read_bytes() for f in os.listdir(data)}
    second = run_local(cfg)
    assert (first.skipped_tasks, second.skipped_tasks) == (0, second.total_tasks)
    assert {f: Path(data, f).read_bytes() for f in os.listdir(data)} == before

    def counts(r):
        return {k: (v.docs_in, v.docs_out, dict(v.reasons)) for k, v in r.stats.stages.items()}

    assert counts(second) == counts(first)


def test_process_pool_gives_the_same_bytes_as_sequential(tmp_path: Path):
    seq = _config(tmp_path / "a", ["runner_upper_mapper", "runner_reverse_global"], shard_mb=0.0005)
    par = _config(
        tmp_path / "b", ["runner_upper_mapper", "runner_reverse_global"], task_runner="process", shard_mb=0.0005
    )
    run_local(seq)
    run_local(par)
    a, b = Path(seq.run_dir, "data"), Path(par.run_dir, "data")
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for f in os.listdir(a):
        if f.endswith(".arrow"):
            assert (a / f).read_bytes() == (b / f).read_bytes()


def test_a_small_input_runs_in_this_process_a_bigger_one_on_the_pool(tmp_path: Path):
    small = _config(tmp_path / "a", ["runner_upper_mapper"], task_runner="process")
    big = _config(tmp_path / "b", ["runner_upper_mapper"], task_runner="process", shard_mb=0.0005)
    run_local(small)
    run_local(big)
    engines = [json.loads(Path(c.run_dir, "manifest.json").read_text())["engine"] for c in (small, big)]
    assert engines == ["local-inline", "local-process"]

    def pids(cfg) -> set[str]:
        markers = Path(cfg.run_dir, "work", "seg00").glob("*.done")
        return {json.loads(m.read_text())["worker"].rsplit(":", 1)[1] for m in markers}

    assert pids(small) == {str(os.getpid())} and str(os.getpid()) not in pids(big)


def test_a_finished_run_is_recognised_from_its_manifest_until_input_or_config_change(tmp_path: Path):
    cfg = _config(tmp_path, ["runner_min_length_filter", "runner_reverse_global"])
    assert finished_run(cfg) is None
    first = run_local(cfg)
    done = finished_run(cfg)
    assert done is not None and done.skipped_tasks == done.total_tasks == first.total_tasks
    assert (done.data_rows, done.rejected_rows, done.stats.to_dict()["stages"].keys()) == (
        first.data_rows,
        first.rejected_rows,
        first.stats.to_dict()["stages"].keys(),
    )
    other = validate_config({**cfg.model_dump(mode="json"), "stages": ["runner_min_length_filter"]})
    assert finished_run(other) is None
    with open(tmp_path / "in" / "part0.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"text": "一篇新的文档"}\n')
    assert finished_run(cfg) is None


def test_a_stage_that_loses_documents_fails_the_run(tmp_path: Path):
    cfg = _config(tmp_path, ["runner_leaky_global"])
    with pytest.raises(ConservationError, match="runner_leaky_global"):
        run_local(cfg)


class _LeakyGlobal(GlobalStage):
    """Test global stage that loses documents without a reason."""

    name = "runner_leaky_global"

    def run(self, shards, ctx):
        return GlobalResult(shards[:1], [], StageStats(docs_in=60, docs_out=20))


def test_rerun_with_another_config_into_the_same_folder_leaves_no_stale_ledger(tmp_path: Path):
    first = _config(tmp_path, ["runner_min_length_filter", "runner_reverse_global"])
    run_local(first)
    second = validate_config(first.model_dump() | {"stages": ["runner_upper_mapper"]})
    result = run_local(second)
    ledger = pq.read_table(str(tmp_path / "run" / "rejected")).to_pylist()
    assert {r["stage"] for r in ledger} == {"read"} and result.rejected_rows == 3


def test_synthetic_documents_are_counted_apart_at_every_stage(tmp_path: Path):
    src = _corpus(tmp_path, files=1)
    syn = tmp_path / "syn.jsonl"
    syn.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "text": t, "generator": "g", "prompt_id": "p"}, ensure_ascii=False) + "\n"
            for i, t in enumerate(["短", "一篇足够长的合成文档", "另一篇足够长的合成文档"])
        ),
        encoding="utf-8",
    )
    cfg = validate_config(
        {
            "input": {"paths": [str(src / "*.jsonl")]},
            "synthetic": [{"name": "gen", "paths": [str(syn)]}],
            "output": {"dir": str(tmp_path / "run")},
            "stages": ["runner_min_length_filter", "runner_reverse_global"],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )
    stats = run_local(cfg).stats.stages
    counts = {k: (v.counters["synthetic.docs_in"], v.counters["synthetic.docs_out"]) for k, v in stats.items()}
    assert counts == {"read": (0, 3), "runner_min_length_filter": (3, 2), "runner_reverse_global": (2, 2)}


def test_input_column_named_like_a_curriculum_column_is_refused_before_anything_is_written(tmp_path: Path):
    """It used to crash the curriculum (duplicate `_phase`) after the shard tasks had run."""
    from pipeline.io.files import InputError

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"文档{i}的内容", "_phase": i % 2}) + "\n" for i in range(6)))
    cfg = validate_config(
        {
            "input": {"paths": [str(src)]},
            "output": {"dir": str(tmp_path / "run")},
            "stages": ["runner_upper_mapper", {"curriculum": {"schedule": "phases", "phases": [0.5, 0.5]}}],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )
    with pytest.raises(InputError, match=r"in\.jsonl:1: input column '_phase'"):
        run_local(cfg)
    assert not (tmp_path / "run").exists()


def _near_duplicate_corpus(root: Path, files: int = 4, per_file: int = 300) -> Path:
    """Random Han documents, a third of them edited copies of another, some with an e-mail address."""
    import random

    rng = random.Random(11)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    originals = ["".join(rng.choices(han, k=rng.randint(200, 1500))) for _ in range(files * per_file)]
    src = root / "in"
    src.mkdir(parents=True)
    n = 0
    for f in range(files):
        with open(src / f"part{f}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(per_file):
                text = originals[n]
                if i % 3 == 0:  # an edited copy of an earlier document
                    base = list(originals[rng.randrange(n + 1)])
                    for _ in range(len(base) // 50):
                        base[rng.randrange(len(base))] = rng.choice(han)
                    text = "".join(base)
                if i % 5 == 0:
                    text += f" 联系 u{n}@example.com"
                fh.write(json.dumps({"id": f"{f}-{i}", "text": text}, ensure_ascii=False) + "\n")
                n += 1
    return src


def test_thread_runner_gives_the_same_bytes_and_counts_as_the_process_runner(tmp_path: Path):
    """One stage instance per process serves every thread task: per-call state and scratch buffers must not be
    shared, or MinHash signatures and per-shard counts differ from a process-pool run."""
    src = _near_duplicate_corpus(tmp_path)
    runs = {}
    for kind in ("thread", "process"):
        cfg = validate_config(
            {
                "input": {"paths": [str(src)]},
                "output": {"dir": str(tmp_path / kind)},
                "stages": ["normalize", "exact_dedup", {"minhash_dedup": {"threshold": 0.7}}],
                "execution": {"engine": "local", "task_runner": kind, "workers": 4, "batch_size": 100},
            }
        )
        runs[kind] = run_local(cfg)
    a, b = Path(tmp_path, "thread"), Path(tmp_path, "process")
    for sub in ("data", "rejected"):
        names = sorted(os.listdir(a / sub))
        assert names == sorted(os.listdir(b / sub)) and names
        for f in names:
            assert (a / sub / f).read_bytes() == (b / sub / f).read_bytes(), f"{sub}/{f}"

    def counts(r):
        return {k: (v.docs_in, v.docs_out, dict(v.reasons), dict(v.counters)) for k, v in r.stats.stages.items()}

    assert counts(runs["thread"]) == counts(runs["process"])
    assert runs["thread"].stats.stages["normalize"].counters["pii.email"] == 240
    assert runs["thread"].stats.stages["minhash_dedup"].docs_rejected > 0


def test_grouped_map_keeps_results_in_order_with_balanced_tasks():
    from pipeline.runner import grouped

    sizes = []

    def map_fn(fn, items, label=""):
        sizes.append([len(i) if isinstance(i, list) else 1 for i in items])
        return [fn(x) for x in items]

    assert grouped(map_fn, 8)(str, list(range(10))) == [str(i) for i in range(10)]
    assert grouped(map_fn, 8)(str, list(range(3))) == ["0", "1", "2"]
    assert sizes == [[2, 2, 1, 1, 1, 1, 1, 1], [1, 1, 1]]
    # shards of a file that shrink toward its end: tasks of equal bytes, not of equal shard counts
    weights = [4, 4, 4, 4, 4, 3, 2, 2, 1, 1, 1]
    chunks = []
    out = grouped(lambda fn, items, label="": chunks.extend(items) or [fn(x) for x in items], 4)(
        str, list(range(11)), weights=weights
    )
    assert out == [str(i) for i in range(11)]
    assert [sum(weights[i] for i in c) for c in chunks] == [8, 8, 7, 7]


def test_an_executor_with_costly_task_runs_gets_fewer_coarser_tasks():
    from pipeline.runner import LocalMap, max_tasks

    cfg = validate_config({"input": "x.jsonl", "output": "out", "stages": [], "execution": {"workers": 2}})

    def costly(fn, items, label=""):
        return [fn(x) for x in items]

    costly.tasks_per_worker = 2
    assert max_tasks(cfg, 10) == 8
    assert max_tasks(cfg, 10, costly) == 4
    assert max_tasks(cfg, 1000, costly) == 63  # at most 16 items a task, whatever the executor
    # the plain pool's tasks cost ~1 ms: one per item, so a map's last tasks are as short as they can be
    assert max_tasks(cfg, 10, LocalMap("process", 2)) == 10
    assert max_tasks(cfg, 1000, LocalMap("process", 2)) == 1000
