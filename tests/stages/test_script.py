"""Character classes and Simplified/Traditional classification from OpenCC-derived tables."""

from __future__ import annotations

import pyarrow as pa

from stages import script


def test_tables_from_opencc():
    simp, trad = script.script_tables()
    for ch in "发这们国说东语":
        assert ch in simp, ch
    for ch in "發這們國說東語":
        assert ch in trad, ch
    for ch in "中文人大日本的是":  # the same in both scripts
        assert ch not in simp and ch not in trad, ch
    assert not simp & trad


def test_class_counts_by_hand():
    # 東(Traditional-only) 京 日 本 (neutral Han), は (kana), "AB" (letters), "1。" (other)
    counts = script.class_counts(pa.array(["東京は日本AB1。", "", "한국어 漢字"]))
    assert counts[0].tolist() == [2, 3, 0, 1, 1, 0, 2]  # other, han, simp, trad, kana, hangul, letter
    assert counts[1].tolist() == [0] * script.N_CLASSES
    assert counts[2, script.HANGUL] == 3 and counts[2, script.HAN] + counts[2, script.TRAD] == 2


def test_code_points_handles_sliced_arrays():
    arr = pa.array(["x", "这是简体", "這是繁體", "y"]).slice(1, 2)
    assert script.classify_script(arr).to_pylist() == ["Hans", "Hant"]


def test_script_labels():
    texts = [
        "这是一个简体中文句子，说明语言的问题。",
        "這是一個繁體中文句子，說明語言的問題。",
        "中文",  # no script-specific character
        "发發",  # a tie
        "Hello, world",
        "",
        "這個東西很好，这",  # 3 Traditional-only against 1 Simplified-only
    ]
    assert script.classify_script(texts).to_pylist() == [
        "Hans",
        "Hant",
        "ambiguous",
        "ambiguous",
        "none",
        "none",
        "Hant",
    ]


def test_code_points_beyond_the_cjk_planes_are_not_han():
    # U+E0101 (variation selector), U+F0000 (private use) and U+10FFFD used to be clamped into a Han slot.
    counts = script.class_counts(pa.array(["\U000e0101\U000f0000\U0010fffd", "\U00031350\U000323af"]))
    assert counts[0].tolist() == [3, 0, 0, 0, 0, 0, 0]
    assert counts[1, script.HAN] == 2  # CJK Extension H is Han
    assert script.classify_script(pa.array(["\U000f0000" * 5])).to_pylist() == ["none"]
