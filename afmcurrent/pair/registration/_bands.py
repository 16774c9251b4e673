"""Displacement of bands of reference rows: a wide search and a local re-match.

Both measure, for a band of reference rows, the displacement that maximises the normalized
cross-correlation (NCC, zero-mean template; Lewis, "Fast normalized cross-correlation",
Vision Interface 1995) between the band and the moving image.

* :func:`search_bands` tries every integer displacement within a window for every band at
  once (batched FFT correlation of the templates with their search regions, window sums from
  cumulative sums), and reports the peak, how distinct it is within the window, and its
  sub-pixel vertex.
* :func:`rematch_bands` measures the small residual displacement of every band after the
  moving image has been resampled with the current curve estimate: NCC at the 3 x 3 (or 5 x 5)
  integer offsets around zero from per-row sums (so overlapping bands cost nothing extra), and
  the vertex of a least-squares 2-D quadratic through the 3 x 3 values around the best one.
  Near zero residual the vertex is nearly unbiased, which is why the estimate is iterated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from ._ncc import distinctness, parabolic_vertex


@dataclass
class BandResult:
    """Per-band measurements (arrays of length n_bands).

    Attributes
    ----------
    bands : ndarray of int, shape (n, 2)
        Reference rows ``[r0, r1)`` of each band.
    d : ndarray, shape (n, 2)
        Displacement ``[dy, dx]`` in px (NaN where not measured).
    ncc : ndarray, shape (n,)
        NCC at the peak.
    distinct : ndarray, shape (n,)
        1 for a unique peak in the search window, towards 0 when another peak competes.
    curvature : ndarray, shape (n,)
        Mean curvature of the NCC at the peak, 1/px^2 (> 0 for a maximum).
    npix : ndarray, shape (n,)
        Pixels in the band's template.
    edge : ndarray of bool, shape (n,)
        The peak lies on the border of the search window (not a measured maximum).
    """

    bands: np.ndarray
    d: np.ndarray
    ncc: np.ndarray
    distinct: np.ndarray
    curvature: np.ndarray
    npix: np.ndarray
    edge: np.ndarray

    def precision(self) -> np.ndarray:
        """Relative precision 1/var of each band's estimate (0 where unusable).

        ``var ~ (1 - rho) / (rho * n * kappa)``: the Cramer-Rao form of a correlation shift
        estimate (noise-to-signal ratio over the number of pixels times the peak curvature),
        scaled by how distinct the peak is.
        """
        rho = np.clip(self.ncc, 0.0, 0.999)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = rho * self.npix * np.maximum(self.curvature, 0.0) / (1.0 - rho)
        p = np.where(np.isfinite(p) & ~self.edge & np.all(np.isfinite(self.d), axis=1), p, 0.0)
        return p * self.distinct


def _row_prefix(x: np.ndarray) -> np.ndarray:
    """Prefix sums down the rows, ``out[i] = x[:i].sum(axis=0)`` (float64).

    One row at a time: ``np.cumsum(axis=0)`` walks memory with a stride of one row and is
    several times slower on images.
    """
    out = np.empty((x.shape[0] + 1, x.shape[1]))
    out[0] = 0.0
    out[1:] = x
    for i in range(2, out.shape[0]):
        out[i] += out[i - 1]
    return out


def _double_centre(t: np.ndarray) -> np.ndarray:
    """Remove every row mean and every column mean of each (h, w) template."""
    t = t - t.mean(axis=-1, keepdims=True)
    return t - t.mean(axis=-2, keepdims=True)


def band_layout(lo: int, hi: int, height: int, step: int) -> np.ndarray:
    """Overlapping bands ``[r0, r0 + height)`` covering rows ``lo..hi`` (last one flush)."""
    n = hi - lo
    if n < height:
        return np.array([[lo, hi]]) if n >= max(4, height // 2) else np.zeros((0, 2), int)
    starts = list(range(lo, hi - height + 1, step))
    if starts[-1] != hi - height:
        starts.append(hi - height)
    s = np.asarray(starts)
    return np.column_stack([s, s + height])


def search_bands(
    ref: np.ndarray,
    mov: np.ndarray,
    height: int,
    step: int,
    centre: tuple[int, int],
    radius: int,
) -> BandResult:
    """Integer search of every band's displacement within ``centre +/- radius`` px.

    Parameters
    ----------
    ref, mov : ndarray, shape (rows, cols)
        Prepared images (same scale; invalid pixels 0).
    height, step : int
        Band height and spacing, rows.
    centre : tuple of int
        ``(dy, dx)`` at the centre of the search window.
    radius : int
        Half width of the window, px.

    Returns
    -------
    BandResult
        Sub-pixel displacement from a parabola per axis through the peak.
    """
    rows, cols = ref.shape
    cy, cx = int(centre[0]), int(centre[1])
    s = int(radius)
    # rows / columns whose every candidate source lies inside the moving frame
    lo, hi = max(0, cy + s), min(rows, rows + cy - s)
    x0, x1 = max(0, cx + s), min(cols, cols + cx - s)
    bands = band_layout(lo, hi, height, step)
    nb = len(bands)
    empty = BandResult(bands, np.full((nb, 2), np.nan), np.full(nb, np.nan), np.zeros(nb),
                       np.zeros(nb), np.zeros(nb), np.ones(nb, bool))
    if nb == 0 or x1 - x0 < 16:
        return empty
    h = int(bands[0, 1] - bands[0, 0])
    w = x1 - x0
    n = 2 * s + 1
    hr, wr = h + 2 * s, w + 2 * s
    ridx = (bands[:, 0] - cy - s)[:, None] + np.arange(hr)[None, :]
    region = mov[ridx][:, :, x0 - cx - s:x1 - cx + s].astype(np.float64)  # (nb, hr, wr)
    tidx = bands[:, 0][:, None] + np.arange(h)[None, :]
    tmpl = ref[tidx][:, :, x0:x1].astype(np.float64)  # (nb, h, w)
    tmpl = _double_centre(tmpl)
    va = np.einsum("bij,bij->b", tmpl, tmpl)
    shape = (sfft.next_fast_len(hr, real=True), sfft.next_fast_len(wr, real=True))
    fr = sfft.rfft2(region.astype(np.float32), shape)
    ft = sfft.rfft2(tmpl.astype(np.float32), shape)
    num = sfft.irfft2(fr * np.conj(ft), shape)[:, :n, :n].astype(np.float64)
    # doubly centred variance of the region under the template at every offset (i, j):
    # sum R^2 - sum_rows (row sum)^2 / w - sum_cols (col sum)^2 / h + total^2 / (h w)
    zc = np.zeros((nb, hr, 1))
    c1 = np.concatenate([zc, region.cumsum(axis=2)], axis=2)
    c2 = np.concatenate([zc, (region * region).cumsum(axis=2)], axis=2)
    s1 = c1[:, :, w:w + n] - c1[:, :, :n]  # (nb, hr, n): row sums over w columns at offset j
    s2 = c2[:, :, w:w + n] - c2[:, :, :n]
    zr = np.zeros((nb, 1, n))

    def rows_window(x: np.ndarray) -> np.ndarray:  # (nb, hr, n) -> sums over h rows (nb, n, n)
        cs = np.concatenate([zr, x.cumsum(axis=1)], axis=1)
        return cs[:, h:h + n] - cs[:, :n]

    sum2, rowsq, total = rows_window(s2), rows_window(s1 * s1), rows_window(s1)
    r1 = np.concatenate([np.zeros((nb, 1, wr)), region.cumsum(axis=1)], axis=1)
    t1 = r1[:, h:h + n] - r1[:, :n]  # (nb, n, wr): column sums over h rows at offset i
    ct = np.concatenate([np.zeros((nb, n, 1)), (t1 * t1).cumsum(axis=2)], axis=2)
    colsq = ct[:, :, w:w + n] - ct[:, :, :n]  # (nb, n, n)
    vb = np.clip(sum2 - rowsq / w - colsq / h + total * total / (h * w), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = num / np.sqrt(va[:, None, None] * vb)
    res = np.where(np.isfinite(res), res, -1.0)
    flat = res.reshape(nb, -1)
    k = np.argmax(flat, axis=1)
    i, j = np.divmod(k, n)
    b = np.arange(nb)
    peak = flat[b, k]
    im, ip = np.clip(i - 1, 0, n - 1), np.clip(i + 1, 0, n - 1)
    jm, jp = np.clip(j - 1, 0, n - 1), np.clip(j + 1, 0, n - 1)
    oy = parabolic_vertex(res[b, im, j], peak, res[b, ip, j])
    ox = parabolic_vertex(res[b, i, jm], peak, res[b, i, jp])
    edge = (i == 0) | (i == n - 1) | (j == 0) | (j == n - 1)
    oy = np.where(edge, 0.0, oy)
    ox = np.where(edge, 0.0, ox)
    curv = np.where(edge, 0.0, 0.5 * ((2 * peak - res[b, im, j] - res[b, ip, j])
                                      + (2 * peak - res[b, i, jm] - res[b, i, jp])))
    # distinctness: best value outside the peak's 5 x 5 neighbourhood, relative to the peak
    med = np.median(flat, axis=1)
    yy, xx = np.divmod(np.arange(n * n), n)
    near = (np.abs(yy[None, :] - i[:, None]) <= 2) & (np.abs(xx[None, :] - j[:, None]) <= 2)
    second = np.where(near, -np.inf, flat).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(peak > med, (second - med) / (peak - med), 1.0)
    ratio = np.where(np.isfinite(ratio), np.clip(ratio, 0.0, 1.0), 0.0)
    d = np.column_stack([cy + s - (i + oy), cx + s - (j + ox)])
    return BandResult(bands, d, peak, distinctness(ratio), curv,
                      np.full(nb, float(h * w)), edge)


# least-squares 2-D quadratic z = c0 + c1 y + c2 x + c3 y^2 + c4 x^2 + c5 x y on a 3 x 3 grid
_GY, _GX = np.mgrid[-1:2, -1:2]
_QDESIGN = np.column_stack([np.ones(9), _GY.ravel(), _GX.ravel(), _GY.ravel() ** 2,
                            _GX.ravel() ** 2, (_GX * _GY).ravel()])
_QPINV = np.linalg.pinv(_QDESIGN)


def rematch_bands(
    ref: np.ndarray,
    warped: np.ndarray,
    row_ok: np.ndarray,
    cols: tuple[int, int],
    bands: np.ndarray,
    reach: int = 1,
) -> BandResult:
    """Residual displacement of each band after resampling the moving image.

    Parameters
    ----------
    ref : ndarray, shape (rows, cols)
        Prepared reference image.
    warped : ndarray, shape (rows, cols)
        Prepared moving image resampled into the reference frame with the current estimate.
    row_ok : ndarray of bool, shape (rows,)
        Rows where ``warped`` is valid over the column range.
    cols : tuple of int
        Column range ``[x0, x1)`` compared (``reach`` px inside the valid columns).
    bands : ndarray of int, shape (n, 2)
        Row ranges, each within ``[reach, rows - reach)``.
    reach : int
        Offsets ``-reach..reach`` are evaluated on each axis.

    Returns
    -------
    BandResult
        ``d`` is the residual displacement to add to the estimate.

    Notes
    -----
    The NCC of a band is taken after removing every row mean and every column mean of both
    windows (two-way centring: ``sum ab - sum_r A_r B_r / w - sum_c A_c B_c / h + A B / hw``
    with row sums ``A_r``, column sums ``A_c`` and totals ``A``), so line offsets, tilt, bow
    and any other additive function of the row alone or the column alone, which differ
    between two scans, do not bias the peak.
    """
    rows = ref.shape[0]
    x0, x1 = cols
    q = int(reach)
    n = 2 * q + 1
    nb = len(bands)
    w = x1 - x0
    lo = int(bands[:, 0].min())
    hi = int(bands[:, 1].max())
    bounds = np.unique(bands.ravel())
    pos = np.searchsorted(bounds, bands)
    seg = bounds[:-1] - lo

    def band_sum(x: np.ndarray) -> np.ndarray:
        """Sums over the rows of each band of x (rows lo..hi along axis 0) -> (nb, ...)."""
        part = np.add.reduceat(x, seg, axis=0).astype(np.float64)
        cs = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(part, axis=0)])
        return cs[pos[:, 1]] - cs[pos[:, 0]]

    # a band uses only rows whose warped rows are valid at every offset (rows beyond the
    # frame count as invalid: both arrays are padded by q rows)
    ok = np.pad(row_ok.astype(np.float32), q)
    v = ok[lo + q:hi + q].copy()
    for di in range(-q, q + 1):
        v *= ok[lo + q - di:hi + q - di]
    if lo < q or hi > rows - q:
        warped, base = np.pad(warped, ((q, q), (0, 0))), 0
    else:
        warped, base = warped[lo - q:hi + q], lo
    m = hi - lo
    vv = v[:, None]
    a = ref[lo:hi, x0:x1].astype(np.float32) * vv
    wa = warped.astype(np.float32, copy=False)
    # warped rows r - di for di = -q..q; rows r - di of the array start at lo - base + q - di
    top = lo - base
    span = wa[top:top + m + 2 * q]  # warped rows lo - q .. hi + q (in the padded frame)
    ra = a.sum(axis=1)
    # per column offset dj, over the whole span: row sums and squared norms of b
    rb_all = np.stack([span[:, x0 - dj:x1 - dj].sum(axis=1) for dj in range(-q, q + 1)])
    bb_all = np.stack([np.einsum("ij,ij->i", span[:, x0 - dj:x1 - dj],
                                 span[:, x0 - dj:x1 - dj]) for dj in range(-q, q + 1)])
    # per-row sums stacked as columns, summed over the bands in one pass:
    # [n_rows, a.a, ra^2, then per (di, dj): a.b, ra*rb, b.b, rb^2]
    per_row = np.empty((m, 3 + 4 * n * n), np.float32)
    per_row[:, 0] = v
    per_row[:, 1] = np.einsum("ij,ij->i", a, a)
    per_row[:, 2] = ra * ra
    col = 3
    for di in range(-q, q + 1):
        sl = slice(q - di, q - di + m)
        wr = span[sl]
        for jj, dj in enumerate(range(-q, q + 1)):
            rb = rb_all[jj, sl] * v
            per_row[:, col] = np.einsum("ij,ij->i", a, wr[:, x0 - dj:x1 - dj])
            per_row[:, col + 1] = ra * rb
            per_row[:, col + 2] = bb_all[jj, sl] * v
            per_row[:, col + 3] = rb * rb
            col += 4
    sums = band_sum(per_row)  # (nb, 3 + 4 n^2)
    nrow = sums[:, 0]
    # column sums over each band: prefix sums down the rows, then two rows per band
    b0, b1 = bands[:, 0] - lo, bands[:, 1] - lo
    ca = _row_prefix(a)
    ca = ca[b1] - ca[b0]  # (nb, w) column sums of the reference
    # every band row valid (rows between bands do not count)
    vbad = np.concatenate([[0.0], np.cumsum(1.0 - v)])
    all_valid = bool(np.all(vbad[b1] == vbad[b0]))
    if all_valid:
        pw = _row_prefix(span)
    ta = ca.sum(axis=1)
    npx = nrow * w
    ncc = np.full((n, n, nb), -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        va = sums[:, 1] - sums[:, 2] / w - np.einsum("bc,bc->b", ca, ca) / nrow + ta * ta / npx
        col = 3
        for ii, di in enumerate(range(-q, q + 1)):
            # column sums over each band of the shifted warped rows, all columns
            if all_valid:
                cw = pw[b1 + q - di] - pw[b0 + q - di]  # (nb, cols)
            else:
                cw = band_sum(span[q - di:q - di + m] * vv)
            for jj, dj in enumerate(range(-q, q + 1)):
                cb = cw[:, x0 - dj:x1 - dj]
                tb = cb.sum(axis=1)
                cbb = np.einsum("bc,bc->b", cb, cb)
                num = (sums[:, col] - sums[:, col + 1] / w - np.einsum("bc,bc->b", ca, cb)
                       / nrow + ta * tb / npx)
                vb = sums[:, col + 2] - sums[:, col + 3] / w - cbb / nrow + tb * tb / npx
                c = num / np.sqrt(np.clip(va, 0, None) * np.clip(vb, 0, None))
                ncc[ii, jj] = np.where(np.isfinite(c), c, -1.0)
                col += 4
    flat = ncc.reshape(n * n, nb)
    k = np.argmax(flat, axis=0)
    i, j = np.divmod(k, n)
    # 3 x 3 neighbourhood around the best offset (clamped inside the grid)
    ci, cj = (np.clip(i, 1, n - 2), np.clip(j, 1, n - 2)) if n > 2 else (i, j)
    bi = np.arange(nb)
    z = np.stack([ncc[ci + gy, cj + gx, bi] for gy, gx in zip(_GY.ravel(), _GX.ravel(),
                                                              strict=True)])
    coef = _QPINV @ z  # (6, nb)
    hyy, hxx, hxy = 2 * coef[3], 2 * coef[4], coef[5]
    det = hxx * hyy - hxy * hxy
    good = (hxx < 0) & (hyy < 0) & (det > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vy = np.where(good, (-hxx * coef[1] + hxy * coef[2]) / det, 0.0)
        vx = np.where(good, (-hyy * coef[2] + hxy * coef[1]) / det, 0.0)
    vy, vx = np.clip(vy, -1.0, 1.0), np.clip(vx, -1.0, 1.0)
    oy = ci - q + vy
    ox = cj - q + vx
    edge = ~good | (np.abs(oy) > q) | (np.abs(ox) > q) | (nrow < 4)
    peak = flat[k, bi]
    curv = np.where(good, -0.5 * (hxx + hyy), 0.0)
    # ref[r, c] ~ warped[r - di, c - dj] at the peak: the residual displacement is (di, dj)
    d = np.column_stack([oy, ox])
    return BandResult(bands.copy(), d, peak, np.ones(nb), curv, npx, edge)
