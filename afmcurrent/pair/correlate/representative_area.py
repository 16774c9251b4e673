"""Whether the area fractions of a scan are representative of the sample.

Area fractions in centred windows growing to the whole frame and in random sub-windows; a class
has converged when every centred window covering at least half the frame and the spread
(standard deviation) of random half-area windows stay within ``max(rel_tol * f, abs_tol)`` of
its whole-frame fraction ``f``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...core.arrays import summed_area_table
from ...core.classes import CLASS_NAMES
from ...core.errors import ConfigError

__all__ = ["fraction_convergence"]


def _window_sums(integral: np.ndarray, r0: np.ndarray, r1: np.ndarray, c0: np.ndarray,
                 c1: np.ndarray) -> np.ndarray:
    return integral[..., r1, c1] - integral[..., r0, c1] - integral[..., r1, c0] + integral[
        ..., r0, c0]


def fraction_convergence(
    class_map: np.ndarray,
    *,
    steps: int = 10,
    random_windows: int = 64,
    rel_tol: float = 0.05,
    abs_tol: float = 0.005,
    seed: int = 0,
) -> dict[str, Any]:
    """Area fractions against the analysed window, and whether they have converged.

    Parameters
    ----------
    class_map : ndarray of uint8, shape (rows, cols)
    steps : int, optional
        Centred windows with sides ``k / steps`` of the frame, ``k = 1..steps``.
    random_windows : int, optional
        Random windows (seeded, reproducible) per area share 1/16, 1/4 and 1/2.
    rel_tol, abs_tol : float, optional
        Tolerance ``max(rel_tol * f, abs_tol)`` around the whole-frame fraction ``f`` (the issue's
        +/-5 %, with a floor of half a percentage point for rare classes).
    seed : int, optional

    Returns
    -------
    dict
        ``converged`` (bool, every class), ``by_class`` (bool per class name), ``tolerance``,
        ``growing``: ``{"side_share": [...], "<class>": [fractions]}``, ``random``:
        ``{"area_share": [...], "<class>": [standard deviations]}``.

    Raises
    ------
    ConfigError
        If ``steps < 2`` or the tolerances are negative.
    """
    if steps < 2 or rel_tol < 0 or abs_tol < 0:
        raise ConfigError("fraction_convergence: steps >= 2 and non-negative tolerances needed")
    cm = np.asarray(class_map)
    rows, cols = cm.shape
    codes = list(CLASS_NAMES)
    integral = summed_area_table(np.stack([cm > 0] + [cm == c for c in codes]),
                                 np.int32 if cm.size < 2**31 else np.int64)

    def fractions(r0, r1, c0, c1):  # noqa: ANN001, ANN202
        s = _window_sums(integral, r0, r1, c0, c1).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s[1:] / s[0]  # shape (4, windows)

    share = np.arange(1, steps + 1) / steps
    hr = np.maximum(1, np.round(share * rows).astype(int))
    hc = np.maximum(1, np.round(share * cols).astype(int))
    r0 = (rows - hr) // 2
    c0 = (cols - hc) // 2
    grow = fractions(r0, r0 + hr, c0, c0 + hc)
    full = grow[:, -1]
    tol = np.maximum(rel_tol * np.nan_to_num(full), abs_tol)

    rng = np.random.default_rng(seed)
    area_shares = (1 / 16, 1 / 4, 1 / 2)
    spreads = []
    for a in area_shares:
        wr = max(1, int(round(rows * math.sqrt(a))))
        wc = max(1, int(round(cols * math.sqrt(a))))
        rr = rng.integers(0, rows - wr + 1, random_windows)
        cc = rng.integers(0, cols - wc + 1, random_windows)
        f = fractions(rr, rr + wr, cc, cc + wc)
        spreads.append(np.nanstd(f, axis=1) if np.isfinite(f).any() else np.full(4, np.nan))
    spreads_arr = np.array(spreads)  # (shares, classes)

    big = share**2 >= 0.5
    by_class: dict[str, bool] = {}
    for k, code in enumerate(codes):
        if not np.isfinite(full[k]):
            by_class[CLASS_NAMES[code]] = False
            continue
        dev = np.abs(grow[k, big] - full[k])
        ok_grow = bool(np.all(np.nan_to_num(dev, nan=np.inf) <= tol[k]))
        ok_rand = bool(np.nan_to_num(spreads_arr[-1, k], nan=np.inf) <= tol[k])
        by_class[CLASS_NAMES[code]] = ok_grow and ok_rand
    return {
        "converged": bool(all(by_class.values())),
        "by_class": by_class,
        "tolerance": {"rel": rel_tol, "abs": abs_tol},
        "growing": {"side_share": share.tolist(),
                    **{CLASS_NAMES[c]: grow[k].tolist() for k, c in enumerate(codes)}},
        "random": {"area_share": list(area_shares), "windows": random_windows,
                   **{CLASS_NAMES[c]: spreads_arr[:, k].tolist() for k, c in enumerate(codes)}},
    }
