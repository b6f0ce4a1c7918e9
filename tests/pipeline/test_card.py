"""The dataset card in data/: Hub metadata and a recipe that follow from the run, and nothing else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from pipeline.card import CARD_NAME, size_category
from pipeline.config import validate_config
from pipeline.runner import run_local

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ZH = "今天天气很好，我们一起去公园散步。公园里有很多人在锻炼身体，孩子们在草地上玩耍。"


def _run(root: Path, src: Path) -> Path:
    cfg = validate_config(
        {
            "name": "card-test",
            "input": str(src),
            "output": str(root / "run"),
            "stages": [
                "normalize",
                "langid",
                {"lang_filter": {"languages": ["zh"]}},
                {"length_filter": {"min_chars": 20}},
            ],
            "execution": {"engine": "local", "task_runner": "sequential"},
        }
    )
    run_local(cfg)
    return root / "run"


def test_card_describes_the_run_and_is_reproducible(tmp_path: Path):
    src = tmp_path / "corpus"
    src.mkdir()
    docs = [{"id": f"z{i}", "text": f"第{i}篇。" + ZH} for i in range(6)]
    docs += [{"id": "en", "text": "This page is written in English and talks about the weather in spring."}]
    docs += [{"id": "short", "text": "很短的文字。"}]
    (src / "a.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    run = _run(tmp_path / "one", src)
    card = (run / "data" / CARD_NAME).read_text(encoding="utf-8")
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["language"] == ["zh"] and meta["size_categories"] == ["n<1K"] and meta["pretty_name"] == "card-test"
    stats = json.loads((run / "stats.json").read_text(encoding="utf-8"))
    for key, st in stats["stages"].items():
        assert f"| {key} | {st['docs_in']:,} | {st['docs_out']:,} | {st['docs_rejected']:,} |" in card
    assert "wrong_language 1" in card and "too_short 1" in card
    assert "| corpus/a.jsonl | jsonl |" in card and "min_chars: 20" in card
    assert str(tmp_path) not in card  # no machine paths: the card is part of the reproducible output
    again = _run(tmp_path / "two", src)
    assert (again / "data" / CARD_NAME).read_bytes() == card.encode("utf-8")

    import datasets

    assert datasets.load_from_disk(str(run / "data")).num_rows == stats["docs_out"] == 6


def test_size_categories_follow_the_hub_bins():
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]
