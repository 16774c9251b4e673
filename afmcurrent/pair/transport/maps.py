"""The ionic / electronic current maps of a pair (:class:`TransportMaps`) and the log-current
intervals they are built from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TransportMaps",
    "bound_code",
    "log_bounds",
    "log10_current",
]


@dataclass
class TransportMaps:
    """Ionic / electronic current maps in the +V frame.

    All arrays have the shape ``(rows, cols)`` of the +V scan.

    Attributes
    ----------
    plus_current : ndarray of float
        |I(+V)| in A (NaN outside the valid region).
    minus_current : ndarray of float
        |I(-V)| in A, registered onto the +V frame.
    electronic_current : ndarray of float
        Electronic current at +V, ``|I(-V)| * |V+/V-|**n``, in A.
    ionic_current : ndarray of float
        ``I(+V) - I_e(+V)`` in A where resolved from zero, else NaN.
    ionic_fraction : ndarray of float
        ``I_ion / I(+V)`` (dimensionless, 0..1) where resolved, else NaN.
    log_ratio_bounds : ndarray of float32, shape (2, rows, cols)
        Lower and upper bound of ``log10(I(+V) / I_e(+V))`` (decades) at the chosen confidence;
        ``-inf`` / ``inf`` where a floor or saturation leaves one side open. Computed in
        float64, kept in float32 (within 1e-6 decades).
    log_plus_bounds, log_electronic_bounds : ndarray of float32, shape (2, rows, cols)
        Bounds of ``log10 I(+V)`` and ``log10 I_e(+V)`` (log10 of A), as the ratio's.
    valid : ndarray of bool
        Pixels where both maps hold a measurement (inside the registration overlap, finite).
    bias_ratio : float
        ``|V+ / V-|**n`` used to scale the -V map.
    plus_at_floor, plus_at_saturation, minus_at_floor, minus_at_saturation : ndarray of bool
        Pixels (in the +V frame, inside ``valid``) whose +V or registered -V reading is only an
        upper bound (amplifier floor) or a lower bound (saturation).
    lagging : ndarray of bool
        Valid pixels where either reading's amplifier bandwidth is below the pixel rate (their
        intervals are widened); all False when lag was not checked.
    """

    plus_current: np.ndarray
    minus_current: np.ndarray
    electronic_current: np.ndarray
    ionic_current: np.ndarray
    ionic_fraction: np.ndarray
    log_ratio_bounds: np.ndarray
    log_plus_bounds: np.ndarray
    log_electronic_bounds: np.ndarray
    valid: np.ndarray
    bias_ratio: float
    plus_at_floor: np.ndarray | None = None
    plus_at_saturation: np.ndarray | None = None
    minus_at_floor: np.ndarray | None = None
    minus_at_saturation: np.ndarray | None = None
    lagging: np.ndarray | None = None

    @property
    def resolved(self) -> np.ndarray:
        """bool (rows, cols): ionic current resolved from zero (finite ``ionic_current``)."""
        return np.isfinite(self.ionic_current)


def log_bounds(
    current: np.ndarray,
    at_floor: np.ndarray,
    at_saturation: np.ndarray,
    margin_decades: float,
) -> np.ndarray:
    """Interval of ``log10(current)`` given noise and the amplifier's floor and saturation.

    Parameters
    ----------
    current : ndarray of float, shape (rows, cols)
        Current magnitudes in A.
    at_floor, at_saturation : ndarray of bool, shape (rows, cols)
        Pixels whose value is only an upper bound (floor) or lower bound (saturation).
    margin_decades : float
        Half width of the interval for a measured pixel, in decades.

    Returns
    -------
    ndarray of float, shape (2, rows, cols)
        Lower and upper bounds of log10(current / A). A floor pixel has no lower bound
        (``-inf``), a saturated pixel no upper bound (``inf``); non-finite or non-positive
        currents give ``(nan, nan)``.
    """
    return _bounds_from_log(log10_current(current), at_floor, at_saturation, margin_decades)


def log10_current(current: np.ndarray) -> np.ndarray:
    """log10 of positive finite currents, NaN elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(np.asarray(current, dtype=np.float64))
    lg[~np.isfinite(lg)] = np.nan
    return lg


def _bounds_from_log(
    lg: np.ndarray, at_floor: np.ndarray, at_saturation: np.ndarray,
    margin_decades: float | np.ndarray,
) -> np.ndarray:
    lo = lg - margin_decades
    hi = lg + margin_decades
    lo = np.where(at_floor, -np.inf, lo)
    hi = np.where(at_saturation, np.inf, hi)
    bad = np.isnan(lg)
    lo[bad] = np.nan
    hi[bad] = np.nan
    return np.stack([lo, hi])


def bound_code(at_floor: np.ndarray | None, at_saturation: np.ndarray | None,
               shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Which readings are bounds, as a code map: 0 a measurement, 1 at the amplifier floor (an
    upper bound), 2 at saturation (a lower bound).

    Parameters
    ----------
    at_floor, at_saturation : ndarray of bool, shape (rows, cols), or None
        The masks (:class:`TransportMaps` ``plus_at_floor``, ...).
    shape : tuple of int, optional
        Shape of the map when both masks are None.

    Returns
    -------
    ndarray of float, shape (rows, cols)
    """
    ref = at_floor if at_floor is not None else at_saturation
    out = np.zeros(ref.shape if ref is not None else shape)
    if at_floor is not None:
        out[at_floor] = 1.0
    if at_saturation is not None:
        out[at_saturation] = 2.0
    return out
