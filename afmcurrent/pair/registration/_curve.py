"""Smooth displacement curve d(r) through row-band estimates: a robust penalized spline.

The displacement of the moving scan is modelled as a cubic B-spline in the reference row with
uniformly spaced knots and a second-order difference penalty on its coefficients (a P-spline:
Eilers & Marx, "Flexible smoothing with B-splines and penalties", Statist. Sci. 11 (1996) 89).
A band of rows measures the *mean* of the curve over its rows, so each band's row of the design
matrix is the average of the basis over the band (no assumption that the curve is straight
within a band). The smoothing parameter is chosen by generalized cross-validation (Craven &
Wahba, Numer. Math. 31 (1979) 377); outlying bands are down-weighted by Tukey's biweight
(iteratively reweighted least squares) and reported as rejected when their weight drops to 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_TUKEY_C = 4.685  # biweight tuning constant (95 % efficiency at the normal distribution)


@lru_cache(maxsize=16)
def row_basis(rows: int, spacing: float) -> np.ndarray:
    """Uniform cubic B-spline basis evaluated at every row.

    Parameters
    ----------
    rows : int
    spacing : float
        Knot spacing in rows.

    Returns
    -------
    ndarray, shape (rows, k)
        ``k = segments + 3`` basis functions; each row sums to 1.
    """
    seg = max(1, int(math.ceil((rows - 1) / spacing)))
    h = (rows - 1) / seg if rows > 1 else 1.0
    t = np.arange(rows, dtype=np.float64) / h
    i = np.minimum(np.floor(t).astype(int), seg - 1)
    u = t - i
    b = np.zeros((rows, seg + 3))
    w = np.stack([(1 - u) ** 3 / 6, (3 * u**3 - 6 * u**2 + 4) / 6,
                  (-3 * u**3 + 3 * u**2 + 3 * u + 1) / 6, u**3 / 6], axis=1)
    for k in range(4):
        b[np.arange(rows), i + k] = w[:, k]
    b.setflags(write=False)
    return b


def band_design(basis: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Mean of the basis over each band ``[r0, r1)``: shape (n_bands, k)."""
    cs = np.vstack([np.zeros((1, basis.shape[1])), np.cumsum(basis, axis=0)])
    r0, r1 = bands[:, 0].astype(int), bands[:, 1].astype(int)
    return (cs[r1] - cs[r0]) / np.maximum(r1 - r0, 1)[:, None]


@dataclass
class CurveFit:
    """A fitted displacement curve.

    Attributes
    ----------
    curve : ndarray, shape (rows, 2)
        ``[dy(r), dx(r)]`` in px.
    sigma_rows : ndarray, shape (rows,)
        1-sigma error of the curve at each row (px, Euclidean over both axes).
    weights : ndarray, shape (n_bands,)
        Final robust weight of each band in [0, 1] (0 = rejected as an outlier).
    residuals : ndarray, shape (n_bands, 2)
        Band value minus the curve's band mean, px.
    scale : float
        Robust scatter of the inlier bands about the curve (px, per axis).
    edf : float
        Effective degrees of freedom of the smoother.
    """

    curve: np.ndarray
    sigma_rows: np.ndarray
    weights: np.ndarray
    residuals: np.ndarray
    scale: float
    edf: float


def _penalty(k: int, order: int = 2, weights: np.ndarray | None = None) -> np.ndarray:
    d = np.diff(np.eye(k), n=order, axis=0)
    if weights is None:
        return d.T @ d
    return d.T @ (d * weights[:, None])


def _edge_weights(k: int, rows: int, span: tuple[float, float], scale: float,
                  kappa: float) -> np.ndarray:
    """Penalty weight of each second difference: 1 inside, down to ``kappa`` at the ends.

    The difference of coefficients j-1, j, j+1 sits at knot position j - 1 (uniform knots
    over the rows); within ``scale`` rows of either end of ``span`` (the rows the data
    cover) its weight falls towards ``kappa``, so the curve may bend where creep settles.
    """
    seg = k - 3
    h = (rows - 1) / seg if seg > 0 else 1.0
    x = (np.arange(k - 2) + 0.0) * h  # knot position of difference j (centre coefficient)
    e = np.exp(-np.clip(x - span[0], 0, None) / scale) + np.exp(
        -np.clip(span[1] - x, 0, None) / scale)
    return np.clip(1.0 - (1.0 - kappa) * e, kappa, 1.0)


