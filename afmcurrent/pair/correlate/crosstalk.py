"""Topographic cross-talk: current that follows the topography within a class.

Measured within classes, so that the real link of class and roughness the paper reports
(``docs/science.md``) is not mistaken for an artefact: the area-weighted mean of |rho| between
log I(+V) and slope, and between the gradient magnitudes of log I(+V) and of the height (edges);
and, where trace and retrace currents exist, rho between ``log I_trace - log I_retrace`` and the
fast-axis height derivative (a topographic artefact reverses with the scan direction, a
material property does not). The indicator is the largest of these; at or above
:data:`CROSSTALK_STRONG` it is reported as strong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.arrays import finite_or_none
from ...core.classes import CLASS_NAMES
from .ranks import spearman, subgrid
from .topography import slope_map

__all__ = ["CROSSTALK_STRONG", "CrossTalk", "crosstalk"]


#: |rho| at or above which topographic cross-talk is reported as strong (a heuristic: a rank
#: correlation of 0.3 explains ~10 % of the rank variance, more than the noise of a
#: thousand-pixel sample, ~0.03).
CROSSTALK_STRONG = 0.3

@dataclass
class CrossTalk:
    """Topographic cross-talk indicator of a current map.

    Attributes
    ----------
    slope_rho : float
        Area-weighted mean over classes of |Spearman rho| between log I and slope within the class.
    edge_rho : float
        The same between |grad log I| and |grad h| (current that follows edges).
    trace_retrace_rho : float or None
        rho between ``log I_trace - log I_retrace`` and dh/dx; None without a retrace channel.
    score : float
        The largest of the available magnitudes.
    strong : bool
        ``score >= threshold``.
    threshold : float
    """

    slope_rho: float
    edge_rho: float
    trace_retrace_rho: float | None
    score: float
    strong: bool
    threshold: float = CROSSTALK_STRONG

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``warning`` is a sentence when strong, else None)."""
        return {
            "slope_rho_within_class": finite_or_none(self.slope_rho),
            "edge_rho_within_class": finite_or_none(self.edge_rho),
            "trace_retrace_rho": finite_or_none(self.trace_retrace_rho),
            "score": finite_or_none(self.score),
            "threshold": self.threshold,
            "strong": bool(self.strong),
            "warning": self.warning,
        }

    @property
    def warning(self) -> str | None:
        """A notice for the user when the cross-talk is strong."""
        if not self.strong:
            return None
        return (
            f"topographic cross-talk: the +V current follows the topography within classes "
            f"(indicator {self.score:.2f} >= {self.threshold:g}); treat current contrast at "
            "slopes and edges with caution"
        )


def _gradient_at(
    a: np.ndarray, g: tuple[slice, slice], spacing: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """``np.gradient(a, *spacing)`` (both components) at the sub-grid ``g`` only."""
    gy = np.gradient(a[:, g[1]], spacing[0], axis=0)[g[0]]
    gx = np.gradient(a[g[0], :], spacing[1], axis=1)[:, g[1]]
    return gy, gx


def crosstalk(
    log_current: np.ndarray,
    height: np.ndarray,
    class_map: np.ndarray,
    pixel_size: tuple[float, float],
    *,
    slope: np.ndarray | None = None,
    log_current_retrace: np.ndarray | None = None,
    max_samples: int = 16384,
    min_pixels: int = 100,
    threshold: float = CROSSTALK_STRONG,
) -> CrossTalk:
    """Topographic cross-talk indicator (see the module docstring for the definition).

    Parameters
    ----------
    log_current : ndarray of float, shape (rows, cols)
        log10 I(+V) (A) in the +V frame.
    height : ndarray of float, shape (rows, cols)
        Leveled height, m.
    class_map : ndarray of uint8, shape (rows, cols)
    pixel_size : tuple of float
        ``(dy, dx)``, m.
    slope : ndarray of float, optional
        Precomputed :func:`slope_map` of ``height`` (its ranks stand for those of |grad h| in
        the edge indicator, so it must be that map or a monotone function of it).
    log_current_retrace : ndarray of float, shape (rows, cols), optional
        log10 of the retrace current of the same scan (same frame).
    max_samples : int, optional
        Pixels used for the ranks (regular sub-grid).
    min_pixels : int, optional
        Classes with fewer sampled pixels are left out.
    threshold : float, optional

    Returns
    -------
    CrossTalk
    """
    if slope is None:
        slope = slope_map(height, pixel_size)
    g = subgrid(class_map.shape, max_samples)
    cls = class_map[g]
    lc = np.asarray(log_current, np.float64)
    grad_i = np.hypot(*_gradient_at(lc, g, pixel_size))
    # |grad h| = tan(slope): the same ranks as the slope
    lcs, sls = lc[g], slope[g]
    grad_h = sls
    rs, re, ws = [], [], []
    for code in CLASS_NAMES:
        sel = cls == code
        n = int(sel.sum())
        if n < min_pixels:
            continue
        r1 = spearman(lcs[sel], sls[sel])
        r2 = spearman(grad_i[sel], grad_h[sel])
        if np.isfinite(r1):
            rs.append(abs(r1))
            re.append(abs(r2) if np.isfinite(r2) else 0.0)
            ws.append(n)
    slope_rho = float(np.average(rs, weights=ws)) if ws else float("nan")
    edge_rho = float(np.average(re, weights=ws)) if ws else float("nan")
    tr = None
    if log_current_retrace is not None:
        diff = lc[g] - np.asarray(log_current_retrace, np.float64)[g]  # the sub-grid only
        diff[cls == 0] = np.nan
        tr = spearman(diff, _gradient_at(np.asarray(height, np.float64), g, pixel_size)[1])
    vals = [abs(v) for v in (slope_rho, edge_rho, tr) if v is not None and np.isfinite(v)]
    score = max(vals) if vals else float("nan")
    return CrossTalk(slope_rho, edge_rho, tr, score, bool(vals) and score >= threshold,
                     threshold)
