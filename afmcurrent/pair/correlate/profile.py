"""Line profiles: maps sampled along a straight line, and the profile of an analysed pair."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ...core.errors import ConfigError
from ...io.csv_table import write_csv
from ..transport import bound_code

__all__ = ["Profile", "default_profile_line", "line_profile", "pair_profile"]


@dataclass
class Profile:
    """Values of maps sampled along a straight line.

    Attributes
    ----------
    line : tuple of float
        ``(x0, y0, x1, y1)`` in m from the top-left corner of the frame, y downwards.
    distance, x, y : ndarray of float, shape (n,)
        Position along the line and in the frame, m.
    values : dict of str to ndarray, shape (n,)
        Sampled maps (SI units, see :attr:`units`).
    units : dict of str to str
    """

    line: tuple[float, float, float, float]
    distance: np.ndarray
    x: np.ndarray
    y: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def to_csv(self, path: Any) -> None:
        """Write ``distance_um, x_um, y_um`` and one column per map (currents in pA, height in
        nm, others as they are; empty cells where undefined)."""
        scale = {"A": (1e12, "pA"), "m": (1e9, "nm")}
        cols = [("distance_um", self.distance * 1e6), ("x_um", self.x * 1e6),
                ("y_um", self.y * 1e6)]
        for name, v in self.values.items():
            f, unit = scale.get(self.units.get(name, ""), (1.0, ""))
            cols.append((f"{name}_{unit}" if unit else name, v * f))
        values = [np.asarray(c[1], np.float64).tolist() for c in cols]
        write_csv(path, [c[0] for c in cols], zip(*values, strict=True))


def default_profile_line(shape: tuple[int, int],
                         pixel_size: tuple[float, float]) -> tuple[float, float, float, float]:
    """Horizontal line through the middle row, edge to edge (pixel centres), m."""
    rows, cols = shape
    dy, dx = pixel_size
    y = (rows // 2 + 0.5) * dy
    return (0.5 * dx, y, (cols - 0.5) * dx, y)


def line_profile(
    maps: dict[str, np.ndarray],
    pixel_size: tuple[float, float],
    line: tuple[float, float, float, float],
    *,
    units: dict[str, str] | None = None,
    log: tuple[str, ...] = (),
    nearest: tuple[str, ...] = (),
    n: int | None = None,
) -> Profile:
    """Sample maps along a line by interpolation.

    Parameters
    ----------
    maps : dict of str to ndarray, shape (rows, cols)
        Maps of one frame.
    pixel_size : tuple of float
        ``(dy, dx)``, m; pixel ``(r, c)`` has its centre at ``((c + 0.5) dx, (r + 0.5) dy)``.
    line : tuple of float
        ``(x0, y0, x1, y1)`` in m.
    units : dict of str to str, optional
        Unit of each map (for the CSV).
    log : tuple of str, optional
        Maps interpolated in log10 (currents: a log amplifier's values are log-spaced).
    nearest : tuple of str, optional
        Maps sampled at the nearest pixel (class codes).
    n : int, optional
        Number of samples; default one per pixel of length, plus one.

    Returns
    -------
    Profile
        Bilinear interpolation (``scipy.ndimage.map_coordinates``, order 1); NaN where a
        neighbour is NaN.

    Raises
    ------
    ConfigError
        If the line has zero length or an end lies outside the frame.
    """
    if not maps:
        raise ConfigError("line_profile: no map to sample")
    shape = next(iter(maps.values())).shape
    dy, dx = pixel_size
    h, w = shape[0] * dy, shape[1] * dx
    x0, y0, x1, y1 = (float(v) for v in line)
    for x, y in ((x0, y0), (x1, y1)):
        if not (0 <= x <= w and 0 <= y <= h):
            raise ConfigError(
                f"profile end ({x * 1e6:.3g}, {y * 1e6:.3g}) um lies outside the "
                f"{w * 1e6:.3g} x {h * 1e6:.3g} um scan (x, y from the top-left corner)"
            )
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        raise ConfigError("profile line has zero length")
    if n is None:
        n = int(math.ceil(length / min(dy, dx))) + 1
    t = np.linspace(0.0, 1.0, max(n, 2))
    xs = x0 + t * (x1 - x0)
    ys = y0 + t * (y1 - y0)
    coords = np.stack([np.clip(ys / dy - 0.5, 0, shape[0] - 1),
                       np.clip(xs / dx - 0.5, 0, shape[1] - 1)])
    values: dict[str, np.ndarray] = {}
    for name, m in maps.items():
        a = np.asarray(m, np.float64)
        if name in nearest:
            idx = np.round(coords).astype(int)
            values[name] = a[idx[0], idx[1]]
            continue
        if name in log:
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(a > 0, np.log10(a), np.nan)
        v = ndimage.map_coordinates(a, coords, order=1, mode="nearest")
        values[name] = 10.0**v if name in log else v
    return Profile((x0, y0, x1, y1), t * length, xs, ys, values, dict(units or {}))


def pair_profile(result: Any, line: tuple[float, float, float, float] | None = None) -> Profile:
    """Line profile of a pair's maps (default: :func:`default_profile_line`).

    Parameters
    ----------
    result : afmcurrent.pair.result.PairResult
    line : tuple of float, optional
        ``(x0, y0, x1, y1)`` in m from the top-left corner of the +V frame.

    Returns
    -------
    Profile
        ``height`` (m), ``plus_current``, ``minus_current``, ``ionic_current``,
        ``electronic_current`` (A, interpolated in log10), ``ionic_fraction``, ``class``,
        ``plus_bound`` and ``minus_bound`` (nearest pixel; 0 a measurement, 1 at the amplifier
        floor: an upper bound, 2 at saturation: a lower bound) and, with an optical image,
        ``optical_brightness``.
    """
    m = result.maps

    maps = {
        "height": result.height,
        "plus_current": m.plus_current,
        "minus_current": m.minus_current,
        "ionic_current": m.ionic_current,
        "electronic_current": m.electronic_current,
        "ionic_fraction": m.ionic_fraction,
        "class": result.class_map.astype(np.float64),
        "plus_bound": bound_code(m.plus_at_floor, m.plus_at_saturation, m.valid.shape),
        "minus_bound": bound_code(m.minus_at_floor, m.minus_at_saturation, m.valid.shape),
    }
    units = {"height": "m", "plus_current": "A", "minus_current": "A", "ionic_current": "A",
             "electronic_current": "A"}
    optical = getattr(result, "optical", None)
    if optical is not None:
        maps["optical_brightness"] = optical.patch
    line = line or default_profile_line(result.class_map.shape, result.pixel_size)
    return line_profile(maps, result.pixel_size, line, units=units,
                        log=("plus_current", "minus_current", "ionic_current",
                             "electronic_current"),
                        nearest=("class", "plus_bound", "minus_bound"))
