"""Rank correlation of maps: Spearman's rho over a regular sub-grid of pixels.

Spearman's rho is the Pearson correlation of the average ranks (Spearman, Am. J. Psychol. 15
(1904) 72), computed over at most ``max_samples`` pixels on a regular sub-grid
(:func:`subgrid`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["subgrid", "average_ranks", "spearman", "rank_correlations"]


def subgrid(shape: tuple[int, int], max_samples: int) -> tuple[slice, slice]:
    step = max(1, int(math.ceil(math.sqrt(shape[0] * shape[1] / max_samples))))
    return (slice(step // 2, None, step), slice(step // 2, None, step))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D sample, ties given their average rank.

    The same ranks as ``scipy.stats.rankdata(x, method="average")``, from one unstable
    ``np.argsort`` (tied values are adjacent after any sort and their average rank does not
    depend on their order), ~4 times faster on 16k values than the stable sort rankdata uses.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Finite values.

    Returns
    -------
    ndarray of float, shape (n,)
    """
    x = np.asarray(x).ravel()
    n = x.size
    order = np.argsort(x)
    xs = x[order]
    first = np.empty(n, bool)
    first[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    ranks = np.empty(n)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D samples (finite pairs only).

    Parameters
    ----------
    a, b : ndarray of float, shape (n,)

    Returns
    -------
    float
        rho in [-1, 1]; NaN with fewer than 10 finite pairs or a constant sample.
    """
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10:
        return float("nan")
    ra, rb = average_ranks(a[ok]), average_ranks(b[ok])
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return float("nan")
    return float(np.mean((ra - ra.mean()) * (rb - rb.mean())) / (sa * sb))


def rank_correlations(
    log_current: np.ndarray,
    height: np.ndarray,
    slope: np.ndarray,
    curvature: np.ndarray,
    valid: np.ndarray | None = None,
    max_samples: int = 16384,
) -> dict[str, float]:
    """Spearman rho of a log-current map with height, slope and curvature.

    Parameters
    ----------
    log_current : ndarray of float, shape (rows, cols)
        log10 of a current map (A); NaN where undefined.
    height, slope : ndarray of float, shape (rows, cols)
    curvature : ndarray of float, shape (rows, cols)
        Or its values on the sub-grid only (:func:`curvature_map` with the same sub-grid).
    valid : ndarray of bool, shape (rows, cols), optional
    max_samples : int, optional
        Size of the regular sub-grid the ranks are computed on.

    Returns
    -------
    dict
        ``{"height": rho, "slope": rho, "curvature": rho}``.

    Raises
    ------
    ValueError
        If ``curvature`` has neither the map's shape nor the sub-grid's.
    """
    g = subgrid(log_current.shape, max_samples)
    lc = np.array(log_current[g], np.float64)
    if valid is not None:
        lc[~valid[g]] = np.nan
    if curvature.shape != log_current.shape:
        if curvature.shape != lc.shape:
            raise ValueError(f"curvature of shape {curvature.shape}: expected the map's "
                             f"{log_current.shape} or its sub-grid's {lc.shape}")
    else:
        curvature = curvature[g]
    return {
        "height": spearman(lc, height[g]),
        "slope": spearman(lc, slope[g]),
        "curvature": spearman(lc, curvature),
    }
