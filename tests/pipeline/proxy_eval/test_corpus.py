import numpy as np
import pytest

from pipeline.proxy_eval import corpus as cp
from pipeline.proxy_eval.settings import ORDERS


def test_orders_hold_the_same_documents_and_differ_only_in_order(curated_run):
    c = cp.load_corpus(curated_run)
    sp = cp.split(c, holdout=0.2, train_bytes=10**9)
    ordered = {name: cp.order(sp.train, c, name, seed=0) for name in ORDERS}
    assert len({tuple(sorted(v.tolist())) for v in ordered.values()}) == 1
    assert len({tuple(v.tolist()) for v in ordered.values()}) == 3
    assert ordered["curriculum"].tolist() == sorted(ordered["curriculum"].tolist())  # data/ order is training order
    assert ordered["reverse"].tolist() == ordered["curriculum"].tolist()[::-1]
    texts = cp.read_texts(c, sp.train)
    streams = [cp.byte_stream(texts, v) for v in ordered.values()]
    assert len({len(s) for s in streams}) == 1
    assert all(np.array_equal(np.sort(s), np.sort(streams[0])) for s in streams)
    assert not set(sp.heldout.tolist()) & set(sp.train.tolist())


def test_curriculum_order_follows_difficulty(curated_run):
    import pyarrow as pa

    c = cp.load_corpus(curated_run)
    sp = cp.split(c, holdout=0.2, train_bytes=10**9)
    table = pa.concat_tables(pa.ipc.open_stream(pa.memory_map(f)).read_all() for f in c.files)
    diff = np.asarray(table.column("_difficulty").to_pylist())[cp.order(sp.train, c, "curriculum", 0)]
    assert (np.diff(diff) >= 0).all()


def test_held_out_documents_do_not_depend_on_the_budget_or_the_seed(curated_run):
    c = cp.load_corpus(curated_run)
    small, large = cp.split(c, 0.2, 2_000), cp.split(c, 0.2, 10**9)
    assert small.heldout.tolist() == large.heldout.tolist()
    assert set(small.train.tolist()) < set(large.train.tolist())
    assert sum(int(c.nbytes[i]) + 1 for i in small.train) >= 2_000
    assert cp.order(small.train, c, "shuffle", 1).tolist() == cp.order(small.train, c, "shuffle", 1).tolist()
    assert cp.order(large.train, c, "shuffle", 1).tolist() != cp.order(large.train, c, "shuffle", 2).tolist()


def test_shuffle_is_the_same_for_the_same_documents_in_another_order(curated_run):
    c = cp.load_corpus(curated_run)
    sp = cp.split(c, 0.2, 10**9)
    a = cp.order(sp.train, c, "shuffle", 3)
    b = cp.order(sp.train[::-1].copy(), c, "shuffle", 3)
    assert a.tolist() == b.tolist()


def test_a_folder_without_data_is_a_one_line_error(tmp_path):
    with pytest.raises(cp.ProxyEvalError, match="no curated data files"):
        cp.load_corpus(str(tmp_path))
