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

from typing import Any

import numpy as np

from ...core.arrays import row_blocks
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
    log_plus: np.ndarray | None = None,
    log_minus: np.ndarray | None = None,
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
    log_plus, log_minus : ndarray of float, shape (rows, cols), optional
        ``log10`` of ``plus_current`` and ``minus_current`` when the caller has them (the
        log-amplifier conversion and the resampling work in log space; NaN where a current is
        not a positive finite number); computed here otherwise.

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
    plus_in = np.asarray(plus_current)
    minus_in = np.asarray(minus_current)
    if plus_in.shape != minus_in.shape:
        raise ValueError(f"+V map {plus_in.shape} and -V map {minus_in.shape} differ in shape")
    shape = plus_in.shape

    def mask(m: np.ndarray | None) -> np.ndarray:
        return np.zeros(shape, bool) if m is None else np.asarray(m, bool)

    ratio = float(abs(bias_plus / bias_minus) ** s.bias_exponent)
    p_floor, p_sat = mask(plus_at_floor), mask(plus_at_saturation)
    m_floor, m_sat = mask(minus_at_floor), mask(minus_at_saturation)
    inputs = {
        "plus": plus_in, "minus": minus_in, "log_plus": log_plus, "log_minus": log_minus,
        "valid": None if valid is None else np.asarray(valid, bool),
        "p_floor": p_floor, "p_sat": p_sat, "m_floor": m_floor, "m_sat": m_sat,
        "sigma": None if electronic_sigma is None else np.asarray(electronic_sigma),
        "widening": electronic_widening, "plus_lag": plus_lag, "minus_lag": minus_lag,
    }
    out = {k: np.empty(shape) for k in ("plus", "minus", "electronic", "ionic", "fraction")}
    # the bounds are computed in float64 block by block and kept in float32 (decades: 1e-6 of
    # a decade at worst, far below the amplifier's noise; half the memory of a 2048 x 2048 pair)
    out.update({k: np.empty((2, *shape), np.float32) for k in ("ratio_b", "plus_b", "elec_b")})
    out["ok"] = np.empty(shape, bool)
    # row blocks that stay in the processor's cache: the same numbers as the whole image at
    # once (every operation is per pixel), at half the time on a 512 x 512 pair
    for rows in row_blocks(shape):
        _separate_rows(rows, inputs, out, ratio, s)
    ok = out["ok"]
    return TransportMaps(
        plus_current=out["plus"],
        minus_current=out["minus"],
        electronic_current=out["electronic"],
        ionic_current=out["ionic"],
        ionic_fraction=out["fraction"],
        log_ratio_bounds=out["ratio_b"],
        log_plus_bounds=out["plus_b"],
        log_electronic_bounds=out["elec_b"],
        valid=ok,
        bias_ratio=ratio,
        plus_at_floor=p_floor & ok,
        plus_at_saturation=p_sat & ok,
        minus_at_floor=m_floor & ok,
        minus_at_saturation=m_sat & ok,
        lagging=(np.asarray(lagging, bool) & ok) if lagging is not None
        else np.zeros(shape, bool),
    )


