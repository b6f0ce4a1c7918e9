"""`jingxuan curriculum-eval`: train the same proxy model on a run's documents in curriculum order, shuffled
and reversed, with the same tokens and seeds, and compare held-out loss over training."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict

from pipeline.proxy_eval import corpus as cp
from pipeline.proxy_eval.model import byte_lm, parameter_count, pick_device, require_torch
from pipeline.proxy_eval.results import write_results
from pipeline.proxy_eval.settings import ORDERS, EvalSettings
from pipeline.proxy_eval.train import eval_windows, time_per_step, train_curve

MIN_STEPS = 10


def plan_steps(s: EvalSettings, pool_bytes: int, t_step: float, t_eval: float) -> tuple[int, list[str]]:
    """Steps every run takes, and why they are fewer than asked: one epoch must fit the training documents,
    and all runs must fit the time budget."""
    steps, notes = s.steps, []
    fit = (pool_bytes - 1) // s.model.tokens_per_step
    if fit < steps:
        notes.append(f"the training documents hold {pool_bytes:,} bytes: {fit} steps of one epoch, not {steps}")
        steps = fit
    runs = len(s.orders) * len(s.seeds)
    if s.budget_minutes is not None:
        per_run = s.budget_minutes * 60 / runs - (s.evals + 1) * t_eval
        fit = int(per_run / t_step) if per_run > 0 else 0
        if fit < steps:
            notes.append(
                f"--budget-minutes {s.budget_minutes:g} for {runs} runs at {t_step:.3f} s/step: {fit} steps "
                f"instead of {steps} (pass --steps {fit} to reproduce these numbers on another machine)"
            )
            steps = fit
    if steps < MIN_STEPS:
        raise cp.ProxyEvalError(
            f"only {steps} training steps fit (need {MIN_STEPS}): give more --budget-minutes, a smaller model, "
            "or a run with more documents"
        )
    return steps, notes


def run_curriculum_eval(run_dir: str, s: EvalSettings, log: Callable[[str], None] = print) -> dict:
    """Train len(orders) x len(seeds) proxy models; write curriculum_eval.json/.svg and refresh report.html."""
    torch = require_torch()
    for o in s.orders:
        if o not in ORDERS:
            raise cp.ProxyEvalError(f"unknown order {o!r}; choose from {', '.join(ORDERS)}")
    t_start = time.perf_counter()
    device = pick_device(s.device)
    corpus = cp.load_corpus(run_dir)
    ms = s.model
    probe_split = cp.split(corpus, s.holdout, 0)
    held_needed = s.heldout_windows * (ms.context + 1) * 4  # spread the windows over 4x their bytes
    held_pos = _prefix(probe_split.heldout, corpus, held_needed)
    held_texts = cp.read_texts(corpus, held_pos)
    held_stream = cp.byte_stream(held_texts, held_pos)
    if len(held_stream) < 4 * (ms.context + 1):
        raise cp.ProxyEvalError(
            f"{run_dir}: the held-out documents hold {len(held_stream):,} bytes, too few for windows of "
            f"{ms.context}; raise --holdout or lower --context"
        )
    heldout = eval_windows(held_stream, ms.context, s.heldout_windows)
    t_step, t_eval = time_per_step(ms, heldout, s.threads, device)
    steps, notes = plan_steps(s, probe_split.train_pool_bytes, t_step, t_eval)
    for n in notes:
        log("note: " + n)
    train_bytes = steps * ms.tokens_per_step + 1
    sp = cp.split(corpus, s.holdout, train_bytes)
    texts = cp.read_texts(corpus, sp.train)
    params = parameter_count(byte_lm(ms.d_model, ms.layers, ms.heads, ms.context))
    log(
        f"{len(sp.train):,} training documents ({sum(len(t) for t in texts.values()):,} bytes, a uniform sample of "
        f"{sp.train_pool:,}), {len(held_pos):,} held-out documents -> {len(heldout)} windows; "
        f"model {params / 1e6:.2f}M parameters; {steps} steps x {ms.tokens_per_step:,} bytes per run; "
        f"{len(s.orders)} orders x {len(s.seeds)} seeds on {device} ({s.threads} thread{'s' if s.threads > 1 else ''})"
    )
    runs: dict[str, dict[str, dict]] = {}
    for name in s.orders:
        runs[name] = {}
        for seed in s.seeds:
            ordered = cp.order(sp.train, corpus, name, seed)
            r = train_curve(cp.byte_stream(texts, ordered), heldout, ms, steps, s.evals, seed, s.threads, device)
            r["first_docs"] = [corpus.ids[i] for i in ordered[:3]]
            runs[name][str(seed)] = r
            log(
                f"{name:<10} seed {seed}: held-out loss {r['heldout_loss'][0]:.3f} -> {r['heldout_loss'][-1]:.4f} "
                f"nats/byte ({r['seconds']:.0f} s)"
            )
    result = {
        "run_dir": os.path.abspath(run_dir),
        "settings": {**asdict(s), "steps": steps, "requested_steps": s.steps},
        "notes": notes,
        "unit": "nats per byte",
        "parameters": params,
        "tokens_per_run": steps * ms.tokens_per_step,
        "train_docs": len(sp.train),
        "train_pool_docs": sp.train_pool,
        "heldout_docs": len(held_pos),
        "heldout_windows": len(heldout),
        "device": device,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seconds_per_step_probe": t_step,
        "seconds": time.perf_counter() - t_start,
        "runs": runs,
    }
    paths = write_results(run_dir, result)
    log("wrote " + ", ".join(paths))
    return result


def _prefix(positions, corpus: cp.Corpus, nbytes: int):
    """The first documents of `positions` (hash order: a uniform sample) holding at least `nbytes`."""
    total = (corpus.nbytes[positions] + 1).cumsum()
    return positions[: int((total < nbytes).sum()) + 1]
