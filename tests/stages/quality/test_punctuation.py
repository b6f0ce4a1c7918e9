import pytest

from stages.quality.punctuation import PunctuationFilter
from stages.testing import run_stage


def signals(text, **params):
    out = run_stage(PunctuationFilter(mode="annotate", **params), [text])
    return {k: out.kept.column(k)[0].as_py() for k in out.kept.schema.names if k.startswith("_")}


def test_line_signals():
    # 4 lines: 第一行。(sentence end) / 第二行 (none) / • 列表 (bullet, none) / 等等… (… ends it; ellipsis line)
    s = signals("第一行。\n第二行\n• 列表\n等等…")
    assert s["_line_punct_ratio"] == 0.5  # 2 of 4
    assert s["_bullet_line_ratio"] == 0.25  # 1 of 4
    assert s["_ellipsis_line_ratio"] == 0.25  # 1 of 4


def test_contains_versus_ends():
    # 他说。然后 has a full stop inside but does not end with one; 好 has none.
    assert signals("他说。然后\n好")["_line_punct_ratio"] == 0.5  # contains: 1 of 2
    assert signals("他说。然后\n好", line_punct_mode="ends")["_line_punct_ratio"] == 0.0
    # an ASCII full stop counts between sentences, not inside a number or a domain name
    assert signals("版本3.5发布")["_line_punct_ratio"] == 0.0
    assert signals("见www.abc.cn")["_line_punct_ratio"] == 0.0
    assert signals("研究了材料.结果表明")["_line_punct_ratio"] == 1.0


def test_character_ratios():
    # 价格100元(约)★ : 10 non-space characters; digits 1,0,0 = 3 -> 0.3; brackets ( ) = 2 -> 0.2;
    # symbols ★ = 1 -> 0.1 (the space is not counted)
    s = signals("价格100元 (约)★")
    assert s["_digit_ratio"] == pytest.approx(0.3)
    assert s["_bracket_ratio"] == pytest.approx(0.2)
    assert s["_symbol_ratio"] == pytest.approx(0.1)


def test_reasons():
    texts = ["菜单\n首页\n联系我们", "• 一\n• 二", "春天来了。花开了。"]
    out = run_stage(PunctuationFilter(), texts)
    # doc 0: no line has a sentence end (0 < 0.106); doc 1: also 0 -> line_punct_ratio comes first
    assert out.rejected.column("reason").to_pylist() == ["line_punct_ratio", "line_punct_ratio"]
    out = run_stage(PunctuationFilter(min_line_punct_ratio=None), texts[1:])
    assert out.rejected.column("reason").to_pylist() == ["bullet_lines"]  # 2 of 2 lines > 0.9


def test_half_width_punctuation_in_han_context():
    # legal text typed with ASCII punctuation and no final 。: the semicolon ends a sentence after a Han
    # character; a comma every few characters makes a line prose; code and bare lists stay unpunctuated
    assert signals("本院认为,被告人的行为已构成盗窃罪;依法应予惩处")["_line_punct_ratio"] == 1.0
    assert signals("原告王某,男,汉族,住某市东城区")["_line_punct_ratio"] == 1.0
    assert signals("for (i = 0; i < n; i++)")["_line_punct_ratio"] == 0.0
    assert signals("首页 新闻 体育 娱乐")["_line_punct_ratio"] == 0.0
    # spec fields: the colon and a spaced 、 do not count; one comma in 60 characters is not enough
    assert signals("产品名称：无纺布口罩")["_line_punct_ratio"] == 0.0
    assert signals("标签 高尔夫球、 高尔夫动作、 高尔夫照片")["_line_punct_ratio"] == 0.0
    assert signals("甲" * 30 + "，" + "乙" * 30)["_line_punct_ratio"] == 0.0


def test_a_long_line_is_judged_by_its_sentences():
    # one 12-sentence line ending in …… : v1 saw one line, all ellipsis (1.0) and dropped it
    sentence = "外婆在院子里晒柿饼，风一吹就轻轻摇晃。"
    text = sentence * 11 + "那股甜丝丝的味道……"
    s = signals(text)
    assert s["_ellipsis_line_ratio"] == pytest.approx(1 / 12)
    assert s["_line_punct_ratio"] == 1.0
    assert signals(text, long_line_chars=None)["_ellipsis_line_ratio"] == 1.0
    # a bullet at the start of a long one-line document is one bullet line among its sentences
    assert signals("· " + sentence * 8)["_bullet_line_ratio"] == pytest.approx(1 / 8)
    # a "……" inside the paragraph is style, not a teaser: only a line's end counts
    assert signals(sentence * 4 + "他想了想……" + sentence * 4)["_ellipsis_line_ratio"] == 0.0
