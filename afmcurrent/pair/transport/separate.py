"""Separation of ionic and electronic current from co-registered +V and -V current maps.

Physics (C.-S. Jiang et al., NREL, "Local electrical degradations of solid-state electrolyte by
nm-scale operando imaging of ionic and electronic transports"; ``docs/science.md``): in the
half cell probe / electrolyte / Li metal, a positive sample bias drives ionic (Li+) and electronic
current, a negative bias electronic current only (Li+ is blocked at steady state). Electronic
conduction is taken as symmetric in bias, so at +V::

    I_e(+V)  = |I(-V)| * |V+ / V-|**n        (n = 1: ohmic)
    I_ion    = I(+V) - I_e(+V)               (never negative)
    fraction = I_ion / I(+V)                 (the local ionic transference number)

Every pixel carries an uncertainty: the log-amplifier noise (``noise_decades``, one sigma per map)
and the bounds of pixels at the amplifier's floor (the value is an upper bound) or saturation (a
lower bound). The -V map is resampled onto the +V frame, so its value at a +V pixel is also
uncertain by the registration error (local gradient x displacement error) and by the structure
below the pixel scale that a resampled map cannot follow (:func:`resampling_sigma`); a reading
whose amplifier bandwidth is below the pixel rate is widened by its possible lag
(:func:`afmcurrent.pair.logamp.lag_decades`). Decisions are taken on intervals of
``confidence_sigma`` sigma; where the difference ``I(+V) - I_e(+V)`` is not resolved from zero,
the ionic current and fraction are NaN (indeterminate), never a made-up number.
"""

from __future__ import annotations

import numpy as np

from ...core.config import TransportSettings
from .maps import TransportMaps

__all__ = ["separate"]


