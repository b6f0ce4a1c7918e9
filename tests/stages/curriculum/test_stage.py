import random
from collections import Counter
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from pipeline.report.phases import phase_table
from stages.curriculum import Curriculum, Schedule
from stages.curriculum import signals as sig
from stages.curriculum.summary import spearman_matrix
from stages.testing import make_batch, read_all, run_global

CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定"
)


def corpus(n_shards=3, per_shard=40, seed=0, **columns):
    """Shards of made-up documents of varied length, alphabet and sentence length, ids unique."""
    rng = random.Random(seed)
    shards = []
    for s in range(n_shards):
        texts = []
        for _ in range(per_shard):
            n = rng.choice([6, 20, 60, 200])
            alphabet = CHARS[: rng.choice([5, 20, len(CHARS)])]
            body = "".join(rng.choice(alphabet) for _ in range(n))
            step = rng.choice([4, 12, 40])
            texts.append("。".join(body[j : j + step] for j in range(0, n, step)) + "。")
        ids = [f"s{s}-{i:03d}" for i in range(per_shard)]
        cols = {k: v[s * per_shard : (s + 1) * per_shard] for k, v in columns.items()}
        shards.append(make_batch(texts, ids=ids, **cols))
    return shards


def run(tmp_path, stage, shards, **ctx):
    result = run_global(stage, shards, str(tmp_path), **ctx)
    return result, read_all(result.shards)


def test_easy_to_hard_is_monotone_across_output_shards(tmp_path):
    result, t = run(tmp_path, Curriculum(bucket_docs=10), corpus())
    assert len(result.shards) >= 6  # several buckets, so order crosses shard boundaries
    d = t.column("_difficulty").to_numpy()
    assert t.num_rows == 120
    assert np.all(np.diff(d) >= 0)
    assert sorted(t.column("id").to_pylist()) == sorted(b for s in corpus() for b in s.column("id").to_pylist())
    assert [p.split("/")[-1] for p in result.shards] == [f"part-{i:05d}.arrow" for i in range(len(result.shards))]
    for c in ("_sig_length", "_sig_rarity", "_sig_sentence_length", "_sig_entropy", "_difficulty", "_phase"):
        assert c in t.column_names
    assert not {"_key", "_stratum", "_u"} & set(t.column_names)
    assert t.schema.field("_phase").type == pa.int32()


def test_hard_to_easy_is_reversed(tmp_path):
    _, easy = run(tmp_path / "a", Curriculum(bucket_docs=10), corpus())
    _, hard = run(tmp_path / "b", Curriculum(schedule="hard_to_easy", bucket_docs=10), corpus())
    assert np.all(np.diff(hard.column("_difficulty").to_numpy()) <= 0)
    assert hard.column("_difficulty").to_pylist() == easy.column("_difficulty").to_pylist()[::-1]


def test_phase_sizes_match_fractions(tmp_path):
    shards = corpus(n_shards=3, per_shard=33)  # 99 documents
    result, t = run(tmp_path, Curriculum(phases=[0.2, 0.3, 0.5], bucket_docs=8), shards)
    sizes = np.bincount(t.column("_phase").to_numpy())
    for size, f in zip(sizes, [0.2, 0.3, 0.5], strict=True):
        assert abs(size - f * 99) <= len(shards)
    assert sizes.tolist() == [20, 30, 49]  # rank cuts at round(0.2*99)=20 and round(0.5*99)=50
    assert np.all(np.diff(t.column("_phase").to_numpy()) >= 0)
    assert [p["docs"] for p in result.report["phases"]] == [20, 30, 49]
    d = t.column("_difficulty").to_numpy()
    assert np.all(np.diff(d) >= 0)


def test_same_seed_same_bytes(tmp_path):
    stage = Curriculum(schedule="phases", phases=3, bucket_docs=10)
    a, _ = run(tmp_path / "a", stage, corpus(), seed=7)
    b, _ = run(tmp_path / "b", stage, corpus(), seed=7)
    assert len(a.shards) == len(b.shards)
    for x, y in zip(a.shards, b.shards, strict=True):
        assert Path(x).read_bytes() == Path(y).read_bytes()


