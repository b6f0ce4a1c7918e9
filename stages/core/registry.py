"""Classes by short name: stages, curriculum schedules and synthetic generators all use one `Registry`.

A built-in class registers itself when its module is imported (a subclass that sets `name`), so a new one is
one file. A user's class is named in YAML as `my_pkg.my_module:MyClass`, or published under an entry-point
group (stages: `jingxuan.stages`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class UnknownNameError(KeyError):
    """A name that is neither registered nor a loadable `module.path:ClassName`; the message says which exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """Short name -> subclass of `base`. `discover` imports the built-in modules the first time a short name
    is looked up, so listing and lookups see every class without importing them all up front."""

    def __init__(
        self,
        base: T,
        kind: str,
        error: type[Exception] = UnknownNameError,
        discover: Callable[[], None] | None = None,
        entry_point_group: str | None = None,
    ) -> None:
        self.base, self.kind, self.error = base, kind, error
        self._classes: dict[str, T] = {}
        self._discover = discover
        self._group = entry_point_group
        self._discovered = discover is None and entry_point_group is None

    def register(self, cls: T) -> T:
        existing = self._classes.get(cls.name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"{self.kind} name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
        self._classes[cls.name] = cls
        return cls

    def discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        if self._discover is not None:
            self._discover()
        if self._group:
            for ep in entry_points(group=self._group):
                self._classes.setdefault(ep.name, ep.load())

    def available(self) -> dict[str, T]:
        """Every registered class, sorted by name."""
        self.discover()
        return dict(sorted(self._classes.items()))

    def get(self, name: str) -> T:
        """A class by short name, or any `module.path:ClassName` subclass of `base`."""
        if ":" in name:
            module_name, _, attr = name.partition(":")
            try:
                cls = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as e:
                raise self.error(f"cannot load {self.kind} {name!r}: {e}") from None
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise self.error(f"{name!r} is not a {self.base.__name__} subclass")
            return cls
        self.discover()
        if name not in self._classes:
            raise self.error(
                f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(sorted(self._classes))} "
                "(or give your own as module.path:ClassName)"
            )
        return self._classes[name]
