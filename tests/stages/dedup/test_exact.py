from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stages import registry
from stages.dedup.exact import ExactDedup
from stages.testing import ledger, make_batch, read_all, run_global


def test_registered():
    assert registry.get("exact_dedup") is ExactDedup


def test_folded_variants_are_one_document(tmp_path):
    texts = [
        "你好，世界！今天天气很好。",  # a
        "你好 世界 今天天气很好",  # whitespace instead of punctuation
        "你好,世界!今天天气很好.",  # half-width punctuation
        "這個國家的經濟發展很快",  # Traditional
        "这个国家的经济发展很快。",  # its Simplified copy
        "ＡＢＣ１２３",  # full-width
        "abc 123",
        "另外一句话",
    ]
    ids = ["a", "b", "c", "t", "s", "fw", "hw", "x"]
    r = run_global(ExactDedup(), [make_batch(texts[:4], ids[:4]), make_batch(texts[4:], ids[4:])], str(tmp_path))
    assert read_all(r.shards).column("id").to_pylist() == ["a", "t", "fw", "x"]
    assert ledger(r) == {
        "b": ("exact_duplicate", "a"),
        "c": ("exact_duplicate", "a"),
        "s": ("exact_duplicate", "t"),
        "hw": ("exact_duplicate", "fw"),
    }
    assert r.stats.reasons == {"exact_duplicate": 4}
    assert r.report["duplicate_groups"] == 3


@pytest.mark.parametrize(
    ("keep", "quality", "expected"),
    [
        ("first", None, "a"),
        ("longest", None, "c"),
        ("best_quality", None, "c"),  # no _quality column: longest
        ("best_quality", [0.2, 0.9, 0.5], "b"),
        ("best_quality", [0.9, 0.9, 0.5], "a"),  # tie: first seen
        ("best_quality", [None, None, None], "a"),  # all unknown: first seen
    ],
)
def test_keep_policy(tmp_path, keep, quality, expected):
    texts = ["同一段话", "同一段话！", "同一段话！！！"]
    cols = {} if quality is None else {"_quality": quality}
    r = run_global(ExactDedup(keep=keep), [make_batch(texts, ["a", "b", "c"], **cols)], str(tmp_path))
    assert read_all(r.shards).column("id").to_pylist() == [expected]
    assert {d for _, d in ledger(r).values()} == {expected}


def test_order_kept_and_empty_shards(tmp_path):
    shards = [make_batch(["一", "二"], ["1", "2"]), make_batch([], []), make_batch(["三", "一"], ["3", "4"])]
    r = run_global(ExactDedup(buckets=3), shards, str(tmp_path))
    assert len(r.shards) == 3
    assert read_all(r.shards).column("id").to_pylist() == ["1", "2", "3"]
    assert r.stats.docs_in == 4 and r.stats.docs_out == 3


def test_rejected_text_dropped_when_disabled(tmp_path):
    r = run_global(ExactDedup(), [make_batch(["一样", "一样"])], str(tmp_path), keep_rejected_text=False)
    assert pq.read_table(r.rejected[0]).column("text").to_pylist() == [None]


def test_deterministic_bytes(tmp_path):
    shards = [make_batch([f"第{i % 7}段" for i in range(40)], [f"d{i}" for i in range(40)])]
    a = run_global(ExactDedup(), shards, str(tmp_path / "a"))
    b = run_global(ExactDedup(), shards, str(tmp_path / "b"))
    for x, y in zip(a.shards + a.rejected, b.shards + b.rejected, strict=True):
        assert Path(x).read_bytes() == Path(y).read_bytes()


def test_shard_without_drops_is_linked_not_rewritten(tmp_path):
    shards = [make_batch(["一", "二"], ["1", "2"]), make_batch(["三", "一"], ["3", "4"])]
    r = run_global(ExactDedup(), shards, str(tmp_path))
    src = tmp_path / "input" / "shard-00000.arrow"
    assert Path(r.shards[0]).read_bytes() == src.read_bytes()
    assert Path(r.shards[0]).stat().st_ino == src.stat().st_ino  # a hard link on one file system
    assert len(r.rejected) == 1  # no ledger file for the shard that lost nothing
    assert ledger(r) == {"4": ("exact_duplicate", "1")}
    assert (r.stats.docs_in, r.stats.docs_out, r.stats.chars_in, r.stats.chars_out) == (4, 3, 4, 3)
    assert r.report["shards_unchanged"] == 1
