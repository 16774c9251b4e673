"""Resampling of moving-scan images into the reference frame, one displacement per row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage as ndi

from ...core.errors import RegistrationError

if TYPE_CHECKING:
    from ._model import Registration

_EPS = 1e-6


def source_rows(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source row ``r - dy(r)`` and source column offset ``-dx(r)`` of every reference row."""
    rows = curve.shape[0]
    return np.arange(rows, dtype=np.float64) - curve[:, 0], -curve[:, 1]


def _inside_columns(curve: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Per reference row, the first and one-past-last column whose source is inside."""
    rows, cols = shape
    sy, ox = source_rows(curve)
    ok_r = (sy >= -_EPS) & (sy <= rows - 1 + _EPS)
    # columns c with 0 <= c + ox <= cols - 1 (within _EPS)
    c0 = np.clip(np.ceil(-ox - _EPS), 0, cols)
    c1 = np.clip(np.floor(cols - 1 - ox + _EPS) + 1, 0, cols)
    c1 = np.where(ok_r, np.maximum(c1, c0), c0)
    return c0.astype(np.intp), c1.astype(np.intp)


def inside_counts(curve: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Number of columns of each reference row whose source lies inside the moving frame."""
    c0, c1 = _inside_columns(curve, shape)
    return c1 - c0


def inside_mask(curve: np.ndarray, shape: tuple[int, int],
                rows: np.ndarray | None = None) -> np.ndarray:
    """True where the source ``(r - dy(r), c - dx(r))`` lies inside the moving frame (and,
    with ``rows`` (bool, shape (rows,)), the row is one of those)."""
    c0, c1 = _inside_columns(curve, shape)
    if rows is not None:
        c1 = np.where(rows, c1, c0)
    # a running sum of +1 at c0 and -1 at c1 along each row: one pass, no 2-D comparisons
    step = np.zeros((shape[0], shape[1] + 1), np.int8)
    r = np.arange(shape[0])
    np.add.at(step, (r, c0), 1)
    np.add.at(step, (r, c1), -1)
    return np.cumsum(step[:, :-1], axis=1, dtype=np.int8).view(bool)


def warp_rows(img: np.ndarray, curve: np.ndarray, nan_safe: bool = True) -> np.ndarray:
    """Bilinear resampling with a constant displacement per reference row.

    ``out[r, c] = img[r - dy(r), c - dx(r)]`` (bilinear; the source index is clamped to the
    frame, so pixels whose source lies outside repeat the edge: mask them with
    :func:`inside_mask`). Separable because the displacement is constant along a row: a
    blend of two source rows, then a blend of two columns. Same values as
    ``scipy.ndimage.map_coordinates(img, ..., order=1, mode="nearest")`` inside the frame.

    Parameters
    ----------
    img : ndarray, shape (rows, cols)
    curve : ndarray, shape (rows, 2)
        ``[dy(r), dx(r)]`` in px.
    nan_safe : bool, optional
        Keep a NaN neighbour with zero weight out of the result (an exact source pixel next
        to an invalid one stays valid). False for images known to be finite (faster).

    Returns
    -------
    ndarray, shape (rows, cols), dtype of ``img`` (float)
    """
    rows, cols = img.shape
    dt = img.dtype if np.issubdtype(img.dtype, np.floating) else np.float64
    if nan_safe and not np.isnan(img).any():
        nan_safe = False  # nothing to keep out
    sy, ox = source_rows(curve)
    sy = np.clip(sy, 0.0, rows - 1.0)
    i0 = np.minimum(np.floor(sy).astype(np.intp), max(rows - 2, 0))
    fy = (sy - i0).astype(dt)[:, None]
    tmp = img[i0].astype(dt, copy=False)
    if rows > 1:
        blend = img[i0 + 1].astype(dt, copy=False)  # a fresh array (fancy indexing)
        blend -= tmp
        blend *= fy
        blend += tmp
        # a zero weight must not let a NaN neighbour through
        tmp = np.where(fy == 0, tmp, blend) if nan_safe else blend
    k = np.floor(ox)
    fx = (ox - k).astype(dt)
    k = k.astype(np.intp)
    out = np.empty((rows, cols), dt)
    # rows sharing the integer part of the column offset are blended in one block
    for kv in np.unique(k):
        sel = np.flatnonzero(k == kv)
        contiguous = sel[-1] - sel[0] + 1 == len(sel)
        block = tmp[sel[0]:sel[-1] + 1] if contiguous else tmp[sel]
        a = _shift_columns(block, int(kv))
        blend = _shift_columns(block, int(kv) + 1)
        f = fx[sel][:, None]
        blend -= a
        blend *= f
        blend += a
        # a zero weight must not let a NaN neighbour through
        res = np.where(f == 0, a, blend) if nan_safe else blend
        if contiguous:
            out[sel[0]:sel[-1] + 1] = res
        else:
            out[sel] = res
    return out


def _shift_columns(block: np.ndarray, k: int) -> np.ndarray:
    """``block[:, clip(c + k, 0, cols - 1)]`` by slicing (edge columns repeated)."""
    cols = block.shape[1]
    out = np.empty_like(block)
    lo, hi = max(0, -k), min(cols, cols - k)  # columns whose source c + k is inside
    if hi > lo:
        out[:, lo:hi] = block[:, lo + k:hi + k]
        out[:, :lo] = block[:, :1]
        out[:, hi:] = block[:, -1:]
    else:
        out[:] = block[:, :1] if k < 0 else block[:, -1:]
    return out


def check_apply(image: Any, registration: Registration) -> np.ndarray:
    """``image`` as an array, checked to be 2-D and of the registered frame's shape.

    Raises
    ------
    RegistrationError
        If the image is not 2-D or its shape differs from ``registration.shape``.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise RegistrationError(f"apply_registration: expected a 2-D image, got {img.shape}")
    if registration.shape != (0, 0) and tuple(img.shape) != tuple(registration.shape):
        raise RegistrationError(
            f"apply_registration: image shape {img.shape} differs from the registered frame "
            f"{registration.shape}")
    return img


def apply_registration(
    image: np.ndarray,
    registration: Registration,
    *,
    log: bool = False,
    order: int = 1,
    cval: float = np.nan,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a moving-scan image into the reference frame.

    Each reference row ``r`` takes the moving image at its own displacement
    ``registration.row_displacement[r]`` (creep and drift).

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
        Image of the moving scan (same shape as the reference frame).
    registration : Registration
        Result of :func:`register` or :meth:`Registration.manual`.
    log : bool, optional
        Interpolate ``log10 |image|`` and return ``10**result`` (for current magnitudes in A,
        which span decades). Zeros/negatives become invalid.
    order : int, optional
        Spline order (1 = bilinear, computed row-wise; other orders use
        :func:`scipy.ndimage.map_coordinates`).
    cval : float, optional
        Value written where the source lies outside the moving frame.

    Returns
    -------
    registered : ndarray of float64, shape (rows, cols)
        ``registered[r, c] = image[r - dy(r), c - dx(r)]``.
    valid : ndarray of bool, shape (rows, cols)
        False where the source falls outside the moving frame, on rows that are not
        registered (:attr:`Registration.row_registered`) or where the result is not finite.

    Raises
    ------
    RegistrationError
        If the image is not 2-D or its shape differs from the registered frame.
    """
    img = check_apply(image, registration).astype(np.float64)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.abs(img)
            img = np.where(np.isfinite(a) & (a > 0), np.log10(a), np.nan)
    curve = registration.row_displacement
    inside = inside_mask(curve, img.shape, registration.row_registered)
    if order == 1:
        out = warp_rows(img, curve)
    else:
        sy, ox = source_rows(curve)
        yy = np.broadcast_to(sy[:, None], img.shape)
        xx = np.arange(img.shape[1], dtype=np.float64)[None, :] + ox[:, None]
        out = ndi.map_coordinates(img, [yy, xx], order=order, mode="nearest",
                                  prefilter=order > 1)
    if log:
        with np.errstate(over="ignore"):
            out = np.power(10.0, out)
    valid = inside & np.isfinite(out)
    return np.where(valid, out, cval), valid


def apply_registration_mask(mask: np.ndarray, registration: Registration,
                            inside: np.ndarray | None = None) -> np.ndarray:
    """Resample a boolean mask of the moving scan into the reference frame (nearest neighbour).

    Parameters
    ----------
    mask : ndarray of bool, shape (rows, cols)
        Mask in the moving frame (True = valid), e.g. a log-amp floor/saturation mask.
    registration : Registration
        Result of :func:`register`.
    inside : ndarray of bool, shape (rows, cols), optional
        :func:`inside_mask` of the registration on its registered rows, when the caller has
        it.

    Returns
    -------
    ndarray of bool, shape (rows, cols)
        The mask in the reference frame; False outside the overlap and on rows that are not
        registered.

    Raises
    ------
    RegistrationError
        If the mask is not 2-D or its shape differs from the registered frame.
    """
    m = check_apply(mask, registration).astype(bool)
    if not m.any():  # e.g. no pixel at the log-amp floor: nothing to resample
        return np.zeros(m.shape, bool)
    curve = registration.row_displacement
    if inside is None:
        inside = inside_mask(curve, m.shape, registration.row_registered)
    return inside & nearest_rows(m, curve)


def nearest_rows(m: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """``m[rint(r - dy(r)), rint(c - dx(r))]`` with the source index clamped to the frame
    (nearest neighbour, one displacement per row).

    Rows whose column offset has the same rounding are shifted together by slicing; the
    column index ``rint(c - dx)`` is ``c + rint(-dx)`` except when the offset's fraction is
    exactly one half (``rint`` rounds ties to even), where the columns are indexed one by one.
    """
    rows, cols = m.shape
    sy, ox = source_rows(curve)
    iy = np.clip(np.rint(sy).astype(np.intp), 0, rows - 1)
    src = m[iy]
    tie = (ox - np.floor(ox)) == 0.5
    k = np.rint(ox).astype(np.intp)
    out = np.empty_like(src)
    for kv in np.unique(k[~tie]):
        sel = np.flatnonzero((k == kv) & ~tie)
        if sel[-1] - sel[0] + 1 == len(sel):
            out[sel[0]:sel[-1] + 1] = _shift_columns(src[sel[0]:sel[-1] + 1], int(kv))
        else:
            out[sel] = _shift_columns(src[sel], int(kv))
    for r in np.flatnonzero(tie):
        ix = np.clip(np.rint(np.arange(cols) + ox[r]).astype(np.intp), 0, cols - 1)
        out[r] = src[r, ix]
    return out
