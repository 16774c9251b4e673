"""A current channel turned into amps, with the pixels whose value is only a bound."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.errors import CalibrationError
from ...core.model import Channel
from .calibration import list_presets
from .transfer import LogAmpCalibration

__all__ = ["CurrentMap", "convert_channel"]


@dataclass
class CurrentMap:
    """A current image with the pixels where the value is only a bound.

    Attributes
    ----------
    current : ndarray of float, shape (rows, cols)
        Current magnitude in A (NaN where the input was not finite).
    at_floor : ndarray of bool, shape (rows, cols)
        True where the value is at or below the amplifier floor: an upper bound.
    at_saturation : ndarray of bool, shape (rows, cols)
        True where the value is at the saturation: a lower bound.
    log10 : ndarray of float64, shape (rows, cols), optional
        ``log10(current / A)`` as the conversion computed it (NaN where the current is not a
        positive finite number): for a log-amplifier channel the decades the volts give, of
        which ``current`` is the power of ten.
    """

    current: np.ndarray
    at_floor: np.ndarray
    at_saturation: np.ndarray
    log10: np.ndarray | None = None

    def log_current(self) -> np.ndarray:
        """``log10(current / A)``, NaN where the current is not a positive finite number
        (:attr:`log10` when the conversion kept it)."""
        if self.log10 is not None:
            return self.log10
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log10(self.current)
        lg[~np.isfinite(lg)] = np.nan
        return lg

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask, True where the current is a finite value and not a bound."""
        return ~(self.at_floor | self.at_saturation) & np.isfinite(self.current)


def convert_channel(
    channel: Channel, calibration: LogAmpCalibration | None, margin_decades: float = 0.0
) -> CurrentMap:
    """Turn a current channel into a :class:`CurrentMap` of magnitudes in A.

    Parameters
    ----------
    channel : Channel
        Unit ``"A"`` (already a current) or ``"V"`` (log-amp output volts).
    calibration : LogAmpCalibration or None
        Needed for a ``"V"`` channel. For an ``"A"`` channel it only supplies the floor and
        saturation used to flag bounds.
    margin_decades : float, optional
        A reading within this many decades of the floor (saturation) is flagged as at the floor
        (saturation): its true value may lie beyond, so it is only a bound. The pipeline passes
        ``confidence_sigma * noise_decades``: with output noise, a floor-limited input reads
        anywhere within the noise above the floor, and only the readings that the noise pushed
        below it are clipped exactly to it.

    Returns
    -------
    CurrentMap

    Raises
    ------
    CalibrationError
        For a ``"V"`` channel without a calibration, or a channel of any other unit.
    """
    data = np.asarray(channel.data, dtype=np.float64)
    if channel.unit == "A":
        current = np.abs(data)
        if calibration is None:
            at_floor = np.zeros(current.shape, bool)
            at_sat = np.zeros(current.shape, bool)
        else:
            at_floor, at_sat = _bound_masks(current, calibration, margin_decades)
        return CurrentMap(current=current, at_floor=at_floor, at_saturation=at_sat)
    if channel.unit == "V":
        if calibration is None:
            raise CalibrationError(
                f"channel {channel.name!r} holds log-amplifier output volts (unit V); a "
                "calibration is needed to turn it into amps: give --logamp FILE (a TOML file "
                "with a [logamp] table: volts_per_decade, reference_current, reference_voltage, "
                "floor_current, saturation_current) or --logamp PRESET (one of "
                + ", ".join(list_presets()) + ")"
            )
        current, log10 = calibration.to_current_and_log(data)
        at_floor, at_sat = _bound_masks(current, calibration, margin_decades)
        return CurrentMap(current=current, at_floor=at_floor, at_saturation=at_sat,
                          log10=log10)
    raise CalibrationError(
        f"channel {channel.name!r} has unit {channel.unit!r}: a current map needs a channel in "
        "A, or in V (log-amplifier output) together with a calibration (--logamp)"
    )


def _bound_masks(
    current: np.ndarray, calibration: LogAmpCalibration, margin_decades: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels within ``margin_decades`` of the floor and of the saturation (NaN: neither)."""
    if not (margin_decades >= 0 and math.isfinite(margin_decades)):
        raise CalibrationError(f"margin_decades must be finite and >= 0, got {margin_decades!r}")
    k = 10.0**margin_decades
    with np.errstate(invalid="ignore"):
        at_floor = current <= calibration.floor_current * max(k, 1 + 1e-9)
        at_sat = current >= calibration.saturation_current / max(k, 1 + 1e-9)
    if calibration.floor_current * k >= calibration.saturation_current / k:
        # a range narrower than two margins: a pixel near both ends goes to the nearer one
        near_floor = current <= math.sqrt(calibration.floor_current
                                          * calibration.saturation_current)
        both = at_floor & at_sat
        at_floor &= ~both | near_floor
        at_sat &= ~both | ~near_floor
    return at_floor, at_sat
