import numpy as np
import pytest

from stages.dedup.verify import decide, margin, shingle_sets, similarity, verified_links


def test_shingle_sets_and_similarity():
    a, b, c = shingle_sets(["甲乙丙丁戊", "甲乙丙丁己", "乙丙丁"], 2)
    assert [len(x) for x in (a, b, c)] == [4, 4, 2]
    jac, con = similarity([a, a], [b, c])
    assert jac.tolist() == pytest.approx([3 / 5, 2 / 4])
    assert con.tolist() == pytest.approx([3 / 4, 1.0])  # the short one lies inside the long one


def test_decide_checks_only_near_the_threshold():
    assert margin(0.5, 64) == pytest.approx(3 * 0.5 / 8)
    est = np.array([0.95, 0.6, 0.45, 0.05])
    asked = []

    def true_sim(sel):
        asked.extend(sel.tolist())
        known = np.array([True, False])  # the second pair has a document of an earlier run: no text
        return known, np.array([0.3, 0.9], np.float32), np.zeros(2, np.float32)

    ok, sim = decide(est, 0.5, 64, true_sim)
    assert asked == [1, 2]
    assert ok.tolist() == [True, False, False, False]  # pair 1 fails on its real sets; pair 2 keeps its estimate
    assert sim[1] == pytest.approx(0.3)


def test_failing_members_are_linked_among_themselves():
    u, v, g = np.array([0, 0, 0]), np.array([1, 2, 3]), np.zeros(3, np.int64)
    ok_pairs = {(0, 1), (2, 3)}

    def check(cu, cv):
        ok = np.array([(int(x), int(y)) in ok_pairs for x, y in zip(cu, cv, strict=True)])
        return ok, ok.astype(np.float32)

    eu, ev, _ = verified_links(u, v, g, check)
    assert sorted(zip(eu.tolist(), ev.tolist(), strict=True)) == [(0, 1), (2, 3)]
