"""Module paths of the flat layout before issue 11 that docs/instrument.md gave users.

``acquisition.sources``, ``acquisition.storage``, ``acquisition.simulator``,
``acquisition.controllers`` and ``acquisition.harness`` still import, with a
``DeprecationWarning`` naming the new home; each gives exactly the names its ``__all__`` listed,
taken from the new modules (the same objects). The other old modules (``link``, ``protocol``,
``safety``, ``state``, ``supervisor``, ``watchdog``) were never documented for users and are
gone (``acquisition.safety`` is now a package with the same public names). These aliases will
be removed in a later release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["MOVED", "install"]

_INSTRUMENTS = "acquisition.instruments"
_SESSION = "acquisition.session"

#: Old module -> {name it exported: the module that holds it now}.
MOVED: dict[str, dict[str, str]] = {
    "acquisition.sources": {n: _INSTRUMENTS for n in (
        "SourceLimits", "BiasSource", "Keithley2400", "Keithley2450", "DRIVERS", "LimitError",
        "ShutdownReport", "Recovery", "WatchdogFired", "Journal")},
    "acquisition.storage": {
        **{n: _SESSION for n in (
            "ScanPlan", "SessionFile", "open_session", "read_scan", "scan_status", "FORMAT",
            "HEIGHT", "LOGAMP", "new_session_path", "format_bias_event", "parse_bias_event",
            "last_bias_event")},
        "supervisor_report_path": "acquisition.safety.supervisor"},
    "acquisition.simulator": {n: "acquisition.sim" for n in ("Faults", "VirtualKeithley", "IDN")},
    "acquisition.controllers": {
        **{n: _INSTRUMENTS for n in ("ScanSettings", "Line", "ScanController",
                                     "NanoscopeCaptureFolder", "CaptureError")},
        "SimulatedAFM": "acquisition.sim"},
    "acquisition.harness": {n: "acquisition.sim.harness" for n in (
        "write_session", "start_acquire", "Moment", "level_steps_ok", "REPO_ROOT")},
}


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old module names and builds each as a module of forwarded names."""

    def find_spec(self, fullname: str, path: Any, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        table = MOVED[module.__name__]
        homes = sorted(set(table.values()))
        warnings.warn(f"{module.__name__} is deprecated: import from {' / '.join(homes)}",
                      DeprecationWarning, stacklevel=2)
        for name, home in table.items():
            setattr(module, name, getattr(importlib.import_module(home), name))
        module.__all__ = list(table)  # type: ignore[attr-defined]
        module.__doc__ = f"Deprecated alias of {', '.join(homes)} (see acquisition._deprecated)."


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` once (``acquisition/__init__`` calls it)."""
    if not any(isinstance(f, _Aliases) for f in sys.meta_path):
        sys.meta_path.append(_Aliases())
