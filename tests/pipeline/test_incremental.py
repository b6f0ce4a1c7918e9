"""output.mode: versions — a second run curates only new input files and drops duplicates of documents
curated by the first run, naming the old document in the ledger."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.config import validate_config
from pipeline.runner import run_local
from pipeline.versions import table

DOCS = [
    "长江是中国第一长河，发源于青藏高原的唐古拉山脉，流经十一个省级行政区，最后注入东海，全长约六千三百公里。",
    "故宫位于北京中轴线的中心，是明清两代的皇家宫殿，旧称紫禁城，现为故宫博物院，收藏了大量珍贵文物。",
    "大熊猫是中国特有的哺乳动物，主要生活在四川、陕西和甘肃的山区，以竹子为主要食物，被誉为国宝。",
]


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in rows), "utf-8")


def _config(tmp: Path):
    return validate_config(
        {
            "input": {"paths": [str(tmp / "in" / "*.jsonl")]},
            "output": {"dir": str(tmp / "out"), "mode": "versions"},
            "stages": ["normalize", "langid", "lang_filter", "exact_dedup", "minhash_dedup"],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )


def test_second_run_curates_only_new_files_and_drops_old_duplicates(tmp_path: Path):
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "day1.jsonl", [("a1", DOCS[0]), ("a2", DOCS[1])])
    first = run_local(_config(tmp_path))
    assert first is not None and first.data_rows == 2

    copy = DOCS[0].replace("约", "大约")  # a near copy of a1
    _write(tmp_path / "in" / "day2.jsonl", [("b1", copy), ("b2", DOCS[2]), ("b3", DOCS[1])])
    second = run_local(_config(tmp_path))
    assert second is not None and second.run_dir.endswith("v0002")
    manifest = json.loads(Path(second.run_dir, "manifest.json").read_text())
    assert [i["source"] for i in manifest["inputs"]] == ["in/day2.jsonl"]
    assert second.stats.docs_in == 3 and second.data_rows == 1
    ledger = {r["id"]: r for r in pq.read_table(Path(second.run_dir, "rejected")).to_pylist()}
    # the exact copy is caught by exact_dedup's index, the near copy by minhash_dedup's
    assert {k: (v["stage"], v["reason"], v["detail"]) for k, v in ledger.items()} == {
        "b1": ("minhash_dedup", "near_duplicate", "a1"),
        "b3": ("exact_dedup", "exact_duplicate", "a2"),
    }
    # the first version is untouched, and a third run finds nothing new
    assert Path(first.run_dir, "data").is_dir() and first.run_dir.endswith("v0001")
    assert run_local(_config(tmp_path)) is None
    listing = table(str(tmp_path / "out"))
    assert "complete" in listing and "v0002" in listing


def test_append_mode_keeps_one_dataset_over_all_versions_without_rewriting(tmp_path: Path):
    import datasets

    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "day1.jsonl", [("a1", DOCS[0]), ("a2", DOCS[1])])
    cfg = _config(tmp_path).model_copy(
        update={"output": _config(tmp_path).output.model_copy(update={"mode": "append"})}
    )
    run_local(cfg)
    first_file = next((tmp_path / "out" / "v0001" / "data").glob("*.arrow"))
    before = (first_file.stat().st_ino, first_file.read_bytes())
    _write(tmp_path / "in" / "day2.jsonl", [("b2", DOCS[2])])
    run_local(cfg)
    ds = datasets.load_from_disk(str(tmp_path / "out" / "data"))
    assert ds["id"] == ["a1", "a2", "b2"]
    assert (first_file.stat().st_ino, first_file.read_bytes()) == before
    card = (tmp_path / "out" / "data" / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["size_categories"] == ["n<1K"] and "jingxuan" in meta["tags"]
    assert "3 documents appended from 2 versions" in card
    assert "| v0001 | 2 | [v0001/data/README.md](../v0001/data/README.md) |" in card
    assert "| v0002 | 1 |" in card and (tmp_path / "out" / "v0002" / "data" / "README.md").exists()


def _single(tmp: Path, out: Path, stages: list[str], index_dir: Path | None = None):
    if index_dir is not None:
        stages = [{s: {"index_dir": str(index_dir)}} for s in stages]
    return validate_config(
        {
            "input": {"paths": [str(tmp / "in" / "*.jsonl")]},
            "output": {"dir": str(out)},
            "stages": ["normalize", *stages],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )


@pytest.mark.parametrize("how", ["move", "copy", "move with its outside index"])
@pytest.mark.parametrize("stage", ["exact_dedup", "minhash_dedup", "paragraph_dedup"])
def test_a_moved_or_copied_run_folder_keeps_every_document(tmp_path: Path, stage: str, how: str):
    """The index must not know the run folder by its absolute path: documents would match their own entries."""
    import shutil

    import datasets

    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "day1.jsonl", [("a1", DOCS[0]), ("a2", DOCS[1]), ("a3", DOCS[2])])
    index = tmp_path / "shared-index" if how.endswith("index") else None
    first = run_local(_single(tmp_path, tmp_path / "A", [stage], index))
    assert first is not None and first.data_rows == 3
    texts = datasets.load_from_disk(str(tmp_path / "A" / "data"))["text"]
    moved = tmp_path / "B"
    (shutil.copytree if how == "copy" else shutil.move)(tmp_path / "A", moved)
    shutil.rmtree(moved / "work")  # so nothing is skipped: the stage runs against the index again
    again = run_local(_single(tmp_path, moved, [stage], index))
    assert again is not None and again.data_rows == 3, again.summary()
    assert datasets.load_from_disk(str(moved / "data"))["text"] == texts  # no paragraph removed either
    assert not (moved / "rejected").exists() or pq.read_table(moved / "rejected").num_rows == 0


def test_append_refusing_new_columns_leaves_no_complete_version(tmp_path: Path):
    """A version is complete only once data/ includes it; the refusal says why, and the next run tries again."""
    import datasets

    from pipeline.io.files import InputError

    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "day1.jsonl", [("a1", DOCS[0]), ("a2", DOCS[1])])
    base = _config(tmp_path)
    cfg = base.model_copy(update={"output": base.output.model_copy(update={"mode": "append"})})
    run_local(cfg)
    (tmp_path / "in" / "day2.jsonl").write_text(
        json.dumps({"id": "b1", "text": DOCS[2], "url": "https://example.cn/b1"}, ensure_ascii=False) + "\n", "utf-8"
    )
    for _ in range(2):  # the second run must not say "nothing new"
        with pytest.raises(InputError, match="append needs one schema"):
            run_local(cfg)
        runs = json.loads((tmp_path / "out" / "runs.json").read_text())["runs"]
        assert [r["status"] for r in runs] == ["complete", "failed"]
        manifest = json.loads((tmp_path / "out" / "v0002" / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "append needs one schema" in manifest["reason"]
    assert datasets.load_from_disk(str(tmp_path / "out" / "data"))["id"] == ["a1", "a2"]
    assert "failed" in table(str(tmp_path / "out"))
