"""Degradation classes of pixels: the thresholds and the one classification rule.

Classes (:mod:`afmcurrent.core.classes`, after C.-S. Jiang et al., ``docs/science.md``): 1
ionic-conducting, 2 ionic-blocked with electronic leakage, 3 electronic shunt, 4 ionic-blocked
and insulating, 0 undetermined. The rule (absolute mode, thresholds from
:class:`~afmcurrent.core.config.ClassifySettings`): a pixel is ionic-dominated where the ionic
fraction ``I_ion / I(+V) >= ionic_fraction_min`` (0.9); among those, class 1 where
``I_ion >= ionic_current_min`` (0.1 pA), else class 4. Electronic-dominated pixels are class 3
where ``I_e(+V) >= shunt_current_min`` (1 pA), else class 2.

:func:`classify_intervals` is the rule, written once: every comparison is made on an interval
(:mod:`afmcurrent.pair.transport`), and a value whose interval straddles a threshold gets class
0, not a guess. The pixels of a pair (:func:`classify`) are intervals; the points of the pooled
model (:func:`rule_classes`) are intervals of zero width, which the rule always decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.classes import (
    ELECTRONIC_SHUNT,
    IONIC_BLOCKED_INSULATING,
    IONIC_BLOCKED_LEAKY,
    IONIC_CONDUCTING,
)
from ..core.config import ClassifySettings
from .transport import TransportMaps

__all__ = [
    "Thresholds",
    "thresholds_from_reference",
    "classify_intervals",
    "classify",
    "rule_classes",
    "rule_class",
]


@dataclass(frozen=True)
class Thresholds:
    """Numeric thresholds of the classification, in SI units.

    Attributes
    ----------
    ionic_fraction_min : float
        Ionic-dominated where ``I_ion / I(+V)`` is at or above this.
    ionic_current_min : float
        A; class 1 above, class 4 below (ionic-dominated pixels).
    shunt_current_min : float
        A; class 3 above, class 2 below (electronic-dominated pixels).
    source : str
        ``"absolute"`` or a description of the reference pair.
    """

    ionic_fraction_min: float
    ionic_current_min: float
    shunt_current_min: float
    source: str = "absolute"

    @classmethod
    def from_settings(cls, settings: ClassifySettings) -> Thresholds:
        """Absolute thresholds straight from the ``[classify]`` settings."""
        return cls(
            settings.ionic_fraction_min,
            settings.ionic_current_min,
            settings.shunt_current_min,
            "absolute",
        )

    @property
    def log_ratio_min(self) -> float:
        """``log10(I(+V)/I_e)`` (decades) equivalent to ``ionic_fraction_min``."""
        return float(-np.log10(1.0 - self.ionic_fraction_min))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with units in the keys."""
        return {
            "ionic_fraction_min": self.ionic_fraction_min,
            "ionic_current_min_A": self.ionic_current_min,
            "shunt_current_min_A": self.shunt_current_min,
            "source": self.source,
        }


def thresholds_from_reference(
    reference_plus_median: float, settings: ClassifySettings, description: str = "reference pair"
) -> Thresholds:
    """Thresholds relative to a pristine reference pair.

    Parameters
    ----------
    reference_plus_median : float
        Median |I(+V)| of the pristine reference pair, in A.
    settings : ClassifySettings
        ``reference_ionic_decades`` and ``reference_shunt_decades`` place the two current
        thresholds at ``reference_plus_median * 10**decades``.
    description : str, optional
        Recorded in :attr:`Thresholds.source`.

    Returns
    -------
    Thresholds

    Raises
    ------
    ValueError
        If the reference median is not a positive finite current.
    """
    m = float(reference_plus_median)
    if not (np.isfinite(m) and m > 0):
        raise ValueError(f"reference median current must be positive and finite, got {m}")
    return Thresholds(
        settings.ionic_fraction_min,
        m * 10.0**settings.reference_ionic_decades,
        m * 10.0**settings.reference_shunt_decades,
        f"{description}: median I(+V) = {m:.3g} A",
    )




