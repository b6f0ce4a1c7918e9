from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from pipeline import cli
from pipeline.config import load_config, validate_config
from pipeline.report.decisions import decide, keep_by_source
from pipeline.tune import Knob, propose, recipe, tune
from stages.quality.han_ratio import HanRatioFilter
from stages.quality.length import LengthFilter
from stages.quality.punctuation import PunctuationFilter

PROSE = "这是一段普通的中文说明文字，讲的是城市里的公共自行车怎样借还，以及遇到问题时该找谁，大家平时出门都会用到。"


def _annotated(texts: list[str], stages) -> pa.RecordBatch:
    batch = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(texts))], "text": texts})
    for s in stages:
        batch = s.apply(batch).kept
    return batch


def _specs(stages) -> list[dict]:
    return [{"name": s.name, "key": s.name, "resolved": s.params(), "params": {"mode": "annotate"}} for s in stages]


def _stages():
    return [LengthFilter(mode="annotate"), HanRatioFilter(mode="annotate"), PunctuationFilter(mode="annotate")]


def test_decide_from_signals_equals_each_filters_own_verdict():
    texts = [
        PROSE,
        "短",
        "首页\n新闻\n体育\n娱乐\n财经",
        "abc def ghi jkl mno pqr stu vwx yz " * 3,
        PROSE + "\n" + PROSE,
    ]
    stages = _stages()
    batch = _annotated(texts, stages)
    reasons = decide(_specs(stages), batch).to_pylist()
    expected = [None] * len(texts)
    kept = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(texts))], "text": texts})
    for cls in (LengthFilter, HanRatioFilter, PunctuationFilter):
        out = cls().apply(kept)
        for row in out.rejected.to_pylist():
            expected[int(row["id"])] = f"{cls.name}.{row['reason']}"
        kept = out.kept
    assert reasons == expected
    assert reasons[0] is None and reasons[1] == "length_filter.too_short"


def _knob(side="min", value=50.0):
    return Knob("length_filter", "min_chars", "_char_len", side, value, integer=True)


def test_a_threshold_that_drops_good_text_is_loosened_unless_bad_text_comes_back():
    good = {"a": np.array([60.0] * 95 + [45.0] * 5), "b": np.array([80.0] * 100)}
    assert propose(_knob(), good, {"spam": np.array([10.0, 20.0])}, 0.01) == (45.0, None)
    # a bad document at 47 would be let back in: the labels disagree, keep the value and report it
    assert propose(_knob(), good, {"spam": np.array([10.0, 47.0])}, 0.01) == (50.0, 45.0)
    # one document of a small group does not move a threshold on its own
    assert propose(_knob(), {"a": np.array([60.0] * 6 + [45.0])}, {}, 0.01) == (50.0, None)


def test_tightening_is_opt_in_and_not_onto_a_value_most_good_text_shares():
    knob = Knob("punctuation_filter", "max_bullet_line_ratio", "_bullet_line_ratio", "max", 0.9)
    good = {"a": np.zeros(200), "b": np.r_[np.zeros(199), 0.05]}
    bad = {"spam": np.array([0.5, 0.6, 0.95])}
    assert propose(knob, good, bad, 0.01) == (0.9, None)
    assert propose(knob, good, bad, 0.01, tighten=True) == (0.9, None)  # limit 0 is where all good text sits
    spread = {"a": np.linspace(0, 0.3, 200)}
    assert propose(knob, spread, bad, 0.01, tighten=True)[0] == pytest.approx(0.297, abs=0.002)


