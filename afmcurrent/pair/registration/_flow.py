"""Row-wise Gauss-Newton refinement of the displacement curve on whole images.

The displacement of the moving scan is a cubic B-spline of the reference row,
``d(r) = B(r) theta`` (``theta``: ``k`` coefficients per axis, full-resolution px). Given an
estimate, the moving image is resampled row by row (``W``) and the residual ``e = ref - W``
linearized in the increment: ``ref ~ W + J . delta(r)`` with ``J`` the image gradient. Per
row, the line offset, the tilt along the fast axis and the contrast are nuisance parameters
projected out of ``e`` and ``J`` (Frisch-Waugh-Lovell), and so are the column profiles over
blocks of rows. Each reference row then contributes a 2 x 2 normal matrix and a vector from
row sums of the image, and the coefficients solve

    (sum_r B_r' F_r B_r + lam P) theta = sum_r B_r' (F_r B_r theta_0 - g_r)

with ``P`` a second-difference penalty (P-spline, Eilers & Marx, Statist. Sci. 11 (1996) 89),
relaxed near the ends of the rows (creep settles after the slow axis starts). This is the
Lucas-Kanade / Gauss-Newton estimate of a smooth 1-D displacement field (Lucas & Kanade,
IJCAI 1981; Baker & Matthews, IJCV 56 (2004) 221) with every pixel of the overlap used.
``F_r = H V^-1 H`` and ``g_r = H V^-1 q`` come from an instrumental-variables normal matrix
``H = sum J_ref J_mov'`` (the gradients of the two scans have independent noise, so noise
does not inflate it; Benhimane & Malis, IROS 2004 for the use of both images' gradients),
``q = sum J_ref e`` and ``V = sum J_ref J_ref'`` (the variance of ``q``).

The smoothing parameter minimizes generalized cross-validation over blocks of rows (their own
optima's scatter about the curve), and the uncertainty of the curve is the Bayesian posterior
covariance ``sigma^2 (G + lam P)^-1`` (Wahba, J. R. Statist. Soc. B 45 (1983) 133), which
grows where the rows carry little information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import lapack

from ._resample import warp_rows


def bspline_basis(x: np.ndarray, rows: int, spacing: float) -> np.ndarray:
    """Uniform cubic B-spline basis over ``[0, rows - 1]`` evaluated at positions ``x``.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Positions in full-resolution rows (clamped to the range).
    rows : int
        Rows of the frame.
    spacing : float
        Target knot spacing, rows.

    Returns
    -------
    ndarray, shape (n, k)
        ``k = segments + 3``; each row sums to 1.
    """
    seg = max(1, int(math.ceil((rows - 1) / max(spacing, 1.0))))
    h = (rows - 1) / seg if rows > 1 else 1.0
    t = np.clip(np.asarray(x, np.float64), 0.0, rows - 1.0) / h
    i = np.minimum(np.floor(t).astype(np.intp), seg - 1)
    u = t - i
    n = len(t)
    b = np.zeros((n, seg + 3))
    w = (((1 - u) ** 3) / 6, (3 * u**3 - 6 * u**2 + 4) / 6,
         (-3 * u**3 + 3 * u**2 + 3 * u + 1) / 6, u**3 / 6)
    idx = np.arange(n)
    for k in range(4):
        b[idx, i + k] = w[k]
    return b


_CORR_GCV = True
_MIN_ROW_SHARE = 0.3  # least share of the overlap rows that correlate, per level
_RHO_MIN = 0.15  # least row correlation of a row that is used
_BLOCK_ROWS = 8  # rows per block whose scatter scores the smoothing (full resolution)
_MAX_STEP = 2.0  # largest change of the curve in one step, px of the level


@lru_cache(maxsize=8)
def _second_differences(k: int) -> np.ndarray:
    d = np.diff(np.eye(k), n=2, axis=0)
    d.setflags(write=False)
    return d


def penalty(k: int, rows: int, span: tuple[float, float] | None, scale: float,
            kappa: float) -> np.ndarray:
    """Second-difference penalty ``D' diag(v) D`` of k coefficients over the frame's rows.

    The weight ``v`` of a difference is 1 inside and falls towards ``kappa`` within ``scale``
    rows of either end of ``span`` (the rows the data cover): the curve may bend more where
    creep settles.
    """
    d = _second_differences(k)
    if span is None or kappa >= 1.0:
        return d.T @ d
    seg = k - 3
    h = (rows - 1) / seg if seg > 0 else 1.0
    pos = np.arange(k - 2) * h  # position of difference j (centre coefficient j + 1)
    e = np.exp(-np.clip(pos - span[0], 0, None) / scale) + np.exp(
        -np.clip(span[1] - pos, 0, None) / scale)
    v = np.clip(1.0 - (1.0 - kappa) * e, kappa, 1.0)
    return d.T @ (d * v[:, None])


@dataclass
class RowSums:
    """Per-row normal equations of one Gauss-Newton step (full-resolution px units).

    Attributes
    ----------
    pos : ndarray, shape (n,)
        Position of each row in full-resolution rows.
    h : ndarray, shape (n, 3)
        ``[H_yy, H_xx, H_xy]`` of each row (0 for unused rows).
    q : ndarray, shape (n, 2)
        ``sum_c J e`` of each row.
    e2 : ndarray, shape (n,)
        Residual sum of squares of each row (row-centred).
    npx : ndarray, shape (n,)
        Pixels of each row used.
    rho : ndarray, shape (n,)
        Correlation of the reference row and the resampled moving row (row-centred).
    a2 : ndarray, shape (n,)
        Energy of the reference row (row-centred).
    used : ndarray of bool, shape (n,)
        Rows that enter the step (inside, correlating like the others, and not next to a row
        that does not).
    """

    pos: np.ndarray
    h: np.ndarray
    q: np.ndarray
    e2: np.ndarray
    npx: np.ndarray
    rho: np.ndarray
    a2: np.ndarray
    used: np.ndarray | None = None


def row_sums(ref: np.ndarray, mov: np.ndarray, curve_f: np.ndarray, f: int,
             ref_grad: np.ndarray | None = None,
             ref_mask: np.ndarray | None = None, mov_mask: np.ndarray | None = None,
             esm: bool = True, margin: int = 2, gain: bool = True,
             rho_min: float = 0.0, reject: bool = True) -> RowSums | None:
    """Normal equations of every row for the displacement increment.

    Parameters
    ----------
    ref, mov : ndarray of float32, shape (rows_f, cols_f)
        Reference and moving images of pyramid level f (any line offsets, tilt, bow).
    curve_f : ndarray, shape (rows_f, 2)
        Current displacement at the rows of this level, in this level's px.
    f : int
        Pyramid factor (level px = f full px).
    ref_grad : ndarray, optional
        The gradient of ``ref`` along y (:func:`gradient_y`), cached by the caller.
    ref_mask, mov_mask : ndarray of bool, optional
        Valid pixels (default all).
    esm : bool
        Use the mean of both images' gradients (else the reference's only).
    margin : int
        Columns kept clear of the moving frame's edge.
    gain : bool
        Treat the contrast of each row as a nuisance parameter as well.
    rho_min : float
        Rows correlating less than this are not used (noise against noise).
    reject : bool
        Leave out rows that correlate far less than the others (and their neighbours); else
        only the rows below ``rho_min``.

    Returns
    -------
    RowSums or None
        None when no row or too few columns overlap.

    Notes
    -----
    Per row, the nuisance regressors ``1`` (line offset), ``c`` (the row's tilt along the fast
    axis) and, with ``gain``, the resampled row itself (its contrast) are projected out of the
    residual and of the Jacobian (Frisch-Waugh-Lovell), so none of them can read as a
    displacement: the change of a row's energy or tilt along the slow axis would otherwise
    bias dy. The residual's column profile over all rows (bow and tilt along the fast axis
    that differ between the scans) is removed first.
    """
    rows, cols = ref.shape
    sy = np.arange(rows) - curve_f[:, 0]
    # rows whose source row and both its neighbours lie inside the moving frame; the first
    # and last reference rows have only a one-sided gradient and are left out
    ok = (sy >= 1.0) & (sy <= rows - 2.0)
    ok[[0, -1]] = False
    if np.count_nonzero(ok) < 4:
        return None
    oxs = curve_f[ok, 1]
    x0 = int(math.ceil(max(0.0, float(oxs.max())))) + margin
    x1 = int(math.floor(min(cols - 1.0, cols - 1.0 + float(oxs.min())))) + 1 - margin
    if x1 - x0 < 16:
        return None
    w = warp_rows(mov, curve_f, nan_safe=False)
    gy = gradient_y(ref) if ref_grad is None else ref_grad
    a = ref[:, x0:x1]
    b = w[:, x0:x1]
    jy = gy[:, x0:x1]
    okf = ok.astype(np.float32)
    v_ext = None  # validity of columns x0 - 1 .. x1 (the x-gradients reach one further)
    cc = np.arange(x1 - x0, dtype=np.float32) - np.float32(0.5 * (x1 - x0 - 1))
    masked = not ((ref_mask is None or ref_mask.all()) and (mov_mask is None or mov_mask.all()))
    v = None
    if masked:
        v_ext = np.ones((rows, x1 - x0 + 2), np.float32)
        if ref_mask is not None:
            v_ext *= ref_mask[:, x0 - 1:x1 + 1]
        if mov_mask is not None:
            wm = warp_rows(mov_mask.astype(np.float32), curve_f, nan_safe=False)
            v_ext *= (wm[:, x0 - 1:x1 + 1] > 0.999)
        v = v_ext[:, 1:-1]
        n = v.sum(axis=1, dtype=np.float64)
        sc = (v @ cc).astype(np.float64)
        scc = (v @ (cc * cc)).astype(np.float64)
    else:
        n = np.full(rows, float(x1 - x0))
        sc = np.zeros(rows)
        scc = np.full(rows, float(np.sum(cc.astype(np.float64) ** 2)))
    # Gram matrix of the nuisance regressors {1, c} of each row and its inverse
    det = n * scc - sc * sc
    with np.errstate(divide="ignore", invalid="ignore"):
        g11, g12, g22 = scc / det, -sc / det, n / det
    g11, g12, g22 = (np.where(det > 0, g, 0.0) for g in (g11, g12, g22))
    ones = np.ones(x1 - x0, np.float32)
    s1: dict[str, np.ndarray] = {}
    s2: dict[str, np.ndarray] = {}
    arrs: dict[str, np.ndarray] = {}

    def add(k: str, x: np.ndarray) -> None:
        arrs[k] = x
        s1[k] = (x @ ones).astype(np.float64)
        s2[k] = (x @ cc).astype(np.float64)

    def dot(k1: str, k2: str) -> np.ndarray:
        """Row-wise inner product after projecting out {1, c}."""
        # float32 accumulation over one row (a few hundred terms) is ample, and 4x faster
        raw = np.einsum("ij,ij->i", arrs[k1], arrs[k2]).astype(np.float64)
        return raw - (s1[k1] * (g11 * s1[k2] + g12 * s2[k2])
                      + s2[k1] * (g12 * s1[k2] + g22 * s2[k2]))

    # How the two rows resemble each other: their correlation after removing a quadratic in
    # the column from each (offset, tilt, bow), from the rows themselves only (a profile
    # borrowed from neighbouring rows would make featureless rows alike).
    use = ok & (n >= 8)
    rho = _row_correlation(a, b, v)
    rho = np.where(np.isfinite(rho) & use, rho, np.nan)
    # The fast-axis profile of each image over blocks of rows (bow and tilt along the fast
    # axis that differ between the scans and change while they are taken: the two-way
    # centring of a band) is a nuisance of the match.
    h_blk = _LOCAL_COLS if rows >= 4 * _LOCAL_COLS else rows
    a_ext = _minus_block_profiles(ref[:, x0 - 1:x1 + 1], okf, v_ext, h_blk)
    b_ext = _minus_block_profiles(w[:, x0 - 1:x1 + 1], okf, v_ext, h_blk)
    a, b = a_ext[:, 1:-1], b_ext[:, 1:-1]
    if v is not None:
        a, b = a * v, b * v
    add("a", a)
    add("b", b)
    a2, b2, ab = dot("a", "a"), dot("b", "b"), dot("a", "b")
    # rows that do not correlate like the others (a scar, a tip change, lines the other scan
    # does not share) and their neighbours (whose gradients reach into them) are left out of
    # everything, the column profiles included
    if not reject:
        use = use & (rho >= rho_min)
    else:
        keep = match_weights(rho, rho_min) > 0
        keep[1:] &= keep[:-1] | ~use[:-1]
        keep[:-1] &= keep[1:] | ~use[1:]
        use = use & keep
    okf = use.astype(np.float32)
    # one contrast for the whole frame first (each scan is normalized on its own)
    kg = float(np.sum(ab[use]) / max(float(np.sum(b2[use])), 1e-300))
    kg = kg if math.isfinite(kg) and kg > 0 else 1.0
    kf = np.float32(kg)
    e = a - kf * b
    # gradient of the resampled moving rows (its noise is independent of the reference's)
    # (along y from the images as they are: the profiles are constant within a band; along
    # x from the images without them, as the block means of the x-gradients are the
    # x-differences of the profiles)
    wr = w[:, x0:x1]
    wy = np.empty_like(wr)
    wy[1:-1] = wr[2:] - wr[:-2]
    wy[0] = wy[1]
    wy[-1] = wy[-2]
    wy *= np.float32(0.5 * kg)
    wx = (b_ext[:, 2:] - b_ext[:, :-2]) * np.float32(0.5 * kg)
    jx = (a_ext[:, 2:] - a_ext[:, :-2]) * np.float32(0.5)
    if v is not None:
        jy, jx, wy, wx = jy * v, jx * v, wy * v, wx * v
    # The column profile of the residual and of the gradients over blocks of rows, varying
    # slowly down the frame, is a nuisance as well (bow and tilt along the fast axis that
    # differ between the scans and change while they are taken: the two-way centring of a
    # band); over the whole frame where it is too small for blocks.
    # (a and b are without theirs over the rows in the overlap, so e is too unless rows
    # were left out since; the block means of the gradients along y are small: a band's
    # first and last rows' difference over its height)
    if np.any(okf != ok):
        e = _minus_block_profiles(e, okf, v, h_blk)
        if v is not None:
            e *= v
    add("y", jy)
    add("x", jx)
    add("e", e)
    b2 = b2 * (kg * kg)
    arrs["b"] = b * kf
    s1["b"] *= kg
    s2["b"] *= kg
    qy, qx, e2 = dot("y", "e"), dot("x", "e"), dot("e", "e")
    if esm:
        # instrumental variables: the normal matrix from the products of the two images'
        # gradients, whose noises are independent, so image noise does not inflate it (and
        # shrink every step); the right-hand side from the reference's gradient alone, which
        # does not share a pixel with the residual at its own position
        add("wy", wy)
        add("wx", wx)
        hyy, hxx = dot("y", "wy"), dot("x", "wx")
        hxy = 0.5 * (dot("y", "wx") + dot("x", "wy"))
        pairs = (("y", "wy"), ("x", "wx"), ("y", "wx"), ("x", "wy"))
    else:
        hyy, hxx, hxy = dot("y", "y"), dot("x", "x"), dot("y", "x")
        pairs = (("y", "y"), ("x", "x"), ("y", "x"), ("x", "y"))
    vyy, vxx, vxy = dot("y", "y"), dot("x", "x"), dot("y", "x")
    if gain:
        pb = {k: dot(k, "b") for k in {k for pr in pairs for k in pr} | {"e"}}
        ib = np.where(b2 > 0, 1.0 / np.where(b2 > 0, b2, 1.0), 0.0)
        hyy = hyy - pb[pairs[0][0]] * pb[pairs[0][1]] * ib
        hxx = hxx - pb[pairs[1][0]] * pb[pairs[1][1]] * ib
        hxy = hxy - 0.5 * (pb[pairs[2][0]] * pb[pairs[2][1]] + pb[pairs[3][0]]
                           * pb[pairs[3][1]]) * ib
        vyy = vyy - pb["y"] * pb["y"] * ib
        vxx = vxx - pb["x"] * pb["x"] * ib
        vxy = vxy - pb["y"] * pb["x"] * ib
        qy = qy - pb["y"] * pb["e"] * ib
        qx = qx - pb["x"] * pb["e"] * ib
        e2 = e2 - pb["e"] * pb["e"] * ib
    # a noise-dominated row can give an indefinite 2 x 2 matrix: clip its eigenvalues at 0
    tr_, df = 0.5 * (hyy + hxx), 0.5 * (hyy - hxx)
    rad = np.sqrt(df * df + hxy * hxy)
    l1, l2 = np.maximum(tr_ + rad, 0.0), np.maximum(tr_ - rad, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c2 = np.where(rad > 0, df / rad, 1.0)  # cos(2 phi)
        s2_ = np.where(rad > 0, hxy / rad, 0.0)
    hyy = 0.5 * (l1 + l2) + 0.5 * (l1 - l2) * c2
    hxx = 0.5 * (l1 + l2) - 0.5 * (l1 - l2) * c2
    hxy = 0.5 * (l1 - l2) * s2_
    if esm:
        # The row's own optimum y = -H^-1 q has covariance sigma^2 H^-1 V H^-1 with
        # V = sum J_ref J_ref' (the variance of q): its information is F = H V^-1 H, and
        # F y = -H V^-1 q. Without noise V = H and this is the ordinary Gauss-Newton row.
        ev = 1e-9 * max(float(np.median((vyy + vxx)[use])) if use.any() else 1.0, 1e-300)
        dv = (vyy + ev) * (vxx + ev) - vxy * vxy
        with np.errstate(divide="ignore", invalid="ignore"):
            iyy, ixx, ixy = (vxx + ev) / dv, (vyy + ev) / dv, -vxy / dv
        ok_v = np.isfinite(iyy) & (dv > 0)
        iyy, ixx, ixy = (np.where(ok_v, x, 0.0) for x in (iyy, ixx, ixy))
        # A = H V^-1 (not symmetric), F = A H, g = A q
        a11, a12 = hyy * iyy + hxy * ixy, hyy * ixy + hxy * ixx
        a21, a22 = hxy * iyy + hxx * ixy, hxy * ixy + hxx * ixx
        fyy, fxy, fxx = a11 * hyy + a12 * hxy, a11 * hxy + a12 * hxx, a21 * hxy + a22 * hxx
        qy, qx = a11 * qy + a12 * qx, a21 * qy + a22 * qx
        hyy, hxx, hxy = fyy, fxx, fxy
    inv = 1.0 / f
    h = np.column_stack([hyy, hxx, hxy]) * (inv * inv) * use[:, None]
    q = np.column_stack([qy, qx]) * inv * use[:, None]
    pos = np.arange(rows) * f + (f - 1) / 2.0
    return RowSums(pos, h, q, np.where(use, np.maximum(e2, 0.0), 0.0), np.where(use, n, 0.0),
                   rho, np.where(use, a2, 0.0), use)


_LOCAL_COLS = 32  # rows per block of the column profiles (of the pyramid level)


def _minus_block_profiles(x: np.ndarray, row_w: np.ndarray, valid: np.ndarray | None,
                          h: int) -> np.ndarray:
    """x minus its column means over consecutive blocks of h rows (weighted by the rows'
    weights and the valid pixels; the rows after the last whole block take its profile).

    The fast-axis profile of a scan (bow and tilt along the fast axis, which differ between
    two scans and change while they are taken), allowed to change from band to band: the
    two-way centring of bands of rows.
    """
    rows, w = x.shape
    nb = max(rows // h, 1)
    h = rows // nb
    m = nb * h
    rw = row_w[:m].reshape(nb, h)
    xb = x[:m].reshape(nb, h, w)
    if valid is None:
        sums = np.einsum("bhw,bh->bw", xb, rw)
        cnt = rw.sum(axis=1)[:, None]
    else:
        vb = valid[:m].reshape(nb, h, w) * rw[:, :, None]
        sums = np.einsum("bhw,bhw->bw", xb, vb)
        cnt = vb.sum(axis=1)
    prof = sums / np.maximum(cnt, 1e-6)
    filled = (cnt.sum(axis=1) if cnt.shape[1] > 1 else cnt[:, 0] * w) > 0.25 * h * w
    if filled.any() and not filled.all():
        # blocks with (almost) no used rows take the profile of the nearest block with them
        idx = np.flatnonzero(filled)
        prof = prof[idx[np.argmin(np.abs(np.arange(nb)[:, None] - idx[None, :]), axis=1)]]
    out = np.empty_like(x)
    out[:m] = (xb - prof[:, None, :]).reshape(m, w)
    if m < rows:
        out[m:] = x[m:] - prof[-1]
    return out


def _row_correlation(a: np.ndarray, b: np.ndarray, v: np.ndarray | None) -> np.ndarray:
    """Correlation of each row of a with the same row of b after a least-squares quadratic
    in the column is removed from each (valid pixels ``v`` only), shape (rows,).

    The quadratic is subtracted pixel by pixel before the sums are taken: a row that is
    mostly tilt and bow keeps its small remainder (sums of squares minus projections would
    cancel in single precision)."""
    rows, w = a.shape
    phi = np.polynomial.legendre.legvander(np.linspace(-1.0, 1.0, w), 2)
    if v is None:
        q = np.linalg.qr(phi)[0].astype(np.float32)  # (w, 3), orthonormal columns
        ar = a - (a @ q) @ q.T
        br = b - (b @ q) @ q.T
    else:
        phi32 = phi.astype(np.float32)
        gram = np.einsum("rc,ci,cj->rij", v, phi32, phi32).astype(np.float64)
        ginv = np.linalg.inv(gram + 1e-9 * np.eye(3))
        av, bv = a * v, b * v
        ca = np.einsum("rij,rj->ri", ginv, (av @ phi32).astype(np.float64))
        cb = np.einsum("rij,rj->ri", ginv, (bv @ phi32).astype(np.float64))
        ar = (av - (ca.astype(np.float32) @ phi32.T) * v)
        br = (bv - (cb.astype(np.float32) @ phi32.T) * v)
    aa = np.einsum("ij,ij->i", ar, ar).astype(np.float64)
    bb = np.einsum("ij,ij->i", br, br).astype(np.float64)
    ab = np.einsum("ij,ij->i", ar, br).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ab / np.sqrt(aa * bb)


def gradient_y(img: np.ndarray) -> np.ndarray:
    """Central differences along the rows (float32, one-sided at the first and last)."""
    gy = np.empty_like(img)
    gy[1:-1] = img[2:] - img[:-2]
    gy[0] = 2 * (img[1] - img[0])
    gy[-1] = 2 * (img[-1] - img[-2])
    gy *= np.float32(0.5)
    return gy



@dataclass
class Solution:
    """A penalized Gauss-Newton step.

    Attributes
    ----------
    theta : ndarray, shape (k, 2)
        New coefficients.
    lam : float
        Smoothing parameter used (relative to ``trace G / trace P``).
    edf : float
        Effective degrees of freedom (both axes).
    sigma2 : float
        Scatter of the row blocks' optima about the curve (in units of their information).
    cov : ndarray, shape (2k, 2k)
        ``(G + lam P)^-1``: times ``sigma2``, the posterior covariance of the coefficients
        (dy's first, then dx's).
    """

    theta: np.ndarray
    lam: float
    edf: float
    sigma2: float
    cov: np.ndarray


def _system(basis: np.ndarray, s: RowSums, w: np.ndarray, block: int, blocks: bool = True):
    """Normal matrix G (2k x 2k), vector c, and (with ``blocks``) the block sums
    (q_b, M_b, H_b^-1) of a step."""
    k = basis.shape[1]
    use = np.flatnonzero(w > 0)
    hw = s.h[use] * w[use, None]
    qw = s.q[use] * w[use, None]
    bu = basis[use]
    # one product for all the per-row terms: [B Hyy, B Hxy, B Hxx, B qy, B qx]
    stack = np.concatenate([bu * hw[:, 0:1], bu * hw[:, 2:3], bu * hw[:, 1:2]], axis=1)
    gpart = bu.T @ stack  # (k, 3k)
    g = np.empty((2 * k, 2 * k))
    g[:k, :k] = gpart[:, :k]
    g[:k, k:] = gpart[:, k:2 * k]
    g[k:, :k] = gpart[:, k:2 * k].T
    g[k:, k:] = gpart[:, 2 * k:]
    c = (bu.T @ qw).T.reshape(-1)  # [B'qy, B'qx]
    if not blocks:
        return g, c, None, None, None
    # block sums (rows grouped by `block` consecutive rows of the level)
    bid = use // max(int(block), 1)
    _, start = np.unique(bid, return_index=True)
    agg = np.add.reduceat(np.concatenate([hw, qw, stack], axis=1), start, axis=0)
    hb, qb = agg[:, :3], agg[:, 3:5]
    sb = agg[:, 5:]
    mb = np.empty((len(start), 2, 2 * k))
    mb[:, 0, :k] = sb[:, :k]
    mb[:, 0, k:] = sb[:, k:2 * k]
    mb[:, 1, :k] = sb[:, k:2 * k]
    mb[:, 1, k:] = sb[:, 2 * k:]
    eps = 1e-6 * max(float(np.median(hb[:, 0] + hb[:, 1])), 1e-300)
    dt = (hb[:, 0] + eps) * (hb[:, 1] + eps) - hb[:, 2] ** 2
    inv_b = np.empty((len(start), 2, 2))
    inv_b[:, 0, 0] = (hb[:, 1] + eps) / dt
    inv_b[:, 1, 1] = (hb[:, 0] + eps) / dt
    inv_b[:, 0, 1] = inv_b[:, 1, 0] = -hb[:, 2] / dt
    return g, c, qb, mb, inv_b


def solve(basis: np.ndarray, s: RowSums, w: np.ndarray, theta0: np.ndarray,
          pen: np.ndarray, lams: np.ndarray | None, gamma: float = 1.0,
          block: int = 8, lam: float | None = None, scatter: bool = True) -> Solution:
    """Penalized Gauss-Newton step, the smoothing parameter chosen by cross-validation.

    Parameters
    ----------
    basis : ndarray, shape (n, k)
        Basis at the rows of ``s``.
    s : RowSums
    w : ndarray, shape (n,)
        Row weights in [0, 1].
    theta0 : ndarray, shape (k, 2)
        Coefficients the sums were taken at.
    pen : ndarray, shape (k, k)
        Penalty of one axis.
    lams : ndarray
        Candidate smoothing parameters relative to the data term (``trace G / trace P``).
    gamma : float
        Weight of the degrees of freedom in the cross-validation score.
    block : int
        Rows per block whose scatter about the curve scores the smoothing parameter.
    lam : float, optional
        Use this smoothing parameter (relative, as ``lams``) instead of choosing one.
    scatter : bool
        With ``lam`` given: also measure the blocks' scatter (``sigma2``; NaN without).

    Returns
    -------
    Solution

    Notes
    -----
    Blocks of ``block`` consecutive rows: each block's own optimum
    ``delta*_b = -H_b^-1 q_b`` (``H_b``, ``q_b``: sums over its rows) measures the
    information-weighted mean of the curve's increment over the block, ``M_b d`` with
    ``M_b = sum_r H_r B_r``; the spline's misfit to them,
    ``RSS(lam) = sum_b (q_b + M_b d)' H_b^-1 (q_b + M_b d)`` with ``d = theta - theta0``, is
    scored by generalized cross-validation, ``n RSS / (n - gamma tr)^2`` over the blocks
    (Craven & Wahba, Numer. Math. 31 (1979) 377): their scatter about the curve holds what
    pixel noise alone does not (interpolation across sharp edges, differences between the
    scans, rows that share errors). The trace comes from the Demmler-Reinsch form
    ``G = L L'``, ``L^-1 P L^-T = U diag(s) U'``.
    """
    k = basis.shape[1]
    g, c, qb, mb, inv_b = _system(basis, s, w, block, blocks=lam is None or scatter)
    t0 = np.concatenate([theta0[:, 0], theta0[:, 1]])
    rhs = g @ t0 - c
    p2 = np.zeros((2 * k, 2 * k))
    p2[:k, :k] = pen
    p2[k:, k:] = pen
    tr_g = max(float(np.trace(g)), 1e-300)
    unit = tr_g / max(float(np.trace(p2)), 1e-300)
    if lam is None:
        nrow = 2.0 * len(qb)
        gg = g.copy()
        gg[np.diag_indices_from(gg)] += 1e-9 * tr_g / (2 * k)
        li, info = lapack.dtrtri(np.linalg.cholesky(gg), lower=1)
        if info != 0:
            li = np.linalg.pinv(np.linalg.cholesky(gg))
        sv, u = np.linalg.eigh(li @ p2 @ li.T)
        sv = np.clip(sv, 0.0, None)
        t = li.T @ u  # theta = T diag(1 / (1 + lam s)) T' rhs
        z = t.T @ rhs
        ls = np.asarray(lams, np.float64) * unit
        shrink = 1.0 / (1.0 + np.outer(sv, ls))  # (2k, n_lam)
        th_all = t @ (z[:, None] * shrink)  # (2k, n_lam)
        u_all = qb[:, :, None] + np.einsum("bij,jl->bil", mb, th_all - t0[:, None])
        rss = np.einsum("bil,bij,bjl->l", u_all, inv_b, u_all)
        tr = shrink.sum(axis=0)

        def pick(gam: float) -> int:
            den = nrow - gam * tr
            score = np.where(den > 1.0, nrow * rss / np.where(den > 1.0, den, 1.0) ** 2,
                             np.inf)
            if not np.isfinite(score).any():
                # every candidate has more degrees of freedom than the blocks carry (errors
                # shared by many blocks): the smoothest curve, not the wildest
                return int(np.argmin(tr))
            return int(np.argmin(score))

        i = pick(gamma)
        if _CORR_GCV:
            # errors shared by neighbouring blocks (long streaks, smooth texture) make cross-
            # validation follow them: their lag-1 correlation inflates the weight of the
            # degrees of freedom (the variance factor (1 + rho) / (1 - rho) of an AR(1))
            dg = np.sqrt(np.maximum(np.stack([inv_b[:, 0, 0], inv_b[:, 1, 1]], 1), 0.0))
            zr = u_all[:, :, i] * dg
            if len(zr) > 4:
                num = float(np.sum(zr[1:] * zr[:-1]))
                den_ = float(np.sum(zr * zr))
                r1 = num / den_ if den_ > 0 else 0.0
                if r1 > 0.1:
                    i = pick(gamma * (1 + r1) / (1 - min(r1, 0.9)))
        lam, th, tr_i, rss_i = float(lams[i]), th_all[:, i], float(tr[i]), float(rss[i])
        cov = (t * shrink[:, i]) @ t.T
        sig2 = rss_i / max(nrow - tr_i, 1.0)
    else:
        m = g + (lam * unit) * p2
        m[np.diag_indices_from(m)] += 1e-9 * tr_g / (2 * k)
        cov = np.linalg.inv(m)
        th = cov @ rhs
        tr_i = float(np.sum(cov * g))  # trace(cov G), both symmetric
        sig2 = math.nan
        if scatter:
            uu = qb + mb @ (th - t0)
            rss_i = float(np.einsum("bi,bij,bj->", uu, inv_b, uu))
            sig2 = rss_i / max(2.0 * len(qb) - tr_i, 1.0)
    return Solution(np.column_stack([th[:k], th[k:]]), float(lam), tr_i, sig2, cov)


def row_variance(basis_rows: np.ndarray, sol: Solution, sigma2: float) -> np.ndarray:
    """Posterior variance of dy and dx at each row, shape (n, 2)."""
    k = basis_rows.shape[1]
    c = sol.cov
    vy = np.einsum("ij,ij->i", basis_rows @ c[:k, :k], basis_rows)
    vx = np.einsum("ij,ij->i", basis_rows @ c[k:, k:], basis_rows)
    return sigma2 * np.column_stack([vy, vx])


def level_rows(rows_f: int, f: int) -> np.ndarray:
    """Positions (full-resolution rows) of the rows of pyramid level f (block centres)."""
    return np.arange(rows_f) * f + (f - 1) / 2.0


def project(curve: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (k, 2) of a per-row curve (rows, 2) on a basis."""
    return np.linalg.lstsq(basis, curve, rcond=None)[0]


