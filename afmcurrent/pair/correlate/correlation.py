"""The correlation of one analysed pair: topography, cross-talk, connectivity, representative
area."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...core.errors import AfmcurrentError
from ..logamp import convert_channel
from .connectivity import connectivity
from .crosstalk import crosstalk
from .ranks import rank_correlations, subgrid
from .representative_area import fraction_convergence
from .topography import curvature_map, slope_map, topography_by_class, topography_by_domain

__all__ = ["pair_correlation"]


def _retrace_log_current(result: Any) -> np.ndarray | None:
    """log10 of the +V scan's retrace current, when the file has one (same frame as trace)."""

    try:
        trace = result.plus.channel(result.current_channel)
        retrace = result.plus.channel(trace.quantity, direction="retrace")
    except AfmcurrentError:
        return None
    if retrace is trace or retrace.shape != trace.shape or retrace.unit != trace.unit:
        return None
    try:
        cur = convert_channel(retrace, result.calibration).current
    except AfmcurrentError:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cur > 0, np.log10(cur), np.nan)


def pair_correlation(result: Any) -> dict[str, Any]:
    """Topography statistics, cross-talk, connectivity and representative area of a pair.

    Parameters
    ----------
    result : afmcurrent.pipeline.PairResult

    Returns
    -------
    dict
        ``topography`` (``by_class`` as :func:`topography_by_class`, ``rank_correlation`` of
        log I(+V) and log |I(-V)| as :func:`rank_correlations`, ``crosstalk`` as
        :meth:`CrossTalk.to_dict`), ``connectivity`` (:func:`connectivity`, shunt components of
        at least the ``[domains] min_area_um2``), ``representative_area``
        (:func:`fraction_convergence`), and ``domain_columns`` (:func:`topography_by_domain`).
    """
    ps = result.pixel_size
    h = result.height
    m = result.maps
    slope = slope_map(h, ps)
    curv = curvature_map(h, ps, subgrid=subgrid(h.shape, 16384))  # rank_correlations' grid
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(m.plus_current > 0, np.log10(m.plus_current), np.nan)
        lm = np.where(m.minus_current > 0, np.log10(m.minus_current), np.nan)
    ct = crosstalk(lp, h, result.class_map, ps, slope=slope,
                   log_current_retrace=_retrace_log_current(result))
    min_px = int(math.ceil(result.config.domains.min_area_um2 * 1e-12 / (ps[0] * ps[1])))
    return {
        "topography": {
            "by_class": topography_by_class(h, result.class_map, slope),
            "rank_correlation": {
                "plus_current": rank_correlations(lp, h, slope, curv, m.valid),
                "minus_current": rank_correlations(lm, h, slope, curv, m.valid),
            },
            "crosstalk": ct.to_dict(),
        },
        "connectivity": connectivity(result.class_map, ps, max(1, min_px)),
        "representative_area": fraction_convergence(result.class_map),
        "domain_columns": topography_by_domain(h, result.domains.labels, slope),
    }
