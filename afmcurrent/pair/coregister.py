"""The -V scan brought into the +V frame: registered onto the +V scan and resampled there.

Registration (:func:`register_pair`) runs :func:`afmcurrent.pair.registration.register` on the
leveled topography (and the current's edges where the topography is featureless), from a
known shift, around an expected one, or alone; a registration that is not trustworthy is
refused (:meth:`Registration.require_trustworthy`) unless forced. Resampling
(:func:`resample_minus`) puts the -V current into the +V frame in log space, its floor and
saturation masks by nearest neighbour, and marks as bounds the resampled values within the
noise of the floor or saturation; :func:`electronic_uncertainty` gives the uncertainty the
resampling adds to I_e(+V) (registration error times the local gradient, sub-pixel structure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.config import AnalysisConfig, TransportSettings
from ..core.errors import RegistrationError
from ..core.model import Scan
from .logamp import CurrentMap, LogAmpCalibration
from .registration import Registration, apply_registration_mask, register
from .registration._resample import check_apply, inside_mask, warp_rows
from .transport import resampling_uncertainty

__all__ = [
    "DEFAULT_UNCERTAINTY_PX",
    "MIN_UNCERTAINTY_PX",
    "register_pair",
    "resample_minus",
    "resample_minus_maps",
    "ResampledMinus",
    "electronic_uncertainty",
]

#: Registration error assumed (px, one sigma) when a registration reports none.
DEFAULT_UNCERTAINTY_PX = 0.5
#: Smallest registration error used for the uncertainty of I_e(+V) (px, one sigma): below it,
#: sub-pixel NCC peaks (parabola refinement, ~0.05-0.1 px peak-locking bias) and the spline
#: resampling of structure at the pixel scale are not better than this, even where the band
#: estimates agree more closely (held out against simulated truth: with the registration's own
#: 0.07-0.18 px, 0.4-2 % of true shunt pixels got an ionic current; with 0 px, 9-11 %).
MIN_UNCERTAINTY_PX = 0.1


def register_pair(
    plus: Scan,
    minus: Scan,
    height_plus: np.ndarray,
    height_minus: np.ndarray,
    current_plus: np.ndarray,
    current_minus: np.ndarray,
    config: AnalysisConfig,
    *,
    shift: tuple[float, float] | None = None,
    expect_shift: tuple[float, float] | None = None,
    search_radius: float = 5.0,
    force_registration: bool = False,
    warnings: list[str] | None = None,
) -> Registration:
    """Register the -V scan onto the +V scan.

    Parameters
    ----------
    plus, minus : Scan
        The scans (named in messages).
    height_plus, height_minus : ndarray of float, shape (rows, cols)
        Raw topography, m.
    current_plus, current_minus : ndarray of float, shape (rows, cols)
        Currents, A.
    config : AnalysisConfig
        ``[registration]``: ``min_confidence`` and ``estimate_drift``.
    shift : (float, float), optional
        Known shift at the centre row, px: with ``estimate_drift`` false a manual
        registration, else the creep and drift around it are estimated.
    expect_shift : (float, float), optional
        Approximate shift, px, searched within ``search_radius``.
    search_radius : float, optional
        px.
    force_registration : bool, optional
        Use a registration that is not trustworthy, with a sentence in ``warnings``.
    warnings : list of str, optional
        Receives that sentence.

    Returns
    -------
    Registration

    Raises
    ------
    RegistrationError
        If the registration is not trustworthy and ``force_registration`` is False.
    """
    rs = config.registration
    if shift is not None and not rs.estimate_drift:
        reg = Registration.manual(shift, plus.shape)
    elif shift is not None:
        # the known shift holds at the centre row; creep and drift around it are estimated
        reg = register(height_plus, height_minus, current_plus, current_minus,
                       min_confidence=rs.min_confidence, known_shift=shift,
                       search_radius=search_radius)
    else:
        reg = register(height_plus, height_minus, current_plus, current_minus,
                       estimate_drift=rs.estimate_drift, min_confidence=rs.min_confidence,
                       expected_shift=expect_shift, search_radius=search_radius)
    try:
        reg.require_trustworthy()
    except RegistrationError as exc:
        msg = f"{minus.label} onto {plus.label}: {exc}"
        if not force_registration:
            raise RegistrationError(
                msg + "; give a known shift (--shift DY,DX) or accept it with "
                "--force-registration") from None
        if warnings is not None:
            warnings.append(msg + " (used anyway: --force-registration)")
    return reg


@dataclass
class ResampledMinus:
    """The -V current in the +V frame (:func:`resample_minus_maps`).

    Attributes
    ----------
    current : ndarray of float64, shape (rows, cols)
        I(-V) in A, resampled in log space; NaN outside the overlap.
    log10 : ndarray of float64, shape (rows, cols)
        ``log10(current / A)`` as resampled (NaN outside the overlap).
    overlap : ndarray of bool
        Pixels inside the -V frame on registered rows, with a value.
    at_floor, at_saturation : ndarray of bool
        Resampled masks (nearest neighbour) or values within the margin of the floor
        (saturation).
    """

    current: np.ndarray
    log10: np.ndarray
    overlap: np.ndarray
    at_floor: np.ndarray
    at_saturation: np.ndarray


def resample_minus(
    cur_minus: CurrentMap,
    registration: Registration,
    calibration: LogAmpCalibration | None,
    bound_margin: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The -V current and its bound masks in the +V frame.

    Parameters
    ----------
    cur_minus : CurrentMap
        The -V current in its own frame.
    registration : Registration
    calibration : LogAmpCalibration or None
        Its floor and saturation mark resampled values within ``bound_margin`` decades of
        them as bounds too.
    bound_margin : float
        Decades (``confidence_sigma * noise_decades``).

    Returns
    -------
    current : ndarray of float, shape (rows, cols)
        I(-V) in A, resampled in log space; NaN outside the overlap.
    overlap : ndarray of bool
        Pixels inside the -V frame.
    at_floor, at_saturation : ndarray of bool
        Resampled masks (nearest neighbour) or values within the margin of the floor
        (saturation).
    """
    r = resample_minus_maps(cur_minus, registration, calibration, bound_margin)
    return r.current, r.overlap, r.at_floor, r.at_saturation


