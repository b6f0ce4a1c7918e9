import collections
import random

import numpy as np
import pyarrow as pa
import pytest

from stages.quality.repetition import RepetitionFilter, char_ngram_signals
from stages.testing import run_stage


def signals(text):
    out = run_stage(RepetitionFilter(mode="annotate"), [text])
    return {k: out.kept.column(k)[0].as_py() for k in out.kept.schema.names if k.startswith("_")}


def test_repeated_lines_and_paragraphs():
    # lines (non-empty): 甲乙, 甲乙, 丙丁, 甲乙 -> 2 of 4 repeat = 0.5; characters 4 of 8 = 0.5
    # paragraphs (split on blank lines): "甲乙\n甲乙\n丙丁", "甲乙" -> none repeats
    s = signals("甲乙\n甲乙\n丙丁\n\n甲乙")
    assert s["_dup_line_frac"] == 0.5 and s["_dup_line_char_frac"] == 0.5
    assert s["_dup_para_frac"] == 0.0 and s["_dup_para_char_frac"] == 0.0
    # paragraphs 春眠, 春眠, 不觉晓 -> 1 of 3 repeats; characters 2 of 7
    s = signals("春眠\n\n春眠\n\n不觉晓")
    assert s["_dup_para_frac"] == pytest.approx(1 / 3) and s["_dup_para_char_frac"] == pytest.approx(2 / 7)


def test_top_ngram_fraction():
    # 天天向上好好学习天天向上: 12 characters. Most frequent 2-gram occurs twice (天天, 天向, 向上):
    # 2 * 2 / 12 = 1/3; 3-gram 天天向 twice: 2 * 3 / 12 = 0.5; 4-gram 天天向上 twice: 8 / 12 = 2/3.
    # No 5-gram repeats (the eight 5-grams are distinct) -> dup5 = 0.
    s = signals("天天向上好好学习天天向上")
    assert s["_top2_gram_frac"] == pytest.approx(1 / 3)
    assert s["_top3_gram_frac"] == pytest.approx(0.5)
    assert s["_top4_gram_frac"] == pytest.approx(2 / 3)
    assert s["_dup5_gram_frac"] == 0.0


def test_duplicated_ngram_fraction():
    # 一二三四五六一二三四五六: 12 characters. 5-grams starting at 6 and 7 repeat those at 0 and 1 and cover
    # characters 6..11: 6 / 12 = 0.5. The 6-gram at 6 repeats the one at 0: again 6..11 = 0.5.
    # The six 7-grams are all different -> 0.
    s = signals("一二三四五六 一二三四五六")  # whitespace is removed before counting
    assert s["_dup5_gram_frac"] == 0.5 and s["_dup6_gram_frac"] == 0.5
    assert s["_dup7_gram_frac"] == 0.0 and s["_dup10_gram_frac"] == 0.0


def test_no_repeat_means_zero():
    # 床前明月光，疑是地上霜。: every n-gram occurs once -> 0, not n / length
    s = signals("床前明月光，疑是地上霜。")
    assert s["_top2_gram_frac"] == s["_top3_gram_frac"] == s["_top4_gram_frac"] == 0.0


def test_run_of_one_character_is_capped():
    # 哈 x 6: the 2-gram 哈哈 occurs 5 times (overlapping): 5 * 2 / 6 > 1 -> capped at 1
    assert signals("哈哈哈哈哈哈")["_top2_gram_frac"] == 1.0


def test_drop_reason_follows_rule_order():
    out = run_stage(
        RepetitionFilter(), ["甲乙\n甲乙\n丙丁\n\n甲乙", "天天向上好好学习天天向上", "床前明月光，疑是地上霜。"]
    )
    # doc 0: dup_line_frac 0.5 > 0.287 (checked before n-grams); doc 1: top_2_gram 1/3 > 0.2
    assert out.rejected.column("reason").to_pylist() == ["dup_line_frac", "top_2_gram"]
    assert out.kept.column("id").to_pylist() == ["d2"]


def _reference(text):
    """Straightforward Python version of the character n-gram signals."""
    s = "".join(ch for ch in text if not ch.isspace())
    out = {}
    for n in (2, 3, 4):
        c = collections.Counter(s[i : i + n] for i in range(len(s) - n + 1))
        top = max(c.values()) if c else 0
        out[("top", n)] = min(1.0, top * n / len(s)) if top > 1 else 0.0
    for n in range(5, 11):
        seen, covered = set(), np.zeros(len(s), bool)
        for i in range(len(s) - n + 1):
            if s[i : i + n] in seen:
                covered[i : i + n] = True
            seen.add(s[i : i + n])
        out[("dup", n)] = covered.sum() / len(s) if len(s) else 0.0
    return out


def test_vectorised_signals_match_a_plain_python_reference():
    rng = random.Random(7)
    alphabet = "天地人和春秋日月山水"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(200)]
    texts += ["静夜思 床前明月光 床前明月光", "a", ""]
    top, dup = char_ngram_signals(pa.array(texts), (2, 3, 4), tuple(range(5, 11)))
    for i, t in enumerate(texts):
        ref = _reference(t)
        for (kind, n), value in ref.items():
            got = (top if kind == "top" else dup)[n][i]
            assert got == pytest.approx(value), (t, kind, n)
