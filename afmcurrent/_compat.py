"""Deprecated module paths: the flat modules of afmcurrent 0.1, now in their layers.

Issue 11 moved every module into a package by stage (``core``, ``io``, ``pair``, ``sim``,
``outputs``, ``sets``, ``cli``; see ``docs/architecture.md``). Code that still imports an old
path, e.g. ``from afmcurrent.logamp import LogAmpCalibration``, keeps working: the old name is
a small module that looks each attribute up in the modules that now hold it, and importing it
gives a :class:`DeprecationWarning` naming the new place. The old paths will be removed in a
later release; import from the new ones.

Only names under ``afmcurrent.<old>`` are handled (:data:`MOVED`); the finder is installed once,
when ``afmcurrent`` is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

__all__ = ["MOVED", "install"]

#: Old module -> the modules that hold its names now (looked up in this order).
MOVED: dict[str, tuple[str, ...]] = {
    "afmcurrent.errors": ("afmcurrent.core.errors",),
    "afmcurrent.model": ("afmcurrent.core.model",),
    "afmcurrent.config": ("afmcurrent.core.config",),
    "afmcurrent._sat": ("afmcurrent.core.arrays",),
    "afmcurrent.isolation": ("afmcurrent.sets.isolation",),
    "afmcurrent.logamp": ("afmcurrent.pair.logamp",),
    "afmcurrent.level": ("afmcurrent.pair.level", "afmcurrent.pair.roughness"),
    "afmcurrent.transport": ("afmcurrent.pair.transport",),
    "afmcurrent.domains": ("afmcurrent.pair.domains", "afmcurrent.pair.classify",
                           "afmcurrent.core.classes"),
    "afmcurrent.correlate": ("afmcurrent.pair.correlate",),
    "afmcurrent.optical": ("afmcurrent.pair.optical",),
    "afmcurrent.pipeline": ("afmcurrent.pair.pipeline",),
    "afmcurrent.simulate": ("afmcurrent.sim",),
    "afmcurrent.output": ("afmcurrent.outputs.writers",),
    "afmcurrent.plotting": ("afmcurrent.outputs.figures",),
    "afmcurrent.pooled": ("afmcurrent.sets.pooled",),
    "afmcurrent.pairing": ("afmcurrent.sets.pairing", "afmcurrent.sets.headers",
                           "afmcurrent.sets.manifest"),
    "afmcurrent.batch": ("afmcurrent.sets.run", "afmcurrent.sets.tasks", "afmcurrent.sets.tables",
                         "afmcurrent.sets.executors", "afmcurrent.sets.outdir"),
    "afmcurrent.report": ("afmcurrent.sets.report", "afmcurrent.sets.summary_figure",
                          "afmcurrent.sets.tables"),
}
#: Old packages whose submodules moved with them: old prefix -> new prefix.
MOVED_PACKAGES: dict[str, str] = {
    "afmcurrent.registration": "afmcurrent.pair.registration",
}


def _targets(name: str) -> tuple[str, ...] | None:
    if name in MOVED:
        return MOVED[name]
    for old, new in MOVED_PACKAGES.items():
        if name == old or name.startswith(old + "."):
            return (new + name[len(old):],)
    return None


class _Deprecated(types.ModuleType):
    """An old module path: attributes are looked up in the modules that hold them now."""

    def __init__(self, name: str, targets: tuple[str, ...]) -> None:
        super().__init__(name, f"Deprecated alias of {', '.join(targets)}.")
        self._targets = targets

    def _modules(self) -> list[types.ModuleType]:
        return [importlib.import_module(t) for t in self._targets]

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        for mod in self._modules():
            if hasattr(mod, attr):
                return getattr(mod, attr)
        raise AttributeError(
            f"module {self.__name__!r} (deprecated; now {', '.join(self._targets)}) has no "
            f"attribute {attr!r}")

    def __dir__(self) -> list[str]:
        names: set[str] = set()
        for mod in self._modules():
            names.update(getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]))
        return sorted(names)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        targets = _targets(fullname)
        if targets is None:
            return None
        is_pkg = fullname in MOVED_PACKAGES
        return importlib.machinery.ModuleSpec(fullname, self, is_package=is_pkg)

    def create_module(self, spec: Any) -> types.ModuleType:
        targets = _targets(spec.name)
        assert targets is not None
        warnings.warn(
            f"{spec.name} is deprecated: its names moved to {', '.join(targets)} "
            "(docs/architecture.md); the old path will be removed in a later release",
            DeprecationWarning, stacklevel=2)
        return _Deprecated(spec.name, targets)

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ in MOVED_PACKAGES:
            module.__path__ = []  # submodules are found by this finder, not on a path


_FINDER = _Finder()


def install() -> None:
    """Put the finder of the old paths first on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
