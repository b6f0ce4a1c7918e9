"""Synthetic injection: ratios per phase, seeded positions, provenance, shortfall policy, conservation."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stages.base import STAGES
from stages.core.atomic import read_json
from stages.synthetic.stage import ShortfallError, SyntheticInjection
from stages.testing import make_batch, read_all, run_global


def _rows(prefix: str, n: int, source: str, phase: int | None, start: int = 0) -> dict[str, list]:
    syn = source == "synthetic"
    return {
        "ids": [f"{prefix}{start + i}" for i in range(n)],
        "texts": [f"{'合成' if syn else '真实'}文档{prefix}{start + i}" + "字" * (i % 5) for i in range(n)],
        "_source": [source] * n,
        "_phase": [phase] * n,
        "_gen_generator": ["gen-a" if syn else None] * n,
        "_gen_prompt_id": ["p1" if syn else None] * n,
    }


def _shard(*parts: dict[str, list], phase: bool = True) -> pa.RecordBatch:
    cols: dict[str, list] = {}
    for p in parts:
        for k, v in p.items():
            cols.setdefault(k, []).extend(v)
    ids, texts = cols.pop("ids"), cols.pop("texts")
    if not phase:
        cols.pop("_phase")
    batch = make_batch(
        texts, ids=ids, **{k: pa.array(v, pa.string() if k != "_phase" else pa.int64()) for k, v in cols.items()}
    )
    return batch


def _curriculum_shards() -> list[pa.RecordBatch]:
    """Three phases over four shards (phase 1 spans shards 1-2), synthetic rows interleaved by difficulty."""
    return [
        _shard(_rows("r", 40, "real", 0), _rows("s", 10, "synthetic", 0)),
        _shard(_rows("r", 30, "real", 1, 40), _rows("s", 20, "synthetic", 1, 10)),
        _shard(_rows("r", 30, "real", 1, 70), _rows("s", 5, "synthetic", 2, 30)),
        _shard(_rows("r", 60, "real", 2, 100), _rows("s", 40, "synthetic", 2, 35)),
    ]


def _phase_counts(table: pa.Table) -> dict[int, tuple[int, int]]:
    out: dict[int, list[int]] = {}
    phases = table.column("_phase").to_pylist()
    sources = table.column("_source").to_pylist()
    for p, s in zip(phases, sources, strict=True):
        out.setdefault(p, [0, 0])[s == "synthetic"] += 1
    return {p: (r, s) for p, (r, s) in out.items()}


def test_registered():
    assert STAGES.get("synthetic") is SyntheticInjection


def test_phase_ratios_met_and_real_order_kept(tmp_path):
    stage = SyntheticInjection(phase_ratios=[0.0, 0.1, 0.2])
    result = run_global(stage, _curriculum_shards(), str(tmp_path))
    table = read_all(result.shards)
    # real docs: phase 0: 40, phase 1: 60, phase 2: 60. Targets: 0, round(0.1*60/0.9)=7, round(0.2*60/0.8)=15
    report = {r["phase"]: r for r in result.report["phases"]}
    assert [(report[p]["real_docs"], report[p]["synthetic_docs"]) for p in (0, 1, 2)] == [(40, 0), (60, 7), (60, 15)]
    assert report[1]["achieved_ratio"] == pytest.approx(7 / 67, abs=1e-6)
    assert report[2]["achieved_ratio"] == pytest.approx(15 / 75, abs=1e-6)
    for p in (1, 2):
        assert (
            abs(report[p]["achieved_ratio"] - report[p]["target_ratio"])
            * (report[p]["real_docs"] + report[p]["synthetic_docs"])
            <= 1
        )
    # the real documents keep their order; phases stay contiguous (synthetic rows of phase 2 went into phase 1?)
    real_ids = [
        i
        for i, s in zip(table.column("id").to_pylist(), table.column("_source").to_pylist(), strict=True)
        if s == "real"
    ]
    assert real_ids == [f"r{i}" for i in range(160)]
    # phase 1 took its own-phase synthetic docs (s10..s29) first
    ids = table.column("id").to_pylist()
    sources = table.column("_source").to_pylist()
    real_phase = [None] * len(ids)
    last = 0
    for i, s in enumerate(sources):  # phase of the surrounding real documents
        if s == "real":
            last = int(ids[i][1:])
        real_phase[i] = 0 if last < 40 else 1 if last < 100 else 2
    syn_in_phase1 = {ids[i] for i in range(len(ids)) if sources[i] == "synthetic" and real_phase[i] == 1}
    assert syn_in_phase1 <= {f"s{i}" for i in range(10, 30)}
    assert len(syn_in_phase1) == 7
    # conservation: 75 synthetic in, 22 placed, 53 surplus in the ledger
    assert result.stats.docs_in == 235 and result.stats.docs_out == 182 and result.stats.reasons == {"surplus": 53}
    rej = pq.read_table(result.rejected[0])
    assert rej.num_rows == 53 and set(rej.column("reason").to_pylist()) == {"surplus"}
    assert all(d.startswith("phase ") and "target" in d for d in rej.column("detail").to_pylist())
    assert (
        "synthetic.json" in result.files
        and read_json(result.files["synthetic.json"])["phases"][2]["synthetic_docs"] == 15
    )


def test_provenance_on_every_synthetic_row(tmp_path):
    result = run_global(SyntheticInjection(ratio=0.2), _curriculum_shards(), str(tmp_path))
    table = read_all(result.shards)
    syn = table.filter(pc.equal(table.column("_source"), "synthetic"))
    assert syn.num_rows > 0
    assert syn.column("_gen_generator").null_count == 0 and syn.column("_gen_prompt_id").null_count == 0


def test_missing_provenance_is_an_error(tmp_path):
    bad = _rows("s", 3, "synthetic", 0)
    bad["_gen_prompt_id"] = ["p1", None, "p1"]
    with pytest.raises(ValueError, match="s1 has no _gen_prompt_id"):
        run_global(SyntheticInjection(ratio=0.1), [_shard(_rows("r", 20, "real", 0), bad)], str(tmp_path))


def _output_bytes(result) -> list[bytes]:
    return [open(p, "rb").read() for p in result.shards]


def test_same_seed_same_bytes_other_seed_other_positions(tmp_path):
    stage = SyntheticInjection(phase_ratios=[0.1, 0.2, 0.3])
    a = run_global(stage, _curriculum_shards(), str(tmp_path / "a"), seed=7)
    b = run_global(stage, _curriculum_shards(), str(tmp_path / "b"), seed=7)
    c = run_global(stage, _curriculum_shards(), str(tmp_path / "c"), seed=8)
    assert _output_bytes(a) == _output_bytes(b)
    ta, tc = read_all(a.shards), read_all(c.shards)
    assert ta.column("id").to_pylist() != tc.column("id").to_pylist()
    assert [r["synthetic_docs"] for r in a.report["phases"]] == [r["synthetic_docs"] for r in c.report["phases"]]
    # the seed parameter overrides the run's seed
    d = run_global(SyntheticInjection(phase_ratios=[0.1, 0.2, 0.3], seed=7), _curriculum_shards(), str(tmp_path / "d"))
    assert _output_bytes(d) == _output_bytes(a)


def test_shortfall_fail_names_the_shortfall(tmp_path):
    # phase 2 has 60 real docs: 0.5 needs 60; it has 45 of its own + the 10 phase 0 does not use -> 5 short
    # (phase 1 uses its own 20: 0.25 * 60 / 0.75 = 20)
    stage = SyntheticInjection(phase_ratios=[0.0, 0.25, 0.5], shortfall="fail")
    with pytest.raises(ShortfallError, match=r"phase 2: 5 documents short of 60 for ratio 0.5"):
        run_global(stage, _curriculum_shards(), str(tmp_path))


def test_shortfall_inject_available_reports_achieved(tmp_path):
    stage = SyntheticInjection(phase_ratios=[0.0, 0.25, 0.5], shortfall="inject_available")
    result = run_global(stage, _curriculum_shards(), str(tmp_path))
    report = {r["phase"]: r for r in result.report["phases"]}
    # phase 1 wants 20 (0.25*60/0.75): takes its own 20; phase 2 wants 60, has 45 own + 10 left from phase 0
    assert report[1]["synthetic_docs"] == 20
    assert report[2]["synthetic_docs"] == 55 and report[2]["shortfall"] == 5
    assert report[2]["achieved_ratio"] == pytest.approx(55 / 115, abs=1e-6)
    assert result.stats.docs_rejected == 0 and result.stats.docs_out == 235


def test_no_curriculum_is_one_phase(tmp_path):
    shards = [
        _shard(_rows("r", 50, "real", None), _rows("s", 30, "synthetic", None), phase=False),
        _shard(_rows("r", 50, "real", None, 50), phase=False),
    ]
    result = run_global(SyntheticInjection(ratio=0.2), shards, str(tmp_path))
    assert len(result.report["phases"]) == 1
    row = result.report["phases"][0]
    assert (row["real_docs"], row["synthetic_docs"]) == (100, 25)  # 0.2 * 100 / 0.8
    table = read_all(result.shards)
    assert table.num_rows == 125 and result.stats.reasons == {"surplus": 5}
    assert [i for i in table.column("id").to_pylist() if i.startswith("r")] == [f"r{i}" for i in range(100)]
    # seeded positions are spread over both shards, not appended at the end
    first = read_all(result.shards[:1]).column("_source").to_pylist()
    assert 0 < first.count("synthetic") < 25


def test_chars_unit(tmp_path):
    shards = [_shard(_rows("r", 50, "real", None), _rows("s", 40, "synthetic", None), phase=False)]
    result = run_global(SyntheticInjection(ratio=0.1, unit="chars"), shards, str(tmp_path))
    row = result.report["phases"][0]
    target = 0.1 * row["real_chars"] / 0.9
    one_doc = max(len(t) for t in read_all(result.shards).column("text").to_pylist())
    assert abs(row["synthetic_chars"] - target) <= one_doc
    assert row["achieved_ratio"] == pytest.approx(row["synthetic_chars"] / (row["synthetic_chars"] + row["real_chars"]))


def test_only_real_rows_and_no_source_column(tmp_path):
    result = run_global(SyntheticInjection(ratio=0.0), [make_batch(["甲", "乙"])], str(tmp_path))
    assert read_all(result.shards).column("id").to_pylist() == ["d0", "d1"]


def test_one_target_required():
    with pytest.raises(ValueError, match="exactly one"):
        SyntheticInjection()
    with pytest.raises(ValueError, match="exactly one"):
        SyntheticInjection(ratio=0.1, phase_ratios=[0.1])


def test_injected_documents_take_the_phase_they_are_placed_in(tmp_path):
    """All synthetic documents scored easy (phase 0) but phase 0 takes none: they move to phase 1, and the
    output's `_phase` stays in training order."""
    shards = [
        _shard(_rows("r", 20, "real", 0), _rows("s", 10, "synthetic", 0)),
        _shard(_rows("r", 20, "real", 1, 20)),
    ]
    result = run_global(SyntheticInjection(phase_ratios=[0.0, 0.2]), shards, str(tmp_path))
    table = read_all(result.shards)
    phases = table.column("_phase").to_pylist()
    assert phases == sorted(phases)
    assert _phase_counts(table) == {0: (20, 0), 1: (20, 5)}
