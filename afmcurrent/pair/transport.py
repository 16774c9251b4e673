"""Separation of ionic and electronic current from co-registered +V and -V current maps.

Physics (C.-S. Jiang et al., NREL, "Local electrical degradations of solid-state electrolyte by
nm-scale operando imaging of ionic and electronic transports"; summary in SCIENCE.md): in the
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
(:func:`afmcurrent.logamp.lag_decades`). Decisions are taken on intervals of
``confidence_sigma`` sigma; where the difference ``I(+V) - I_e(+V)`` is not resolved from zero,
the ionic current and fraction are NaN (indeterminate), never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.config import TransportSettings

__all__ = [
    "TransportMaps", "separate", "current_density", "log_bounds", "resampling_uncertainty",
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
    log_ratio_bounds : ndarray of float, shape (2, rows, cols)
        Lower and upper bound of ``log10(I(+V) / I_e(+V))`` (decades) at the chosen confidence;
        ``-inf`` / ``inf`` where a floor or saturation leaves one side open.
    log_plus_bounds, log_electronic_bounds : ndarray of float, shape (2, rows, cols)
        Bounds of ``log10 I(+V)`` and ``log10 I_e(+V)`` (log10 of A).
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
    return _bounds_from_log(_log10(current), at_floor, at_saturation, margin_decades)


def _log10(current: np.ndarray) -> np.ndarray:
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


def resampling_uncertainty(
    log_current: np.ndarray,
    uncertainty_px: float,
    noise_decades: float,
    confidence_sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncertainty of a resampled log-current map beyond its noise, per pixel.

    Parameters
    ----------
    log_current : ndarray of float, shape (rows, cols)
        log10 of the registered map (the -V map in the +V frame), NaN where undefined.
    uncertainty_px : float
        One-sigma error of the registration displacement, px
        (:attr:`afmcurrent.registration.Registration.uncertainty_px`).
    noise_decades : float
        One-sigma noise of a reading, decades.
    confidence_sigma : float, optional
        Confidence multiple used for the noise allowance of the fluctuation term.

    Returns
    -------
    sigma : ndarray of float32, shape (rows, cols)
        One-sigma registration term ``uncertainty_px * |grad log I|``, decades (to add to the
        noise in quadrature).
    below, above : ndarray of float32, shape (rows, cols)
        Spatial-fluctuation widening of the interval below and above the value, decades (to
        add to the margin).

    Notes
    -----
    - **registration**: a displacement error ``delta`` moves the sampled point by ``delta``
      px, which changes the value by ``grad log I . delta`` to first order; with an isotropic
      one-sigma error ``u`` per axis this is ``u * |grad log I|`` (central differences,
      decades/px, one-sided at the borders).
    - **spatial fluctuation**: where the map changes by more than noise from one pixel to
      the next (a domain edge, a shunt a few pixels wide), the value between pixel centres is
      not known: interpolation cannot recover structure below the pixel scale, and the two
      scans sample it at different sub-pixel positions. The true value is then anywhere
      between the pixel's and its neighbours' values: along an axis where the changes to the
      two neighbours differ by more than noise gives (second difference above
      ``confidence_sigma * sqrt(6) * noise_decades``: a step or a spike, not a ramp), the
      interval reaches those neighbours' values plus their noise allowance
      (``confidence_sigma * sqrt(2) * noise_decades``). 0 inside smooth regions.
    """
    # float32: these are widths in decades (7 significant digits are plenty), half the memory
    # traffic of float64
    lg = np.asarray(log_current, np.float32)
    rows, cols = lg.shape
    allowance = np.float32(confidence_sigma * np.sqrt(2.0) * noise_decades)
    sigma = np.zeros(lg.shape, np.float32)
    below = np.zeros(lg.shape, np.float32)
    above = np.zeros(lg.shape, np.float32)
    if rows < 2 or cols < 2:
        return sigma, below, above
    dy = np.diff(lg, axis=0)  # lg[r + 1] - lg[r]
    np.nan_to_num(dy, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    dx = np.diff(lg, axis=1)
    np.nan_to_num(dx, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    # (u |grad|)^2 with central differences inside, one-sided at the borders (as np.gradient)
    g = np.empty(lg.shape, np.float32)
    g[0], g[-1] = dy[0], dy[-1]
    np.add(dy[1:], dy[:-1], out=g[1:-1])
    g[1:-1] *= 0.5
    gx = np.empty(lg.shape, np.float32)
    gx[:, 0], gx[:, -1] = dx[:, 0], dx[:, -1]
    np.add(dx[:, 1:], dx[:, :-1], out=gx[:, 1:-1])
    gx[:, 1:-1] *= 0.5
    np.multiply(g, g, out=g)
    np.multiply(gx, gx, out=gx)
    g += gx
    np.sqrt(g, out=g)
    np.multiply(g, np.float32(uncertainty_px), out=sigma)
    # Sub-pixel structure: along an axis where the two one-sided changes differ by more than
    # noise (a step, a spike; not a ramp, which the gradient term covers), the interval
    # reaches the neighbours' values.
    kink = np.float32(confidence_sigma * np.sqrt(6.0) * noise_decades)  # of a 2nd difference
    for d, ax in ((dy, 0), (dx, 1)):
        d = np.moveaxis(d, ax, -1)  # differences along the last axis: d[..., j] = v[j+1] - v[j]
        up = np.moveaxis(above, ax, -1)
        dn = np.moveaxis(below, ax, -1)
        # interior pixels j = 1..n-2: forward change d[j], backward change d[j - 1]
        fwd, bwd = d[..., 1:], d[..., :-1]
        curved = np.abs(fwd - bwd) > kink
        rise = np.maximum(fwd, -bwd)
        np.maximum(rise, 0.0, out=rise)
        rise *= curved
        np.maximum(up[..., 1:-1], rise, out=up[..., 1:-1])
        np.maximum(-fwd, bwd, out=rise)
        np.maximum(rise, 0.0, out=rise)
        rise *= curved
        np.maximum(dn[..., 1:-1], rise, out=dn[..., 1:-1])
        # the two border pixels have one neighbour: a change beyond the noise is a kink
        for j, change in ((0, d[..., 0]), (-1, -d[..., -1])):
            big = np.abs(change) > kink
            np.maximum(up[..., j], np.where(big, np.maximum(change, 0.0), 0.0), out=up[..., j])
            np.maximum(dn[..., j], np.where(big, np.maximum(-change, 0.0), 0.0), out=dn[..., j])
    for w in (below, above):
        np.add(w, allowance, out=w, where=w > 0)  # up to the neighbour's value and its noise
    return sigma, below, above


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
        (:func:`afmcurrent.logamp.lag_decades`).
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

    plus_b = np.empty((2, *shape))
    np.subtract(lg_plus, margin_p, out=plus_b[0])
    np.add(lg_plus, margin_p, out=plus_b[1])
    if plus_lag is not None:
        plus_b[0] -= plus_lag[0]
        plus_b[1] += plus_lag[1]
    plus_b[0][p_floor] = -np.inf  # a floor reading is an upper bound
    plus_b[1][p_sat] = np.inf  # a saturated reading a lower bound
    elec_b = np.empty((2, *shape))
    np.subtract(lg_elec, margin_e, out=elec_b[0])
    np.add(lg_elec, margin_e, out=elec_b[1])
    if electronic_widening is not None:
        elec_b[0] -= electronic_widening[0]
        elec_b[1] += electronic_widening[1]
    if minus_lag is not None:
        elec_b[0] -= minus_lag[0]
        elec_b[1] += minus_lag[1]
    elec_b[0][m_floor] = -np.inf
    elec_b[1][m_sat] = np.inf
    plus_b[:, bad] = np.nan
    elec_b[:, bad] = np.nan
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


def current_density(current: np.ndarray | float, tip_radius: float = 100e-9) -> np.ndarray:
    """Current density under the probe, ``J = I / (pi r^2)``.

    Parameters
    ----------
    current : array_like of float
        Current in A.
    tip_radius : float, optional
        Contact radius in m (default 100 nm, the nominal radius of the DDESP probes used by
        Jiang et al.).

    Returns
    -------
    ndarray of float
        Current density in A/m^2 (1 A/m^2 = 0.1 mA/cm^2). Example from the paper: 2.5 pA over
        r = 100 nm gives ~80 A/m^2 = ~8 mA/cm^2.

    Raises
    ------
    ValueError
        If ``tip_radius`` is not positive.
    """
    if not tip_radius > 0:
        raise ValueError(f"tip_radius must be positive (m), got {tip_radius}")
    return np.asarray(current, dtype=np.float64) / (np.pi * tip_radius**2)
