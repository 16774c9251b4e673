"""Masked normalized cross-correlation surfaces and their peaks."""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi

from ...core.errors import RegistrationError

#: 1 - (second peak / main peak) at which a peak counts as fully distinct
DISTINCT_SPAN = 0.3


def masked_ncc_surface(
    ref: np.ndarray,
    moving: np.ndarray,
    ref_mask: np.ndarray | None = None,
    moving_mask: np.ndarray | None = None,
    max_shift: tuple[int, int] | None = None,
    min_overlap: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized cross-correlation over the overlap for every integer shift.

    Parameters
    ----------
    ref, moving : ndarray, shape (rows, cols)
        Images (same shape). Invalid pixels must be finite (their value is ignored).
    ref_mask, moving_mask : ndarray of bool, optional
        Valid pixels (True = use); default all.
    max_shift : tuple of int, optional
        ``(max_dy, max_dx)``: the surface covers ``-max_dy..max_dy`` x ``-max_dx..max_dx``.
        Default: half the frame.
    min_overlap : float, optional
        Shifts whose overlap holds fewer than this fraction of the reference's valid pixels
        get NCC = NaN.

    Returns
    -------
    ncc : ndarray, shape (2*max_dy + 1, 2*max_dx + 1)
        ``ncc[max_dy + dy, max_dx + dx]`` is the Pearson correlation of
        ``ref[r, c]`` and ``moving[r - dy, c - dx]`` over the pixels valid in both.
    overlap : ndarray, same shape
        Number of pixels in each overlap.

    Raises
    ------
    RegistrationError
        If the images differ in shape.

    Notes
    -----
    All sums over the overlap are obtained as zero-padded FFT correlations (Padfield,
    "Masked object registration in the Fourier domain", IEEE Trans. Image Process. 21 (2012)
    2706, eqs. 15-18).
    """
    rows, cols = ref.shape
    if moving.shape != ref.shape:
        raise RegistrationError(f"images differ in shape: {ref.shape} vs {moving.shape}")
    mr = np.ones(ref.shape, bool) if ref_mask is None else np.asarray(ref_mask, bool)
    mm = np.ones(ref.shape, bool) if moving_mask is None else np.asarray(moving_mask, bool)
    if max_shift is None:
        max_shift = (rows // 2, cols // 2)
    mdy, mdx = int(max_shift[0]), int(max_shift[1])
    shape = (sfft.next_fast_len(rows + mdy + 1, real=True),
             sfft.next_fast_len(cols + mdx + 1, real=True))

    if mr.all() and mm.all():
        return _full_ncc_surface(np.asarray(ref, np.float64), np.asarray(moving, np.float64),
                                 mdy, mdx, shape, min_overlap)
    a = np.where(mr, ref, 0.0)
    b = np.where(mm, moving, 0.0)
    fa = [sfft.rfft2(x, shape) for x in (mr.astype(np.float64), a, a * a)]
    fb = [sfft.rfft2(x, shape) for x in (mm.astype(np.float64), b, b * b)]
    iy = np.arange(-mdy, mdy + 1) % shape[0]
    ix = np.arange(-mdx, mdx + 1) % shape[1]

    def corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # circular index d -> d mod shape; gather -mdy..mdy, -mdx..mdx
        return sfft.irfft2(x * np.conj(y), shape)[np.ix_(iy, ix)]

    n = np.round(corr(fa[0], fb[0]))
    sa = corr(fa[1], fb[0])
    sb = corr(fa[0], fb[1])
    saa = corr(fa[2], fb[0])
    sbb = corr(fa[0], fb[2])
    sab = corr(fa[1], fb[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = np.maximum(n, 1.0)
        num = sab - sa * sb / nn
        va = saa - sa * sa / nn
        vb = sbb - sb * sb / nn
        den = np.sqrt(np.clip(va, 0, None) * np.clip(vb, 0, None))
        ncc = num / den
    tiny = 1e-9 * max(float(np.max(va)), float(np.max(vb)), 1e-300)
    bad = (n < min_overlap * max(mr.sum(), 1)) | (va <= tiny) | (vb <= tiny) | ~np.isfinite(ncc)
    ncc = np.where(bad, np.nan, np.clip(ncc, -1.0, 1.0))
    return ncc, n


def _full_ncc_surface(a: np.ndarray, b: np.ndarray, mdy: int, mdx: int,
                      shape: tuple[int, int], min_overlap: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """masked_ncc_surface without invalid pixels: the overlap of shift (dy, dx) is a
    rectangle in each image, so its pixel count and the sums of each image and its square
    come from summed-area tables; only the cross term needs an FFT correlation."""
    rows, cols = a.shape
    iy = np.arange(-mdy, mdy + 1)
    ix = np.arange(-mdx, mdx + 1)
    # the cross term in single precision (the sums of the normalization stay in double)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    full = sfft.irfft2(sfft.rfft2(a32, shape) * np.conj(sfft.rfft2(b32, shape)), shape)
    sab = full[np.ix_(iy % shape[0], ix % shape[1])].astype(np.float64)

    def sat(x: np.ndarray) -> np.ndarray:
        t = np.zeros((rows + 1, cols + 1))
        t[1:, 1:] = x.cumsum(axis=0).cumsum(axis=1)
        return t

    # reference overlap rows [max(0, dy), rows + min(0, dy)), moving rows shifted by -dy
    ry0, ry1 = np.maximum(iy, 0), rows + np.minimum(iy, 0)
    rx0, rx1 = np.maximum(ix, 0), cols + np.minimum(ix, 0)
    my0, my1 = ry0 - iy, ry1 - iy
    mx0, mx1 = rx0 - ix, rx1 - ix

    def rect(t, y0, y1, x0, x1):
        return (t[np.ix_(y1, x1)] - t[np.ix_(y0, x1)] - t[np.ix_(y1, x0)] + t[np.ix_(y0, x0)])

    ta, taa, tb, tbb = sat(a), sat(a * a), sat(b), sat(b * b)
    sa, saa = rect(ta, ry0, ry1, rx0, rx1), rect(taa, ry0, ry1, rx0, rx1)
    sb, sbb = rect(tb, my0, my1, mx0, mx1), rect(tbb, my0, my1, mx0, mx1)
    n = np.outer(ry1 - ry0, rx1 - rx0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = np.maximum(n, 1.0)
        num = sab - sa * sb / nn
        va = saa - sa * sa / nn
        vb = sbb - sb * sb / nn
        ncc = num / np.sqrt(np.clip(va, 0, None) * np.clip(vb, 0, None))
    tiny = 1e-9 * max(float(np.max(va)), float(np.max(vb)), 1e-300)
    bad = (n < min_overlap * rows * cols) | (va <= tiny) | (vb <= tiny) | ~np.isfinite(ncc)
    return np.where(bad, np.nan, np.clip(ncc, -1.0, 1.0)), n


def peak_stats(surf: np.ndarray) -> tuple[tuple[int, int], float, float, tuple[int, int]]:
    """Main peak of an NCC surface and how distinct it is.

    Returns
    -------
    peak_index : tuple of int
    peak : float
    ratio : float
        Height of the best competing peak outside the main lobe (the connected region above
        half the peak, dilated by 2 px) relative to the main peak, both above the surface's
        median; 1 for a flat or periodic surface.
    second_index : tuple of int
    """
    s = np.where(np.isfinite(surf), surf, -np.inf)
    ip = np.unravel_index(int(np.argmax(s)), s.shape)
    peak = float(s[ip])
    fin = s[np.isfinite(s)]
    if fin.size == 0:
        return (int(ip[0]), int(ip[1])), float("nan"), 1.0, (int(ip[0]), int(ip[1]))
    med = float(np.median(fin))
    if not np.isfinite(peak) or peak <= med:
        return (int(ip[0]), int(ip[1])), peak, 1.0, (int(ip[0]), int(ip[1]))
    half = med + 0.5 * (peak - med)
    lab, _ = ndi.label(s > half)
    lobe = ndi.binary_dilation(lab == lab[ip], iterations=2)
    rest = np.where(lobe, -np.inf, s)
    i2 = np.unravel_index(int(np.argmax(rest)), s.shape)
    second = float(rest[i2])
    ratio = 0.0 if not np.isfinite(second) else (second - med) / (peak - med)
    return (int(ip[0]), int(ip[1])), peak, float(np.clip(ratio, 0.0, 1.0)), (int(i2[0]),
                                                                              int(i2[1]))


def local_maxima(surf: np.ndarray, n: int = 8) -> list[tuple[int, int, float]]:
    """The ``n`` highest local maxima (3 x 3 neighbourhood) of a surface, best first."""
    s = np.where(np.isfinite(surf), surf, -np.inf)
    peaks = (s == ndi.maximum_filter(s, size=3, mode="constant", cval=-np.inf)) & np.isfinite(s)
    iy, ix = np.nonzero(peaks)
    order = np.argsort(s[iy, ix])[::-1][:n]
    return [(int(iy[k]), int(ix[k]), float(s[iy[k], ix[k]])) for k in order]


def distinctness(ratio: float | np.ndarray) -> float | np.ndarray:
    """Map a competing-peak ratio to [0, 1]: 1 for a unique peak, 0 at ratio >= 1 - SPAN."""
    return np.clip((1.0 - np.asarray(ratio, dtype=np.float64)) / DISTINCT_SPAN, 0.0, 1.0)


def parabolic_vertex(m1: np.ndarray, c0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Vertex offset in [-0.5, 0.5] of the parabola through (-1, m1), (0, c0), (1, p1).

    Zero where the three values do not form a maximum.
    """
    m1, c0, p1 = (np.asarray(v, dtype=np.float64) for v in (m1, c0, p1))
    d = m1 - 2.0 * c0 + p1
    ok = np.isfinite(d) & (d < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(ok, 0.5 * (m1 - p1) / np.where(ok, d, -1.0), 0.0)
    return np.clip(v, -0.5, 0.5)


def parabolic_peak(s: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """Sub-pixel vertex of a 3-point parabola through the peak ``(i, j)`` along each axis."""
    oy = float(parabolic_vertex(s[i - 1, j], s[i, j], s[i + 1, j])) \
        if 0 < i < s.shape[0] - 1 else 0.0
    ox = float(parabolic_vertex(s[i, j - 1], s[i, j], s[i, j + 1])) \
        if 0 < j < s.shape[1] - 1 else 0.0
    return oy, ox