class _Smoother:
    """Penalized least squares of both components with every smoothing parameter at once.

    ``M(lam) = G + lam P`` with ``G = A' W A (+ ridge)``; with the Cholesky factor
    ``G = L L'`` and the eigen-decomposition ``L^-1 P L^-T = U diag(s) U'``,
    ``M^-1 = L^-T U diag(1 / (1 + lam s)) U' L^-1`` (Demmler-Reinsch), so each lambda costs
    a few matrix-vector products.
    """

    def __init__(self, a: np.ndarray, w: np.ndarray, y: np.ndarray, pen: np.ndarray,
                 eye: float) -> None:
        aw = a * w[:, None]
        g = aw.T @ a
        g[np.diag_indices_from(g)] += eye + 1e-7 * max(float(np.trace(g)), 1e-300) / len(g)
        lo = np.linalg.cholesky(g)
        li = np.linalg.inv(lo)
        s, u = np.linalg.eigh(li @ pen @ li.T)
        self.t = li.T @ u  # theta = T diag(1/(1 + lam s)) T' A' W y
        self.s = np.clip(s, 0.0, None)
        self.z = self.t.T @ (aw.T @ y)  # (k, 2)
        self.at = a @ self.t  # (n, k)
        self.a, self.w, self.y = a, w, y

    def theta(self, lam: float) -> np.ndarray:
        return self.t @ (self.z / (1.0 + lam * self.s)[:, None])

    def trace(self, lam: float) -> float:
        """Trace of the hat matrix of one component."""
        return float(np.sum(1.0 / (1.0 + lam * self.s)))

    def rss(self, lam: float) -> float:
        r = self.y - self.at @ (self.z / (1.0 + lam * self.s)[:, None])
        return float(np.sum(self.w[:, None] * r * r))

    def row_var(self, basis: np.ndarray, lam: float, sigma2: float) -> np.ndarray:
        """Variance of one component of the fitted curve at every row (data var sigma2/w)."""
        bt = basis @ self.t
        return sigma2 * np.einsum("ij,j->i", bt * bt, 1.0 / (1.0 + lam * self.s) ** 2)


def _failed(rows: int, w: np.ndarray, y: np.ndarray) -> CurveFit:
    return CurveFit(np.full((rows, 2), np.nan), np.full(rows, np.inf), w,
                    np.full_like(y, np.nan), float("inf"), 0.0)


