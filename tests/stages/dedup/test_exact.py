import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stages.base import STAGES
from stages.dedup.common import read_table
from stages.dedup.exact import ExactDedup, _index_files
from stages.dedup.minhash import MinHashDedup
from stages.testing import ledger, make_batch, read_all, run_global


def test_registered():
    assert STAGES.get("exact_dedup") is ExactDedup


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


def _segments(index: str) -> list[str]:
    return sorted(os.listdir(os.path.join(index, "segments")))


def test_later_runs_drop_copies_of_earlier_runs(tmp_path):
    index = str(tmp_path / "index")
    first = run_global(
        ExactDedup(index_dir=index), [make_batch(["长江很长。", "黄河很黄。"], ["a", "b"])], str(tmp_path / "r1")
    )
    assert first.report["index"] == {"path": index, "documents_before": 0, "documents_added": 2}
    assert json.loads(Path(index, "params.json").read_text()) == {
        "stage": "exact_dedup",
        "key_definition": "fold-1/xxh3_128-utf8",
        "format": 1,
    }
    # keep=longest would prefer the longer new copy: the earlier run wins anyway; buckets differ from run 1
    second = run_global(
        ExactDedup(index_dir=index, keep="longest", buckets=2),
        [make_batch(["長江很長！！！", "泰山很高", "泰山很高。"], ["a2", "c", "c2"])],
        str(tmp_path / "r2"),
    )
    assert ledger(second) == {"a2": ("exact_duplicate", "a"), "c": ("exact_duplicate", "c2")}
    assert read_all(second.shards).column("id").to_pylist() == ["c2"]
    assert second.report["dropped_matching_index"] == 1 and second.report["duplicate_groups"] == 2
    assert second.report["index"] == {"path": index, "documents_before": 2, "documents_added": 1}
    assert _segments(index) == ["seg-00000", "seg-00001"]
    meta = json.loads(Path(index, "segments", "seg-00001", "meta.json").read_text())
    assert (meta["run"], meta["buckets"], sum(meta["parts"])) == ("r2", 2, 1)
    # a third run (bucket counts coprime with both segments') sees both earlier segments
    third = run_global(
        ExactDedup(index_dir=index, buckets=3),
        [make_batch(["黄河 很黄", "泰山很高", "华山很险"], ["b3", "c3", "d3"])],
        str(tmp_path / "r3"),
    )
    assert ledger(third) == {"b3": ("exact_duplicate", "b"), "c3": ("exact_duplicate", "c2")}
    assert third.report["dropped_matching_index"] == 2
    assert third.report["index"]["documents_before"] == 3
    entries = [read_table(str(p)).to_pydict() for p in sorted(Path(index, "segments").glob("seg-*/bucket-*.arrow"))]
    assert sorted((i, r) for e in entries for i, r in zip(e["id"], e["run"], strict=True)) == [
        ("a", "r1"),
        ("b", "r1"),
        ("c2", "r2"),
        ("d3", "r3"),
    ]


@pytest.mark.parametrize("buckets", [1, 3, 4, 8, 16])
def test_index_partitions_found_for_any_bucket_count(tmp_path, buckets):
    index = str(tmp_path / "index")
    texts = [f"第{i}篇文章" for i in range(200)]
    run_global(
        ExactDedup(index_dir=index, buckets=4), [make_batch(texts, [f"o{i}" for i in range(200)])], str(tmp_path / "r1")
    )
    r = run_global(
        ExactDedup(index_dir=index, buckets=buckets),
        [make_batch([*texts[::-1], "新的一篇"], [*(f"n{i}" for i in range(199, -1, -1)), "new"])],
        str(tmp_path / "r2"),
    )
    assert ledger(r) == {f"n{i}": ("exact_duplicate", f"o{i}") for i in range(200)}
    assert read_all(r.shards).column("id").to_pylist() == ["new"]


def test_bucket_reads_only_matching_partitions():
    seg = [("s", {"buckets": 4, "parts": [1, 1, 0, 1]})]
    assert _index_files(seg, 5, 8) == [os.path.join("s", "bucket-00001.arrow")]  # 8 = 2 x 4: one partition
    assert _index_files(seg, 1, 2) == [os.path.join("s", "bucket-00001.arrow"), os.path.join("s", "bucket-00003.arrow")]
    assert _index_files(seg, 2, 4) == []  # that partition is empty
    assert len(_index_files(seg, 0, 3)) == 3  # coprime counts: every non-empty partition


