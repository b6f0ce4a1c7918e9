import math

import numpy as np
import pyarrow as pa
import pytest

from stages.curriculum import signals as sig

TOTAL = 60_101_967  # sum of jieba dict.txt frequencies (NOTES.md)


def test_length_is_log1p_characters():
    out = sig.length(pa.array(["你好", "", None, "abc。"]))
    assert out == pytest.approx([math.log(3), 0.0, 0.0, math.log(5)])


def test_sentence_length_splits_on_chinese_and_ascii_enders_and_newlines():
    texts = pa.array(["我们在北京。今天天气好！", "一二三；四五\n六", "  \n 。你好", "没有句号", "。。！", ""])
    # 5+5 / 2; (3+2+1)/3; "你好" only (blank pieces do not count); whole text; no sentence; empty
    assert sig.sentence_length(texts) == pytest.approx([5.0, 2.0, 2.0, 4.0, 0.0, 0.0])


def test_entropy_in_bits_by_hand():
    texts = pa.array(["aab", "天天天天", "你好吗？", ""])
    expected = [-(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3), 0.0, 2.0, 0.0]
    assert sig.entropy(texts) == pytest.approx(expected)


def test_rarity_against_jieba_frequencies():
    # 我们 98740, 北京 34488 (dict.txt); punctuation is skipped; unknown words count as frequency 1
    out = sig.rarity(pa.array(["我们北京。", "我们", "，。！", "Zqxjv"]))
    r_women = math.log(TOTAL / 98740)
    r_beijing = math.log(TOTAL / 34488)
    assert out[0] == pytest.approx((r_women + r_beijing) / 2, rel=1e-9)
    assert out[1] == pytest.approx(r_women, rel=1e-9)
    assert out[2] == 0.0
    assert out[3] == pytest.approx(math.log(TOTAL), rel=1e-9)


def test_rarity_folds_traditional_script():
    folded = sig.rarity(pa.array(["我們", "我们"]))
    assert folded[0] == pytest.approx(folded[1])
    raw = sig.rarity(pa.array(["我們"]), fold_script=False)  # 們 alone is rare (frequency 32)
    assert raw[0] > folded[0]


def test_compute_selects_named_signals():
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["你好。"]})
    out = sig.compute(batch, ["length", "entropy"])
    assert set(out) == {"length", "entropy"}
    assert isinstance(out["length"], np.ndarray)
