import pytest

from stages.quality.length import LengthFilter
from stages.testing import run_stage


def test_length_signals():
    # 一二三\n四五六七: 3 + 1 (newline) + 4 = 8 characters; 1 newline -> 2 lines; 8 / 2 = 4.0
    out = run_stage(LengthFilter(mode="annotate"), ["一二三\n四五六七", ""])
    assert out.kept.column("_char_len").to_pylist() == [8, 0]
    assert out.kept.column("_mean_line_len").to_pylist() == pytest.approx([4.0, 0.0])


def test_length_reasons_in_order():
    stage = LengthFilter(min_chars=5, max_chars=10, min_mean_line_len=5)
    texts = ["一二三", "一二三四五六七八九十一", "一二三\n四五六七", "一二三四五六"]
    out = run_stage(stage, texts)
    # 3 chars < 5; 11 chars > 10; mean line 4.0 < 5; 6 chars on one line kept
    assert out.rejected.column("reason").to_pylist() == ["too_short", "too_long", "short_lines"]
    assert out.kept.column("id").to_pylist() == ["d3"]


def test_null_disables_a_rule():
    out = run_stage(LengthFilter(min_chars=None, min_mean_line_len=None), ["短"])
    assert out.kept.num_rows == 1


def test_lines_ending_in_a_clause_mark_continue():
    # verse, one half-couplet per line: 4 lines ending in ， continue, so 2 lines of 12 (+ newlines)
    verse = "晓雾锁柴扉，\n松风过小溪。\n担泉归径远，\n采药入云低。"
    out = run_stage(LengthFilter(mode="annotate"), [verse, "首页\n新闻\n体育"])
    assert out.kept.column("_mean_line_len").to_pylist() == pytest.approx([len(verse) / 2, 8 / 3])