def match_weights(rho: np.ndarray, rho_min: float = 0.0) -> np.ndarray:
    """1 for rows that correlate; 0 for rows far below the typical correlation (a scar, a
    tip change, lines the other scan does not share), rows that hardly correlate at all (noise
    against noise) and rows not used."""
    ok = np.isfinite(rho)
    keep = ok & (rho >= rho_min)
    if np.count_nonzero(ok) >= 8:
        med = float(np.median(rho[ok]))
        keep &= rho >= 0.5 * med
    return keep.astype(np.float64)


@dataclass
class FlowChannel:
    """One channel's images for the refinement.

    Attributes
    ----------
    name : str
        ``"height"`` or ``"current"``.
    level : callable
        ``level(f) -> (ref, mov, ref_mask, mov_mask, gy)`` at pyramid level f (masks None
        when every pixel is valid; ``gy``: the reference's gradient along y).
    gamma : float
        Weight of the degrees of freedom in the cross-validation score: > 1 where the row
        optima are correlated from row to row beyond what the score assumes (a smoothed edge
        image), so the curve is smoothed more.
    finest : int
        Finest pyramid level the channel is matched at.
    gain : bool
        The contrast of each row is a nuisance parameter (it may differ from row to row
        between the scans, e.g. domain edges of the current); else one contrast for the frame.
    """

    name: str
    level: object
    gamma: float = 1.0
    finest: int = 1
    gain: bool = True


