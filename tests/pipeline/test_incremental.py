"""output.mode: versions — a second run curates only new input files and drops duplicates of documents
curated by the first run, naming the old document in the ledger."""

import json
from pathlib import Path

import pyarrow.parquet as pq

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
