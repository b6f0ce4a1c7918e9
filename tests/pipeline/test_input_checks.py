"""Input mistakes that used to pass silently: repeated ids across files, a glob of unsupported files, empty files."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config import validate_config
from pipeline.io.files import InputError, InputWarning
from pipeline.runner import run_local

DOCS = [
    "长江是中国第一长河，发源于青藏高原的唐古拉山脉，流经十一个省级行政区，最后注入东海，全长约六千三百公里。",
    "故宫位于北京中轴线的中心，是明清两代的皇家宫殿，旧称紫禁城，现为故宫博物院，收藏了大量珍贵文物。",
]


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in rows), "utf-8")


def _config(tmp: Path, pattern: str = "*.jsonl", **inp):
    return validate_config(
        {
            "input": {"paths": [str(tmp / "in" / pattern)], **inp},
            "output": {"dir": str(tmp / "out")},
            "stages": ["normalize", "exact_dedup"],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )


def test_an_id_repeated_in_two_files_fails_naming_both(tmp_path: Path):
    _write(tmp_path / "in" / "news.jsonl", [("news-001", DOCS[0])])
    _write(tmp_path / "in" / "news_copy.jsonl", [("news-001", DOCS[0]), ("news-002", DOCS[1])])
    with pytest.raises(InputError, match=r"id 'news-001' appears in .*news\.jsonl and .*news_copy\.jsonl"):
        run_local(_config(tmp_path))


def test_rekey_makes_ids_from_different_files_distinct(tmp_path: Path):
    _write(tmp_path / "in" / "news.jsonl", [("news-001", DOCS[0])])
    _write(tmp_path / "in" / "news_copy.jsonl", [("news-001", DOCS[0]), ("news-002", DOCS[1])])
    result = run_local(_config(tmp_path, duplicate_ids="rekey"))
    ledger = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    assert result.data_rows == 2
    assert [(r["id"], r["detail"]) for r in ledger] == [("in/news_copy.jsonl:news-001", "in/news.jsonl:news-001")]


def test_a_glob_of_unsupported_files_names_the_format(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "corpus.csv").write_text("id,text\n1,中文\n")
    with pytest.raises(InputError, match=r"matches 1 file\(s\) of an unsupported format \(\.csv"):
        run_local(_config(tmp_path, "*"))


def test_an_empty_input_file_warns(tmp_path: Path):
    _write(tmp_path / "in" / "a.jsonl", [("a1", DOCS[0])])
    (tmp_path / "in" / "b.jsonl").write_text("")
    with pytest.warns(InputWarning, match=r"b\.jsonl: holds no documents"):
        assert run_local(_config(tmp_path)).data_rows == 1


def test_the_id_check_under_a_tiny_budget_finds_the_same_repeats(tmp_path: Path):
    """Many hash ranges (a 1 MB budget over 200k ids) must find what one range finds, with the same count."""
    from pipeline.io import ids
    from stages.core.partitions import partitions

    files = [[f"f{f}-{i}" for i in range(100_000)] for f in range(2)]
    files[1][5], files[1][7], files[1][9] = "f0-77", "f0-99999", "f0-0"  # three ids of file 0 again
    paths = []
    for f, names in enumerate(files):
        paths.append(str(tmp_path / f"{f}.ids.npy"))
        ids.write_hashes(paths[-1], [ids.id_hashes(names)])
    assert partitions(200_000, ids.BYTES_PER_ID, 1) >= 16
    messages = []
    for budget in (None, 1):
        with pytest.raises(InputError) as err:
            ids.check_unique(["a.jsonl", "b.jsonl"], paths, files.__getitem__, budget)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "appears in a.jsonl and b.jsonl (2 more ids repeat)" in messages[0]
    ids.check_unique(["a.jsonl"], paths[:1], files.__getitem__, 1)  # one file alone repeats nothing