def test_other_seed_changes_only_order_inside_phases(tmp_path):
    stage = Curriculum(schedule="phases", phases=3, bucket_docs=10)
    _, a = run(tmp_path / "a", stage, corpus(), seed=1)
    _, b = run(tmp_path / "b", stage, corpus(), seed=2)
    pa_, pb = a.column("_phase").to_numpy(), b.column("_phase").to_numpy()
    assert np.all(np.diff(pa_) >= 0) and np.all(np.diff(pb) >= 0)
    ids_a, ids_b = np.asarray(a.column("id").to_pylist()), np.asarray(b.column("id").to_pylist())
    for p in range(3):
        assert sorted(ids_a[pa_ == p]) == sorted(ids_b[pb == p])
    assert ids_a.tolist() != ids_b.tolist()
    # shuffled: the order inside a phase is not the difficulty order
    assert not np.all(np.diff(a.column("_difficulty").to_numpy()[pa_ == 0]) >= 0)


def _reference_difficulty(table, weights):
    """Full in-memory computation: signals over all documents, mid-rank CDF, weighted mean."""
    values = sig.compute(table, [k for k in weights if k in sig.BUILTIN])
    total = np.zeros(table.num_rows)
    for name, w in weights.items():
        x = values[name]
        ref = np.sort(x)
        total += w * (np.searchsorted(ref, x, "left") + np.searchsorted(ref, x, "right")) / (2 * len(ref))
    return total / sum(abs(w) for w in weights.values())


def test_sample_sort_equals_in_memory_sort(tmp_path):
    shards = corpus(n_shards=4, per_shard=50)
    full = pa.Table.from_batches(shards)
    weights = {"length": 1.0, "rarity": 1.0, "sentence_length": 1.0, "entropy": 0.5}
    result, t = run(tmp_path, Curriculum(signals=weights, bucket_docs=7, sample_size=1000), shards)
    assert result.report["buckets"]["count"] > 20
    full = full.append_column("_difficulty", pa.array(_reference_difficulty(full, weights)))
    expected = full.sort_by([("_difficulty", "ascending"), ("id", "ascending")])
    assert t.column("id").to_pylist() == expected.column("id").to_pylist()
    assert t.column("_difficulty").to_numpy() == pytest.approx(expected.column("_difficulty").to_numpy())


def test_sample_sort_with_a_partial_sample_is_a_total_order(tmp_path):
    shards = corpus(n_shards=4, per_shard=75)
    _, t = run(tmp_path, Curriculum(bucket_docs=9, sample_size=100), shards)
    resorted = t.sort_by([("_difficulty", "ascending"), ("id", "ascending")])
    assert t.column("id").to_pylist() == resorted.column("id").to_pylist()


def test_quality_last_holds_back_the_top_share(tmp_path):
    rng = random.Random(3)
    quality = [rng.random() for _ in range(100)]
    shards = corpus(n_shards=2, per_shard=50, _quality=quality)
    stage = Curriculum(schedule="quality_last", quality_last_share=0.1, phases=2, bucket_docs=12)
    result, t = run(tmp_path, stage, shards)
    phase = t.column("_phase").to_numpy()
    assert np.bincount(phase).tolist() == [45, 45, 10]
    top = {f"s{i // 50}-{i % 50:03d}" for i in np.argsort(quality)[-10:]}
    last = t.slice(90)
    assert set(last.column("id").to_pylist()) == top
    assert result.report["phases"][2]["name"] == "quality_decay"
    assert np.all(np.diff(t.slice(0, 90).column("_difficulty").to_numpy()) >= 0)


def test_quality_last_needs_quality_column(tmp_path):
    with pytest.raises(ValueError, match="_quality"):
        run(tmp_path, Curriculum(schedule="quality_last"), corpus(n_shards=1))


class LongestFirst(Schedule):
    name: ClassVar[str] = "test_longest_first"

    def key(self, cols):
        return -cols["_sig_length"]


def test_user_schedule_by_name_and_by_module_path(tmp_path):
    for i, name in enumerate(["test_longest_first", f"{__name__}:LongestFirst"]):
        _, t = run(tmp_path / str(i), Curriculum(schedule=name, bucket_docs=15), corpus())
        lengths = [len(x) for x in t.column("text").to_pylist()]
        assert lengths == sorted(lengths, reverse=True)


