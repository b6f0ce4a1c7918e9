import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from stages.dedup.lsh import collision_probability, optimal_param
from stages.dedup.signatures import EMPTY, char_shingle_hashes, minhash, permutations, signatures
from stages.dedup.unionfind import components


def distinct(n: int, start: int = 0x4E00) -> str:
    """n different Han characters: every 5-gram of the text is unique, so shingle sets are countable by hand."""
    return "".join(chr(start + i) for i in range(n))


def test_shingle_counts_short_and_empty_documents():
    hashes, counts = char_shingle_hashes(["abcdefg", "abc", "", "abcde"], 5)
    assert counts.tolist() == [3, 1, 0, 1]
    assert len(hashes) == 5
    # "abcde" is the first shingle of "abcdefg" and the only one of "abcde"
    assert hashes[0] == hashes[4]
    # the short document's single shingle is its whole text, not a 5-gram
    assert hashes[3] not in hashes[:3]


def test_signature_equals_datasketch_minhash():
    texts = [distinct(40), "春眠不觉晓处处闻啼鸟夜来风雨声花落知多少", "短"]
    hashes, counts = char_shingle_hashes(texts, 5)
    a, b = permutations(128, 7)
    sig = minhash(hashes, counts, a, b)
    starts = np.cumsum(counts) - counts
    for d in range(len(texts)):
        m = MinHash(num_perm=128, seed=7, hashfunc=lambda h: h)
        m.update_batch(hashes[starts[d] : starts[d] + counts[d]].tolist())
        assert np.array_equal(m.hashvalues, sig[d])


def test_long_document_is_chunked_with_same_result():
    import random

    rng = random.Random(3)
    text = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(50000))  # 49996 shingles: 4 blocks of 16384
    hashes, counts = char_shingle_hashes([text], 5)
    a, b = permutations(64, 1)
    m = MinHash(num_perm=64, seed=1, hashfunc=lambda h: h)
    m.update_batch(hashes.tolist())
    assert np.array_equal(minhash(hashes, counts, a, b)[0], m.hashvalues)


def test_signatures_in_groups_equal_one_document_at_a_time():
    # documents of every size around the 16384-character group and block limits, with empty ones between
    import random

    rng = random.Random(5)
    sizes = [0, 3, 5, 16380, 9000, 0, 40000, 1, 16384, 20000, 7, 33000, 4, 0]
    texts = ["".join(chr(rng.randrange(0x4E00, 0x4E80)) for _ in range(n)) for n in sizes]
    sig, has = signatures(texts, 32, 5, 2)
    assert has.tolist() == [n > 0 for n in sizes]
    a, b = permutations(32, 2)
    for i, t in enumerate(texts):
        hashes, counts = char_shingle_hashes([t], 5)
        assert np.array_equal(sig[i], minhash(hashes, counts, a, b)[0])


def test_empty_document_has_no_signature():
    sig, has = signatures(["", "abcdef"], 16, 5, 1)
    assert has.tolist() == [False, True]
    assert (sig[0] == EMPTY).all()


def test_estimated_jaccard_tracks_true_jaccard():
    # 104 distinct characters, last 20 replaced: shared 80 of 120 shingles -> J = 2/3
    a = distinct(104)
    b = a[:84] + distinct(20, 0x6000)
    est = [(lambda s: (s[0] == s[1]).mean())(signatures([a, b], 128, 5, seed)[0]) for seed in range(100)]
    assert abs(np.mean(est) - 80 / 120) < 0.015  # unbiased: the mean over 100 seeds has sd ~0.004


@pytest.mark.parametrize(
    ("threshold", "num_perm"), [(0.5, 64), (0.7, 128), (0.8, 128), (0.85, 100), (0.9, 256), (0.3, 32)]
)
def test_bands_rows_equal_datasketch(threshold, num_perm):
    assert optimal_param(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_bands_rows_are_searched_once_per_machine(tmp_path, monkeypatch):
    from stages.dedup import lsh

    monkeypatch.setenv("JINGXUAN_CACHE_DIR", str(tmp_path))
    lsh.optimal_param.cache_clear()
    assert optimal_param(0.75, 96) == _optimal_param(0.75, 96, 0.5, 0.5)
    lsh.optimal_param.cache_clear()
    monkeypatch.setattr(lsh, "_search", lambda *a: (1, 1))  # a second process reads the entry instead
    assert optimal_param(0.75, 96) == _optimal_param(0.75, 96, 0.5, 0.5)
    assert optimal_param(0.75, 97) == (1, 1)
    lsh.optimal_param.cache_clear()


def test_known_choice_and_collision_probability():
    assert optimal_param(0.8, 128) == (9, 13)  # NOTES.md: datasketch 2.0 picks 9 x 13
    assert collision_probability(1.0, 9, 13) == 1.0
    assert collision_probability(0.0, 9, 13) == 0.0


def test_components_roots_are_smallest_member():
    nodes, roots = components(np.array([5, 1, 9, 9, 20]), np.array([3, 2, 1, 7, 21]))
    assert dict(zip(nodes.tolist(), roots.tolist(), strict=True)) == {
        1: 1,
        2: 1,
        3: 3,
        5: 3,
        7: 1,
        9: 1,
        20: 20,
        21: 20,
    }


def test_batch_equals_one_document_at_a_time():
    import random

    rng = random.Random(1)
    texts = [
        "".join(chr(rng.randrange(0x4E00, 0x4E40)) for _ in range(rng.choice([0, 1, 4, 5, 6, 30]))) for _ in range(300)
    ]
    hashes, counts = char_shingle_hashes(texts, 5)
    starts = np.cumsum(counts) - counts
    for i, t in enumerate(texts):
        h1, c1 = char_shingle_hashes([t], 5)
        assert c1[0] == counts[i]
        assert np.array_equal(h1, hashes[starts[i] : starts[i] + counts[i]])
