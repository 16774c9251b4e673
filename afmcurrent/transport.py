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
lower bound). Decisions are taken on intervals of ``confidence_sigma`` sigma; where the difference
``I(+V) - I_e(+V)`` is not resolved from zero, the ionic current and fraction are NaN
(indeterminate), never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import TransportSettings

__all__ = ["TransportMaps", "separate", "current_density", "log_bounds"]


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
    lg: np.ndarray, at_floor: np.ndarray, at_saturation: np.ndarray, margin_decades: float
) -> np.ndarray:
    lo = lg - margin_decades
    hi = lg + margin_decades
    lo = np.where(at_floor, -np.inf, lo)
    hi = np.where(at_saturation, np.inf, hi)
    bad = np.isnan(lg)
    lo[bad] = np.nan
    hi[bad] = np.nan
    return np.stack([lo, hi])


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
    A pixel's ionic current is reported only where the lower bound of
    ``log10(I(+V) / I_e(+V))`` is above zero, i.e. ``I(+V)`` exceeds ``I_e(+V)`` by more than
    ``confidence_sigma`` times the combined noise ``sqrt(2) * noise_decades``.
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

    ok = np.isfinite(plus) & np.isfinite(minus) & (plus > 0) & (minus > 0)
    if valid is not None:
        ok &= np.asarray(valid, bool)

    ratio = float(abs(bias_plus / bias_minus) ** s.bias_exponent)
    electronic = minus * ratio
    margin = s.confidence_sigma * s.noise_decades
    lg_plus, lg_elec = _log10(plus), _log10(electronic)
    plus_b = _bounds_from_log(lg_plus, mask(plus_at_floor), mask(plus_at_saturation), margin)
    elec_b = _bounds_from_log(lg_elec, mask(minus_at_floor), mask(minus_at_saturation), margin)
    with np.errstate(invalid="ignore"):
        # Interval of log10(I+ / I_e): [lo_p - hi_e, hi_p - lo_e]; inf - inf -> nan: unknown.
        r_lo = plus_b[0] - elec_b[1]
        r_hi = plus_b[1] - elec_b[0]
    r_lo = np.where(np.isnan(r_lo) & ok, -np.inf, r_lo)
    r_hi = np.where(np.isnan(r_hi) & ok, np.inf, r_hi)

    # Ionic current resolved where I+ is above I_e beyond the combined noise and both values are
    # measurements, not bounds (a bound gives no number for the difference).
    measured = ok & ~mask(plus_at_floor) & ~mask(plus_at_saturation)
    measured &= ~mask(minus_at_saturation)
    combined = s.confidence_sigma * np.sqrt(2.0) * s.noise_decades
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = lg_plus - lg_elec
        resolved = measured & (lr > combined)
        # Where I(-V) sits at the floor, I_e is an upper bound and this is a lower bound of I_ion,
        # off by at most the floor current.
        ionic = np.where(resolved, plus - electronic, np.nan)
        fraction = np.where(resolved, ionic / plus, np.nan)

    nan = np.where(ok, 1.0, np.nan)
    return TransportMaps(
        plus_current=plus * nan,
        minus_current=minus * nan,
        electronic_current=electronic * nan,
        ionic_current=ionic,
        ionic_fraction=fraction,
        log_ratio_bounds=np.stack([np.where(ok, r_lo, np.nan), np.where(ok, r_hi, np.nan)]),
        log_plus_bounds=np.where(ok, plus_b, np.nan),
        log_electronic_bounds=np.where(ok, elec_b, np.nan),
        valid=ok,
        bias_ratio=ratio,
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
