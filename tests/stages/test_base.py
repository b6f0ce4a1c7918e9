"""The stage contract: per-call state lives with the call, so one stage instance serves several threads."""

from __future__ import annotations

import json
import pickle
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pytest

from stages.base import STAGES, Mapper
from stages.dedup.signatures import signatures
from stages.testing import builtin_stages, make_batch, run_stage

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


# -- every built-in stage, from the registry ------------------------------------------------------------------

REPO = Path(__file__).parents[2]
BUILTIN = builtin_stages()
KIND_SUFFIXES = {"_filter": "filter", "_mapper": "mapper", "_dedup": "global"}
TEXTS = [
    "今天天气很好，我们一起去公园散步。公园里有很多人在锻炼身体。" * 3,
    "Hello world, a short English line.",
    "",
    "短",
]


def _required_params(name: str, tmp_path: Path) -> dict:
    """Parameters a stage cannot default; every stage with a required parameter needs an entry here."""
    if name == "decontaminate":
        bench = tmp_path / "bench.jsonl"
        bench.write_text(json.dumps({"id": "q1", "text": "下列哪一种动物属于哺乳纲并且能够长时间在水中生活"}) + "\n")
        return {"benchmarks": [{"name": "b", "path": str(bench)}]}
    if name == "quality_classifier":
        from stages.quality.classifier import train_quality

        pos, neg = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
        pos.write_text("".join(json.dumps({"text": TEXTS[0] + str(i)}, ensure_ascii=False) + "\n" for i in range(20)))
        neg.write_text(
            "".join(
                json.dumps({"text": "点击这里 免费领取 " * 5 + str(i)}, ensure_ascii=False) + "\n" for i in range(20)
            )
        )
        model = tmp_path / "q.npz"
        train_quality([str(pos)], [str(neg)], str(model), buckets=1 << 12, epochs=1)
        return {"model": str(model)}
    return {}


def test_the_registry_holds_the_built_in_stages():
    assert len(BUILTIN) >= 20 and {"normalize", "langid", "minhash_dedup", "curriculum", "synthetic"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_stage_is_named_documented_and_tested_by_convention(name):
    cls = STAGES.get(name)
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), "registry names are snake_case"
    assert cls.__name__.lower().startswith(name.replace("_", "")), f"class {cls.__name__} does not spell {name}"
    for suffix, kind in KIND_SUFFIXES.items():
        if name.endswith(suffix):
            assert cls.kind == kind, f"{name} ends with {suffix} but is a {cls.kind}"
    if cls.__name__.endswith(("Filter", "Mapper")):
        assert name.endswith(("_filter", "_mapper")), f"{cls.__name__} is registered without its kind: {name}"
    assert cls.version and cls.kind in ("mapper", "filter", "global")
    assert all(c.startswith("_") for c in cls.adds), "added columns start with _"
    module = cls.__module__.split(".")
    test_file = REPO.joinpath("tests", *module[:-1], f"test_{module[-1]}.py")
    assert test_file.exists(), f"no {test_file.relative_to(REPO)} for {cls.__module__}"
    assert f"`{name}`" in (REPO / "README.md").read_text(encoding="utf-8"), f"README's stage table lacks {name}"


@pytest.mark.parametrize("name", [n for n in BUILTIN if STAGES.get(n).kind != "global"])
def test_stage_runs_on_a_batch_and_survives_pickling(name, tmp_path):
    cls = STAGES.get(name)
    params = _required_params(name, tmp_path)
    assert {k for k, f in cls.model_fields.items() if f.is_required()} == set(params)
    stage = cls(**params)
    batch = make_batch(TEXTS)
    for col in [c for c in cls.requires if c not in batch.schema.names]:  # run the stage that adds it first
        (provider,) = [n for n in BUILTIN if col in STAGES.get(n).adds]
        batch = STAGES.get(provider)().apply(batch).kept
    out = run_stage(stage, batch)  # checks docs_in == docs_out + docs_rejected
    assert out.stats.docs_in == batch.num_rows
    added = set(out.kept.schema.names) - set(batch.schema.names)
    assert added <= set(cls.adds), f"{name} adds undeclared columns {added - set(cls.adds)}"
    again = pickle.loads(pickle.dumps(stage))  # what a process-pool or Dask worker receives
    assert again.params() == stage.params()
    out2 = run_stage(again, batch)
    assert out2.kept.equals(out.kept) and out2.stats.reasons == out.stats.reasons