@dataclass
class FlowResult:
    """The refined curve and what the last step knew about every row.

    Attributes
    ----------
    curve : ndarray, shape (rows, 2)
        ``[dy, dx]`` per reference row, px.
    var : ndarray, shape (rows, 2)
        Posterior variance of dy and dx at every row (in the units of the row optima's
        scatter; calibrated by the caller), px^2.
    channel : ndarray of int, shape (rows,)
        Index into the channel list of the channel each row was matched on (-1: none).
    weight : ndarray, shape (rows,)
        Final weight of each row (0: not used: outside the overlap, or rejected).
    rho : ndarray, shape (rows,)
        Correlation of each reference row with the resampled moving row (NaN: not used).
    rejected : int
        Rows inside the overlap that were rejected (they do not correlate like the others).
    edf : float
        Effective degrees of freedom of the curve.
    level : int
        Pyramid level of the last step.
    """

    curve: np.ndarray
    var: np.ndarray
    channel: np.ndarray
    weight: np.ndarray
    rho: np.ndarray
    rejected: int
    edf: float
    level: int
    bias2: np.ndarray | None = None


_BIAS_SIGNIF = 2.0  # local misfit / its noise above which the misfit counts as bias
_BIAS_ENDS = 16.0  # rows (full resolution) from either end of the data tested for bias
_BIAS_BLOCKS = 2  # rows either side averaged for the local misfit


