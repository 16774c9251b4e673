"""The simulated log amplifier: transfer function, bandwidth lag along the fast axis, noise.

True current -> volts (:meth:`LogAmpCalibration.to_voltage`, which also applies floor and
saturation), a first-order lag along the fast axis whose bandwidth is proportional to the
current, and output noise in decades.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np

from ..pair.logamp import PRESETS as LOGAMP_PRESETS
from ..pair.logamp import LogAmpCalibration
from .presets import NM

__all__ = ["SimulatedAmplifier", "default_calibration", "apply_bandwidth_lag", "record_log_amp"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class SimulatedAmplifier:
    """The simulated log amplifier's imperfections (its transfer function is a calibration).

    Attributes
    ----------
    noise_decades : float
        One-sigma output noise, in decades of current (0.02 decade = 0.004 V at 0.2 V/decade).
    hz_per_amp : float
        Small-signal bandwidth per ampere, Hz/A (bandwidth proportional to current, as for a
        translinear log amp). 1e17 Hz/A gives 100 Hz at the 1 fA floor, i.e. a time constant of
        1.6 ms, about one pixel dwell at 256 pixels per line and 1 line/s (0.8 px; 1.6 px at 512
        pixels per line): mild lag at the lowest currents only. This is a simulation choice, far
        faster than the AD8304 model (2e10 Hz/A): with that constant the paper's pA images,
        which resolve 100 nm regions at ~500 nm/s (>= ~5 Hz at 2.5 pA), would be smeared.
    height_noise : float
        RMS measurement noise of the height channel, m.
    """

    noise_decades: float = 0.02
    hz_per_amp: float = 1e17
    height_noise: float = 0.05 * NM


def default_calibration() -> LogAmpCalibration:
    """Calibration of the simulated amplifier: the AD8304 preset (0.2 V/decade, 0 V at 100 nA)
    with a 1 fA floor and a 1 mA saturation, the mA-fA range of the paper's amplifier.
    """
    base = LOGAMP_PRESETS["ad8304"]
    return dataclasses.replace(
        base, floor_current=1e-15, saturation_current=1e-3, name="AD8304 (1 fA - 1 mA)",
        hz_per_amp=None,  # not the preset's: the simulated amplifier has its own (hz_per_amp)
    )


def apply_bandwidth_lag(
    volts: np.ndarray, current: np.ndarray, pixel_time_s: float, hz_per_amp: float
) -> np.ndarray:
    """First-order response of a log amp along the fast axis, bandwidth proportional to current.

    In scan order (trace: column 0 to the last column) each output follows
    ``y[j] = y[j-1] + a[j] * (v[j] - y[j-1])`` with ``a = 1 - exp(-2 pi f dt)``, the exact step
    response of a first-order low-pass with ``f = hz_per_amp * I[j]`` over one pixel dwell
    ``dt``. The bandwidth at the present input current sets the speed, so steps down to a low
    current settle slowly while steps up are fast (a log amp's transient response differs for
    increasing and decreasing signals, LOG100 / LOG104 data sheets). Each line starts settled.

    Parameters
    ----------
    volts : ndarray of float, shape (rows, cols)
        Ideal (instantaneous) output, V.
    current : ndarray of float, shape (rows, cols)
        Input current magnitude, A (after floor/saturation clipping).
    pixel_time_s : float
        Dwell time of one pixel, s.
    hz_per_amp : float
        Bandwidth per ampere, Hz/A.

    Returns
    -------
    ndarray of float, shape (rows, cols)
        Lagged output, V.
    """
    v = np.asarray(volts, dtype=np.float64)
    alpha = -np.expm1(-2.0 * math.pi * hz_per_amp * np.abs(current) * pixel_time_s)
    out = np.empty_like(v)
    y = v[:, 0].copy()
    out[:, 0] = y
    for j in range(1, v.shape[1]):  # vectorised over rows, loop over columns
        y += alpha[:, j] * (v[:, j] - y)
        out[:, j] = y
    return out


def record_log_amp(
    current: np.ndarray,
    calibration: LogAmpCalibration,
    amplifier: SimulatedAmplifier,
    pixel_time_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Record a true current image through the log amplifier.

    True current -> clipped to ``[floor, saturation]`` -> volts (calibration) -> bandwidth lag
    along the fast axis -> output noise (``noise_decades * volts_per_decade``) -> output clipped
    to the floor and saturation voltages.

    Parameters
    ----------
    current : ndarray of float, shape (rows, cols)
        True current magnitude, A.
    calibration : LogAmpCalibration
    amplifier : SimulatedAmplifier
    pixel_time_s : float
        Pixel dwell time, s.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of float, shape (rows, cols)
        Output volts.
    """
    i = np.clip(np.abs(current), calibration.floor_current, calibration.saturation_current)
    v = calibration.to_voltage(i)
    v = apply_bandwidth_lag(v, i, pixel_time_s, amplifier.hz_per_amp)
    v = v + rng.normal(0.0, amplifier.noise_decades * abs(calibration.volts_per_decade), v.shape)
    lo, hi = sorted((calibration.floor_voltage, calibration.saturation_voltage))
    return np.clip(v, lo, hi)