def test_phase_rules_by_column(tmp_path):
    src = ["news" if i % 3 == 0 else "review" if i % 3 == 1 else "wiki" for i in range(120)]
    stage = Curriculum(
        phase_rules=[
            {"name": "reviews", "column": "src", "values": ["review"]},
            {"name": "news", "column": "src", "values": ["news"]},
        ],
        bucket_docs=10,
    )
    result, t = run(tmp_path, stage, corpus(src=src))
    phase = t.column("_phase").to_numpy()
    s = np.asarray(t.column("src").to_pylist())
    assert set(s[phase == 0]) == {"review"} and set(s[phase == 1]) == {"news"} and set(s[phase == 2]) == {"wiki"}
    assert [p["name"] for p in result.report["phases"]] == ["reviews", "news", "rest"]
    assert np.all(np.diff(phase) >= 0)
    for p in range(3):  # sorted within each phase
        assert np.all(np.diff(t.column("_difficulty").to_numpy()[phase == p]) >= 0)


def test_phase_mix_spreads_each_source_over_phases(tmp_path):
    src = ["a" if i % 2 else "b" for i in range(120)]
    stage = Curriculum(phases=3, phase_mix={"column": "src", "weights": {"a": [3, 1, 0]}}, bucket_docs=10)
    _, t = run(tmp_path, stage, corpus(src=src))
    phase = t.column("_phase").to_numpy()
    s = np.asarray(t.column("src").to_pylist())
    assert Counter(phase[s == "a"].tolist()) == {0: 45, 1: 15}
    assert Counter(phase[s == "b"].tolist()) == {0: 20, 1: 20, 2: 20}
    assert np.all(np.diff(phase) >= 0)
    for p in range(3):
        assert np.all(np.diff(t.column("_difficulty").to_numpy()[phase == p]) >= 0)
    # within a source, easier documents come in earlier phases
    d = t.column("_difficulty").to_numpy()
    a = s == "a"
    assert d[a & (phase == 0)].max() <= d[a & (phase == 1)].min()


def test_user_column_signal_and_zscore(tmp_path):
    score = [float(i % 7) for i in range(120)]
    stage = Curriculum(signals={"score": 1.0}, normalize="zscore", bucket_docs=20)
    result, t = run(tmp_path, stage, corpus(score=score))
    x = np.asarray(score)
    expected = (t.column("score").to_numpy() - x.mean()) / x.std()
    assert t.column("_difficulty").to_numpy() == pytest.approx(expected)
    assert result.report["normalize"]["mean_std"]["score"] == pytest.approx([x.mean(), x.std()], abs=1e-6)


def test_curriculum_json_and_phase_table(tmp_path):
    result, _ = run(tmp_path, Curriculum(phases=2, bucket_docs=25), corpus(), seed=5)
    summary = result.report
    assert summary["seed"] == 5 and summary["schedule"] == "easy_to_hard"
    assert summary["signals"]["length"] == 1.0
    assert sum(p["docs"] for p in summary["phases"]) == 120
    assert summary["phases"][1]["first_doc"] == 60
    assert summary["difficulty_quantiles"]["0.5"] is not None
    assert result.stats.docs_out == 120 and result.stats.counters["phase_1"] == 60
    table = phase_table(result.files["curriculum.json"])
    assert "phase_0" in table and "phase_1" in table and "60" in table


