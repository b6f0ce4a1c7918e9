"""The curriculum's parameters as its helpers and passes use them.

`Settings` is what the stage hands to the schedule, scoring, planning and the passes: a small frozen value,
picklable and sent with every pass item, so none of them needs the stage object (or imports its module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class PhaseRule(BaseModel):
    """A named phase: documents whose `column` is in `values` (or within [min, max)). A rule without a
    column takes every document no earlier rule took. Documents matching no rule go to a phase `rest`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    column: str | None = None
    values: list[str | int | float | bool] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> PhaseRule:
        has_condition = self.values is not None or self.min is not None or self.max is not None
        if self.column is None and has_condition:
            raise ValueError(f"phase rule {self.name!r}: values/min/max need a `column`")
        if self.column is not None and not has_condition:
            raise ValueError(f"phase rule {self.name!r}: give `values` or `min`/`max` for column {self.column!r}")
        return self


class PhaseMix(BaseModel):
    """How each source's documents are spread over the phases: `weights[value][p]` is the relative share of
    that source's documents (its easiest first) placed in phase p. `*` covers other values; without it,
    other values follow the `phases` fractions."""

    model_config = ConfigDict(extra="forbid")

    column: str
    weights: dict[str, list[float]]


@dataclass(frozen=True)
class Settings:
    schedule: str  # registered name or module:Class
    signal_columns: dict[str, str]  # signal name -> column holding its raw value
    weights: dict[str, float]  # signal name -> weight in the difficulty
    normalize: str  # rank | zscore
    phase_rules: tuple[PhaseRule, ...] | None
    phase_mix: PhaseMix | None
    n_strata: int  # strata a row can fall in (rules or sources, plus a held-back group)
    shuffle: bool  # within-phase order: seeded hash (True) or (key, id)
    fold_script: bool
    sample_size: int
    quality_last_share: float
    report_column: str | None
    params: dict[str, Any]  # the stage's parameters as configured, recorded in curriculum.json


@dataclass(frozen=True)
class Needed:
    """Input columns pass 1 reads besides the text: built-in signals to compute, columns to carry, the report
    column (when the input has it)."""

    builtins: tuple[str, ...]
    columns: tuple[str, ...]
    report: str | None
