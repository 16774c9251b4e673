"""Topography maps and statistics per class and per domain.

Definitions (``docs/conventions.md``):

- Roughness: Rq (RMS) and Ra (mean absolute deviation) about the mean of the pixels of a class
  or domain (ISO 4287 / ISO 25178, :mod:`afmcurrent.pair.roughness`).
- Slope: magnitude of the height gradient (central differences, ``numpy.gradient`` with the
  pixel size), reported as an angle in degrees.
- Curvature: Laplacian of the height after a Gaussian of one pixel
  (``scipy.ndimage.gaussian_laplace``), 1/m.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...core.classes import CLASS_NAMES
from ..roughness import mean_roughness, rms_roughness, roughness_by_label

__all__ = ["slope_map", "curvature_map", "topography_by_class", "topography_by_domain"]


def slope_map(height: np.ndarray, pixel_size: tuple[float, float]) -> np.ndarray:
    """Local slope angle of the topography.

    Parameters
    ----------
    height : ndarray of float, shape (rows, cols)
        Leveled height, m (NaN allowed: neighbours of NaN become NaN).
    pixel_size : tuple of float
        ``(dy, dx)``, m.

    Returns
    -------
    ndarray of float, shape (rows, cols)
        ``arctan(|grad h|)`` in radians.
    """
    gy, gx = np.gradient(np.asarray(height, np.float64), *pixel_size)
    return np.arctan(np.hypot(gy, gx))


def curvature_map(
    height: np.ndarray,
    pixel_size: tuple[float, float],
    sigma_px: float = 1.0,
    *,
    subgrid: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """Laplacian of the Gaussian-smoothed topography (positive in valleys), 1/m.

    Parameters
    ----------
    height : ndarray of float, shape (rows, cols)
        Leveled height, m; NaN pixels are replaced by the mean before filtering.
    pixel_size : tuple of float
        ``(dy, dx)``, m; the Laplacian is scaled by ``dy * dx`` (square pixels assumed).
    sigma_px : float, optional
        Gaussian width in pixels.
    subgrid : tuple of slice, optional
        Return the values at ``height[subgrid]`` only (the same values up to rounding, ~3
        times faster: the filter down the columns runs on the kept columns only).

    Returns
    -------
    ndarray of float, shape (rows, cols) or that of ``height[subgrid]``
    """
    h = np.asarray(height, np.float64)
    bad = ~np.isfinite(h)
    if bad.any():
        h = np.where(bad, np.nanmean(h) if (~bad).any() else 0.0, h)
    if subgrid is None:
        lap = ndimage.gaussian_laplace(h, sigma_px)
    else:
        # the separable passes of gaussian_laplace, along the rows first (contiguous), then
        # down the kept columns only
        rows, cols = subgrid
        lap = ndimage.gaussian_filter1d(
            ndimage.gaussian_filter1d(h, sigma_px, axis=1)[:, cols], sigma_px, axis=0, order=2
        )[rows]
        lap += ndimage.gaussian_filter1d(
            ndimage.gaussian_filter1d(h, sigma_px, axis=1, order=2)[:, cols], sigma_px, axis=0
        )[rows]
        bad = bad[subgrid]
    lap = lap / (pixel_size[0] * pixel_size[1])
    lap[bad] = np.nan
    return lap


def topography_by_class(
    height: np.ndarray, class_map: np.ndarray, slope: np.ndarray
) -> dict[str, dict[str, float | int | None]]:
    """Height statistics of each class.

    Parameters
    ----------
    height : ndarray of float, shape (rows, cols)
        Leveled height, m.
    class_map : ndarray of uint8, shape (rows, cols)
    slope : ndarray of float, shape (rows, cols)
        Slope angle, rad (:func:`slope_map`).

    Returns
    -------
    dict
        Per class name: ``pixels``, ``rq_nm`` and ``ra_nm`` (about the class mean),
        ``mean_height_nm`` (relative to the mean of all classified pixels), ``height_p5_nm``,
        ``height_p95_nm``, ``mean_slope_deg``; None where the class has no pixel.
    """
    h = np.asarray(height, np.float64)
    ok = np.isfinite(h) & (class_map > 0)
    ref = float(h[ok].mean()) if ok.any() else 0.0
    out: dict[str, dict[str, float | int | None]] = {}
    for code, name in CLASS_NAMES.items():
        sel = ok & (class_map == code)
        n = int(sel.sum())
        if n == 0:
            out[name] = {"pixels": 0, "rq_nm": None, "ra_nm": None, "mean_height_nm": None,
                         "height_p5_nm": None, "height_p95_nm": None, "mean_slope_deg": None}
            continue
        v = h[sel]
        p5, p95 = np.percentile(v, [5, 95])
        s = slope[sel]
        s = s[np.isfinite(s)]
        out[name] = {
            "pixels": n,
            "rq_nm": rms_roughness(h, sel) * 1e9,
            "ra_nm": mean_roughness(h, sel) * 1e9,
            "mean_height_nm": float((v.mean() - ref) * 1e9),
            "height_p5_nm": float((p5 - ref) * 1e9),
            "height_p95_nm": float((p95 - ref) * 1e9),
            "mean_slope_deg": float(np.degrees(s.mean())) if s.size else None,
        }
    return out


def topography_by_domain(
    height: np.ndarray, labels: np.ndarray, slope: np.ndarray
) -> dict[str, np.ndarray]:
    """Mean roughness, mean slope and mean height of each labelled domain.

    Parameters
    ----------
    height : ndarray of float, shape (rows, cols)
        Leveled height, m.
    labels : ndarray of int, shape (rows, cols)
        Domain labels 1..n (0 = none), as :attr:`afmcurrent.pair.domains.DomainTable.labels`.
    slope : ndarray of float, shape (rows, cols)
        Slope angle, rad.

    Returns
    -------
    dict of str to ndarray of float, shape (n,)
        ``mean_roughness_nm`` (Ra about the domain mean), ``mean_slope_deg``,
        ``mean_height_nm`` (relative to the frame mean); NaN for a domain without finite pixels.
    """
    n = int(labels.max()) if labels.size else 0
    h = np.asarray(height, np.float64)
    fin = np.isfinite(h) & np.isfinite(slope) & (labels > 0)
    lab = labels[fin]
    v = h[fin] - (h[np.isfinite(h)].mean() if np.isfinite(h).any() else 0.0)
    cnt = np.bincount(lab, minlength=n + 1)[1:].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(lab, v, minlength=n + 1)[1:] / cnt
        sl = np.bincount(lab, slope[fin], minlength=n + 1)[1:] / cnt
    _, ra = roughness_by_label(np.where(np.isfinite(slope), h, np.nan), labels, n)
    return {
        "mean_roughness_nm": ra * 1e9,
        "mean_slope_deg": np.degrees(sl),
        "mean_height_nm": mean * 1e9,
    }
