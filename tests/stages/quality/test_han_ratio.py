import pytest

from stages.quality.han_ratio import HanRatioFilter
from stages.testing import run_stage


def test_han_ratio_signal_and_drop():
    # 我爱Python: 2 Han of 8 characters = 0.25 (< 0.3, dropped)
    # 中文，好。: 中 文 好 = 3 Han of 5 characters = 0.6 (kept)
    # "": no characters -> 0.0 (dropped)
    out = run_stage(HanRatioFilter(mode="annotate"), ["我爱Python", "中文，好。", ""])
    assert out.kept.column("_han_ratio").to_pylist() == pytest.approx([0.25, 0.6, 0.0])
    out = run_stage(HanRatioFilter(), ["我爱Python", "中文，好。", ""])
    assert out.kept.column("id").to_pylist() == ["d1"]
    assert out.rejected.column("reason").to_pylist() == ["low_han_ratio", "low_han_ratio"]


def test_whitespace_counts_in_the_denominator():
    # 中 文 + two spaces: 2 / 4 = 0.5 (ChineseWebText divides by len(text))
    out = run_stage(HanRatioFilter(mode="annotate"), ["中 文 "])
    assert out.kept.column("_han_ratio").to_pylist() == [0.5]
