"""The ``summary.json`` contract of a pair (``docs/outputs.md``): one function over the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.arrays import finite_or_none
from ..core.model import Scan
from ..core.version import __version__
from ..pair.result import PairResult

__all__ = ["summary", "summary_json"]


def summary(result: PairResult) -> dict[str, Any]:
    """The ``summary.json`` contract of a pair as a dict (SI units; ``docs/outputs.md``).

    Parameters
    ----------
    result : PairResult

    Returns
    -------
    dict
        ``software``, ``inputs``, ``calibration``, ``registration``, ``fractions``,
        ``classified_fraction``, ``median_currents_A``, ``median_current_bounds``,
        ``median_current_density_A_m2``, ``bound_fractions``, ``lag``, ``thresholds``,
        ``domains``, ``bias_ratio``, ``tip_radius_m``, ``settings``, ``topography``,
        ``connectivity``, ``fractions_converged``, ``representative_area``, ``optical``,
        ``profile_line_m``, ``repeat`` (the repeat scan's comparison, or None), ``notes`` (the
        result's, and a strong cross-talk's warning),
        ``warnings``, ``seconds``. Numbers may be NaN here; :func:`summary_json` writes them as
        null.
    """

    def scan_info(scan: Scan, bias: float) -> dict[str, Any]:
        return {
            "path": str(scan.path) if scan.path else None,
            "bias_V": bias,
            "height_channel": result.height_channel,
            "current_channel": result.current_channel,
            "shape": list(scan.shape),
            "pixel_size_m": list(scan.pixel_size),
            "size_m": list(scan.size),
            "date": scan.metadata.get("date"),
        }

    corr = result.correlation
    notes = list(result.notes)
    warning = corr.crosstalk.warning
    if warning and warning not in notes:
        notes.append(warning)
    cal = result.calibration
    return {
        "software": {"name": "afmcurrent", "version": __version__},
        "inputs": {
            "plus": scan_info(result.plus, result.bias_plus),
            "minus": scan_info(result.minus, result.bias_minus),
        },
        "calibration": {**cal.to_dict(), "name": cal.name} if cal else None,
        "registration": result.registration.to_dict(),
        "fractions": {k: finite_or_none(v) for k, v in result.fractions.items()},
        "classified_fraction": result.classified_fraction,
        "median_currents_A": result.median_currents(),
        "median_current_bounds": result.median_current_bounds(),
        "median_current_density_A_m2": result.median_current_densities(),
        "bound_fractions": result.bound_fractions(),
        "lag": dict(result.lag),
        "thresholds": result.thresholds.to_dict(),
        "domains": {
            "count": len(result.domains),
            "by_class": result.domains.count_by_class(),
            "min_area_um2": result.config.domains.min_area_um2,
        },
        "bias_ratio": result.maps.bias_ratio,
        "tip_radius_m": result.config.transport.tip_radius,
        "settings": result.config.to_dict(),
        "topography": corr.topography,
        "connectivity": corr.connectivity,
        "fractions_converged": corr.representative_area["converged"],
        "representative_area": corr.representative_area,
        "optical": result.optical.to_dict() if result.optical is not None else None,
        "profile_line_m": list(result.profile_line) if result.profile_line else None,
        "repeat": result.repeat.to_dict() if result.repeat is not None else None,
        "notes": notes,
        "warnings": list(result.warnings),
        "seconds": result.seconds,
    }


def summary_json(summary_dict: dict[str, Any]) -> str:
    """A summary as JSON text: non-finite numbers as null (JSON has no NaN), NumPy values as
    plain numbers and lists, paths as strings; indented, with a final newline."""
    return json.dumps(_finite(summary_dict), indent=2, default=_json_default,
                      allow_nan=False) + "\n"


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None throughout a nested structure."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj)
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
