from pathlib import Path

from stages.base import STAGES
from stages.dedup.paragraph import ParagraphDedup
from stages.testing import ledger, make_batch, read_all, run_global

NOTICE = "本文仅代表作者个人观点，与本站立场无关，转载请注明出处。"
SEO = "热门推荐：北京旅游攻略、上海美食排行、广州购物指南"
BODY = [
    "今年春天，县里的农民合作社试种了三百亩高粱，长势比往年都好。",
    "城南的老图书馆修缮完毕，周末起恢复开放，阅览室增加了两百个座位。",
    "研究人员在湖边观察到一群越冬的天鹅，数量比去年多出一倍左右。",
    "学校食堂调整了菜单，每天供应两种汤，学生可以自己选择。",
]


def _texts(rows):
    return dict(zip(rows.column("id").to_pylist(), rows.column("text").to_pylist(), strict=True))


def test_registered():
    assert STAGES.get("paragraph_dedup") is ParagraphDedup


def test_repeated_lines_removed_from_later_documents(tmp_path):
    docs = [
        "\n".join([BODY[0], NOTICE, SEO]),
        "\n".join([BODY[1], NOTICE]),
        "\n".join([SEO, BODY[2], "本文仅代表作者个人观点,与本站立场无关;转载请注明出处!"]),  # punctuation variant
        BODY[3],
    ]
    stage = ParagraphDedup(min_chars_left=10)
    r = run_global(stage, [make_batch(docs[:2], ["a", "b"]), make_batch(docs[2:], ["c", "d"])], str(tmp_path))
    out = _texts(read_all(r.shards))
    assert out == {"a": docs[0], "b": BODY[1] + "\n", "c": BODY[2] + "\n", "d": BODY[3]}
    assert r.stats.docs_rejected == 0
    assert r.stats.counters["paragraphs_removed.repeated_across_documents"] == 3
    assert (
        r.stats.counters["chars_removed.repeated_across_documents"] == 2 * len(NOTICE) + len(SEO) + 1
    )  # and SEO's line end
    assert r.stats.counters["docs_modified"] == 2
    assert r.stats.chars_in - r.stats.chars_out == r.report["chars_removed"]
    assert {p["paragraph"] for p in r.report["most_removed"]} >= {NOTICE, SEO}


def test_document_dropped_when_too_little_is_left(tmp_path):
    docs = ["\n".join([BODY[0], NOTICE, SEO]), "\n".join([NOTICE, "短评一句。", SEO])]
    r = run_global(ParagraphDedup(), [make_batch(docs, ["a", "b"])], str(tmp_path))
    assert read_all(r.shards).column("id").to_pylist() == ["a"]
    reason, detail = ledger(r)["b"]
    assert reason == "too_little_left"
    assert detail.startswith("2 of 3 paragraphs repeat earlier documents (first kept in a)")
    assert r.stats.reasons == {"too_little_left": 1}


def test_short_lines_and_repeats_inside_a_document(tmp_path):
    doc = "\n".join(["一、", BODY[0], "一、", BODY[1], BODY[0]])
    r = run_global(ParagraphDedup(min_chars_left=0), [make_batch([doc, "一、\n" + BODY[2]])], str(tmp_path))
    out = read_all(r.shards).column("text").to_pylist()
    assert out == ["\n".join(["一、", BODY[0], "一、", BODY[1], ""]), "一、\n" + BODY[2]]  # short lines stay
    assert r.stats.counters["paragraphs_removed.repeated_in_document"] == 1


def test_unchanged_shard_is_linked(tmp_path):
    r = run_global(ParagraphDedup(), [make_batch([BODY[0]]), make_batch([BODY[1]])], str(tmp_path))
    assert r.report["shards_unchanged"] == 2
    assert Path(r.shards[0]).read_bytes() == (tmp_path / "input" / "shard-00000.arrow").read_bytes()


