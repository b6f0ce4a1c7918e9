"""What a curriculum evaluation trains and how long: plain dataclasses, importable without numpy or torch, so the
command line takes its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field

ORDERS = ("curriculum", "shuffle", "reverse")


@dataclass(frozen=True)
class ModelSettings:
    d_model: int = 256  # 256 x 4 layers: 3.3M parameters
    layers: int = 4
    heads: int = 4
    context: int = 128  # bytes per window
    batch_size: int = 16  # windows per step
    lr: float = 1e-3
    warmup: float = 0.05  # share of steps with a linear warm-up; then cosine decay to lr / 10

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context


@dataclass(frozen=True)
class EvalSettings:
    orders: tuple[str, ...] = ORDERS
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 1000  # per order and seed; every run reads steps * batch_size * context bytes once
    evals: int = 10  # held-out measurements after step 0 (the shared initial model)
    holdout: float = 0.05  # share of documents held out (by id hash, before ordering)
    heldout_windows: int = 256
    budget_minutes: float | None = 20.0
    threads: int = 1
    device: str = "auto"
    model: ModelSettings = field(default_factory=ModelSettings)
