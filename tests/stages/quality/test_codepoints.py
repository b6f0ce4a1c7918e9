import numpy as np
import pyarrow as pa

from stages.quality._codepoints import BRACKET, DIGIT, HAN, LETTER, PUNCT, SPACE, SYMBOL, char_classes, codepoints


def test_offsets_follow_documents_and_slices():
    arr = pa.array(["跳过", "中文ab", "", "𠀀x"]).slice(1)  # a sliced array starts at a non-zero offset
    cp = codepoints(arr)
    assert cp.starts.tolist() == [0, 4, 4, 6]  # 中文ab = 4, "" = 0, 𠀀x = 2 (𠀀 is one code point)
    assert cp.cps[:4].tolist() == [ord(c) for c in "中文ab"]
    # Han: 中文 -> 2; "" -> 0; 𠀀 (Extension B) -> 1
    assert cp.count_class(HAN).tolist() == [2, 0, 1]


def test_character_classes():
    t = char_classes()
    assert t[ord("中")] == HAN and t[ord("〇")] == HAN
    assert t[ord("a")] == LETTER and t[ord("カ")] == LETTER
    assert t[ord("7")] == DIGIT and t[ord("７")] == DIGIT
    assert t[ord("。")] == PUNCT and t[ord("，")] == PUNCT
    assert t[ord("★")] == SYMBOL and t[0x1F600] == SYMBOL
    assert t[ord(" ")] == SPACE and t[ord("\n")] == SPACE and t[0x3000] == SPACE
    assert t[ord("【")] == PUNCT | BRACKET and t[ord("《")] == PUNCT  # book-title marks are prose punctuation


def test_empty_batch():
    cp = codepoints(pa.array([], pa.string()))
    assert cp.n_docs == 0 and len(cp.cps) == 0 and np.array_equal(cp.starts, [0])
