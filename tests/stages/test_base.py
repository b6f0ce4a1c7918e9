"""The stage contract: per-call state lives with the call, so one stage instance serves several threads."""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import numpy as np
import pyarrow as pa

from stages.base import STAGES, Mapper
from stages.dedup.signatures import signatures
from stages.testing import make_batch

THREADS = 4
DOCS = 1000
ROUNDS = 5


def in_threads(fn, args: list) -> list:
    """`fn(arg)` for every arg on THREADS threads that start together and switch often, so the calls interleave
    (state shared between calls shows up within a few rounds instead of once in a while)."""
    barrier = threading.Barrier(THREADS)

    def go(arg):
        barrier.wait(timeout=30)
        return fn(arg)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(go, args))
    finally:
        sys.setswitchinterval(interval)


class _CountThenWait(Mapper):
    """Counts its rows, then waits until every thread has counted: counts kept on the instance would mix."""

    name: ClassVar[str] = "test_count_then_wait_mapper"

    def map(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.count("rows", batch.num_rows)
        _COUNTED.wait(timeout=30)
        return batch


_COUNTED = threading.Barrier(THREADS)


def test_counts_stay_with_their_call_when_calls_overlap():
    stage = _CountThenWait()
    outs = in_threads(stage.apply, [make_batch(["文"] * (t + 1)) for t in range(THREADS)])
    assert [o.stats.counters["rows"] for o in outs] == [1, 2, 3, 4]


def test_one_normalize_instance_counts_pii_per_batch_from_four_threads():
    stage = STAGES.get("normalize")()
    stage.ensure_setup()
    batches = [
        make_batch(
            [f"请联系 user{t}x{i}@example.com 了解详情" for i in range(DOCS)], ids=[f"t{t}-{i}" for i in range(DOCS)]
        )
        for t in range(THREADS)
    ]
    for _ in range(ROUNDS):
        outs = in_threads(stage.apply, batches)
        assert [o.stats.counters["pii.email"] for o in outs] == [DOCS] * THREADS
        for t, o in enumerate(outs):
            assert o.kept.column("id").to_pylist() == [f"t{t}-{i}" for i in range(DOCS)]


def test_one_decontaminate_instance_keeps_each_batch_matches_apart(tmp_path):
    items = [
        "下列哪一种动物属于哺乳纲并且能够长时间在水中生活鲸鱼鲨鱼金枪鱼章鱼",
        "小明从家出发步行到学校需要二十五分钟求小明家到学校的距离",
    ]
    path = tmp_path / "bench.jsonl"
    path.write_text(
        "".join(json.dumps({"id": f"q{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(items))
    )
    stage = STAGES.get("decontaminate")(benchmarks=[{"name": "b", "path": str(path)}])
    stage.ensure_setup()
    clean = "今天的天气非常晴朗，公园里有很多人在散步，湖边的柳树已经发芽了，几只小鸟在枝头唱歌。"
    # batch t: document t copies item t % 2, the rest are clean; only that one may be dropped, with its item
    batches = [make_batch([clean] * t + [items[t % 2]] + [clean] * (200 - t - 1)) for t in range(THREADS)]
    for _ in range(ROUNDS):
        outs = in_threads(stage.apply, batches)
        for t, o in enumerate(outs):
            assert o.rejected.column("id").to_pylist() == [f"d{t}"]
            assert o.rejected.column("detail").to_pylist()[0].startswith(f"b:q{t % 2} ")
            assert o.stats.counters == {"matched.b": 1}


def test_minhash_signatures_from_four_threads_equal_one_thread():
    rng = np.random.default_rng(7)
    groups = [
        ["".join(chr(c) for c in rng.integers(0x4E00, 0x4E00 + 500, rng.integers(20, 3000))) for _ in range(60)]
        for _ in range(THREADS)
    ]
    expected = [signatures(g, 128, 5, 1)[0] for g in groups]
    for _ in range(ROUNDS):
        got = in_threads(lambda g: signatures(g, 128, 5, 1)[0], groups)
        for e, g in zip(expected, got, strict=True):
            assert np.array_equal(e, g)


def test_count_outside_apply_goes_nowhere():
    stage = STAGES.get("normalize")()
    stage.map(make_batch(["邮箱 a@example.com"]))  # counted into no batch, and not into the next one
    assert "pii.email" not in stage.apply(make_batch(["没有个人信息"])).stats.counters
    assert isinstance(stage.apply(make_batch(["x"])).kept, pa.RecordBatch)
