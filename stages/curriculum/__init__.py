"""Curriculum ordering: difficulty signals, schedules and the `curriculum` global stage."""

from stages.curriculum.schedules import Schedule, available, get_schedule
from stages.curriculum.stage import Curriculum

__all__ = ["Curriculum", "Schedule", "available", "get_schedule"]