def test_tune_reports_tables_and_combined_keep_and_writes_a_runnable_recipe(repo_dir: Path, tmp_path: Path):
    stages = _stages()
    good = _annotated([PROSE * 2, *([PROSE[:46] + "。"] * 3), *([PROSE * 3] * 60)], stages)
    bad = _annotated(
        ["首页\n新闻\n体育\n娱乐\n财经\n科技", "点击这里", *(["广告 广告 广告 广告 广告 广告 广告 广告"] * 5)], stages
    )
    result = tune(_specs(stages), {"prose": good}, {"spam": bad}, max_loss=0.01)
    changed = {k.label: v for k, v in result.changes().items()}
    assert changed == {"length_filter.min_chars": 47}  # the 47-character prose documents are kept now
    assert result.before["prose"].kept == 61 and result.after["prose"].kept == 64
    assert result.after["spam"].kept == 0
    table = dict(
        (label, keeps) for label, _, keeps in result.tables[next(k for k in result.knobs if k.param == "min_chars")]
    )
    assert table["current"]["prose"] < table["proposed"]["prose"] == 1.0
    cfg = load_config(str(repo_dir / "configs" / "sample.yaml"))
    raw = cfg.model_dump(mode="json")
    raw["stages"] = [s for s in raw["stages"] if s["name"] == "length_filter"]
    raw["stages"][0]["params"]["mode"] = "annotate"
    written = recipe(raw, result.proposed, str(tmp_path / "out"))
    assert written["stages"] == [{"length_filter": {"min_chars": 47, "min_mean_line_len": 5, "mode": "filter"}}]
    validate_config(yaml.safe_load(yaml.safe_dump(written, allow_unicode=True)))


def test_tune_command_on_an_annotate_run(repo_dir: Path, tmp_path: Path, capsys):
    sample = repo_dir / "sample_data"
    config = tmp_path / "annotate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "input": {"paths": [str(sample / "encyclopedia.jsonl"), str(sample / "web_spam.jsonl")]},
                "output": {"dir": str(tmp_path / "run")},
                "stages": [{"length_filter": {}}, {"han_ratio_filter": {}}, {"punctuation_filter": {}}],
                "execution": {"engine": "local", "workers": 1},
            }
        ),
        encoding="utf-8",
    )
    assert cli.main(["run", str(config), "--annotate", "--quiet"]) == 0
    capsys.readouterr()
    tuned = tmp_path / "tuned.yaml"
    argv = ["tune", str(tmp_path / "run"), "--good", str(sample / "encyclopedia.jsonl"), "--bad", "web_spam.jsonl"]
    assert cli.main([*argv, "--output", str(tuned)]) == 0
    out = capsys.readouterr().out
    assert "length_filter.min_chars (_char_len, drop below)" in out
    assert "encyclopedia" in out and "web_spam" in out and "combined keep" in out
    cfg = load_config(str(tuned))
    assert all(s.params.get("mode", "filter") == "filter" for s in cfg.stages)
    assert cfg.run_dir == str(tmp_path / "run") + "_tuned"
    # a filter-mode run cannot be tuned: one line, no traceback
    assert cli.main(["run", str(tuned), "--quiet"]) == 0
    assert cli.main(["tune", str(tmp_path / "run_tuned"), "--good", "url=nothing"]) == 2
    assert "mode: annotate" in capsys.readouterr().err


def test_keep_by_source_counts_every_annotated_document(tmp_path: Path):
    stages = _stages()
    batch = _annotated([PROSE * 2, "短", PROSE * 3], stages)
    batch = batch.append_column("source", pa.array(["wiki", "wiki", None]))
    (tmp_path / "run" / "data").mkdir(parents=True)
    with pa.ipc.new_stream(str(tmp_path / "run" / "data" / "data-00000-of-00001.arrow"), batch.schema) as w:
        w.write_batch(batch)
    got = keep_by_source(str(tmp_path / "run"), _specs(stages))
    assert {k: (v.docs, v.kept) for k, v in got.items()} == {"wiki": (2, 1), "(none)": (1, 1)}
    assert got["wiki"].reasons == {"length_filter.too_short": 1}


def test_report_shows_keep_rate_per_source_of_an_annotate_run(tmp_path: Path):
    import json

    from pipeline.report import write_report

    stages = _stages()
    batch = _annotated([PROSE * 2, "短", PROSE * 3, "首页\n新闻\n体育\n娱乐\n财经"], stages)
    batch = batch.append_column("source", pa.array(["wiki", "wiki", "news", "web"]))
    (tmp_path / "data").mkdir()
    with pa.ipc.new_stream(str(tmp_path / "data" / "data-00000-of-00001.arrow"), batch.schema) as w:
        w.write_batch(batch)
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"stages": _specs(stages)}}), encoding="utf-8")
    html = (Path(write_report(str(tmp_path)))).read_text(encoding="utf-8")
    section = html[html.index('<section id="sources">') :].split("</section>")[0]
    assert "wiki" in section and "0.500" in section and "length_filter.too_short 0.50" in section
    assert "web" in section and "0.000" in section