def test_empty_input(tmp_path):
    result, t = run(tmp_path, Curriculum(), [make_batch([], ids=[])])
    assert t.num_rows == 0 and result.stats.docs_in == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": "nope"}, "unknown schedule"),
        ({"phases": [0.5, 0.6]}, "sum to 1"),
        ({"signals": {"length": 0}}, "non-zero"),
        ({"shuffle_within_phase": True}, "single phase"),
        ({"quality_last_share": 0.2}, "quality_last"),
        ({"phase_rules": [{"name": "x"}], "phase_mix": {"column": "c", "weights": {"a": [1]}}}, "cannot be combined"),
        ({"phases": 2, "phase_mix": {"column": "c", "weights": {"a": [1, 2, 3]}}}, "3 weights for 2 phases"),
        ({"phase_rules": [{"name": "x", "values": ["a"]}]}, "need a `column`"),
    ],
)
def test_invalid_combinations(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        Curriculum(**kwargs)


def test_unknown_signal_column(tmp_path):
    with pytest.raises(ValueError, match="no column 'nope'"):
        run(tmp_path, Curriculum(signals={"nope": 1.0}), corpus(n_shards=1))


def test_spearman_matrix_by_hand():
    rho = spearman_matrix(
        {"a": np.array([1.0, 2, 3, 4]), "b": np.array([10.0, 20, 30, 40]), "c": np.array([4.0, 3, 2, 1])}
    )
    assert rho["a"]["b"] == pytest.approx(1.0) and rho["a"]["c"] == pytest.approx(-1.0)


def test_missing_values_count_as_typical(tmp_path):
    shards = corpus(n_shards=2, per_shard=20)
    shards[0] = shards[0].append_column("score", pa.array([float(i) for i in range(20)]))  # shard 1 has no score
    stage = Curriculum(signals={"score": 1.0}, bucket_docs=7)
    _, t = run(tmp_path, stage, shards)
    d = dict(zip(t.column("id").to_pylist(), t.column("_difficulty").to_pylist(), strict=True))
    assert d["s1-000"] == 0.5 and d["s0-000"] == pytest.approx(0.5 / 20)


def test_real_corpus_puts_short_reviews_before_news(shared_dir, tmp_path):
    import orjson

    shards = []
    for name in ("zh_reviews_waimai10k", "zh_titles_fewclue_tnews", "zh_news_thucnews", "zh_abstracts_fewclue_csldcp"):
        with open(shared_dir / "corpora" / "docs" / f"{name}.jsonl", "rb") as f:
            rows = [orjson.loads(line) for _, line in zip(range(150), f, strict=False)]
        rows = [r for r in rows if r.get("text")]
        shards.append(make_batch([r["text"] for r in rows], ids=[r["id"] for r in rows], _src=[name] * len(rows)))
    _, t = run(tmp_path, Curriculum(phases=4, report_column="_src", bucket_docs=100), shards)
    phase = t.column("_phase").to_numpy()
    src = np.asarray(t.column("_src").to_pylist())
    mean = {s: phase[src == s].mean() for s in set(src)}
    assert max(mean["zh_reviews_waimai10k"], mean["zh_titles_fewclue_tnews"]) < 1.0
    assert min(mean["zh_news_thucnews"], mean["zh_abstracts_fewclue_csldcp"]) > 2.0


def test_process_pool_gives_the_same_bytes(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    stage = Curriculum(schedule="phases", phases=2, bucket_docs=15)
    serial, _ = run(tmp_path / "a", stage, corpus())
    with ProcessPoolExecutor(2) as pool:
        pooled, _ = run(tmp_path / "b", stage, corpus(), map=lambda fn, items, weights=None: list(pool.map(fn, items)))
    assert [Path(p).read_bytes() for p in serial.shards] == [Path(p).read_bytes() for p in pooled.shards]


@pytest.mark.parametrize("schedule", ["easy_to_hard", "phases"])
def test_an_empty_input_shard_is_fine(tmp_path, schedule):
    """A filter upstream can empty a whole shard; the curriculum orders the rest."""
    shards = corpus(n_shards=2, per_shard=30)
    empty = shards[0].slice(0, 0)
    stage = Curriculum(schedule=schedule, phases=3 if schedule == "phases" else None)
    result, table = run(tmp_path, stage, [shards[0], empty, shards[1]])
    assert table.num_rows == 60 and result.stats.docs_in == 60
    if schedule == "easy_to_hard":
        d = table.column("_difficulty").to_numpy()
        assert (np.diff(d) >= 0).all()


@pytest.mark.parametrize("params", [{}, {"schedule": "phases", "phases": 3}])
def test_tiny_budget_many_buckets_identical_dataset(tmp_path, params):
    from pipeline.io.writer import write_dataset

    shards = corpus(n_shards=4, per_shard=150)
    out = {}
    for name, budget in (("big", 1e6), ("tiny", 0.05)):
        stage = Curriculum(signals={"length": 1.0, "entropy": 1.0}, memory_budget_mb=budget, **params)
        result = run_global(stage, shards, str(tmp_path / name), seed=3)
        data = tmp_path / name / "data"
        write_dataset(result.shards, str(data), 1000)
        out[name] = (result.report["buckets"]["count"], sorted((p.name, p.read_bytes()) for p in data.iterdir()))
    assert out["big"][0] == 1 and out["tiny"][0] >= 5
    assert out["tiny"][1] == out["big"][1]