def misfit_bias(basis: np.ndarray, s: RowSums, w: np.ndarray, theta0: np.ndarray,
                sol: Solution, ends: float) -> np.ndarray:
    """Squared smoothing bias (px^2) of the curve at each row of the level, from the rows'
    own optima that it does not follow.

    Each row has its own optimum ``-R_r^-1 (q_r + H_r B_r d)`` relative to the curve (its
    misfit, px; ``R_r = H_r + eps I``, ``eps`` a twentieth of the typical row information,
    so that a direction a row hardly constrains, e.g. along its only edge, neither counts
    as misfit nor as noise) with noise covariance ``sigma^2 R_r^-1 H_r R_r^-1``. Where the
    mean squared
    misfit over +/- ``_BIAS_BLOCKS`` rows exceeds its noise more than ``_BIAS_SIGNIF``
    times, the excess is the squared bias of the curve there (a curve too stiff to follow
    creep that is steepest where the moving scan starts, e.g. logarithmic creep after the
    slow axis steps back): the posterior variance does not hold it. Only rows within
    ``ends`` rows (of this level) of the first and last used row are tested, where the
    penalty relaxes and creep is steepest; inside, a single row's optimum is too noisy a
    test (the current's edges: rows' gradients of opposite sign that cancel over blocks).
    0 elsewhere.

    Returns
    -------
    ndarray, shape (n,)
        Per row of the level (rows without data take the nearest used row's value).
    """
    n = len(w)
    out = np.zeros(n)
    use = np.flatnonzero(w > 0)
    if not np.isfinite(sol.sigma2) or sol.sigma2 <= 0 or len(use) < 3:
        return out
    d = sol.theta - theta0  # (k, 2)
    step = basis[use] @ d  # the curve's change at each row, (m, 2)
    hw = s.h[use] * w[use, None]
    hyy, hxx, hxy = hw[:, 0], hw[:, 1], hw[:, 2]
    u = s.q[use] * w[use, None] + np.column_stack([hyy * step[:, 0] + hxy * step[:, 1],
                                                    hxy * step[:, 0] + hxx * step[:, 1]])
    eps = 0.05 * max(float(np.median(0.5 * (hyy + hxx))), 1e-300)
    ryy, rxx = hyy + eps, hxx + eps
    det = ryy * rxx - hxy * hxy
    iyy, ixx, ixy = rxx / det, ryy / det, -hxy / det
    delta = -np.column_stack([iyy * u[:, 0] + ixy * u[:, 1], ixy * u[:, 0] + ixx * u[:, 1]])
    d2 = np.einsum("bi,bi->b", delta, delta)
    # trace of R^-1 H R^-1 (R = H + eps I)
    a11 = iyy * hyy + ixy * hxy
    a12 = iyy * hxy + ixy * hxx
    a21 = ixy * hyy + ixx * hxy
    a22 = ixy * hxy + ixx * hxx
    n2 = sol.sigma2 * ((a11 * iyy + a12 * ixy) + (a21 * ixy + a22 * ixx))
    kern = np.ones(2 * _BIAS_BLOCKS + 1)
    ones = np.ones_like(d2)
    md2 = np.convolve(d2, kern, mode="same") / np.convolve(ones, kern, mode="same")
    mn2 = np.convolve(n2, kern, mode="same") / np.convolve(ones, kern, mode="same")
    b2 = np.where(md2 > _BIAS_SIGNIF * mn2, np.maximum(md2 - mn2, 0.0), 0.0)
    b2[(use > use[0] + ends) & (use < use[-1] - ends)] = 0.0
    idx = np.clip(np.searchsorted(use, np.arange(n)), 0, len(use) - 1)
    prev = np.clip(idx - 1, 0, len(use) - 1)
    near = np.where(np.abs(use[prev] - np.arange(n)) < np.abs(use[idx] - np.arange(n)),
                    prev, idx)
    return b2[near]


