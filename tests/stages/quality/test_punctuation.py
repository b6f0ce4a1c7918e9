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
