"""Median currents of a pair over its valid pixels, and which of them are only bounds.

A pixel at the amplifier floor carries only an upper bound, a saturated pixel only a lower
bound, a pixel whose ionic current is not resolved from zero only the interval ``[0, upper
end]``. The median of the pixels' lower ends and the median of their upper ends bracket the
median of the true values (the median is monotone). Where they agree the median is a
measurement; where not, it is the upper bound (the median of the upper ends) or, with no finite
upper end, the lower bound (``docs/outputs.md``, "Medians and bounds").
"""

from __future__ import annotations

import numpy as np

from ..core.arrays import median_inplace, middle_values
from .transport import TransportMaps

__all__ = ["medians_with_bounds", "bound_fractions"]


def _median(v: np.ndarray) -> float:
    return median_inplace(v)  # v is a copy (a boolean gather), partitioned in place


def medians_with_bounds(maps: TransportMaps) -> tuple[dict[str, float | None], dict[str, str]]:
    """Medians over the valid pixels and which of them are bounds.

    Parameters
    ----------
    maps : TransportMaps

    Returns
    -------
    medians : dict
        ``plus_current``, ``minus_current``, ``ionic_current``, ``electronic_current`` in A
        (None where no number can be given).
    bounds : dict
        Entries of ``medians`` that are bounds: key -> ``"upper"`` or ``"lower"``. I(+V),
        I(-V) and I_e are bounds once at least half the valid pixels are at the floor
        (saturation); the ionic median uses, for each unresolved pixel, the upper end
        ``I(+V)_hi - I_e(+V)_lo`` of its interval and is never above the median of the upper
        ends of I(+V).

    Notes
    -----
    The numbers of ``np.median`` over the same pixels (:func:`~afmcurrent.core.arrays.
    median_inplace`); the unresolved pixels' lower ends (0) lie below every resolved ionic
    current, so the lower median is read off the resolved values' order statistics.
    """
    valid = maps.valid
    n = int(np.count_nonzero(valid))
    keys = ("plus_current", "minus_current", "ionic_current", "electronic_current")
    meds: dict[str, float | None] = dict.fromkeys(keys)
    bounds: dict[str, str] = {}
    if n == 0:
        return meds, bounds
    for key in ("plus_current", "minus_current", "electronic_current"):
        meds[key] = _median_over(getattr(maps, key), valid, n)
    for key, floor, sat in (
        ("plus_current", maps.plus_at_floor, maps.plus_at_saturation),
        ("minus_current", maps.minus_at_floor, maps.minus_at_saturation),
        ("electronic_current", maps.minus_at_floor, maps.minus_at_saturation),
    ):
        if floor is not None and 2 * np.count_nonzero(floor) >= n:
            bounds[key] = "upper"
        elif sat is not None and 2 * np.count_nonzero(sat) >= n:
            bounds[key] = "lower"
    ionic = maps.ionic_current
    resolved = np.isfinite(ionic)
    x = ionic[resolved]
    unresolved = valid & ~resolved
    n_un = int(np.count_nonzero(unresolved))
    if n_un == 0:
        meds["ionic_current"] = _median(x)
        return meds, bounds
    ln10 = np.log(10.0)
    with np.errstate(over="ignore", invalid="ignore"):
        hi_un = np.exp(maps.log_plus_bounds[1][unresolved] * ln10)
        hi_un -= np.exp(maps.log_electronic_bounds[0][unresolved] * ln10)
    np.maximum(hi_un, 0.0, out=hi_un)
    m_lo = _median_above_zeros(x, n_un)
    m_hi = _median(np.concatenate([x, hi_un]))
    if m_lo == m_hi:
        meds["ionic_current"] = m_lo
    elif np.isfinite(m_hi):
        meds["ionic_current"], bounds["ionic_current"] = m_hi, "upper"
    elif m_lo > 0:
        meds["ionic_current"], bounds["ionic_current"] = m_lo, "lower"
    return meds, bounds


def _median_over(x: np.ndarray, valid: np.ndarray, n: int) -> float:
    """Median of ``x`` over the ``n`` pixels of ``valid``: ``np.median(x[valid])``.

    The maps of :func:`~afmcurrent.pair.transport.separate` hold NaN exactly outside the
    valid pixels; then a copy of the map is partitioned with its NaN sorted last, which is
    cheaper than gathering the valid pixels.
    """
    nan = np.isnan(x)
    if nan.shape == valid.shape and bool(np.all(nan != valid)):  # NaN exactly outside
        v = np.array(x, np.float64).ravel()
        if not np.isinf(v).any():
            lo, hi = middle_values(v, n)
            return float(lo) if lo == hi else float((lo + hi) / 2)
    return _median(x[valid])  # a copy, partitioned in place


def _median_above_zeros(x: np.ndarray, zeros: int) -> float:
    """Median of ``x`` together with ``zeros`` zeros, for ``x >= 0`` (the resolved ionic
    currents): ``np.median(np.concatenate([x, np.zeros(zeros)]))`` without the copy. The
    zeros are the smallest values, so the order statistic k of the union is 0 below
    ``zeros`` and ``x``'s order statistic ``k - zeros`` above. ``x`` is partitioned in place.
    """
    if x.size and x.min() < 0:  # not the case for resolved ionic currents; kept exact anyway
        return _median(np.concatenate([x, np.zeros(zeros)]))
    total = x.size + zeros
    k1, k2 = (total - 1) // 2, total // 2

    def stat(k: int) -> float:
        if k < zeros:
            return 0.0
        j = k - zeros
        x.partition(j)
        return float(x[j])

    a, b = stat(k1), stat(k2)
    return a if a == b else float((a + b) / 2)


def bound_fractions(maps: TransportMaps) -> dict[str, float | None]:
    """Share of the valid pixels whose reading is only a bound, per map and kind.

    Returns
    -------
    dict
        ``plus_at_floor``, ``plus_at_saturation``, ``minus_at_floor``,
        ``minus_at_saturation`` (None when no pixel is valid).
    """
    n = int(np.count_nonzero(maps.valid))
    out: dict[str, float | None] = {}
    for key in ("plus_at_floor", "plus_at_saturation", "minus_at_floor",
                "minus_at_saturation"):
        mask = getattr(maps, key)
        out[key] = (float(np.count_nonzero(mask) / n) if n and mask is not None else None)
    return out
