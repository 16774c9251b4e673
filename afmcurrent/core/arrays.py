"""Small array helpers shared by the layers: summed-area tables, medians, NaN-safe floats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["summed_area_table", "middle_values", "median_inplace", "row_blocks",
           "finite_or_none"]

#: Pixels per block of :func:`row_blocks`: a few dozen float64 arrays of this size stay in a
#: core's cache (2 MB here), where a chain of per-pixel operations runs about twice as fast as
#: over a whole 512 x 512 image streamed from memory once per operation.
BLOCK_PIXELS = 65536


def summed_area_table(a: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """Zero-padded summed-area table over the last two axes.

    Parameters
    ----------
    a : ndarray, shape (..., rows, cols)
    dtype : dtype, optional
        Accumulator type (default float64 for floats, int64 for integers and booleans).

    Returns
    -------
    ndarray, shape (..., rows + 1, cols + 1)
        ``out[..., i, j] = a[..., :i, :j].sum()``; the sum over rows ``r0:r1`` and columns
        ``c0:c1`` is ``out[r1, c1] - out[r0, c1] - out[r1, c0] + out[r0, c0]`` (Crow, "Summed-area
        tables for texture mapping", SIGGRAPH 1984).

    Notes
    -----
    The running sum down the rows is taken one row at a time: ``np.cumsum`` along a non-last
    axis of a C-ordered array walks memory with a stride of one row and is ~5 times slower on a
    512 x 512 image (same result up to rounding order for floats, exact for integers).
    """
    a = np.asarray(a)
    if dtype is None:
        dtype = np.float64 if np.issubdtype(a.dtype, np.inexact) else np.int64
    out = np.zeros((*a.shape[:-2], a.shape[-2] + 1, a.shape[-1] + 1), dtype)
    np.cumsum(a, axis=-1, dtype=dtype, out=out[..., 1:, 1:])
    for i in range(2, out.shape[-2]):
        out[..., i, :] += out[..., i - 1, :]
    return out


def middle_values(v: np.ndarray, count: int | None = None) -> tuple[float, float]:
    """The two middle values of a 1-D array (the same one twice for an odd size), partitioning
    it in place.

    Parameters
    ----------
    v : ndarray, shape (n,), n >= 1
        Values (partitioned in place: pass a copy you may change).
    count : int, optional
        The number of values that are not NaN (at least 1), when ``v`` holds NaN: the
        middle values of those (NaN sorts after every number, so they are the ``count``
        smallest). Default: ``n`` (no NaN).

    Returns
    -------
    low, high : float
        The ``(count - 1) // 2``-th and ``count // 2``-th smallest values; the median is
        their mean.

    Notes
    -----
    One selection of the upper middle value and the maximum below it: ``np.median`` selects
    both (and the maximum, for its NaN check) with a multi-index partition, several times
    slower on large arrays, for the same numbers.
    """
    n = v.shape[0] if count is None else int(count)
    k2 = n // 2
    if v.shape[0] > 1:
        v.partition(k2)
    hi = v[k2]
    lo = hi if n % 2 else v[:k2].max()
    return lo, hi


def median_inplace(v: np.ndarray) -> float:
    """Median of a 1-D array without NaN, partitioning it in place: the number ``np.median``
    gives (the middle value, or the mean of the two middle values; NaN for an empty array)."""
    if v.shape[0] == 0:
        return math.nan
    lo, hi = middle_values(v)
    return float(lo) if lo == hi else float((lo + hi) / 2)


def row_blocks(shape: tuple[int, ...], pixels: int = BLOCK_PIXELS) -> list[slice]:
    """Consecutive blocks of rows of an image of ``shape`` (rows, cols), about ``pixels``
    pixels each (at least one row), covering every row once.

    For chains of per-pixel operations run block by block (each block's temporaries stay in
    the cache): the result is the same as over the whole image.
    """
    rows = int(shape[0])
    cols = max(int(np.prod(shape[1:])) if len(shape) > 1 else 1, 1)
    step = max(1, pixels // cols)
    n = max(1, -(-rows // step))
    step = -(-rows // n)  # blocks of equal size
    return [slice(r, min(r + step, rows)) for r in range(0, rows, step)] or [slice(0, 0)]


def finite_or_none(v: Any) -> float | None:
    """``float(v)`` when ``v`` is a finite real number, else None (JSON has no NaN).

    Parameters
    ----------
    v : number, numpy scalar or None

    Returns
    -------
    float or None
        None for None, NaN, +/-inf and anything that is not a real number.
    """
    if v is None or isinstance(v, (bool, np.bool_)):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