def _separate_rows(rows: slice, inp: dict[str, Any], out: dict[str, np.ndarray], ratio: float,
                   s: TransportSettings) -> None:
    """:func:`separate` on the rows ``rows`` (every array of ``inp`` and ``out`` sliced)."""

    def take(key: str) -> Any:
        v = inp[key]
        if v is None:
            return None
        if isinstance(v, tuple):
            return tuple(w[rows] for w in v)
        return v[rows]

    def put(key: str) -> np.ndarray:
        v = out[key]
        return v[:, rows] if v.ndim == 3 else v[rows]

    plus = put("plus")
    minus = put("minus")
    np.abs(take("plus"), out=plus)
    np.abs(take("minus"), out=minus)
    log_plus, log_minus = take("log_plus"), take("log_minus")
    with np.errstate(divide="ignore", invalid="ignore"):
        # -inf at 0, nan at nan (both not finite: not valid); lg_plus is changed below
        lg_plus = np.log10(plus) if log_plus is None else np.array(log_plus, np.float64)
        lg_elec = np.log10(minus) if log_minus is None else np.array(log_minus, np.float64)
    lg_elec += np.log10(ratio)
    ok = put("ok")
    np.isfinite(lg_plus, out=ok)
    ok &= np.isfinite(lg_elec)
    valid = take("valid")
    if valid is not None:
        ok &= valid
    bad = ~ok

    c, noise = s.confidence_sigma, s.noise_decades
    # one-sigma variances (decades^2) and linear widenings of each map
    var_e: float | np.ndarray = noise * noise
    margin_e: float | np.ndarray = c * noise
    sigma = take("sigma")
    if sigma is not None:
        var_e = np.square(sigma, dtype=np.float64)
        var_e += noise * noise
        margin_e = np.sqrt(var_e)
        margin_e *= c
    margin_p: float | np.ndarray = c * noise
    p_floor, p_sat, m_floor, m_sat = (take(k) for k in ("p_floor", "p_sat", "m_floor", "m_sat"))
    widening, plus_lag, minus_lag = take("widening"), take("plus_lag"), take("minus_lag")

    nb = (2, *lg_plus.shape)
    plus_b, elec_b = np.empty(nb), np.empty(nb)
    _interval(lg_plus, margin_p, (plus_lag,), p_floor, p_sat, bad, plus_b)
    _interval(lg_elec, margin_e, (widening, minus_lag), m_floor, m_sat, bad, elec_b)
    with np.errstate(invalid="ignore"):
        # I_e(+V) <= I(+V): cut the upper end where the two intervals overlap
        cut = elec_b[1] > plus_b[1]
        cut &= elec_b[0] <= plus_b[1]
    np.copyto(elec_b[1], plus_b[1], where=cut)
    # Interval of log10(I+ / I_e): [lo_p - hi_e, hi_p - lo_e] (a bound leaves a side open:
    # -inf - finite = -inf; inf - inf cannot occur as lo_p < inf and hi_e > -inf)
    ratio_b = np.empty(nb)
    np.subtract(plus_b[0], elec_b[1], out=ratio_b[0])
    np.subtract(plus_b[1], elec_b[0], out=ratio_b[1])
    for key, b in (("plus_b", plus_b), ("elec_b", elec_b), ("ratio_b", ratio_b)):
        put(key)[...] = b

    # Ionic current resolved where I+ is above I_e by more than the combined uncertainty of both
    # maps and both values are measurements, not bounds (a bound gives no number for the
    # difference; an I(-V) at the floor gives a lower bound of I_ion, off by at most the floor).
    measured = ok & ~p_floor
    measured &= ~p_sat
    measured &= ~m_sat
    if isinstance(var_e, np.ndarray):
        combined = var_e
        combined += noise * noise
        np.sqrt(combined, out=combined)
    else:
        combined = np.sqrt(var_e + noise * noise)
    combined *= c
    if plus_lag is not None:  # I(+V) may be lower, I_e higher than read
        combined += plus_lag[0]
    if minus_lag is not None:
        combined += minus_lag[1]
    if widening is not None:
        combined += widening[1]
    lr = np.subtract(lg_plus, lg_elec, out=lg_plus)
    with np.errstate(invalid="ignore"):
        resolved = lr > combined
    resolved &= measured

    np.copyto(plus, np.nan, where=bad)
    np.copyto(minus, np.nan, where=bad)
    electronic = put("electronic")
    np.multiply(minus, ratio, out=electronic)
    ionic = put("ionic")
    np.subtract(plus, electronic, out=ionic)
    np.copyto(ionic, np.nan, where=~resolved)
    np.divide(ionic, plus, out=put("fraction"))


def _interval(
    lg: np.ndarray,
    margin: float | np.ndarray,
    widenings: tuple[tuple[np.ndarray, np.ndarray] | None, ...],
    at_floor: np.ndarray,
    at_saturation: np.ndarray,
    bad: np.ndarray,
    b: np.ndarray,
) -> np.ndarray:
    """Bounds ``(2, rows, cols)`` of a log current, written into ``b``: +/- ``margin``, then
    each widening (below, above) in turn; open below at the floor (an upper bound), above at
    saturation (a lower bound); NaN on ``bad`` pixels."""
    np.subtract(lg, margin, out=b[0])
    np.add(lg, margin, out=b[1])
    for w in widenings:
        if w is not None:
            b[0] -= w[0]
            b[1] += w[1]
    np.copyto(b[0], -np.inf, where=at_floor)  # a floor reading is an upper bound
    np.copyto(b[1], np.inf, where=at_saturation)  # a saturated reading a lower bound
    np.copyto(b, np.nan, where=bad)
    return b
