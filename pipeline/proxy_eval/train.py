"""Training one proxy model on one byte stream, read strictly in order, with held-out loss along the way."""

from __future__ import annotations

import math
import time

import numpy as np

from pipeline.proxy_eval.model import byte_lm, make_deterministic, require_torch
from pipeline.proxy_eval.settings import ModelSettings


def windows(stream: np.ndarray, context: int, count: int | None = None) -> np.ndarray:
    """Consecutive (context + 1)-byte windows with stride `context`, in stream order: window w predicts
    bytes w*context+1 .. (w+1)*context. Step t trains on windows t*batch .. (t+1)*batch - 1."""
    n = (len(stream) - 1) // context if count is None else count
    if n * context + 1 > len(stream):
        raise ValueError(f"stream of {len(stream)} bytes holds fewer than {n} windows of {context}")
    view = np.lib.stride_tricks.sliding_window_view(stream[: n * context + 1], context + 1)
    return view[::context]


def eval_windows(stream: np.ndarray, context: int, count: int) -> np.ndarray:
    """`count` windows spread evenly over the held-out stream (not just its first documents)."""
    all_w = windows(stream, context)
    pick = np.unique(np.linspace(0, len(all_w) - 1, num=min(count, len(all_w))).round().astype(int))
    return np.ascontiguousarray(all_w[pick])


def eval_steps(steps: int, evals: int) -> list[int]:
    """Steps after which held-out loss is measured: 0 (the shared initial model) .. steps, evenly."""
    return sorted({round(steps * k / evals) for k in range(evals + 1)})


def lr_at(step: int, steps: int, ms: ModelSettings) -> float:
    warm = max(1, round(ms.warmup * steps))
    if step < warm:
        return ms.lr * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return ms.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


class Trainer:
    """One model, one seed: `step()` trains on the next batch of the stream; `heldout_loss()` measures."""

    def __init__(self, ms: ModelSettings, seed: int, threads: int, device: str, heldout: np.ndarray):
        torch = require_torch()
        self.torch, self.ms, self.device = torch, ms, device
        make_deterministic(seed, threads, device)
        self.model = byte_lm(ms.d_model, ms.layers, ms.heads, ms.context).to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=ms.lr, betas=(0.9, 0.95), weight_decay=0.1)
        self.heldout = torch.from_numpy(heldout.astype(np.int64)).to(device)

    def _loss(self, batch):
        logits = self.model(batch[:, :-1])
        return self.torch.nn.functional.cross_entropy(logits.reshape(-1, 256), batch[:, 1:].reshape(-1))

    def step(self, batch: np.ndarray, lr: float) -> float:
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss = self._loss(self.torch.from_numpy(batch.astype(np.int64)).to(self.device))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return float(loss.detach())

    def heldout_loss(self, chunk: int = 32) -> float:
        """Mean cross-entropy in nats per byte over every held-out position."""
        self.model.eval()
        total, n = 0.0, 0
        with self.torch.no_grad():
            for i in range(0, len(self.heldout), chunk):
                b = self.heldout[i : i + chunk]
                total += float(self._loss(b)) * b.shape[0]
                n += b.shape[0]
        return total / n


def train_curve(
    stream: np.ndarray,
    heldout: np.ndarray,
    ms: ModelSettings,
    steps: int,
    evals: int,
    seed: int,
    threads: int,
    device: str,
) -> dict:
    """Train for `steps` on `stream` in order; held-out loss at `eval_steps`; training loss per step."""
    trainer = Trainer(ms, seed, threads, device, heldout)
    batches = windows(stream, ms.context, steps * ms.batch_size)
    at = eval_steps(steps, evals)
    curve, train_loss = [], []
    t0 = time.perf_counter()
    for step in range(steps + 1):
        if step in at:
            curve.append(trainer.heldout_loss())
        if step == steps:
            break
        b = batches[step * ms.batch_size : (step + 1) * ms.batch_size]
        train_loss.append(trainer.step(b, lr_at(step, steps, ms)))
    return {"steps": at, "heldout_loss": curve, "train_loss": train_loss, "seconds": time.perf_counter() - t0}


def time_per_step(
    ms: ModelSettings, heldout: np.ndarray, threads: int, device: str, probe: int = 3
) -> tuple[float, float]:
    """Seconds per training step and per held-out evaluation, measured on random bytes after a warm-up step."""
    rng = np.random.default_rng(0)
    trainer = Trainer(ms, 0, threads, device, heldout)
    batch = rng.integers(0, 256, size=(ms.batch_size, ms.context + 1), dtype=np.uint8)
    trainer.step(batch, ms.lr)
    t0 = time.perf_counter()
    for _ in range(probe):
        trainer.step(batch, ms.lr)
    t_step = (time.perf_counter() - t0) / probe
    t0 = time.perf_counter()
    trainer.heldout_loss()
    return t_step, time.perf_counter() - t0
