"""Preparation of the images that are matched: leveling, log current, edge strength, pyramid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ...core.errors import RegistrationError
from ..level import level_topography

_CLIP_SIGMA = 6.0  # values beyond this many standard deviations are clipped (spikes, debris)


def check_image(a: object, name: str) -> np.ndarray:
    """A 2-D float64 array of at least 16 x 16 pixels, else a RegistrationError."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise RegistrationError(f"{name}: expected a 2-D image, got shape {arr.shape}")
    if min(arr.shape) < 16:
        raise RegistrationError(f"{name}: image {arr.shape} too small to register (< 16 px)")
    return arr


def level_fast(z: np.ndarray) -> np.ndarray:
    """Line offsets (row means) and a quadratic bow along the fast axis removed (float32).

    For a fully valid image: Gwyddion's "Align rows" by mean, plus the tilt and bow of the
    column means. Only the whole-frame search relies on it; the bands are matched after
    removing every row and column mean anyway.
    """
    rows, cols = z.shape
    z = z.astype(np.float32)
    x = (np.arange(cols, dtype=np.float64) - (cols - 1) / 2.0) / max(cols / 2.0, 1.0)
    colmean = z.mean(axis=0, dtype=np.float64)
    # least-squares line and bow in x of the column means (the y part goes with the rows)
    coef = np.polynomial.polynomial.polyfit(x, colmean, 2)
    z = z - np.polynomial.polynomial.polyval(x, coef).astype(np.float32)[None, :]
    return z - z.mean(axis=1, keepdims=True)


def prepare(img: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Leveled, normalized image (float32; invalid pixels 0) and its validity mask.

    Parameters
    ----------
    img : ndarray, shape (rows, cols)
        Height (any unit) or, with ``log``, current magnitude in A.
    log : bool
        Use ``log10 |img|`` (zeros, negatives and non-finite values invalid).

    Returns
    -------
    image : ndarray of float32
        Zero median per row, unit standard deviation, clipped at +/- 6 sigma.
    valid : ndarray of bool
        All False when fewer than a quarter of the pixels are usable.
    """
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.abs(img)
            img = np.where(np.isfinite(a) & (a > 0), np.log10(a), np.nan)
    valid = np.isfinite(img)
    if valid.all():
        lev = level_fast(img)
    elif valid.sum() < 0.25 * img.size:
        return np.zeros(img.shape, np.float32), np.zeros(img.shape, bool)
    else:
        lev = np.where(valid, level_topography(img, mask=valid), 0.0).astype(np.float32)
    sd = float(np.sqrt(np.mean(np.square(lev[valid], dtype=np.float64))))
    if sd > 0:
        lev *= np.float32(1.0 / sd)
        np.clip(lev, -_CLIP_SIGMA, _CLIP_SIGMA, out=lev)
    return lev, valid


def edge_strength(img: np.ndarray, valid: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gradient magnitude of a lightly smoothed image, leveled and normalized (float32).

    The boundaries of conduction domains appear in this image whether a domain is brighter
    or darker at the other bias, so it can be matched where the current maps themselves are
    anti-correlated (type-1 domains are bright at +V and dark at -V).
    """
    s = ndi.gaussian_filter(img, sigma, mode="nearest")
    g = np.hypot(ndi.sobel(s, axis=0), ndi.sobel(s, axis=1)).astype(np.float32)
    g = np.where(valid, g, 0.0).astype(np.float32)
    if valid.any():
        g -= np.float32(g[valid].mean())
        sd = float(g[valid].std())
        if sd > 0:
            g *= np.float32(1.0 / sd)
    return np.where(valid, g, np.float32(0.0))


def decimate(img: np.ndarray, mask: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means over ``f x f`` pixels (masked pixels excluded) and the block validity.

    Trailing rows / columns that do not fill a block are dropped (float32 result).
    """
    if f <= 1:
        return img, mask
    r, c = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    if mask[:r, :c].all():
        img = img.astype(np.float32, copy=False)
        s = np.zeros((r // f, c // f), np.float32)
        for i in range(f):  # strided sums: much faster than a mean over a 4-D view
            for j in range(f):
                s += img[i:r:f, j:c:f]
        s *= np.float32(1.0 / (f * f))
        return s, np.ones(s.shape, bool)
    m = mask[:r, :c].reshape(r // f, f, c // f, f).mean(axis=(1, 3), dtype=np.float32)
    s = np.where(mask, img, 0.0)[:r, :c].reshape(r // f, f, c // f, f).mean(
        axis=(1, 3), dtype=np.float32)
    ok = m > 0.5
    return np.where(ok, s / np.where(ok, m, 1.0), 0.0).astype(np.float32), ok
