"""The repeat scan: did the measurement itself change the sample?

``afmcurrent acquire`` records +V, -V, +V on one area by default (``docs/instrument.md``): the
second scan at the first polarity shows whether the first two scans changed the sample (a
probe at +1 V for minutes can move Li+, reduce the electrolyte under the tip or wear the tip).
:func:`compare_repeat` registers the later scan of that polarity onto the earlier one
(:func:`afmcurrent.pair.registration.register`, the same method as the -V scan onto the +V scan)
and reports what changed:

- the **change of log current** per pixel, ``log10 I(later) - log10 I(earlier)`` in decades,
  in the frame of the reference scan (the analysed pair's), NaN where either reading is only a
  bound or outside the overlap;
- the pixels whose change exceeds the noise: ``|change| > confidence_sigma * sqrt(2 *
  noise_decades**2 + sigma_reg**2)`` plus the spatial-fluctuation widening of the resampled
  map, with ``sigma_reg`` the registration error times the local gradient
  (:func:`afmcurrent.pair.coregister.electronic_uncertainty`, the same allowance as for the
  -V map); their share of the pixels measured in both is ``changed_fraction``;
- the share of the pixels classified in both pairs whose **class would change**
  (``class_change_fraction``): the later pair's class map resampled into the reference frame;
  a pixel counts as changed only when its class differs from the later classes of all four
  pixels around its source position (a domain edge sampled half a pixel apart is not a
  change), and the transitions between classes;
- a **warning** when either share exceeds its limit (``[repeat]`` settings:
  ``max_class_change``, default 5 %; ``max_changed_fraction``, default 25 %).

Two scans that cannot be registered are not compared: the record says why and holds no
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.classes import CLASS_NAMES, N_CODES
from ..core.config import AnalysisConfig, load_config
from ..core.errors import RegistrationError
from .coregister import electronic_uncertainty
from .registration import Registration, apply_registration, apply_registration_mask, register

__all__ = ["RepeatScan", "RepeatComparison", "compare_repeat", "repeat_scan_from_result",
           "compare_results", "attach_repeat", "repeat_scan_from_stored"]


@dataclass(frozen=True)
class RepeatScan:
    """One scan of the repeated polarity, as the comparison needs it.

    Attributes
    ----------
    label : str
        The scan's name (file, or file and scan number), for messages.
    height : ndarray of float, shape (rows, cols)
        Topography, m (raw or leveled: leveled again inside the registration).
    current : ndarray of float, shape (rows, cols)
        Current magnitude, A.
    at_bound : ndarray of bool, shape (rows, cols)
        True where the reading is only a bound (amplifier floor or saturation).
    class_map : ndarray of uint8, shape (rows, cols)
        The classes of the pair this scan belongs to, in this scan's frame.
    date : str or None
        Capture time (ISO 8601), to order the two scans.
    """

    label: str
    height: np.ndarray
    current: np.ndarray
    at_bound: np.ndarray
    class_map: np.ndarray
    date: str | None = None


@dataclass
class RepeatComparison:
    """What the repeat scan says about the measurement (see the module docstring).

    Maps are in the reference scan's frame, shape ``(rows, cols)``.

    Attributes
    ----------
    reference, other : str
        Labels of the reference scan (whose frame the maps are in: the analysed pair's) and of
        the other scan of the same polarity.
    earlier, later : str
        The two labels in time order (the change is later minus earlier).
    polarity : str
        ``"+V"`` or ``"-V"``.
    compared : bool
        False when the two scans could not be registered (``reason`` says why); the numbers
        are then None and the maps empty.
    reason : str
    registration : Registration or None
        The other scan registered onto the reference.
    change : ndarray of float32
        ``log10 I(later) - log10 I(earlier)``, decades; NaN where not measured in both.
    significant : ndarray of bool
        Pixels whose change exceeds the noise and registration allowance.
    class_changed : ndarray of bool
        Pixels classified in both whose class would change.
    changed_fraction, class_change_fraction : float or None
        Shares (of the pixels measured in both, of the pixels classified in both).
    median_change_decades : float or None
        Median change over the pixels measured in both.
    increased_fraction, decreased_fraction : float or None
        Shares of the pixels measured in both whose current rose (fell) beyond the noise.
    transitions : dict
        ``"ionic_conducting->ionic_blocked_leaky"``: share of the pixels classified in both.
    measured_pixels, classified_pixels : int
    warning : str or None
        The sentence when a limit is exceeded.
    limits : dict
        ``max_class_change``, ``max_changed_fraction`` used.
    """

    reference: str
    other: str
    earlier: str
    later: str
    polarity: str = "+V"
    compared: bool = True
    reason: str = ""
    registration: Registration | None = None
    change: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    significant: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    class_changed: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    changed_fraction: float | None = None
    class_change_fraction: float | None = None
    median_change_decades: float | None = None
    increased_fraction: float | None = None
    decreased_fraction: float | None = None
    transitions: dict[str, float] = field(default_factory=dict)
    measured_pixels: int = 0
    classified_pixels: int = 0
    warning: str | None = None
    limits: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``repeat`` entry of ``summary.json`` (``docs/outputs.md``)."""
        reg = self.registration
        return {
            "polarity": self.polarity,
            "reference": self.reference,
            "other": self.other,
            "earlier": self.earlier,
            "later": self.later,
            "compared": self.compared,
            "reason": self.reason,
            "shift_px": list(reg.shift) if reg is not None else None,
            "registration_confidence": reg.confidence if reg is not None else None,
            "measured_pixels": self.measured_pixels,
            "classified_pixels": self.classified_pixels,
            "changed_fraction": self.changed_fraction,
            "increased_fraction": self.increased_fraction,
            "decreased_fraction": self.decreased_fraction,
            "median_change_decades": self.median_change_decades,
            "class_change_fraction": self.class_change_fraction,
            "transitions": dict(self.transitions),
            "limits": dict(self.limits),
            "warning": self.warning,
        }


def _neighbour_classes(class_map: np.ndarray, reg: Registration) -> np.ndarray:
    """The classes of the four pixels around each reference pixel's source position in the
    other frame, shape (4, rows, cols); 0 outside it and on rows not registered."""
    rows, cols = class_map.shape
    curve = np.asarray(reg.row_displacement, float)
    sy = np.arange(rows, dtype=float) - curve[:, 0]
    sx = np.arange(cols, dtype=float)[None, :] - curve[:, 1][:, None]
    out = np.zeros((4, rows, cols), np.uint8)
    inside = ((sy >= -0.5) & (sy <= rows - 0.5) & reg.row_registered)[:, None] \
        & (sx >= -0.5) & (sx <= cols - 0.5)
    k = 0
    for fy in (np.floor, np.ceil):
        iy = np.clip(fy(sy).astype(np.intp), 0, rows - 1)
        for fx in (np.floor, np.ceil):
            ix = np.clip(fx(sx).astype(np.intp), 0, cols - 1)
            out[k] = np.where(inside, np.take_along_axis(class_map[iy], ix, axis=1), 0)
            k += 1
    return out


def _not_compared(reference: RepeatScan, other: RepeatScan, later_is_other: bool,
                  reason: str, reg: Registration | None, limits: dict[str, float]
                  ) -> RepeatComparison:
    early, late = (reference, other) if later_is_other else (other, reference)
    return RepeatComparison(reference=reference.label, other=other.label, earlier=early.label,
                            later=late.label, compared=False, reason=reason,
                            registration=reg, limits=limits)


def compare_repeat(
    reference: RepeatScan,
    other: RepeatScan,
    config: AnalysisConfig | None = None,
    *,
    polarity: str = "+V",
    later_is_other: bool | None = None,
) -> RepeatComparison:
    """Compare two scans of one polarity of the same area (see the module docstring).

    Parameters
    ----------
    reference : RepeatScan
        The scan whose frame the maps are in (the analysed pair's).
    other : RepeatScan
        The other scan of the same polarity (same shape).
    config : AnalysisConfig, optional
        ``[transport]`` noise and margin, ``[registration]`` settings, ``[repeat]`` limits.
    polarity : str, optional
        ``"+V"`` or ``"-V"`` (for the texts).
    later_is_other : bool, optional
        Whether ``other`` was recorded after ``reference`` (default: from the dates, else
        True).

    Returns
    -------
    RepeatComparison
        ``compared`` False (with the reason) when the scans cannot be registered or differ in
        shape.
    """
    cfg = config or load_config()
    ts, rs = cfg.transport, cfg.repeat
    limits = {"max_class_change": rs.max_class_change,
              "max_changed_fraction": rs.max_changed_fraction}
    if later_is_other is None:
        later_is_other = not (reference.date and other.date and other.date < reference.date)
    if reference.current.shape != other.current.shape:
        return _not_compared(reference, other, later_is_other,
                             f"the scans differ in shape ({reference.current.shape} and "
                             f"{other.current.shape})", None, limits)
    try:
        reg = register(reference.height, other.height, reference.current, other.current,
                       estimate_drift=cfg.registration.estimate_drift,
                       min_confidence=cfg.registration.min_confidence)
        reg.require_trustworthy()
    except RegistrationError as exc:
        return _not_compared(reference, other, later_is_other,
                             f"{other.label} could not be registered onto {reference.label}: "
                             f"{exc}", None, limits)
    cur_other, inside = apply_registration(other.current, reg, log=True)
    bound_other = apply_registration_mask(other.at_bound, reg)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg_ref = np.log10(np.abs(reference.current))
        lg_other = np.log10(cur_other)
    measured = inside & np.isfinite(lg_ref) & np.isfinite(lg_other) \
        & ~np.asarray(reference.at_bound, bool) & ~bound_other
    sign = 1.0 if later_is_other else -1.0
    change = np.where(measured, sign * (lg_other - lg_ref), np.nan).astype(np.float32)
    sigma, below, above = electronic_uncertainty(np.where(inside, lg_other, np.nan), reg, ts)
    base = ts.confidence_sigma * np.sqrt(2.0 * ts.noise_decades ** 2 + sigma.astype(float) ** 2)
    # the widening is of the other scan's value: above it when other is later, else below
    up, down = (above, below) if later_is_other else (below, above)
    with np.errstate(invalid="ignore"):
        rose = measured & (change > base + up)
        fell = measured & (change < -(base + down))
    significant = rose | fell
    n_meas = int(np.count_nonzero(measured))

    cls_ref = np.asarray(reference.class_map, np.uint8)
    neighbours = _neighbour_classes(np.asarray(other.class_map, np.uint8), reg)
    nearest = apply_registration(other.class_map.astype(float), reg, order=0, cval=0.0)[0]
    nearest = np.nan_to_num(nearest).astype(np.uint8)
    both = (cls_ref > 0) & (nearest > 0) & inside
    differs = both & np.all(neighbours != cls_ref[None], axis=0)
    n_cls = int(np.count_nonzero(both))
    transitions: dict[str, float] = {}
    if n_cls:
        early, late = (cls_ref, nearest) if later_is_other else (nearest, cls_ref)
        pairs = early[differs].astype(int) * N_CODES + late[differs].astype(int)
        for code, count in zip(*np.unique(pairs, return_counts=True), strict=True):
            a, b = divmod(int(code), N_CODES)
            transitions[f"{CLASS_NAMES[a]}->{CLASS_NAMES[b]}"] = count / n_cls

    def share(n: int, of: int) -> float | None:
        return n / of if of else None

    early_l, late_l = (reference.label, other.label) if later_is_other else (other.label,
                                                                               reference.label)
    out = RepeatComparison(
        reference=reference.label, other=other.label, earlier=early_l, later=late_l,
        polarity=polarity, registration=reg, change=change, significant=significant,
        class_changed=differs, changed_fraction=share(int(significant.sum()), n_meas),
        class_change_fraction=share(int(differs.sum()), n_cls),
        median_change_decades=float(np.median(change[measured])) if n_meas else None,
        increased_fraction=share(int(rose.sum()), n_meas),
        decreased_fraction=share(int(fell.sum()), n_meas),
        transitions=transitions, measured_pixels=n_meas, classified_pixels=n_cls,
        limits=limits)
    over = []
    if out.class_change_fraction is not None and out.class_change_fraction > rs.max_class_change:
        over.append(f"{out.class_change_fraction * 100:.1f} % of the pixels classified in both "
                    f"would change class (limit {rs.max_class_change * 100:g} %)")
    if out.changed_fraction is not None and out.changed_fraction > rs.max_changed_fraction:
        over.append(f"{out.changed_fraction * 100:.1f} % of the pixels measured in both changed "
                    f"their current beyond the noise (limit {rs.max_changed_fraction * 100:g} "
                    f"%; median change {out.median_change_decades:+.2f} decade)")
    if over:
        out.warning = (f"the repeated {polarity} scan {late_l} differs from the earlier one "
                       f"{early_l}: {'; '.join(over)}: the measurement may have modified the "
                       "sample (or the tip changed)")
    return out


def repeat_scan_from_result(result: Any) -> RepeatScan:
    """The +V scan of a pair's result (:class:`~afmcurrent.pair.result.PairResult`, in its own
    frame) as a :class:`RepeatScan`, with the pair's classes."""
    m = result.maps
    label = result.plus.label
    if result.plus.metadata.get("session_scan") is not None:  # one of a session's scans
        label += f" (scan {result.plus.metadata['session_scan']})"
    return RepeatScan(label=label, height=result.height, current=m.plus_current,
                      at_bound=m.plus_at_floor | m.plus_at_saturation,
                      class_map=result.class_map, date=result.plus.metadata.get("date"))


def compare_results(reference: Any, other: Any,
                    config: AnalysisConfig | None = None) -> RepeatComparison:
    """Compare the +V scans of two analysed pairs (:class:`~afmcurrent.pair.result.PairResult`)
    of the same area (+V, -V, +V: the pairs share the -V scan) with :func:`compare_repeat`;
    ``reference``'s settings by default."""
    return compare_repeat(repeat_scan_from_result(reference),
                          repeat_scan_from_result(other),
                          config or reference.config)


def attach_repeat(result: Any, comparison: RepeatComparison) -> None:
    """Put a comparison into a :class:`~afmcurrent.pair.result.PairResult`: its ``repeat``,
    its warning among the result's warnings, and a note when the scans were not compared."""
    result.repeat = comparison
    if comparison.warning and comparison.warning not in result.warnings:
        result.warnings.append(comparison.warning)
    if not comparison.compared:
        result.notes.append(f"repeat scan not compared: {comparison.reason}")


def repeat_scan_from_stored(stored: Any) -> RepeatScan:
    """The +V scan of a written result (:class:`afmcurrent.io.result.StoredResult`) as a
    :class:`RepeatScan`: the maps of ``result.h5``, the bounds over the whole frame from the
    stored bound codes and from the calibration's floor and saturation with the noise margin
    of the settings (as the analysis marks them)."""
    maps, s = stored.maps, stored.summary
    current = np.asarray(maps["plus_current"], np.float64)
    at_bound = np.asarray(maps["plus_bound"]) > 0
    cal = s.get("calibration") or {}
    ts = (s.get("settings") or {}).get("transport") or {}
    margin = float(ts.get("confidence_sigma") or 0.0) * float(ts.get("noise_decades") or 0.0)
    with np.errstate(invalid="ignore"):
        if cal.get("floor_current"):
            at_bound |= current <= cal["floor_current"] * 10.0 ** margin
        if cal.get("saturation_current"):
            at_bound |= current >= cal["saturation_current"] / 10.0 ** margin
    plus = (s.get("inputs") or {}).get("plus") or {}
    return RepeatScan(label=str(plus.get("path") or stored.path), height=maps["height"],
                      current=current, at_bound=at_bound,
                      class_map=np.asarray(maps["class"], np.uint8), date=plus.get("date"))
