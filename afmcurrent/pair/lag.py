"""Amplifier lag of a pair's two maps: where the bandwidth model and the scan rates allow a check.

A translinear log amplifier's bandwidth is proportional to its input current
(:mod:`afmcurrent.pair.logamp.bandwidth`); with the bandwidth model (``[logamp] hz_per_amp`` or
``[transport] bandwidth_hz_per_amp``) and the scan rate and samples per line in the headers,
each reading's interval is widened by how far it may lag its input, and the pixels whose
bandwidth is below the pixel rate are marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.config import TransportSettings
from ..core.model import Channel, Scan
from .logamp import LogAmpCalibration, lag_decades, pixel_rate_hz
from .transport import log10_current

__all__ = ["lag_widening"]


def lag_widening(
    ts: TransportSettings,
    calibration: LogAmpCalibration | None,
    plus: Scan,
    minus: Scan,
    c_plus: Channel,
    c_minus: Channel,
    plus_current: np.ndarray,
    lg_minus: np.ndarray,
    notes: list[str],
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None,
           tuple[np.ndarray, np.ndarray] | None, np.ndarray | None]:
    """Lag widening of both maps (+V frame) where the bandwidth model and pixel rate are known.

    Parameters
    ----------
    ts : TransportSettings
        ``check_lag``, ``bandwidth_hz_per_amp``, noise and confidence.
    calibration : LogAmpCalibration or None
        Its ``hz_per_amp`` when the settings give none.
    plus, minus : Scan
        The scans (headers: scan rate, samples per line).
    c_plus, c_minus : Channel
        The current channels (their fast-scan direction).
    plus_current : ndarray of float, shape (rows, cols)
        I(+V) in A.
    lg_minus : ndarray of float, shape (rows, cols)
        log10 of the registered I(-V) (A).
    notes : list of str
        Receives why lag was not checked, when it was not.

    Returns
    -------
    lag : dict
        ``checked``, ``hz_per_amp`` (Hz/A), ``pixel_rate_hz`` ([+V, -V]),
        ``lagging_fraction`` (None; set by the pipeline once the valid pixels are known).
    plus_lag, minus_lag : pair of ndarray, shape (rows, cols), or None
        Decades below and above each map's interval (:func:`~afmcurrent.pair.logamp.
        lag_decades`); None when not checked.
    lagging : ndarray of bool, shape (rows, cols), or None
        Pixels where either reading's bandwidth is below the pixel rate.
    """
    lag: dict[str, Any] = {"checked": False, "hz_per_amp": None, "pixel_rate_hz": None,
                           "lagging_fraction": None}
    if not ts.check_lag:
        return lag, None, None, None
    hz = ts.bandwidth_hz_per_amp or (calibration.hz_per_amp if calibration else None)
    if not hz:
        notes.append(
            "amplifier lag not checked: no bandwidth model (give hz_per_amp, Hz/A, in the "
            "[logamp] table or [transport] bandwidth_hz_per_amp in the settings)"
        )
        return lag, None, None, None
    rates = (pixel_rate_hz(plus.metadata), pixel_rate_hz(minus.metadata))
    lag.update(hz_per_amp=float(hz), pixel_rate_hz=list(rates))
    if None in rates:
        missing = [s.label for s, r in zip((plus, minus), rates, strict=True) if r is None]
        notes.append(
            f"amplifier lag not checked: no scan rate and samples per line recorded in "
            f"{', '.join(missing)}"
        )
        return lag, None, None, None
    kw = {"noise_decades": ts.noise_decades, "confidence_sigma": ts.confidence_sigma,
          "floor_current": calibration.floor_current if calibration else None}
    *plus_lag, lag_p = lag_decades(log10_current(plus_current), hz, rates[0],
                                   direction=c_plus.direction, **kw)
    *minus_lag, lag_m = lag_decades(lg_minus, hz, rates[1], direction=c_minus.direction, **kw)
    lag["checked"] = True
    return lag, tuple(plus_lag), tuple(minus_lag), lag_p | lag_m


