"""Bright / dark segmentation of an optical field.

Otsu's threshold (``skimage.filters.threshold_otsu``) after dividing out a smooth quadratic
illumination surface fitted by least squares, which removes vignetting.
"""

from __future__ import annotations

import logging
import math

import numpy as np

__all__ = ["flatten_illumination", "segment_bright_dark"]

logger = logging.getLogger(__name__)


def flatten_illumination(image: np.ndarray) -> np.ndarray:
    """Divide out a smooth illumination: a quadratic surface fitted by least squares.

    Parameters
    ----------
    image : ndarray of float, shape (rows, cols)
        Brightness.

    Returns
    -------
    ndarray of float, shape (rows, cols)
        ``image / fit * mean(fit)`` (vignetting and uneven lighting removed; domains far smaller
        than the field keep their contrast).
    """
    a = np.asarray(image, np.float64)
    rows, cols = a.shape
    step = max(1, int(math.sqrt(a.size / 40000)))
    y, x = np.mgrid[0:rows:step, 0:cols:step]
    yn, xn = y / rows - 0.5, x / cols - 0.5
    z = a[::step, ::step]
    ok = np.isfinite(z)
    basis = np.stack([np.ones_like(xn), xn, yn, xn * xn, yn * yn, xn * yn])
    coef, *_ = np.linalg.lstsq(basis[:, ok].T, z[ok], rcond=None)
    yy, xx = np.mgrid[0:rows, 0:cols]
    yy, xx = yy / rows - 0.5, xx / cols - 0.5
    fit = (coef[0] + coef[1] * xx + coef[2] * yy + coef[3] * xx * xx + coef[4] * yy * yy
           + coef[5] * xx * yy)
    fit = np.maximum(fit, 1e-6 * max(float(np.nanmax(np.abs(fit))), 1e-12))
    return a / fit * float(np.nanmean(fit))


def segment_bright_dark(image: np.ndarray, *, flatten: bool = True) -> tuple[np.ndarray, float]:
    """Bright / dark segmentation of an optical field (Otsu's threshold).

    Parameters
    ----------
    image : ndarray of float, shape (rows, cols)
    flatten : bool, optional
        Divide out the illumination first (:func:`flatten_illumination`).

    Returns
    -------
    (ndarray of bool, float)
        Bright mask (True = bright) and the threshold on the (flattened) brightness.
    """
    from skimage.filters import threshold_otsu

    a = flatten_illumination(image) if flatten else np.asarray(image, np.float64)
    fin = a[np.isfinite(a)]
    t = float(threshold_otsu(fin)) if fin.size and np.ptp(fin) > 0 else float("inf")
    return a > t, t
