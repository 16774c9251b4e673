"""The scan's placement in the optical image refined by mutual information with the class map.

Translation (optionally a small rotation) maximising the mutual information between the optical
brightness and the AFM class map (Viola & Wells, "Alignment by maximization of mutual
information", IJCV 24 (1997) 137; Maes et al., IEEE TMI 16 (1997) 187), estimated from a joint
histogram, with a confidence from how the peak stands out.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ...core.classes import N_CODES
from ...core.errors import RegistrationError
from .placement import Placement, _box_points, _sample

__all__ = ["mutual_information", "refine_placement"]

logger = logging.getLogger(__name__)


def mutual_information(labels: np.ndarray, values: np.ndarray, edges: np.ndarray,
                       n_labels: int = N_CODES) -> float:
    """Mutual information (bits) of integer labels and binned values, from the joint histogram.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        0..n_labels-1.
    values : ndarray of float, shape (n,)
        NaN entries are left out.
    edges : ndarray of float, shape (bins + 1,)
        Bin edges of the values (values outside are put in the end bins).
    n_labels : int, optional

    Returns
    -------
    float
        ``sum p(l, b) log2(p(l, b) / (p(l) p(b)))``; 0 with no finite value.
    """
    ok = np.isfinite(values)
    if not ok.any():
        return 0.0
    nb = edges.size - 1
    b = np.clip(np.searchsorted(edges, values[ok], side="right") - 1, 0, nb - 1)
    joint = np.bincount(labels[ok] * nb + b, minlength=n_labels * nb).reshape(n_labels, nb)
    p = joint / joint.sum()
    pl = p.sum(1, keepdims=True)
    pb = p.sum(0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / (pl @ pb)[nz])))


def refine_placement(
    image: np.ndarray,
    class_map: np.ndarray,
    box: tuple[float, float, float, float],
    pixel_size: float,
    *,
    search_radius_px: float | None = None,
    max_angle_deg: float = 0.0,
    angle_step_deg: float = 0.5,
    bins: int = 16,
    samples_per_optical_px: float = 2.0,
) -> Placement:
    """Refine the scan's placement by maximising mutual information with the class map.

    A grid search over integer translations within ``search_radius_px`` of ``box``, then over
    angles (when ``max_angle_deg > 0``) and quarter-pixel translations around the best, finished
    by a parabola through the neighbours of the best quarter-pixel step in x and in y.

    Parameters
    ----------
    image : ndarray of float, shape (orows, ocols)
        Optical brightness.
    class_map : ndarray of uint8, shape (rows, cols)
        AFM classes (0 = left out).
    box : tuple of float
        Initial ``(x0, y0, x1, y1)``, optical px.
    pixel_size : float
        Optical pixel size, m (recorded in the result).
    search_radius_px : float, optional
        Half-width of the translation search window; default 10 px or a third of the box's
        smaller side, whichever is larger.
    max_angle_deg : float, optional
        Largest rotation tried (0: translation only).
    angle_step_deg : float, optional
    bins : int, optional
        Brightness bins of the joint histogram (between the 1st and 99th percentile).
    samples_per_optical_px : float, optional
        Density of the scan sub-grid on which the class map is compared, per optical pixel.

    Returns
    -------
    Placement

    Raises
    ------
    RegistrationError
        If the class map has fewer than two classes (nothing to align on) or the search window
        lies outside the image.
    """
    cm = np.asarray(class_map)
    rows, cols = cm.shape
    x0, y0, x1, y1 = box
    radius = float(search_radius_px if search_radius_px is not None
                   else max(10.0, min(x1 - x0, y1 - y0) / 3))
    present = np.unique(cm[cm > 0])
    if present.size < 2:
        raise RegistrationError(
            "the class map has fewer than two classes: the optical placement cannot be refined "
            "(give the box exactly, or skip the refinement)"
        )
    # Sub-grid of scan pixels, ~samples_per_optical_px per optical pixel.
    ny = int(min(rows, max(8, round((y1 - y0) * samples_per_optical_px))))
    nx = int(min(cols, max(8, round((x1 - x0) * samples_per_optical_px))))
    ri = ((np.arange(ny) + 0.5) * rows / ny).astype(int)
    ci = ((np.arange(nx) + 0.5) * cols / nx).astype(int)
    lab = cm[np.ix_(ri, ci)].ravel().astype(np.int64)
    keep = lab > 0
    lab = lab[keep]
    v, u = np.meshgrid((ri + 0.5) / rows, (ci + 0.5) / cols, indexing="ij")
    u, v = u.ravel()[keep], v.ravel()[keep]
    fin = image[np.isfinite(image)]
    lo, hi = np.percentile(fin, [1, 99])
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)

    def score(dx: float, dy: float, ang: float) -> float:
        b = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        vals = _sample(image, _box_points(b, ang, u, v))
        if np.mean(np.isfinite(vals)) < 0.5:
            return -np.inf
        return mutual_information(lab, vals, edges)

    r = int(math.ceil(radius))
    offs = np.arange(-r, r + 1)
    grid = np.array([[score(dx, dy, 0.0) for dx in offs] for dy in offs])
    if not np.isfinite(grid).any():
        raise RegistrationError(f"optical search window around box {box} lies outside the image")
    iy, ix = np.unravel_index(np.argmax(grid), grid.shape)
    best = (float(offs[ix]), float(offs[iy]), 0.0)
    at_edge = bool(iy in (0, grid.shape[0] - 1) or ix in (0, grid.shape[1] - 1))
    confidence = _peak_confidence(grid, iy, ix)

    if max_angle_deg > 0:
        angles = np.arange(-max_angle_deg, max_angle_deg + 1e-9, angle_step_deg)
        cand = []
        for ang in angles:
            for ddy in (-1.0, 0.0, 1.0):
                for ddx in (-1.0, 0.0, 1.0):
                    cand.append((score(best[0] + ddx, best[1] + ddy, ang),
                                 (best[0] + ddx, best[1] + ddy, float(ang))))
        best = max(cand, key=lambda t: t[0])[1]

    fine = np.arange(-1.0, 1.01, 0.25)
    fgrid = np.array([[score(best[0] + fx, best[1] + fy, best[2]) for fx in fine]
                      for fy in fine])
    fy, fx = np.unravel_index(np.argmax(fgrid), fgrid.shape)
    sx = _parabola(fgrid[fy, :], fx) * 0.25
    sy = _parabola(fgrid[:, fx], fy) * 0.25
    dx, dy = best[0] + fine[fx] + sx, best[1] + fine[fy] + sy
    mi = score(dx, dy, best[2])
    out = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
    if at_edge:
        logger.warning("optical placement: best match on the edge of the %.0f px search window; "
                       "the true position may lie further out", radius)
    return Placement(out, best[2], confidence, mi, tuple(box), pixel_size, radius, at_edge)


def _parabola(vals: np.ndarray, i: int) -> float:
    if i <= 0 or i >= vals.size - 1 or not np.all(np.isfinite(vals[i - 1:i + 2])):
        return 0.0
    a, b, c = vals[i - 1], vals[i], vals[i + 1]
    den = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0


def _peak_confidence(grid: np.ndarray, iy: int, ix: int, exclude: int = 3) -> float:
    g = np.where(np.isfinite(grid), grid, np.nan)
    best = g[iy, ix]
    med = np.nanmedian(g)
    yy, xx = np.indices(g.shape)
    far = (np.abs(yy - iy) > exclude) | (np.abs(xx - ix) > exclude)
    second = np.nanmax(g[far]) if np.isfinite(g[far]).any() else med
    if not best > med:
        return 0.0
    return float(np.clip((best - second) / (best - med), 0.0, 1.0))