def resample_minus_maps(
    cur_minus: CurrentMap,
    registration: Registration,
    calibration: LogAmpCalibration | None,
    bound_margin: float,
) -> ResampledMinus:
    """:func:`resample_minus` with the resampled log10 of the current as well.

    The log current of the -V scan (:meth:`CurrentMap.log_current`) is resampled row by
    row (bilinear, :func:`~afmcurrent.pair.registration.apply_registration`'s method) and
    raised to the power of ten; the masks by nearest neighbour.

    Raises
    ------
    RegistrationError
        If the map's shape differs from the registered frame.
    """
    check_apply(cur_minus.current, registration)
    lg = cur_minus.log_current()
    curve = registration.row_displacement
    inside = inside_mask(curve, lg.shape, registration.row_registered)
    w = warp_rows(np.asarray(lg, np.float64), curve)
    overlap = np.isfinite(w)
    overlap &= inside
    w[~overlap] = np.nan
    with np.errstate(over="ignore"):
        current = np.power(10.0, w)
    at_floor = apply_registration_mask(cur_minus.at_floor, registration, inside)
    at_sat = apply_registration_mask(cur_minus.at_saturation, registration, inside)
    if calibration is not None:
        # a resampled value within the noise of the floor (saturation) is a bound as well
        k = 10.0**bound_margin
        with np.errstate(invalid="ignore"):
            at_floor |= current <= calibration.floor_current * k
            at_sat |= current >= calibration.saturation_current / k
    return ResampledMinus(current, w, overlap, at_floor, at_sat)


def electronic_uncertainty(
    log_minus: np.ndarray, registration: Registration, settings: TransportSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncertainty the resampling adds to log10 I_e(+V): registration error and structure.

    The registration's ``uncertainty_px`` (:data:`DEFAULT_UNCERTAINTY_PX` when it reports
    none), at least :data:`MIN_UNCERTAINTY_PX`, through
    :func:`afmcurrent.pair.transport.resampling_uncertainty`.

    Returns
    -------
    sigma, below, above : ndarray of float32, shape (rows, cols)
        Decades (see :func:`~afmcurrent.pair.transport.resampling_uncertainty`).
    """
    uncertainty = getattr(registration, "uncertainty_px", float("nan"))
    if not math.isfinite(uncertainty):
        uncertainty = DEFAULT_UNCERTAINTY_PX
    uncertainty = max(uncertainty, MIN_UNCERTAINTY_PX)
    return resampling_uncertainty(log_minus, uncertainty, settings.noise_decades,
                                  settings.confidence_sigma)
