"""Curriculum schedules: how documents are ranked and which are held back for a final phase.

A schedule is a small class: `key(cols)` gives a float per document (ascending = earlier in training), and
optionally `hold_back(cols)` picks documents for one extra, final phase (quality_last's decay phase). The
stage does the rest: phases by rank within the key (`phases`, `phase_rules`, `phase_mix`), sorted or
shuffled within each phase, at any corpus size. Add one by subclassing `Schedule` and setting `name` in a
module that is imported (it registers itself, like a stage), or name it in YAML as `my_pkg.module:MySchedule`.

`cols` maps column names to numpy arrays for a batch of documents: `_difficulty`, the raw signal columns
(`_sig_length` ...), and every input column the schedule lists in `columns`. `self.settings` holds the stage's
parameters (`stages.curriculum.settings.Settings`, e.g. `quality_last_share`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from stages.core.registry import Registry
from stages.curriculum.settings import Settings

Columns = dict[str, np.ndarray]


class UnknownScheduleError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Schedule:
    """Base of every schedule. Subclasses set `name` and override `key` (and `hold_back` if needed)."""

    name: ClassVar[str] = ""
    shuffle: ClassVar[bool] = False  # within-phase order when the stage's shuffle_within_phase is unset
    default_phases: ClassVar[int] = 1  # phases when the stage's `phases` is unset
    columns: ClassVar[tuple[str, ...]] = ()  # input columns read by key/hold_back (besides _difficulty)
    hold_back_name: ClassVar[str] = "final"  # name of the held-back phase

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            SCHEDULES.register(cls)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def validate(self) -> None:
        """Raise ValueError for parameter combinations this schedule cannot honour."""

    def key(self, cols: Columns) -> np.ndarray:
        """Ascending key: smaller comes earlier. Ties are broken by document id."""
        return cols["_difficulty"]

    def prepare(self, sample: Columns) -> dict[str, Any]:
        """Statistics from the corpus sample that `hold_back` needs (JSON-able; kept in curriculum.json)."""
        return {}

    def hold_back(self, cols: Columns, prepared: dict[str, Any]) -> np.ndarray | None:
        """A boolean mask of documents moved to one extra final phase, or None."""
        return None


SCHEDULES: Registry[type[Schedule]] = Registry(Schedule, "schedule", UnknownScheduleError)
available = SCHEDULES.available
get_schedule = SCHEDULES.get


class EasyToHard(Schedule):
    """Global ascending order of `_difficulty`."""

    name = "easy_to_hard"


class HardToEasy(Schedule):
    """Global descending order of `_difficulty` (anti-curriculum, for comparison runs)."""

    name = "hard_to_easy"

    def key(self, cols: Columns) -> np.ndarray:
        return -cols["_difficulty"]


class Phases(Schedule):
    """N phases by quantile of difficulty (or by `phase_rules`), shuffled within each phase."""

    name = "phases"
    shuffle = True
    default_phases = 4


class QualityLast(Schedule):
    """Easy-to-hard, except the top `quality_last_share` of documents by `_quality`, which form a final
    phase (the decay phase MiniCPM trains last on high-quality data, ~10% of steps)."""

    name = "quality_last"
    columns = ("_quality",)
    hold_back_name = "quality_decay"

    def prepare(self, sample: Columns) -> dict[str, Any]:
        q = sample["_quality"]
        q = q[np.isfinite(q)]
        if len(q) == 0:
            return {"quality_threshold": None}
        # Documents with _quality >= threshold are held back: the top share of the sample.
        k = max(1, round(self.settings.quality_last_share * len(q)))
        return {"quality_threshold": float(np.sort(q)[len(q) - k])}

    def hold_back(self, cols: Columns, prepared: dict[str, Any]) -> np.ndarray | None:
        threshold = prepared.get("quality_threshold")
        q = cols["_quality"]
        if threshold is None:
            return np.zeros(len(q), dtype=bool)
        return np.nan_to_num(q, nan=-np.inf) >= threshold
