"""Stages by short name.

Built-in stages register themselves when their module under `stages/` is imported (a class that sets `name`),
so a new stage is one file. A user's stage is named in YAML as `my_pkg.my_module:MyFilter`, or published
under the `jingxuan.stages` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stages.base import Stage

ENTRY_POINT_GROUP = "jingxuan.stages"

_REGISTRY: dict[str, type[Stage]] = {}
_discovered = False


class UnknownStageError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: type[Stage]) -> type[Stage]:
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"stage name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    import stages

    for mod in pkgutil.walk_packages(stages.__path__, prefix="stages."):
        if mod.name.rsplit(".", 1)[-1] not in {"base", "registry", "stats", "testing"}:
            importlib.import_module(mod.name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        _REGISTRY.setdefault(ep.name, cls)


def available() -> dict[str, type[Stage]]:
    """All registered stages, sorted by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def resolve(name: str, table: dict[str, type], base: type, kind: str, error: type[Exception] = KeyError) -> type:
    """A class from `table` by short name, or any `module.path:ClassName` subclass of `base` (stages,
    curriculum schedules and synthetic generators are all found this way)."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise error(f"cannot load {kind} {name!r}: {e}") from None
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise error(f"{name!r} is not a {base.__name__} subclass")
        return cls
    if name not in table:
        raise error(
            f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(table))} "
            "(or give your own as module.path:ClassName)"
        )
    return table[name]


def get(name: str) -> type[Stage]:
    """A stage class by short name or `module.path:ClassName`."""
    from stages.base import Stage

    if ":" not in name:
        _discover()
    return resolve(name, _REGISTRY, Stage, "stage", UnknownStageError)
