import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from pipeline import cli
from pipeline.proxy_eval.corpus import ProxyEvalError
from pipeline.proxy_eval.harness import plan_steps
from pipeline.proxy_eval.model import MISSING_TORCH, require_torch
from pipeline.proxy_eval.settings import EvalSettings, ModelSettings

TINY = ModelSettings(d_model=32, layers=1, heads=2, context=32, batch_size=4, lr=3e-3)


def test_steps_shrink_to_one_epoch_and_to_the_time_budget_and_say_so():
    s = EvalSettings(steps=1000, evals=4, seeds=(0, 1), orders=("curriculum", "shuffle"), model=TINY, budget_minutes=1)
    steps, notes = plan_steps(s, pool_bytes=128 * 500 + 1, t_step=0.01, t_eval=0.0)
    assert steps == 500 and "one epoch" in notes[0]
    steps, notes = plan_steps(s, pool_bytes=10**9, t_step=0.1, t_eval=0.0)
    assert steps == 150 and "--steps 150" in notes[0]  # 60 s / 4 runs / 0.1 s
    with pytest.raises(ProxyEvalError, match="steps fit"):
        plan_steps(s, pool_bytes=10**9, t_step=10.0, t_eval=0.0)


def test_missing_torch_is_one_line(monkeypatch, curated_run, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ProxyEvalError, match="jingxuan\\[eval\\]"):
        require_torch()
    assert cli.main(["curriculum-eval", curated_run]) == 2
    assert capsys.readouterr().err == f"jingxuan: error: {MISSING_TORCH}\n"


def test_base_pipeline_does_not_import_torch():
    code = (
        "import sys, pipeline.cli, pipeline.runner, pipeline.report, pipeline.proxy_eval; "
        "pipeline.cli.build_parser(); assert 'torch' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_training_is_deterministic_and_learns(curated_run):
    pytest.importorskip("torch")
    from pipeline.proxy_eval import corpus as cp
    from pipeline.proxy_eval.train import eval_windows, train_curve

    c = cp.load_corpus(curated_run)
    sp = cp.split(c, 0.2, 40 * TINY.tokens_per_step + 1)
    texts = cp.read_texts(c, np.concatenate([sp.train, sp.heldout]))
    stream = cp.byte_stream(texts, sp.train)
    held = eval_windows(cp.byte_stream(texts, sp.heldout), TINY.context, 32)
    a, b, other = (train_curve(stream, held, TINY, 40, 2, seed, 1, "cpu") for seed in (7, 7, 8))
    assert a["heldout_loss"] == b["heldout_loss"] and a["train_loss"] == b["train_loss"]
    assert a["heldout_loss"] != other["heldout_loss"]
    assert a["heldout_loss"][-1] < a["heldout_loss"][0] - 0.5  # from ~ln(256) = 5.5 nats/byte
    assert np.mean(a["train_loss"][-5:]) < np.mean(a["train_loss"][:5])


def test_command_writes_json_plot_and_report_section(curated_run, capsys):
    pytest.importorskip("torch")
    argv = ["curriculum-eval", curated_run, "--steps", "20", "--evals", "2", "--seeds", "0", "1", "--holdout", "0.2"]
    argv += ["--d-model", "32", "--layers", "1", "--heads", "2", "--context", "32", "--batch-size", "4"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "held-out loss (nats per byte), mean ± sd over 2 seeds" in out
    assert "curriculum - shuffle" in out and "too few seeds" in out
    run = Path(curated_run)
    result = json.loads((run / "curriculum_eval.json").read_text(encoding="utf-8"))
    assert set(result["runs"]) == {"curriculum", "shuffle", "reverse"}
    assert result["settings"]["steps"] == 20 and result["tokens_per_run"] == 20 * 4 * 32
    for seed in ("0", "1"):  # every order starts from the same initial model
        assert len({result["runs"][o][seed]["heldout_loss"][0] for o in result["runs"]}) == 1
    svg = ET.parse(run / "curriculum_eval.svg").getroot()
    assert svg.tag.endswith("svg") and len(svg.findall(".//{*}polyline")) == 3 + 2  # orders + deltas
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-curriculum-eval-loss"' in html and 'id="chart-curriculum-eval-delta"' in html
    assert "<script" not in html
