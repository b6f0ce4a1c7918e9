"""The one rolling n-gram hash: every window equals the polynomial computed directly."""

from __future__ import annotations

import numpy as np

from stages.ngram_hash import BASE, RollingHash, doc_ngram_hashes


def direct(values: list[int], n: int) -> list[int]:
    return [
        sum(v * int(BASE) ** (n - 1 - k) for k, v in enumerate(values[s : s + n])) % 2**64
        for s in range(len(values) - n + 1)
    ]


def test_windows_equal_the_polynomial():
    values = [ord(c) for c in "中文文本去重，窗口哈希。"] + [2**63 + 5, 2**64 - 1]  # code points and 64-bit word hashes
    rolling = RollingHash(np.array(values, np.uint64))
    for n in (1, 2, 5, len(values)):
        assert rolling.windows(n).tolist() == direct(values, n)
    assert len(rolling.windows(len(values) + 1)) == 0


def test_doc_ngrams_stay_inside_their_document():
    docs = ["甲乙丙丁", "戊己", "庚"]
    chars = np.array([ord(c) for d in docs for c in d], np.uint32)
    remaining = np.concatenate([np.arange(len(d), 0, -1) for d in docs])
    got = {n: (idx.tolist(), h.tolist()) for n, idx, h in doc_ngram_hashes(chars, remaining, [2, 3])}
    assert got[2][0] == [0, 1, 2, 4] and got[3][0] == [0, 1]
    assert got[2][1][0] == direct([ord("甲"), ord("乙")], 2)[0] ^ 2