def test_incremental_earlier_run_wins(tmp_path):
    index = str(tmp_path / "index")
    first = run_global(
        ParagraphDedup(index_dir=index, min_chars_left=10),
        [make_batch(["\n".join([BODY[0], NOTICE])], ["old"])],
        str(tmp_path / "run1"),
    )
    assert first.report["index"]["paragraphs_added"] == 2

    def run2():
        return run_global(
            ParagraphDedup(index_dir=index, min_chars_left=10),
            [make_batch(["\n".join([BODY[1], NOTICE]), "\n".join([NOTICE, SEO])], ["new1", "new2"])],
            str(tmp_path / "run2"),
        )

    second = run2()
    assert _texts(read_all(second.shards)) == {"new1": BODY[1] + "\n", "new2": SEO}
    assert second.report["paragraphs_removed_matching_index"] == 2
    assert second.report["index"]["paragraphs_before"] == 2
    # the same run again replaces its own segment instead of matching itself
    again = run2()
    assert _texts(read_all(again.shards)) == {"new1": BODY[1] + "\n", "new2": SEO}
    assert again.report["index"]["paragraphs_before"] == 2


def test_deterministic_bytes(tmp_path):
    docs = ["\n".join([BODY[i % 4], NOTICE, f"第{i}条消息的正文内容在这里，足够长的一行。"]) for i in range(30)]
    a = run_global(ParagraphDedup(buckets=3), [make_batch(docs)], str(tmp_path / "a"))
    b = run_global(ParagraphDedup(buckets=3), [make_batch(docs)], str(tmp_path / "b"))
    for x, y in zip(a.shards + a.rejected, b.shards + b.rejected, strict=True):
        assert Path(x).read_bytes() == Path(y).read_bytes()


def test_sentences_of_glued_text(tmp_path):
    """News text without line breaks: with unit: sentence, a repeated sentence is cut out of the running text."""
    disclaimer = "更多信息请访问本站考试频道，考试安排以主管部门公布为准。"
    docs = [BODY[0] + disclaimer + BODY[1], BODY[2] + disclaimer + BODY[3]]
    r = run_global(ParagraphDedup(unit="sentence", min_chars_left=10), [make_batch(docs, ["a", "b"])], str(tmp_path))
    assert _texts(read_all(r.shards)) == {"a": docs[0], "b": BODY[2] + BODY[3]}
    lines = run_global(ParagraphDedup(min_chars_left=10), [make_batch(docs, ["a", "b"])], str(tmp_path / "l"))
    assert lines.report["paragraphs_removed"] == 0


def test_text_holding_the_split_marker(tmp_path):
    docs = ["\n".join([BODY[0], NOTICE]), "\x1f".join([BODY[1], "x"]) + "\n" + NOTICE]
    r = run_global(ParagraphDedup(min_chars_left=10), [make_batch(docs, ["a", "b"])], str(tmp_path))
    assert _texts(read_all(r.shards))["b"] == "\x1f".join([BODY[1], "x"]) + "\n"


def test_tiny_budget_many_buckets_identical_output(tmp_path):
    import random

    rng = random.Random(5)
    lines = [
        f"{i}号" + "".join(chr(0x4E00 + rng.randrange(800)) for _ in range(rng.randrange(10, 30))) for i in range(60)
    ]
    shards = []
    for s in range(4):  # documents sharing lines within and across shards; some left too short
        docs = ["\n".join(rng.sample(lines, rng.randrange(1, 5))) for _ in range(40)]
        shards.append(make_batch(docs, [f"s{s}-{i}" for i in range(len(docs))]))
    big = run_global(ParagraphDedup(min_chars_left=20), shards, str(tmp_path / "big"), memory_budget_mb=1e6)
    tiny = run_global(ParagraphDedup(min_chars_left=20, memory_budget_mb=0.005), shards, str(tmp_path / "tiny"))
    assert big.report["buckets"] == 4 and tiny.report["buckets"] >= 16
    assert big.stats.counters["paragraphs_removed.repeated_across_documents"] > 100 and big.stats.docs_rejected
    assert [Path(p).read_bytes() for p in tiny.shards] == [Path(p).read_bytes() for p in big.shards]
    assert [Path(p).read_bytes() for p in tiny.rejected] == [Path(p).read_bytes() for p in big.rejected]