def classify_intervals(
    log_ratio: tuple[np.ndarray, np.ndarray],
    log_plus: tuple[np.ndarray, np.ndarray],
    log_electronic: tuple[np.ndarray, np.ndarray],
    valid: np.ndarray | bool,
    thresholds: Thresholds,
) -> np.ndarray:
    """The classification rule on intervals: class 1-4 where the whole interval decides, else 0.

    Parameters
    ----------
    log_ratio : pair of ndarray of float, any shape
        Lower and upper bound of ``log10(I(+V) / I_e(+V))``, decades.
    log_plus, log_electronic : pair of ndarray of float, same shape
        Lower and upper bounds of ``log10 I(+V)`` and ``log10 I_e(+V)`` (log10 of A);
        ``-inf`` / ``inf`` where a bound is open.
    valid : ndarray of bool, same shape, or bool
        Values to classify (the others get 0).
    thresholds : Thresholds

    Returns
    -------
    ndarray of uint8, same shape
        Class codes.
    """
    r_lo, r_hi = log_ratio
    p_lo, p_hi = log_plus
    e_lo, e_hi = log_electronic
    shape = np.shape(r_lo)
    with np.errstate(invalid="ignore", over="ignore"):
        ionic_dom = np.asarray(r_lo >= thresholds.log_ratio_min)
        ionic_dom &= valid
        electronic_dom = np.asarray(r_hi < thresholds.log_ratio_min)
        electronic_dom &= valid
        # Electronic current bounds compared in log space: class 3 where the whole interval
        # is at or above the shunt threshold, class 2 where it is below.
        log_shunt = np.log10(thresholds.shunt_current_min)
        shunt = np.asarray(e_lo >= log_shunt)
        shunt &= electronic_dom
        leaky = np.asarray(e_hi < log_shunt)
        leaky &= electronic_dom
        out = np.zeros(shape, np.uint8)
        out[...] = shunt
        out *= np.uint8(ELECTRONIC_SHUNT)
        np.copyto(out, np.uint8(IONIC_BLOCKED_LEAKY), where=leaky)
        # I_ion interval: [I+_lo - Ie_hi, I+_hi - Ie_lo] (10**-inf = 0, 10**inf = inf), on the
        # ionic-dominated pixels only (the powers of ten are the costly part)
        i = np.nonzero(ionic_dom)
        ion_lo = 10.0 ** p_lo[i] - 10.0 ** e_hi[i]
        ion_hi = 10.0 ** p_hi[i] - 10.0 ** e_lo[i]
        cls = np.zeros(ion_lo.shape, np.uint8)
        cls[ion_lo >= thresholds.ionic_current_min] = IONIC_CONDUCTING
        cls[ion_hi < thresholds.ionic_current_min] = IONIC_BLOCKED_INSULATING
        out[i] = cls
    return out


def classify(maps: TransportMaps, thresholds: Thresholds) -> np.ndarray:
    """Classify every pixel of a pair into the degradation classes 0-4.

    Parameters
    ----------
    maps : TransportMaps
        Output of :func:`afmcurrent.pair.transport.separate` (bounds of log I(+V), log I_e and
        their ratio at the chosen confidence).
    thresholds : Thresholds

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        Class codes; 0 where the pixel is invalid or its interval straddles a threshold
        (:func:`classify_intervals`).
    """
    return classify_intervals(maps.log_ratio_bounds, maps.log_plus_bounds,
                              maps.log_electronic_bounds, maps.valid, thresholds)


def rule_classes(feats: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Classes of points (log10 I(+V), log10 I_e(+V)) under the rule: intervals of zero width.

    Parameters
    ----------
    feats : ndarray of float, shape (n, 2)
        (log10 I(+V), log10 I_e(+V)), A; finite.
    thresholds : Thresholds

    Returns
    -------
    ndarray of uint8, shape (n,)
        Class codes 1-4 (a point has no uncertainty, so the rule always decides;
        :func:`classify_intervals`).
    """
    x = np.asarray(feats, np.float64).reshape(-1, 2)
    lp, le = x[:, 0], x[:, 1]
    r = lp - le
    return classify_intervals((r, r), (lp, lp), (le, le), True, thresholds)


def rule_class(log_plus: float, log_electronic: float, thresholds: Thresholds) -> int:
    """Class code of one point (log10 I(+V), log10 I_e(+V)) under the rule (:func:`rule_classes`).

    Returns
    -------
    int
        1, 2, 3 or 4.
    """
    return int(rule_classes(np.array([[log_plus, log_electronic]]), thresholds)[0])
