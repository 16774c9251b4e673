"""Warnings that a number may not be what it seems: a calibration that does not fit the data,
extrapolated currents, lag over many pixels."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.config import TransportSettings
from .logamp import CurrentMap, LogAmpCalibration
from .transport import TransportMaps

__all__ = ["BOUND_SHARE_WARNING", "LAG_SHARE_WARNING", "fit_warnings"]

#: A warning is given when more than this share of the valid pixels of either map is at the
#: amplifier floor or at saturation (the calibration does not fit the data).
BOUND_SHARE_WARNING = 0.25
#: A warning is given when more than this share of the valid pixels lags (bandwidth below the
#: pixel rate).
LAG_SHARE_WARNING = 0.10


def fit_warnings(
    maps: TransportMaps,
    calibration: LogAmpCalibration | None,
    cur_plus: CurrentMap,
    cur_minus: CurrentMap,
    ts: TransportSettings,
    lag: dict[str, Any],
) -> list[str]:
    """Sentences for a calibration that does not fit the data, and for lag.

    Parameters
    ----------
    maps : TransportMaps
    calibration : LogAmpCalibration or None
    cur_plus, cur_minus : CurrentMap
        The converted readings (before registration for -V).
    ts : TransportSettings
    lag : dict
        As :func:`afmcurrent.pair.lag.lag_widening` returns it, ``lagging_fraction`` set.

    Returns
    -------
    list of str
        One sentence per finding: more than :data:`BOUND_SHARE_WARNING` of the valid pixels
        of either map at the floor or at saturation; fit residuals above twice the pixel
        noise; more than :data:`BOUND_SHARE_WARNING` of the measured pixels more than 0.1
        decade outside the calibrated range; more than :data:`LAG_SHARE_WARNING` of the valid
        pixels lagging.
    """
    out: list[str] = []
    valid = maps.valid
    n = int(np.count_nonzero(valid))
    if n == 0:
        return out
    limits = (
        (calibration.floor_current, calibration.saturation_current) if calibration
        else (None, None)
    )
    for side, floor, sat in (("+V", maps.plus_at_floor, maps.plus_at_saturation),
                             ("-V", maps.minus_at_floor, maps.minus_at_saturation)):
        for what, mask, limit, meaning in (
            ("at the amplifier floor", floor, limits[0], "upper bounds"),
            ("at saturation", sat, limits[1], "lower bounds"),
        ):
            share = np.count_nonzero(mask) / n if mask is not None else 0.0
            if share > BOUND_SHARE_WARNING:
                at = f" ({limit:.3g} A)" if limit is not None else ""
                name = f" {calibration.name!r}" if calibration and calibration.name else ""
                out.append(
                    f"{share * 100:.0f} % of the valid {side} pixels are {what}{at}: their "
                    f"values are only {meaning} (the current is outside the amplifier's range "
                    f"there, or the calibration{name} does not fit these data: check its range, "
                    "reference current and sign of the slope)"
                )
    if calibration is not None and calibration.fit_rms_decades is not None \
            and calibration.fit_rms_decades > 2.0 * ts.noise_decades:
        out.append(
            f"the calibration's fit residuals are {calibration.fit_rms_decades:.3g} decades RMS, "
            f"more than twice the pixel noise ({ts.noise_decades:g} decades): currents may be "
            "off by more than the intervals allow"
        )
    if calibration is not None and (calibration.fit_min_current is not None
                                    or calibration.fit_max_current is not None):
        lo = calibration.fit_min_current or 0.0
        hi = calibration.fit_max_current or np.inf
        measured = 0
        outside = 0
        for cur in (cur_plus, cur_minus):
            ok = cur.valid
            measured += int(np.count_nonzero(ok))
            with np.errstate(invalid="ignore"):
                outside += int(np.count_nonzero(ok & ((cur.current < lo / 1.26)
                                                      | (cur.current > hi * 1.26))))
        if measured and outside / measured > BOUND_SHARE_WARNING:
            out.append(
                f"{outside / measured * 100:.0f} % of the measured pixels lie more than 0.1 "
                f"decade outside the range of known currents the calibration was fitted on "
                f"({lo:.3g}..{hi:.3g} A): their values are extrapolated"
            )
    frac = lag.get("lagging_fraction")
    if frac is not None and frac > LAG_SHARE_WARNING:
        out.append(
            f"{frac * 100:.0f} % of the valid pixels lag: the amplifier bandwidth at their "
            f"current ({lag['hz_per_amp']:.3g} Hz/A) is below the pixel rate; their intervals "
            "are widened (fewer of them are classified)"
        )
    return out


