"""Per-stage counters that merge with `+`, so shard tasks report plain JSON and the flow adds them up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields


class ConservationError(RuntimeError):
    """docs_in != docs_out + docs_rejected: a document went missing or was counted twice."""


@dataclass
class StageStats:
    docs_in: int = 0
    docs_out: int = 0
    docs_rejected: int = 0
    chars_in: int = 0
    chars_out: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)  # reason -> documents dropped
    counters: Counter = field(default_factory=Counter)  # free-form counts (pii_email, would_drop.too_short ...)

    def __add__(self, other: StageStats) -> StageStats:
        return StageStats(
            docs_in=self.docs_in + other.docs_in,
            docs_out=self.docs_out + other.docs_out,
            docs_rejected=self.docs_rejected + other.docs_rejected,
            chars_in=self.chars_in + other.chars_in,
            chars_out=self.chars_out + other.chars_out,
            seconds=self.seconds + other.seconds,
            reasons=self.reasons + other.reasons,
            counters=self.counters + other.counters,
        )

    def check(self, where: str) -> None:
        if self.docs_in != self.docs_out + self.docs_rejected:
            raise ConservationError(
                f"{where}: docs_in={self.docs_in} but docs_out={self.docs_out} + "
                f"docs_rejected={self.docs_rejected} = {self.docs_out + self.docs_rejected}"
            )
        if sum(self.reasons.values()) != self.docs_rejected:
            raise ConservationError(
                f"{where}: {self.docs_rejected} rejected but reasons add up to {sum(self.reasons.values())}"
            )

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["seconds"] = round(self.seconds, 3)
        out["reasons"] = dict(sorted(self.reasons.items()))
        out["counters"] = dict(sorted(self.counters.items()))
        return out

    @classmethod
    def from_dict(cls, d: dict) -> StageStats:
        d = dict(d)
        d["reasons"] = Counter(d.get("reasons", {}))
        d["counters"] = Counter(d.get("counters", {}))
        return cls(**d)

    @classmethod
    def total(cls, dicts: list[dict]) -> StageStats:
        """The sum of the stats dicts that a global stage's pass tasks return."""
        stats = cls()
        for d in dicts:
            stats = stats + cls.from_dict(d)
        return stats


@dataclass
class RunStats:
    """Stats per stage key, in pipeline order."""

    stages: dict[str, StageStats] = field(default_factory=dict)

    def __add__(self, other: RunStats) -> RunStats:
        merged = {k: StageStats() + v for k, v in self.stages.items()}
        for k, v in other.stages.items():
            merged[k] = merged[k] + v if k in merged else StageStats() + v
        return RunStats(merged)

    def add(self, key: str, stats: StageStats) -> None:
        self.stages[key] = self.stages[key] + stats if key in self.stages else stats

    def check(self) -> None:
        """Per stage, and across the chain: each stage's input is the previous stage's output."""
        previous_out = None
        for key, s in self.stages.items():
            s.check(key)
            if previous_out is not None and s.docs_in != previous_out:
                raise ConservationError(
                    f"{key}: received {s.docs_in} documents but the previous stage passed on {previous_out}"
                )
            previous_out = s.docs_out

    @property
    def docs_in(self) -> int:
        return next(iter(self.stages.values())).docs_in if self.stages else 0

    @property
    def docs_out(self) -> int:
        return list(self.stages.values())[-1].docs_out if self.stages else 0

    @property
    def docs_rejected(self) -> int:
        return sum(s.docs_rejected for s in self.stages.values())

    def to_dict(self) -> dict:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "docs_rejected": self.docs_rejected,
            "stages": {k: v.to_dict() for k, v in self.stages.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunStats:
        return cls({k: StageStats.from_dict(v) for k, v in d.get("stages", {}).items()})