def separate(
    plus_current: np.ndarray,
    minus_current: np.ndarray,
    bias_plus: float,
    bias_minus: float,
    *,
    plus_at_floor: np.ndarray | None = None,
    plus_at_saturation: np.ndarray | None = None,
    minus_at_floor: np.ndarray | None = None,
    minus_at_saturation: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    settings: TransportSettings | None = None,
    electronic_sigma: np.ndarray | None = None,
    electronic_widening: tuple[np.ndarray, np.ndarray] | None = None,
    plus_lag: tuple[np.ndarray, np.ndarray] | None = None,
    minus_lag: tuple[np.ndarray, np.ndarray] | None = None,
    lagging: np.ndarray | None = None,
) -> TransportMaps:
    """Separate ionic and electronic current from co-registered +V and -V maps.

    Parameters
    ----------
    plus_current : ndarray of float, shape (rows, cols)
        |I| recorded at the positive sample bias, in A.
    minus_current : ndarray of float, shape (rows, cols)
        |I| recorded at the negative sample bias, registered onto the +V frame, in A.
    bias_plus, bias_minus : float
        Sample biases in V; ``bias_plus > 0 > bias_minus``.
    plus_at_floor, plus_at_saturation, minus_at_floor, minus_at_saturation : ndarray of bool
        Log-amplifier floor / saturation masks of each map (floor: value is an upper bound;
        saturation: a lower bound). Default: none.
    valid : ndarray of bool, optional
        Pixels to analyse (e.g. the registration overlap). Default: all finite pixels.
    settings : TransportSettings, optional
        Bias exponent, noise and confidence margin.
    electronic_sigma : ndarray of float, shape (rows, cols), optional
        One-sigma uncertainty of log10 I_e(+V) beyond the noise, decades: the registration
        error of the -V map (:func:`resampling_uncertainty`). Added to the noise in quadrature.
    electronic_widening : pair of ndarray of float, shape (rows, cols), optional
        Decades added below and above the interval of log10 I_e(+V): the spatial fluctuation
        of the resampled -V map (:func:`resampling_uncertainty`).
    plus_lag, minus_lag : pair of ndarray of float, shape (rows, cols), optional
        Decades added below and above the +V and -V intervals for amplifier lag
        (:func:`afmcurrent.pair.logamp.lag_decades`).
    lagging : ndarray of bool, shape (rows, cols), optional
        Pixels whose bandwidth is below the pixel rate (stored in the result).

    Returns
    -------
    TransportMaps

    Raises
    ------
    ValueError
        If the biases do not have opposite signs (+V first) or the shapes differ.

    Notes
    -----
    The electronic current at +V is the -V current scaled by ``|V+/V-|**n`` (n = 1, ohmic, by
    default), following the bias-symmetric electronic conduction assumed by Jiang et al.
    The interval of ``log10 I(+V)`` is ``+/- confidence_sigma * noise_decades`` (plus the lag
    widening); that of ``log10 I_e(+V)`` is ``+/- confidence_sigma * sqrt(noise_decades**2 +
    electronic_sigma**2)`` plus the lag widening and the one-sided ``electronic_widening``; a
    bound leaves one side open. As the ionic current is not negative, ``I_e(+V) <= I(+V)``:
    the upper end of the I_e interval is cut at the upper end of the I(+V) interval (where the
    two intervals overlap).
    A pixel's ionic current is reported only where ``log10(I(+V) / I_e(+V))`` exceeds
    ``confidence_sigma`` times the combined one-sigma uncertainty of both maps (in quadrature)
    plus both lag widenings, and ``I(+V)`` is a measurement, not a bound: a shunt pixel with
    ``I(+V) ~ I(-V)`` next to an edge or in a steep gradient gets no ionic current.
    """
    s = settings or TransportSettings()
    if not (bias_plus > 0 > bias_minus):
        raise ValueError(
            f"the +V scan needs a positive and the -V scan a negative sample bias; got "
            f"{bias_plus!r} V and {bias_minus!r} V"
        )
    plus = np.abs(np.asarray(plus_current, dtype=np.float64))
    minus = np.abs(np.asarray(minus_current, dtype=np.float64))
    if plus.shape != minus.shape:
        raise ValueError(f"+V map {plus.shape} and -V map {minus.shape} differ in shape")
    shape = plus.shape

    def mask(m: np.ndarray | None) -> np.ndarray:
        return np.zeros(shape, bool) if m is None else np.asarray(m, bool)

    ratio = float(abs(bias_plus / bias_minus) ** s.bias_exponent)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg_plus = np.log10(plus)  # -inf at 0, nan at nan
        lg_elec = np.log10(minus)
    lg_elec += np.log10(ratio)
    ok = np.isfinite(lg_plus)
    ok &= np.isfinite(lg_elec)
    if valid is not None:
        ok &= np.asarray(valid, bool)
    bad = ~ok

    c, noise = s.confidence_sigma, s.noise_decades
    # one-sigma variances (decades^2) and linear widenings of each map
    var_e: float | np.ndarray = noise * noise
    if electronic_sigma is not None:
        var_e = np.square(np.asarray(electronic_sigma, np.float64))
        var_e += noise * noise
    margin_p: float | np.ndarray = c * noise
    margin_e: float | np.ndarray = c * np.sqrt(var_e)
    p_floor, p_sat = mask(plus_at_floor), mask(plus_at_saturation)
    m_floor, m_sat = mask(minus_at_floor), mask(minus_at_saturation)

    plus_b = _interval(lg_plus, margin_p, (plus_lag,), p_floor, p_sat, bad)
    elec_b = _interval(lg_elec, margin_e, (electronic_widening, minus_lag), m_floor, m_sat, bad)
    with np.errstate(invalid="ignore"):
        # I_e(+V) <= I(+V): cut the upper end where the two intervals overlap
        cut = elec_b[1] > plus_b[1]
        cut &= elec_b[0] <= plus_b[1]
    elec_b[1][cut] = plus_b[1][cut]
    # Interval of log10(I+ / I_e): [lo_p - hi_e, hi_p - lo_e] (a bound leaves a side open:
    # -inf - finite = -inf; inf - inf cannot occur as lo_p < inf and hi_e > -inf)
    ratio_b = np.empty((2, *shape))
    np.subtract(plus_b[0], elec_b[1], out=ratio_b[0])
    np.subtract(plus_b[1], elec_b[0], out=ratio_b[1])

    # Ionic current resolved where I+ is above I_e by more than the combined uncertainty of both
    # maps and both values are measurements, not bounds (a bound gives no number for the
    # difference; an I(-V) at the floor gives a lower bound of I_ion, off by at most the floor).
    measured = ok & ~p_floor
    measured &= ~p_sat
    measured &= ~m_sat
    combined = np.sqrt(var_e + noise * noise)
    combined *= c
    if plus_lag is not None:  # I(+V) may be lower, I_e higher than read
        combined += plus_lag[0]
    if minus_lag is not None:
        combined += minus_lag[1]
    if electronic_widening is not None:
        combined += electronic_widening[1]
    lr = np.subtract(lg_plus, lg_elec, out=lg_plus)
    del lg_elec
    with np.errstate(invalid="ignore"):
        resolved = measured & (lr > combined)
    del lr, combined

    plus[bad] = np.nan
    minus[bad] = np.nan
    electronic = minus * ratio
    unresolved = ~resolved
    ionic = plus - electronic
    ionic[unresolved] = np.nan
    fraction = ionic / plus
    return TransportMaps(
        plus_current=plus,
        minus_current=minus,
        electronic_current=electronic,
        ionic_current=ionic,
        ionic_fraction=fraction,
        log_ratio_bounds=ratio_b,
        log_plus_bounds=plus_b,
        log_electronic_bounds=elec_b,
        valid=ok,
        bias_ratio=ratio,
        plus_at_floor=p_floor & ok,
        plus_at_saturation=p_sat & ok,
        minus_at_floor=m_floor & ok,
        minus_at_saturation=m_sat & ok,
        lagging=(np.asarray(lagging, bool) & ok) if lagging is not None
        else np.zeros(shape, bool),
    )


def _interval(
    lg: np.ndarray,
    margin: float | np.ndarray,
    widenings: tuple[tuple[np.ndarray, np.ndarray] | None, ...],
    at_floor: np.ndarray,
    at_saturation: np.ndarray,
    bad: np.ndarray,
) -> np.ndarray:
    """Bounds ``(2, rows, cols)`` of a log current: +/- ``margin``, then each widening (below,
    above) in turn; open below at the floor (an upper bound), above at saturation (a lower
    bound); NaN on ``bad`` pixels."""
    b = np.empty((2, *lg.shape))
    np.subtract(lg, margin, out=b[0])
    np.add(lg, margin, out=b[1])
    for w in widenings:
        if w is not None:
            b[0] -= w[0]
            b[1] += w[1]
    b[0][at_floor] = -np.inf  # a floor reading is an upper bound
    b[1][at_saturation] = np.inf  # a saturated reading a lower bound
    b[:, bad] = np.nan
    return b
