"""Bandwidth and lag of a translinear log amplifier along the fast-scan axis.

The small-signal bandwidth of a translinear log amp falls in proportion to the input current
(the logging transistor's transconductance is proportional to its collector current; ADL5303 /
ADL5304 / AD8304 datasheets, "Bandwidth and Noise Considerations"; ``docs/science.md``), so at
fA-pA currents the output lags along the fast-scan axis: :func:`lagging_mask` flags where and
:func:`lag_decades` gives how far a lagging reading may be from the input (first-order
response).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...core.errors import CalibrationError

__all__ = [
    "AD8304_HZ_PER_AMP",
    "MAX_LAG_DECADES",
    "bandwidth_hz",
    "lag_decades",
    "lagging_mask",
    "pixel_rate_hz",
]

#: Bandwidth per ampere of input current for the AD8304-type model, Hz/A: ~20 MHz per mA, the
#: AD8304 data sheet's (Rev. A, "Bandwidth and Noise Considerations") evaluation of
#: ``g_m / (2 pi C_J)`` with C_J = 0.3 pF. The same paragraph then quotes "2 kHz at 100 pA" and
#: assumes "20 kHz at 1 nA", i.e. 2e13 Hz/A, which is what the ``ad8304`` preset carries
#: (``hz_per_amp``); the ADL5303 data sheet gives ~2 kHz at 1 nA (2e12 Hz/A). 2e10 Hz/A is the
#: slowest, most cautious of these readings; it is the default argument of
#: :func:`bandwidth_hz` only, never applied to data without being asked for.
AD8304_HZ_PER_AMP = 2e10

def bandwidth_hz(current: Any, hz_per_amp: float = AD8304_HZ_PER_AMP) -> np.ndarray:
    """Small-signal bandwidth of a translinear log amp at a given input current.

    The bandwidth of a translinear log amp is set by the logging transistor's
    transconductance ``g_m = I / V_T`` against its junction capacitance, so it grows in
    proportion to the input current (AD8304 data sheet, Rev. A, "Bandwidth and Noise
    Considerations"; ADL5303: ~2 kHz at 1 nA rising in proportion to the current; ADL5304:
    25 kHz at 1 nA, 350 kHz at 10 nA). The default constant is the most cautious AD8304 reading,
    ~20 MHz per mA (see :data:`AD8304_HZ_PER_AMP` for the spread of readings).

    Parameters
    ----------
    current : array_like of float, any shape
        Current magnitude in A.
    hz_per_amp : float, optional
        Bandwidth per ampere, Hz/A.

    Returns
    -------
    ndarray of float, same shape
        -3 dB bandwidth in Hz.
    """
    if not hz_per_amp > 0:
        raise CalibrationError(f"hz_per_amp must be positive, got {hz_per_amp!r}")
    return np.abs(np.asarray(current, dtype=np.float64)) * float(hz_per_amp)


def lagging_mask(
    current: Any, pixel_rate_hz: float, hz_per_amp: float = AD8304_HZ_PER_AMP
) -> np.ndarray:
    """Flag pixels whose log-amp bandwidth is below the pixel rate (values lag the fast axis).

    Parameters
    ----------
    current : array_like of float, any shape
        Current magnitude in A.
    pixel_rate_hz : float
        Pixels per second along the fast axis: samples per line x lines per second x 2
        (trace and retrace; ``docs/science.md``, section 4).
    hz_per_amp : float, optional
        Bandwidth per ampere, Hz/A (see :func:`bandwidth_hz`).

    Returns
    -------
    ndarray of bool, same shape
        True where ``bandwidth_hz(current) < pixel_rate_hz`` (NaN currents count as lagging).
    """
    if not pixel_rate_hz > 0:
        raise CalibrationError(f"pixel_rate_hz must be positive, got {pixel_rate_hz!r}")
    bw = bandwidth_hz(current, hz_per_amp)
    with np.errstate(invalid="ignore"):
        return ~(bw >= pixel_rate_hz)


def pixel_rate_hz(metadata: Mapping[str, Any]) -> float | None:
    """Pixel rate along the fast axis from a scan's header values.

    Parameters
    ----------
    metadata : mapping
        A scan's metadata with ``samples_per_line`` and ``scan_rate_hz`` (lines per second, one
        line = trace + retrace, as Bruker's ``\\Scan rate``).

    Returns
    -------
    float or None
        ``samples_per_line * scan_rate_hz * 2`` in Hz (trace and retrace;
        ``docs/science.md``); None when either value is missing or not positive.
    """
    try:
        n = float(metadata.get("samples_per_line"))  # type: ignore[arg-type]
        rate = float(metadata.get("scan_rate_hz"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (n > 0 and rate > 0 and math.isfinite(n * rate)):
        return None
    return 2.0 * n * rate


#: Largest widening :func:`lag_decades` gives, decades: more than the fA..mA range, i.e. the
#: reading says nothing about the input.
MAX_LAG_DECADES = 20.0
#: Settling of a lagging reading counted by :func:`lag_decades`, in time constants.
_SETTLE = 5.0


def lag_decades(
    log_current: np.ndarray,
    hz_per_amp: float,
    pixel_rate: float,
    *,
    floor_current: float | None = None,
    direction: str | None = None,
    noise_decades: float = 0.0,
    confidence_sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far a reading may lag its input, below and above, and which pixels lag.

    Parameters
    ----------
    log_current : ndarray of float, shape (rows, cols)
        log10 of the current readings in A (NaN where there is no reading). Columns are the
        fast-scan axis.
    hz_per_amp : float
        Bandwidth per ampere, Hz/A (:func:`bandwidth_hz`).
    pixel_rate : float
        Pixels per second along the fast axis, Hz (:func:`pixel_rate_hz`).
    floor_current : float, optional
        A: the lowest current the input can have (the amplifier floor); default the lowest
        reading of the map.
    direction : {"trace", "retrace"} or None, optional
        Scan direction of the channel: trace runs from column 0 to the last column, retrace
        back; None (unknown) takes the larger widening of either neighbour.
    noise_decades : float, optional
        One-sigma noise of a reading, decades.
    confidence_sigma : float, optional
        Multiple of the noise allowed in the change from one pixel to the next.

    Returns
    -------
    below, above : ndarray of float, shape (rows, cols)
        Decades to add below and above each pixel's interval (at most
        :data:`MAX_LAG_DECADES`).
    lagging : ndarray of bool, shape (rows, cols)
        True where ``bandwidth_hz(current) < pixel_rate`` (``docs/science.md``) for the lowest
        current the pixel may have (its reading less ``below``).

    Notes
    -----
    A first-order low pass of bandwidth ``f`` read once per pixel dwell ``1 / pixel_rate``
    gives ``y[j] = y[j-1] + a (x[j] - y[j-1])`` with ``a = 1 - exp(-2 pi f / pixel_rate)``
    (``x`` the input, ``y`` the reading, both in decades: the log amp's output; ``f`` the
    bandwidth at the present input, as for a translinear log amp: steps up settle fast, steps
    down slowly; simulated the same way by :func:`afmcurrent.sim.apply_bandwidth_lag`).
    Hence ``x[j] - y[j] = (y[j] - y[j-1]) / expm1(2 pi f(x[j]) / pixel_rate)``, with the
    change known to within the noise, ``c = confidence_sigma * sqrt(2) * noise_decades``:

    - a rising reading lags below an input at least as high, which is at least as fast:
      ``above = (max(rise, 0) + c) / expm1(2 pi f(y[j]) / pixel_rate)``;
    - a reading in the tail of a step down stays above its input for many pixels while its
      own bandwidth looks ample: the input is slow to reach, not fast. It settles to within
      ``e**-5`` of the input in ``n = 5 / a(floor)`` pixels at the slowest, the floor's
      bandwidth. ``below`` is the fall of the reading over the next ``n`` pixels in scan
      order (to their lowest reading; both sides when the direction is unknown) divided by
      ``1 - e**-5``, less the change noise alone gives (``c``). An input that rises again
      before the reading has settled is not bounded this way (tested: 98 % of simulated
      step inputs at 1e16 Hz/A inside the interval, 88 % at 1e15 Hz/A).

    Where the floor's bandwidth is well above the pixel rate, ``n`` is a few pixels and both
    widenings are about the noise.
    """
    if not (hz_per_amp > 0 and math.isfinite(hz_per_amp)):
        raise CalibrationError(f"hz_per_amp must be positive and finite, got {hz_per_amp!r}")
    if not (pixel_rate > 0 and math.isfinite(pixel_rate)):
        raise CalibrationError(f"pixel_rate must be positive and finite, got {pixel_rate!r}")
    lg = np.asarray(log_current, np.float64)
    allowance = confidence_sigma * math.sqrt(2.0) * noise_decades
    scale = math.log(2.0 * math.pi * hz_per_amp / pixel_rate)  # ln(2 pi f / rate) - ln(I)
    if floor_current is None:
        fin = lg[np.isfinite(lg)]
        log_floor = float(fin.min()) if fin.size else 0.0
    else:
        log_floor = math.log10(floor_current)
    a_floor = -math.expm1(-math.exp(log_floor * math.log(10.0) + scale))  # step per pixel
    cols = lg.shape[1]
    n = int(min(max(math.ceil(_SETTLE / a_floor), 1), cols)) if a_floor > 0 else cols
    below = np.zeros(lg.shape)
    above = np.zeros(lg.shape)
    if cols > 1:
        from scipy.ndimage import minimum_filter1d

        filled = np.where(np.isfinite(lg), lg, np.inf)
        with np.errstate(over="ignore"):
            fast = np.expm1(np.exp(lg * math.log(10.0) + scale))  # at the reading
        d = np.diff(lg, axis=1)  # d[:, j - 1] = lg[:, j] - lg[:, j - 1]
        d[~np.isfinite(d)] = 0.0
        sides = []
        if direction in ("trace", None):  # previous pixel in time: column j - 1
            sides.append((np.s_[:, 1:], d))
        if direction in ("retrace", None):  # column j + 1
            sides.append((np.s_[:, :-1], -d))
        for where, change in sides:
            with np.errstate(divide="ignore", invalid="ignore"):
                up = (np.maximum(change, 0.0) + allowance) / fast[where]
            np.fmax(above[where], up, out=above[where])
        # lowest reading over the next n pixels in scan order (window [j, j + n - 1] for a
        # trace; [j - n + 1, j] for a retrace; both for an unknown direction)
        if direction == "trace":
            low = minimum_filter1d(filled, n, axis=1, mode="nearest", origin=-(n // 2))
        elif direction == "retrace":
            low = minimum_filter1d(filled, n, axis=1, mode="nearest", origin=(n - 1) // 2)
        else:
            low = minimum_filter1d(filled, 2 * n - 1, axis=1, mode="nearest")
        with np.errstate(invalid="ignore"):
            np.subtract(lg, low, out=below)
        below *= 1.0 / -math.expm1(-_SETTLE)  # the reading gets within e**-5 of the input
        below -= allowance  # the spread of n noisy readings is not a fall
        np.maximum(below, 0.0, out=below)
    for w in (below, above):
        w[~np.isfinite(w)] = MAX_LAG_DECADES
        np.minimum(w, MAX_LAG_DECADES, out=w)
        w[~np.isfinite(lg)] = 0.0
    with np.errstate(invalid="ignore"):
        lagging = (lg - below) < math.log10(pixel_rate / hz_per_amp)
    return below, above, lagging