def _typical_sigma(full: np.ndarray, sol: Solution, w: np.ndarray) -> float:
    """Median posterior standard deviation (px, both axes) over the rows with data."""
    var = row_variance(full, sol, sol.sigma2).sum(axis=1)
    n = len(w)
    f = max(1, full.shape[0] // max(n, 1))
    rows = np.flatnonzero(np.repeat(w > 0, f)[:full.shape[0]])
    return float(np.sqrt(np.median(var[rows]))) if len(rows) else math.inf


def _running_mean(v: np.ndarray, half: int) -> np.ndarray:
    """Mean of the finite values within +/- half rows (NaN where none)."""
    ok = np.isfinite(v)
    k = np.ones(2 * half + 1)
    num = np.convolve(np.where(ok, v, 0.0), k, mode="same")
    den = np.convolve(ok.astype(np.float64), k, mode="same")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _choose_rows(sums: list[RowSums | None], quality: float, half: int) -> np.ndarray:
    """Channel of every row: the first (height) where its rows correlate (running mean of the
    row correlation >= quality), else the next one; never an average of the two."""
    n = next(len(s.rho) for s in sums if s is not None)
    if sum(s is not None for s in sums) == 1:
        i = next(i for i, s in enumerate(sums) if s is not None)
        return np.where(np.isfinite(sums[i].rho), i, -1)
    choice = np.full(n, -1)
    for i, s in enumerate(sums):
        if s is None:
            continue
        free = choice < 0
        if i == len(sums) - 1:
            choice[free & np.isfinite(s.rho)] = i
        else:
            good = _running_mean(s.rho, half) >= quality
            choice[free & good & np.isfinite(s.rho)] = i
    return choice


def _combine(sums: list[RowSums | None], choice: np.ndarray) -> tuple[RowSums, np.ndarray]:
    """Row sums taken from each row's channel, and each row's weight (rows that correlate far
    below the other rows of their channel get 0)."""
    first = next(s for s in sums if s is not None)
    if sum(s is not None for s in sums) == 1:
        return first, first.used.astype(np.float64)
    n = len(first.rho)
    out = RowSums(first.pos, np.zeros((n, 3)), np.zeros((n, 2)), np.zeros(n), np.zeros(n),
                  np.full(n, np.nan), np.zeros(n), np.zeros(n, bool))
    w = np.zeros(n)
    for i, s in enumerate(sums):
        if s is None:
            continue
        sel = choice == i
        if not sel.any():
            continue
        out.h[sel], out.q[sel], out.e2[sel] = s.h[sel], s.q[sel], s.e2[sel]
        out.npx[sel], out.rho[sel], out.a2[sel] = s.npx[sel], s.rho[sel], s.a2[sel]
        w[sel] = s.used[sel]
    return out, w


def refine(
    channels: list[FlowChannel],
    curve0: np.ndarray,
    schedule: list[tuple[int, int]],
    spacing: float,
    edge_scale: float,
    *,
    constant: bool = False,
    quality: float = 0.3,
    fallback_share: float = 0.0,
    kappa: float = 0.1,
    lambdas: np.ndarray | None = None,
    trace: list | None = None,
) -> FlowResult | None:
    """Coarse-to-fine penalized Gauss-Newton refinement of a displacement curve.

    Parameters
    ----------
    channels : list of FlowChannel
        In order of preference (height first); a row uses the first channel whose rows
        correlate there (``quality``), never an average.
    curve0 : ndarray, shape (rows, 2)
        Starting curve (full-resolution px), within about a pixel of the coarsest level.
    schedule : list of (int, int)
        ``(pyramid factor, iterations)``, coarse to fine.
    spacing : float
        Knot spacing of the spline, rows.
    edge_scale : float
        Rows over which the penalty relaxes towards either end of the data.
    constant : bool
        One constant displacement (no creep, no drift).
    quality : float
        Running-mean row correlation below which the preferred channel is featureless there.
    fallback_share : float
        The other channels are matched only when more than this share of the rows is
        featureless in the preferred one (they may be costly to prepare).
    kappa : float
        Penalty weight at the ends, relative to the inside.
    lambdas : ndarray, optional
        Candidate smoothing parameters (relative to the data term).

    Returns
    -------
    FlowResult or None
        None when no step could be taken (no overlap, too few rows).
    """
    rows = curve0.shape[0]
    lams = np.logspace(-6, 3, 10) if lambdas is None else np.asarray(lambdas)

    def basis_at(x: np.ndarray) -> np.ndarray:
        return np.ones((len(x), 1)) if constant else bspline_basis(x, rows, spacing)

    curve = np.asarray(curve0, np.float64)
    full_f = basis_at(np.arange(rows, dtype=np.float64))
    k = full_f.shape[1]
    if np.all(curve == curve[:1]):  # a constant (B-spline bases sum to 1)
        theta = np.tile(curve[:1], (k, 1))
    else:
        theta = project(curve, full_f)
    last = None
    best_level = None
    lam_level = None
    fallback = len(channels) > 1 and fallback_share <= 0.0
    for f, iters in schedule:
        imgs = [c.level(f) if f >= c.finest and (i == 0 or fallback) else None
                for i, c in enumerate(channels)]
        if all(i is None for i in imgs):
            continue
        rows_f = next(i[0].shape[0] for i in imgs if i is not None)
        pos = level_rows(rows_f, f)
        bf = basis_at(pos)
        half = max(1, int(round(8 / f)))
        # the smoothing parameter is chosen at the first step of each level and kept there
        lam_level = None
        for it in range(iters):
            cf = bf @ theta / f
            # rows are judged against the others only at the finest level: before, a row may
            # correlate poorly because the curve is still far from it there
            finest = f == schedule[-1][0]
            rmin = _RHO_MIN
            sums = [None if im is None else row_sums(im[0], im[1], cf, f, im[4], im[2], im[3],
                                                     gain=c.gain, rho_min=rmin,
                                                     reject=finest)
                    for im, c in zip(imgs, channels, strict=True)]
            if all(s is None for s in sums):
                break
            if not fallback and len(channels) > 1 and sums[0] is not None:
                rho = sums[0].rho
                has = np.isfinite(rho)
                weak = has & ~(_running_mean(rho, half) >= quality)
                if np.count_nonzero(weak) > fallback_share * max(np.count_nonzero(has), 1):
                    fallback = True
                    imgs = [c.level(f) if f >= c.finest else None for c in channels]
                    sums = sums[:1] + [None if im is None else row_sums(
                        im[0], im[1], cf, f, im[4], im[2], im[3], gain=c.gain, rho_min=rmin,
                        reject=finest)
                        for im, c in zip(imgs[1:], channels[1:], strict=True)]
            choice = _choose_rows(sums, quality, half)
            s, w = _combine(sums, choice)
            used = w > 0
            n_data = np.count_nonzero(s.npx > 0) if np.any(s.npx > 0) else len(w)
            if (np.count_nonzero(used) < max(4, 2 * k // 4 if not constant else 4)
                    or np.count_nonzero(used) < _MIN_ROW_SHARE * n_data):
                # too few rows correlate at this level: nothing to refine on (the coarser
                # level's result stands; none at the first level)
                if last is None:
                    return None
                break
            span = (float(pos[used].min()), float(pos[used].max()))
            pen = np.zeros((1, 1)) if constant else penalty(k, rows, span, edge_scale, kappa)
            gamma = max(c.gamma for i, c in enumerate(channels) if np.any(choice[used] == i))
            sol = solve(bf, s, w, theta, pen, lams, gamma=gamma, block=max(2, _BLOCK_ROWS // f),
                        lam=lam_level, scatter=it == iters - 1 or f == schedule[-1][0])
            lam_level = sol.lam
            # change of the curve over the rows with data
            step = float(np.max(np.abs(bf[used] @ (sol.theta - theta))))
            if step > _MAX_STEP * f:
                # a Gauss-Newton step beyond the linear range of the image (a pixel or two at
                # this level) is not trusted as it is: shorten it (a trust region)
                sol.theta = theta + (sol.theta - theta) * (_MAX_STEP * f / step)
                step = _MAX_STEP * f
            theta0_step = theta
            theta = sol.theta
            last = (f, sol, s, w, choice, full_f, bf, theta0_step)
            if trace is not None:
                trace.append((f"gn{f}", full_f @ theta, choice.copy(), w.copy()))
            if f == 1 and step < 0.002:
                break
        if last is not None and last[0] == f:
            curve = full_f @ theta
            if f <= 2 * schedule[-1][0]:
                # a finer level whose curve is less certain than the coarser one's (noise
                # that dominates the fine gradients) is not used: keep the coarser result
                sd = _typical_sigma(full_f, last[1], last[3])
                if best_level is not None and sd > best_level[1]:
                    curve, last = best_level[0], best_level[2]
                    break
                best_level = (curve.copy(), sd, last)
    if last is None:
        return None
    f, sol, s, w, choice, full, bf, theta0_step = last
    var = row_variance(full, sol, sol.sigma2)
    # per full-resolution row: the level's row that contains it
    idx = np.minimum(np.arange(rows) // f, len(w) - 1)
    inside = (s.npx > 0)[idx]
    bias2 = np.zeros(rows) if constant else misfit_bias(
        bf, s, w, theta0_step, sol, _BIAS_ENDS / f)[idx]
    return FlowResult(curve, var, np.where(inside, choice[idx], -1), w[idx], s.rho[idx],
                      int(np.count_nonzero((s.npx > 0) & (w <= 0))) * f, float(sol.edf), f,
                      bias2)
