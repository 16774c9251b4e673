"""afmcurrent: conductive-AFM conduction mapping of solid-state battery electrolytes.

A +V scan of an AFM half cell (probe / electrolyte / Li metal) carries ionic and electronic
current, a -V scan electronic current only; comparing the co-registered log-amplifier current
maps separates the two and classifies degradation domains (C.-S. Jiang et al., NREL; see
``docs/science.md``).

Main entry points
-----------------
load_scan
    Read a scan file of any supported format into a :class:`Scan`.
analyze_pair
    Run the whole analysis of one +V / -V pair; returns a :class:`PairResult`.
write_result
    Write a result's files (summary.json, result.h5, domains.csv, result.gwy, figures).

The packages follow the data flow, bottom to top (``docs/architecture.md``): ``core``, ``io``,
``pair``, ``sim``, ``outputs``, ``sets``, ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _compat
from .core.errors import (
    AfmcurrentError,
    CalibrationError,
    ChannelNotFoundError,
    ConfigError,
    OutputExistsError,
    ReadError,
    RegistrationError,
)
from .core.model import Channel, Scan
from .core.version import __version__

_compat.install()

__all__ = [
    "AfmcurrentError",
    "CalibrationError",
    "Channel",
    "ChannelNotFoundError",
    "ConfigError",
    "OutputExistsError",
    "PairResult",
    "ReadError",
    "RegistrationError",
    "Scan",
    "__version__",
    "analyze_pair",
    "load_scan",
    "write_result",
]

#: Public names imported on first use (``import afmcurrent`` stays light: no SciPy, h5py or
#: Matplotlib until a name that needs them is used).
_LAZY = {
    "load_scan": "afmcurrent.io",
    "analyze_pair": "afmcurrent.pair.pipeline",
    "PairResult": "afmcurrent.pair.result",
    "write_result": "afmcurrent.outputs.writers",
}
_SUBPACKAGES = ("cli", "core", "io", "outputs", "pair", "sets", "sim")

if TYPE_CHECKING:
    from .io import load_scan
    from .outputs.writers import write_result
    from .pair.pipeline import analyze_pair
    from .pair.result import PairResult


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'afmcurrent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBPACKAGES})
