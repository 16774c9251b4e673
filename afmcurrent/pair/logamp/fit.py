"""Fitting a log-amplifier calibration to a table of known currents and measured volts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.errors import CalibrationError
from .transfer import LogAmpCalibration

__all__ = ["CalibrationFit", "fit_calibration"]


@dataclass(frozen=True)
class CalibrationFit:
    """Result of :func:`fit_calibration`.

    Attributes
    ----------
    calibration : LogAmpCalibration
        Fitted slope and intercept, expressed with ``reference_voltage = 0`` (the current at
        which the output crosses 0 V) unless that current is not finite, then at the geometric
        mean of the points used; it records ``fit_rms_decades`` and the range of the known
        currents used (``fit_min_current``, ``fit_max_current``).
    residuals_decades : ndarray of float, shape (n,)
        Per input point: ``log10(I_fit(V) / I_known)``; NaN for points excluded from the fit.
    rms_decades : float
        Root mean square of the residuals of the points used.
    used : ndarray of bool, shape (n,)
        Points inside ``(floor_current, saturation_current)`` with finite values.
    """

    calibration: LogAmpCalibration
    residuals_decades: np.ndarray
    rms_decades: float
    used: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def fit_calibration(
    currents: Any,
    voltages: Any,
    *,
    floor_current: float | None = None,
    saturation_current: float | None = None,
) -> CalibrationFit:
    """Least-squares fit of ``V = V_ref + V_dec * log10(I / I_ref)`` to known currents.

    Parameters
    ----------
    currents : array_like of float, shape (n,)
        Known input currents in A (e.g. from a source meter through a resistor), all positive.
    voltages : array_like of float, shape (n,)
        Measured output volts.
    floor_current, saturation_current : float, optional
        A. Points at or below the floor or at or above the saturation are excluded from the
        fit and stored in the result; defaults 1e-15 A and 1e-3 A (those of
        :class:`LogAmpCalibration`).

    Returns
    -------
    CalibrationFit

    Raises
    ------
    CalibrationError
        If the arrays differ in length, a current is not positive, fewer than two usable points
        with distinct currents remain, or the fitted slope is zero.
    """
    i = np.asarray(currents, dtype=np.float64).ravel()
    v = np.asarray(voltages, dtype=np.float64).ravel()
    if i.shape != v.shape:
        raise CalibrationError(
            f"calibration table: {i.size} currents but {v.size} voltages; they must pair up"
        )
    if np.any(~np.isfinite(i)) or np.any(i <= 0):
        raise CalibrationError(
            "calibration table: every known current must be a positive finite value in A"
        )
    floor = 1e-15 if floor_current is None else float(floor_current)
    sat = 1e-3 if saturation_current is None else float(saturation_current)
    used = (i > floor) & (i < sat) & np.isfinite(v)
    x = np.log10(i[used])
    if used.sum() < 2 or np.ptp(x) == 0:
        raise CalibrationError(
            f"calibration table: need at least 2 points with distinct currents inside "
            f"({floor:g}, {sat:g}) A, got {int(used.sum())}"
        )
    slope, intercept = np.polyfit(x, v[used], 1)  # V = intercept + slope * log10(I)
    if slope == 0:
        raise CalibrationError("calibration table: the fitted slope is zero (no log response)")
    log_iref = -intercept / slope  # current at which V = 0
    if math.isfinite(log_iref) and -300 < log_iref < 300:
        ref_i, ref_v = 10.0**log_iref, 0.0
    else:
        ref_i = 10.0 ** float(np.mean(x))
        ref_v = float(intercept + slope * np.mean(x))
    resid = np.full(i.shape, np.nan)
    resid[used] = (v[used] - (intercept + slope * x)) / slope
    rms = float(np.sqrt(np.mean(resid[used] ** 2)))
    cal = LogAmpCalibration(
        volts_per_decade=float(slope),
        reference_current=float(ref_i),
        reference_voltage=float(ref_v),
        floor_current=floor,
        saturation_current=sat,
        name="fit",
        fit_rms_decades=rms,
        fit_min_current=float(10.0 ** x.min()),
        fit_max_current=float(10.0 ** x.max()),
    )
    return CalibrationFit(calibration=cal, residuals_decades=resid, rms_decades=rms, used=used)