def fit_curve(
    bands: np.ndarray,
    values: np.ndarray,
    prior_weights: np.ndarray,
    rows: int,
    spacing: float,
    *,
    scale_floor: float = 0.05,
    start: np.ndarray | None = None,
    lambdas: np.ndarray | None = None,
    iterations: int = 3,
    gamma: float = 1.4,
    ridge: float = 0.0,
    row_info: np.ndarray | None = None,
    edge_scale: float | None = None,
) -> CurveFit:
    """Robust penalized-spline fit of band displacements.

    Parameters
    ----------
    bands : ndarray of int, shape (n, 2)
        Row range ``[r0, r1)`` of each band in the reference frame.
    values : ndarray, shape (n, 2)
        Band displacement ``[dy, dx]`` in px.
    prior_weights : ndarray, shape (n,)
        Relative precision of each band (>= 0; 0 = not used).
    rows : int
        Rows of the reference frame.
    spacing : float
        Knot spacing in rows.
    scale_floor : float, optional
        Smallest robust scatter (px) used to judge outliers.
    start : ndarray, shape (n, 2), optional
        A robust first guess of each band's expected value (e.g. a running median); outliers
        are first judged against it.
    lambdas : ndarray, optional
        Candidate smoothing parameters, relative to the data term (default: a log grid).
    iterations : int, optional
        IRLS iterations.
    gamma : float, optional
        Weight of the effective degrees of freedom in the GCV score (``n RSS / (n - gamma
        tr H)^2``, Kim & Gu, J. R. Statist. Soc. B 66 (2004) 337): > 1 counters the
        undersmoothing that overlapping (correlated) bands would otherwise cause.
    ridge : float, optional
        A small penalty on the coefficients themselves (relative to the data term): where no
        band constrains the curve it tends to zero instead of continuing a slope. Used for
        increments of an iterated estimate.
    row_info : ndarray, shape (rows, 2), optional
        Information of every reference row for dy and dx (e.g. the sum of the squared
        gradient along that axis). A band measures the information-weighted mean of the
        curve over its rows (the first-order behaviour of a correlation peak when the
        displacement varies within the band); default: the plain mean.
    edge_scale : float, optional
        Rows over which the curve may bend more near either end of the data (creep settles
        after the slow axis starts): the penalty weight falls towards the ends over this many
        rows by a factor chosen with lambda by GCV among 1, 0.1 and 0.01. Default: uniform.

    Returns
    -------
    CurveFit
    """
    bands = np.asarray(bands)
    y = np.asarray(values, dtype=np.float64)
    w0 = np.asarray(prior_weights, dtype=np.float64).copy()
    w0[~np.all(np.isfinite(y), axis=1)] = 0.0
    y = np.where(np.isfinite(y), y, 0.0)
    if w0.max(initial=0.0) > 0:
        w0 = w0 / w0[w0 > 0].mean()
    basis = row_basis(rows, spacing)
    if row_info is None:
        design = band_design(basis, bands)
    else:
        info = np.asarray(row_info, dtype=np.float64).reshape(rows, -1).mean(axis=1)[:, None]
        design = band_design(basis * info, bands) / np.maximum(band_design(info, bands),
                                                                1e-300)
    k = basis.shape[1]
    pen = _penalty(k)
    if edge_scale is not None and edge_scale > 0:
        used = np.asarray(prior_weights) > 0
        if used.any():
            span = (float(bands[used, 0].min()), float(bands[used, 1].max()))
            pen = _penalty(k, weights=_edge_weights(k, rows, span, edge_scale, 0.1))
    if lambdas is None:
        lambdas = np.logspace(-3, 5, 9)
    a0 = design
    unit = max(float(np.trace((a0 * np.maximum(w0, 1e-12)[:, None]).T @ a0)), 1e-12) / max(
        float(np.trace(pen)), 1e-12)
    lams = np.asarray(lambdas) * unit
    eye = ridge * unit * float(np.trace(pen)) / basis.shape[1]

    def robust(res: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
        r = np.hypot(res[:, 0], res[:, 1])
        use = w > 0
        s = 1.4826 * float(np.median(r[use])) / 1.1774 if use.any() else scale_floor
        s = max(s, scale_floor)  # 1.1774: median of a 2-D Rayleigh radius in sigma units
        u = r / (_TUKEY_C * s)
        return np.where(u < 1, (1 - u**2) ** 2, 0.0), s

    def fit(w: np.ndarray, grid) -> tuple[_Smoother, float]:
        n = 2.0 * np.count_nonzero(w > 0)
        best, out = math.inf, None
        sm = _Smoother(design, w, y, pen, eye)
        for lam in grid:
            den = n - gamma * 2.0 * sm.trace(lam)
            g = n * sm.rss(lam) / den**2 if den > 1.0 else math.inf
            if g < best or out is None:
                best, out = g, (sm, lam)
        return out

    def predict(sm: _Smoother, lam: float) -> np.ndarray:
        return design @ sm.theta(lam)

    rw = np.ones(len(y))
    if start is not None:
        rw, _ = robust(y - start, w0)
    # IRLS: the smoothing parameter by GCV with the first weights, kept while the robust
    # weights settle, chosen again for the final weights
    w = w0 * rw
    if np.count_nonzero(w > 0) < 3:
        return _failed(rows, w, y)
    sm, lam = fit(w, lams)
    for _ in range(iterations):
        new_rw, _ = robust(y - predict(sm, lam), w0)
        if np.allclose(new_rw, rw, atol=1e-3):
            break
        rw = new_rw
        w = w0 * rw
        if np.count_nonzero(w > 0) < 3:
            return _failed(rows, w, y)
        sm, lam = fit(w, [lam])
    else:
        sm, lam = fit(w, lams)
    res = y - predict(sm, lam)
    n = float(np.count_nonzero(w > 0))
    tr = 2.0 * sm.trace(lam)
    # var(e_b) = sigma2 / w_b, sigma2 from the weighted residuals of both axes
    sigma2 = float(np.sum(w[:, None] * res**2)) / max(2.0 * n - tr, 1.0)
    var_rows = 2.0 * sm.row_var(basis, lam, sigma2)  # Euclidean over dy and dx
    curve = basis @ sm.theta(lam)
    _, scale = robust(res, w0 * (rw > 0))
    return CurveFit(curve, np.sqrt(np.maximum(var_rows, 0.0)), rw * (w0 > 0), res,
                    float(scale), 0.5 * tr)
