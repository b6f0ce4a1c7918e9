import pytest

from stages.quality.chars import CharDiversityFilter
from stages.testing import run_stage


def test_unique_ratio_and_entropy():
    # 好好好坏: 2 distinct of 4 -> 0.5; H = -(3/4 log2 3/4 + 1/4 log2 1/4) = 0.311278 + 0.5 = 0.811278
    # 天 地: whitespace ignored -> 2 distinct of 2 = 1.0; H = 1 bit
    out = run_stage(CharDiversityFilter(mode="annotate"), ["好好好坏", "天 地", ""])
    assert out.kept.column("_unique_char_ratio").to_pylist() == pytest.approx([0.5, 1.0, 0.0])
    assert out.kept.column("_char_entropy").to_pylist() == pytest.approx([0.811278, 1.0, 0.0], abs=1e-6)


def test_low_entropy_is_dropped():
    # 16 distinct characters used equally: exactly 4 bits, not below the 4.0 default -> kept;
    # 好好好坏 (0.81 bits) -> dropped
    even = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳" * 3
    out = run_stage(CharDiversityFilter(), [even, "好好好坏"])
    assert out.kept.column("id").to_pylist() == ["d0"]
    assert out.rejected.column("reason").to_pylist() == ["low_char_entropy"]
    out = run_stage(CharDiversityFilter(min_char_entropy=None, min_unique_char_ratio=0.6), ["好好好坏"])
    assert out.rejected.column("reason").to_pylist() == ["low_unique_chars"]  # 0.5 < 0.6