def test_rerun_of_same_run_replaces_its_segment(tmp_path):
    index = str(tmp_path / "index")
    run_global(ExactDedup(index_dir=index), [make_batch(["长江很长"], ["a"])], str(tmp_path / "r1"))
    shards = [make_batch(["长江很长", "泰山很高", "泰山很高"], ["a2", "c", "c2"]), make_batch(["华山很险"], ["d"])]
    first = run_global(ExactDedup(index_dir=index), shards, str(tmp_path / "r2"))
    files = first.shards + first.rejected + sorted(str(p) for p in Path(index, "segments", "seg-00001").iterdir())
    before = [Path(f).read_bytes() for f in files]
    again = run_global(ExactDedup(index_dir=index), shards, str(tmp_path / "r2"))  # e.g. killed and restarted
    assert ledger(again) == {"a2": ("exact_duplicate", "a"), "c2": ("exact_duplicate", "c")}
    assert again.report["index"] == {"path": index, "documents_before": 1, "documents_added": 2}
    assert _segments(index) == ["seg-00000", "seg-00001"]
    assert [Path(f).read_bytes() for f in files] == before


def test_not_incremental_neither_reads_nor_writes_the_index(tmp_path):
    index = str(tmp_path / "index")
    run_global(ExactDedup(index_dir=index), [make_batch(["长江很长"], ["a"])], str(tmp_path / "r1"))
    r = run_global(
        ExactDedup(index_dir=index, incremental=False), [make_batch(["长江很长"], ["a2"])], str(tmp_path / "r2")
    )
    assert ledger(r) == {} and r.report["index"] is None
    assert _segments(index) == ["seg-00000"]
    fresh = tmp_path / "none"
    run_global(ExactDedup(index_dir=str(fresh), incremental=False), [make_batch(["一", "一"])], str(tmp_path / "r3"))
    assert not fresh.exists()


def test_parameter_mismatch_refused(tmp_path):
    index = tmp_path / "index"
    run_global(ExactDedup(index_dir=str(index)), [make_batch(["长江很长"])], str(tmp_path / "r1"))
    params = json.loads((index / "params.json").read_text())
    (index / "params.json").write_text(json.dumps(params | {"key_definition": "fold-0/md5"}))
    with pytest.raises(ValueError) as err:
        run_global(ExactDedup(index_dir=str(index)), [make_batch(["长江很长"])], str(tmp_path / "r2"))
    assert str(index) in str(err.value) and "key_definition: index has 'fold-0/md5'" in str(err.value)
    assert not list((tmp_path / "r2" / "out" / "stage").glob("*.arrow"))  # refused before any work
    # a MinHash index is not an exact one, and the other way round
    mh = str(tmp_path / "mh")
    run_global(MinHashDedup(index_dir=mh), [make_batch(["长江很长"])], str(tmp_path / "r3"))
    with pytest.raises(ValueError, match="another kind of dedup stage"):
        run_global(ExactDedup(index_dir=mh), [make_batch(["长江很长"])], str(tmp_path / "r4"))
    with pytest.raises(ValueError, match="another kind of dedup stage"):
        run_global(MinHashDedup(index_dir=str(index)), [make_batch(["长江很长"])], str(tmp_path / "r5"))


@pytest.mark.parametrize("keep", ["first", "longest"])
def test_tiny_budget_many_buckets_identical_output(tmp_path, keep):
    import random

    rng = random.Random(2)
    pool = ["".join(chr(0x4E00 + rng.randrange(500)) for _ in range(rng.randrange(3, 12))) for _ in range(200)]
    shards = []
    for s in range(5):  # copies within and across shards, with punctuation variants that fold together
        texts = [rng.choice(pool) + rng.choice(["", "。", "！", " "]) for _ in range(80)]
        shards.append(make_batch(texts, [f"s{s}-{i}" for i in range(len(texts))]))
    big = run_global(ExactDedup(keep=keep), shards, str(tmp_path / "big"), memory_budget_mb=1e6)
    tiny = run_global(ExactDedup(keep=keep, memory_budget_mb=0.02), shards, str(tmp_path / "tiny"))
    assert big.report["buckets"] == 4 and tiny.report["buckets"] >= 16
    assert big.report["dropped"] > 100
    assert [Path(p).read_bytes() for p in tiny.shards] == [Path(p).read_bytes() for p in big.shards]
    assert [Path(p).read_bytes() for p in tiny.rejected] == [Path(p).read_bytes() for p in big.rejected]
