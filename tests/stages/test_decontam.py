"""Decontamination against hand-written benchmark items in JSONL, CSV and Parquet files."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.base import STAGES
from stages.decontam import Benchmark, Decontaminate, ngram_hashes, read_benchmark
from stages.testing import make_batch, run_stage

# Folded lengths (NFKC, punctuation and whitespace stripped): Q1 37, Q2 54, Q3 50 characters.
Q1 = "下列哪一种动物属于哺乳纲，并且能够长时间在水中生活？\nA. 鲸鱼\nB. 鲨鱼\nC. 金枪鱼\nD. 章鱼"
Q2 = (
    "小明从家出发步行到学校需要二十五分钟，如果他每分钟比原来多走十米，"
    "就能提前五分钟到达，求小明家到学校的距离是多少米。"
)
Q3 = (
    "阅读下面的文言文，完成后面的题目："
    "王安石少好读书，一过目终身不忘，其属文动笔如飞，初若不措意，文成，见者皆服其精妙。"
)
SHORT = "农民伯伯秋天收获了很多苹果"  # 13 folded characters: one 13-gram, matched exactly
TINY = "很好吃"  # 3 characters: skipped
OTHER = (
    "今天的天气非常晴朗，公园里有很多人在散步。湖边的柳树已经发芽了，几只小鸟在枝头唱歌。"
    "孩子们在草地上放风筝，老人们坐在长椅上聊天，整个公园充满了春天的气息。"
)


@pytest.fixture
def bench_files(tmp_path):
    jsonl = tmp_path / "quiz.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"id": "q1", "text": Q1},
                {"id": "s1", "text": SHORT},
                {"id": "t1", "text": TINY},
                {"id": "empty", "text": "   "},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    csv_path = tmp_path / "math.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["qid", "question"])
        w.writeheader()
        w.writerow({"qid": "m7", "question": Q2})
    pq_path = tmp_path / "wenyan.parquet"
    pq.write_table(pa.table({"id": ["w1"], "text": [Q3]}), pq_path)
    return [
        Benchmark(name="quiz", path=str(jsonl)),
        Benchmark(name="math", path=str(csv_path), text_field="question", id_field="qid"),
        Benchmark(name="wenyan", path=str(pq_path)),
    ]


def _stage(bench_files, **kw) -> Decontaminate:
    return Decontaminate(benchmarks=bench_files, **kw)


def _ledger(out) -> dict[str, str]:
    return dict(zip(out.rejected.column("id").to_pylist(), out.rejected.column("detail").to_pylist(), strict=True))


def test_registered():
    assert STAGES.get("decontaminate") is Decontaminate


def test_read_all_formats(bench_files):
    assert read_benchmark(bench_files[0]) == (["q1", "s1", "t1"], [Q1, SHORT, TINY])  # empty item skipped
    assert read_benchmark(bench_files[1]) == (["m7"], [Q2])
    assert read_benchmark(bench_files[2]) == (["w1"], [Q3])


def test_missing_text_field_names_file(bench_files):
    spec = Benchmark(name="math", path=bench_files[1].path, text_field="nope")
    with pytest.raises(ValueError, match=r"math\.csv row 0: no field 'nope'"):
        read_benchmark(spec)


def test_copies_caught_unrelated_kept(bench_files):
    import opencc

    trad = opencc.OpenCC("s2t").convert(Q2)
    assert trad != Q2 and "從" in trad
    # one substituted character in the middle of Q2 (folded position 27 of 54) removes 13 of its 42 13-grams;
    # full-width punctuation turned into ASCII changes nothing after folding
    edited = Q2[:29] + "少" + Q2[30:]
    edited = edited.replace("，", ",")
    texts = [
        Q1,  # exact copy
        trad,  # Traditional copy
        edited,  # light edit
        OTHER + "\n" + Q3 + "\n" + OTHER,  # inside surrounding text
        OTHER,  # unrelated
        OTHER + "小明从家出发步行到学校",  # shares an 11-character phrase only
    ]
    out = run_stage(_stage(bench_files), texts)
    assert out.kept.column("id").to_pylist() == ["d4", "d5"]
    assert _ledger(out) == {
        "d0": "quiz:q1 (overlap 1.00)",
        "d1": "math:m7 (overlap 1.00)",
        "d2": "math:m7 (overlap 0.69)",  # 29 of 42
        "d3": "wenyan:w1 (overlap 1.00)",
    }
    assert set(out.rejected.column("reason").to_pylist()) == {"benchmark_overlap"}
    assert out.stats.reasons == {"benchmark_overlap": 4}
    assert out.stats.counters["matched.math"] == 2


def test_threshold(bench_files):
    edited = Q2[:29] + "少" + Q2[30:]  # overlap 29/42 = 0.69
    assert run_stage(_stage(bench_files, threshold=0.7, doc_threshold=None), [edited]).kept.num_rows == 1
    assert run_stage(_stage(bench_files, threshold=0.6, doc_threshold=None), [edited]).kept.num_rows == 0


def test_short_items(bench_files):
    stage = _stage(bench_files)
    assert stage.index_summary()["quiz"] == {"items": 3, "ngram": 1, "exact": 1, "skipped_short": 1}
    texts = [
        "今年" + SHORT + "，大家都很高兴。",  # short item, exact (inside text)
        "农民伯伯秋天收获了很多梨子",  # short item with one character changed: not matched
        "这家店的菜很好吃。",  # tiny item: skipped, kept
    ]
    out = run_stage(stage, texts)
    assert out.kept.column("id").to_pylist() == ["d1", "d2"]
    assert _ledger(out) == {"d0": "quiz:s1 (overlap 1.00, exact short item)"}
    skip = _stage(bench_files, short_items="skip")
    assert skip.index_summary()["quiz"] == {"items": 3, "ngram": 1, "skipped_short": 2}
    assert run_stage(skip, texts).kept.num_rows == 3


def test_doc_share_catches_fragment(bench_files):
    fragment = Q3[:34]  # the first 30 folded characters: 18 13-grams, all inside Q3 (18/38 = 0.47 of the item)
    out = run_stage(_stage(bench_files, threshold=0.5), [fragment])
    assert _ledger(out) == {"d0": "wenyan:w1 (overlap 0.47; 1.00 of the document)"}
    assert run_stage(_stage(bench_files, threshold=0.5, doc_threshold=None), [fragment]).kept.num_rows == 1


def test_remove_paragraphs(bench_files):
    doc = "第一段：" + OTHER + "\n" + Q1 + "\n最后一段：" + OTHER
    only = Q2
    out = run_stage(_stage(bench_files, action="remove_paragraphs"), [doc, only, OTHER])
    # Q1 spans five lines (question + four options), all covered by its 13-grams
    assert out.kept.column("text").to_pylist() == ["第一段：" + OTHER + "\n最后一段：" + OTHER, OTHER]
    assert out.stats.counters["paragraphs_removed"] == 5
    assert out.stats.counters["docs_edited"] == 1
    assert _ledger(out) == {"d1": "math:m7 (overlap 1.00)"}  # nothing left: rejected


def test_annotate_mode_keeps_and_marks(bench_files):
    out = run_stage(_stage(bench_files, mode="annotate"), [Q1, OTHER])
    assert out.kept.num_rows == 2
    assert out.kept.column("_contam_item").to_pylist() == ["quiz:q1", None]
    assert out.kept.column("_contam_overlap").to_pylist() == [1.0, 0.0]
    assert out.stats.counters["would_drop.benchmark_overlap"] == 1


def test_ngram_hashes_are_positional():
    h = ngram_hashes("甲乙丙甲乙丙", 3)
    assert len(h) == 4 and h[0] == h[3] and len(set(h.tolist())) == 3


def test_empty_batch(bench_files):
    out = run_stage(_stage(bench_files), make_batch([]))
    assert out.kept.num_rows == 0


def test_shared_natural_overlaps_caught(shared_dir):
    corpora = shared_dir / "corpora"
    benches = [
        Benchmark(name=p.stem.removeprefix("bench_"), path=str(p))
        for p in sorted((corpora / "benchmarks").glob("*.jsonl"))
    ]
    with open(corpora / "neardup" / "natural_overlaps_shared_docs_vs_benchmarks.jsonl", encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f]
    wanted = {r["id_b"]: r for r in pairs}
    texts = {}
    for path in (corpora / "docs").glob("*.jsonl"):
        with open(path, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                if row["id"] in wanted:
                    texts[row["id"]] = row["text"]
    ids = sorted(texts)
    assert len(ids) == len(pairs) == 11
    out = run_stage(Decontaminate(benchmarks=benches), make_batch([texts[i] for i in ids], ids=ids))
    ledger = _ledger(out)
    assert sorted(ledger) == ids
    items = {}
    for b in benches:
        item_ids, item_texts = read_benchmark(b)
        items.update(zip(item_ids, item_texts, strict=True))
    for doc_id, detail in ledger.items():
        named = detail.split(":", 1)[1].split(" (")[0]
        expected = wanted[doc_id]["id_a"]
        # CSL repeats an abstract under two ids (different keywords): a twin with the same text also counts
        assert named == expected or items[named][:200] == items[expected][:200], (doc_id, detail, expected)
