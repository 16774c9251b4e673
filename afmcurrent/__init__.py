"""afmcurrent: conductive-AFM conduction mapping of solid-state battery electrolytes.

A +V scan of an AFM half cell (probe / electrolyte / Li metal) carries ionic and electronic
current, a -V scan electronic current only; comparing the co-registered log-amplifier current
maps separates the two and classifies degradation domains (C.-S. Jiang et al., NREL).

Main entry points
-----------------
load_scan
    Read a Bruker Nanoscope, Gwyddion or afmcurrent HDF5 file into a :class:`Scan`.
analyze_pair
    Run the whole analysis of one +V / -V pair.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from .errors import (
    AfmcurrentError,
    CalibrationError,
    ChannelNotFoundError,
    ConfigError,
    ReadError,
    RegistrationError,
)
from .model import Channel, Scan

try:
    __version__ = _metadata.version("afmcurrent")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "AfmcurrentError",
    "CalibrationError",
    "Channel",
    "ChannelNotFoundError",
    "ConfigError",
    "ReadError",
    "RegistrationError",
    "Scan",
    "analyze_pair",
    "load_scan",
    "__version__",
]

if TYPE_CHECKING:
    from .io import load_scan
    from .pipeline import analyze_pair


def __getattr__(name: str) -> Any:
    # Lazy imports keep `import afmcurrent` light and free of import cycles.
    if name == "load_scan":
        from .io import load_scan

        return load_scan
    if name == "analyze_pair":
        from .pipeline import analyze_pair

        return analyze_pair
    raise AttributeError(f"module 'afmcurrent' has no attribute {name!r}")
