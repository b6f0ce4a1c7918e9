"""The one code-point table that quality signals and script classes share."""

from __future__ import annotations

import numpy as np

from stages import charclass, script
from stages.charclass import ALPHA, BRACKET, DIGIT, HAN, HANGUL, KANA, LETTER, PUNCT, SPACE, SYMBOL, char_classes


def flags(ch: str) -> int:
    return int(char_classes()[ord(ch)])


def test_flags_by_hand():
    assert flags("中") == HAN and flags("〇") == HAN and flags("\U00020000") == HAN
    assert flags("a") == LETTER | ALPHA and flags("Ⅳ") == LETTER  # a number, not a letter proper
    assert flags("あ") == LETTER | ALPHA | KANA and flags("한") == LETTER | ALPHA | HANGUL
    assert flags("カ") == LETTER | ALPHA | KANA and flags("・") == PUNCT  # ・ also separates Chinese names
    assert flags("7") == DIGIT and flags("７") == DIGIT
    assert flags("。") == PUNCT and flags("，") == PUNCT and flags("（") == PUNCT | BRACKET
    assert flags("【") == PUNCT | BRACKET and flags("《") == PUNCT  # book-title marks are prose punctuation
    assert flags("★") == SYMBOL and flags("🔥") == SYMBOL and flags("\U0001f600") == SYMBOL
    assert flags(" ") == SPACE and flags("\n") == SPACE and flags("\u3000") == SPACE
    for cp in (0xE0101, 0xF0000, 0x10FFFD, 0x50000):  # variation selector, private use, unassigned
        assert not char_classes()[cp] & (HAN | LETTER)


def test_script_classes_come_from_the_same_table():
    table, classes = char_classes(), script.class_table()
    assert len(classes) == len(table) == charclass.N_CODE_POINTS
    han = (table & HAN) != 0
    assert np.isin(classes[han], [script.HAN, script.SIMP, script.TRAD]).all()
    assert not np.isin(classes[~han], [script.HAN, script.SIMP, script.TRAD]).any()
    assert (classes[(table & KANA) != 0] == script.KANA).all()
    assert not char_classes().flags.writeable and not classes.flags.writeable
