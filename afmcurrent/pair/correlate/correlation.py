"""The correlation of one analysed pair as a record: topography per class, rank correlations,
cross-talk, connectivity, representative area, and the topography of each domain."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.errors import AfmcurrentError
from ...core.model import Scan
from ..logamp import LogAmpCalibration, convert_channel
from ..transport import TransportMaps
from .connectivity import connectivity
from .crosstalk import CrossTalk, crosstalk
from .ranks import rank_correlations, subgrid
from .representative_area import fraction_convergence
from .topography import curvature_map, slope_map, topography_by_class, topography_by_domain

__all__ = ["PairCorrelation", "correlate", "correlate_pair", "retrace_log_current",
           "pair_correlation"]

#: Pixels on the regular sub-grid of the rank correlations.
RANK_SAMPLES = 16384


@dataclass
class PairCorrelation:
    """What the topography and the arrangement of the classes say about one pair.

    Attributes
    ----------
    topography : dict
        ``by_class`` (:func:`~afmcurrent.pair.correlate.topography.topography_by_class`),
        ``rank_correlation`` of log I(+V) and log I(-V) with height, slope and curvature
        (:func:`~afmcurrent.pair.correlate.ranks.rank_correlations`), ``crosstalk``
        (:meth:`CrossTalk.to_dict`): the ``topography`` section of ``summary.json``.
    crosstalk : CrossTalk
        The topographic cross-talk indicator of I(+V).
    connectivity : dict
        :func:`~afmcurrent.pair.correlate.connectivity.connectivity` (shunt components of at
        least the ``[domains] min_area_um2``).
    representative_area : dict
        :func:`~afmcurrent.pair.correlate.representative_area.fraction_convergence`.
    domain_columns : dict of str to ndarray, shape (domains,)
        ``mean_roughness_nm``, ``mean_slope_deg``, ``mean_height_nm`` of each domain
        (:func:`~afmcurrent.pair.correlate.topography.topography_by_domain`), columns of
        the domain table.
    """

    topography: dict[str, Any]
    crosstalk: CrossTalk
    connectivity: dict[str, Any]
    representative_area: dict[str, Any]
    domain_columns: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """``topography``, ``connectivity`` and ``representative_area`` as ``summary.json``
        holds them."""
        return {"topography": self.topography, "connectivity": self.connectivity,
                "representative_area": self.representative_area}

    def __call__(self) -> dict[str, Any]:
        """Deprecated: ``result.correlation()`` was a method; read the record's attributes
        (or :meth:`to_dict`)."""
        warnings.warn("PairResult.correlation() is deprecated: result.correlation is a record "
                      "(PairCorrelation); use its attributes or to_dict()", DeprecationWarning,
                      stacklevel=2)
        return self.to_dict()


def retrace_log_current(scan: Scan, current_channel: str,
                        calibration: LogAmpCalibration | None) -> np.ndarray | None:
    """log10 of a scan's retrace current (A), when the file has one of the same quantity, shape
    and unit as the trace; else None."""
    try:
        trace = scan.channel(current_channel)
        retrace = scan.channel(trace.quantity, direction="retrace")
    except AfmcurrentError:
        return None
    if retrace is trace or retrace.shape != trace.shape or retrace.unit != trace.unit:
        return None
    try:
        cur = convert_channel(retrace, calibration).current
    except AfmcurrentError:
        return None
    return _log10_positive(cur)


def _log10_positive(x: np.ndarray) -> np.ndarray:
    """log10 where ``x > 0``, NaN elsewhere (``np.where(x > 0, np.log10(x), nan)`` without its
    full-size temporary: a lower peak of memory on large maps)."""
    out = np.full(np.shape(x), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log10(x, out=out, where=np.asarray(x) > 0)
    return out


def correlate_pair(
    height: np.ndarray,
    class_map: np.ndarray,
    maps: TransportMaps,
    pixel_size: tuple[float, float],
    labels: np.ndarray,
    *,
    min_area_um2: float,
    log_current_retrace: np.ndarray | None = None,
    slope: np.ndarray | None = None,
    domain_columns: dict[str, np.ndarray] | None = None,
) -> PairCorrelation:
    """Topography statistics, cross-talk, connectivity and representative area of a pair.

    Parameters
    ----------
    height : ndarray of float, shape (rows, cols)
        Leveled +V topography, m.
    class_map : ndarray of uint8, shape (rows, cols)
    maps : TransportMaps
    pixel_size : tuple of float
        ``(dy, dx)``, m.
    labels : ndarray of int, shape (rows, cols)
        Domain labels (:attr:`afmcurrent.pair.domains.DomainTable.labels`).
    min_area_um2 : float
        Smallest shunt component counted in the connectivity, um^2.
    log_current_retrace : ndarray of float, shape (rows, cols), optional
        log10 of the +V retrace current (:func:`retrace_log_current`), for the cross-talk.
    slope : ndarray of float, shape (rows, cols), optional
        :func:`~afmcurrent.pair.correlate.topography.slope_map` of ``height``, when the caller
        has it.
    domain_columns : dict of str to ndarray, optional
        :func:`~afmcurrent.pair.correlate.topography.topography_by_domain` of ``labels``, when
        the caller has it.

    Returns
    -------
    PairCorrelation
    """
    if slope is None:
        slope = slope_map(height, pixel_size)
    curv = curvature_map(height, pixel_size, subgrid=subgrid(height.shape, RANK_SAMPLES))
    lp = _log10_positive(maps.plus_current)
    lm = _log10_positive(maps.minus_current)
    ct = crosstalk(lp, height, class_map, pixel_size, slope=slope,
                   log_current_retrace=log_current_retrace)
    min_px = int(math.ceil(min_area_um2 * 1e-12 / (pixel_size[0] * pixel_size[1])))
    ranks = {
        "plus_current": rank_correlations(lp, height, slope, curv, maps.valid, RANK_SAMPLES),
        "minus_current": rank_correlations(lm, height, slope, curv, maps.valid, RANK_SAMPLES),
    }
    del lp, lm, curv  # before the label maps below (a lower peak of memory on large maps)
    return PairCorrelation(
        topography={
            "by_class": topography_by_class(height, class_map, slope),
            "rank_correlation": ranks,
            "crosstalk": ct.to_dict(),
        },
        crosstalk=ct,
        connectivity=connectivity(class_map, pixel_size, max(1, min_px)),
        representative_area=fraction_convergence(class_map),
        domain_columns=(topography_by_domain(height, labels, slope) if domain_columns is None
                        else dict(domain_columns)),
    )


def correlate(result: Any, *, slope: np.ndarray | None = None,
              domain_columns: dict[str, np.ndarray] | None = None) -> PairCorrelation:
    """The correlation of an analysed pair: an explicit step after the classes.

    :func:`afmcurrent.analyze_pair` does not run it (the classes do not need it);
    :attr:`PairResult.correlation <afmcurrent.pair.result.PairResult.correlation>` runs it on
    first access and keeps the record, which is how :func:`afmcurrent.write_result` and
    :func:`afmcurrent.outputs.summary.summary` get it. A function of the result alone, so its
    value does not depend on when it runs.

    Parameters
    ----------
    result : afmcurrent.pair.result.PairResult
    slope, domain_columns : optional
        As :func:`correlate_pair` (computed here when not given).

    Returns
    -------
    PairCorrelation
    """
    return correlate_pair(
        result.height, result.class_map, result.maps, result.plus.pixel_size,
        result.domain_base.labels, min_area_um2=result.config.domains.min_area_um2,
        log_current_retrace=retrace_log_current(result.plus, result.current_channel,
                                                result.calibration),
        slope=slope, domain_columns=domain_columns)


def pair_correlation(result: Any) -> dict[str, Any]:
    """The correlation of an analysed pair as a dict (``topography``, ``connectivity``,
    ``representative_area``, ``domain_columns``), as ``result.correlation`` holds it.

    Parameters
    ----------
    result : afmcurrent.pair.result.PairResult
    """
    corr = result.correlation
    return {**corr.to_dict(), "domain_columns": dict(corr.domain_columns)}
