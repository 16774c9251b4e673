"""Where the scan area lies in an optical image: the starting box, the placement record, and the
optical patch resampled onto the scan grid.

Coordinates: optical pixel ``(i, j)`` (row, column) covers ``[j, j + 1) x [i, i + 1)``; a box is
``(x0, y0, x1, y1)`` in those continuous pixel coordinates (x along columns, y down the rows),
the scan's top-left corner at ``(x0, y0)``. A rotation ``angle_deg`` turns the scan about the box
centre, counter-clockwise as displayed (y down).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ...core.errors import ConfigError

__all__ = ["initial_box", "Placement", "sample_patch"]

logger = logging.getLogger(__name__)


def initial_box(
    image_shape: tuple[int, int],
    scan_size: tuple[float, float],
    *,
    pixel_size: float | None = None,
    box: tuple[float, float, float, float] | None = None,
    center: tuple[float, float] | None = None,
) -> tuple[tuple[float, float, float, float], float]:
    """The scan area in optical pixels from a box, or from a centre and the scan size.

    Parameters
    ----------
    image_shape : tuple of int
        ``(rows, cols)`` of the optical image.
    scan_size : tuple of float
        ``(height, width)`` of the scan, m.
    pixel_size : float, optional
        Optical pixel size, m. Needed with ``center``; with ``box`` it defaults to the box
        width over the scan width.
    box : tuple of float, optional
        ``(x0, y0, x1, y1)`` in optical pixels.
    center : tuple of float, optional
        ``(x, y)`` of the scan centre in m from the optical image's top-left corner.

    Returns
    -------
    (box, pixel_size)
        The box ``(x0, y0, x1, y1)`` (optical px, with the scan's size at ``pixel_size``) and the
        optical pixel size in m.

    Raises
    ------
    ConfigError
        If neither or both of ``box`` and ``center`` are given, the pixel size is missing or
        not positive, the box is empty, its shape contradicts the scan's aspect ratio by more
        than 10 %, or the box lies outside the image.
    """
    if (box is None) == (center is None):
        raise ConfigError("place the scan in the optical image with a box (optical pixels) "
                          "or a centre (m), exactly one of them")
    sh, sw = (float(v) for v in scan_size)
    rows, cols = image_shape
    if box is not None:
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise ConfigError(f"optical box must be X0,Y0,X1,Y1 in pixels, got {box!r}") from None
        if not (x1 > x0 and y1 > y0):
            raise ConfigError(f"optical box {box!r} is empty: need x1 > x0 and y1 > y0")
        bw, bh = x1 - x0, y1 - y0
        if abs((bw / bh) / (sw / sh) - 1) > 0.1:
            raise ConfigError(
                f"optical box {bw:.1f} x {bh:.1f} px does not have the scan's aspect ratio "
                f"({sw * 1e6:.3g} x {sh * 1e6:.3g} um)"
            )
        p = pixel_size if pixel_size is not None else sw / bw
        if not (p and p > 0):
            raise ConfigError(f"optical pixel size must be positive, got {pixel_size!r}")
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        if pixel_size is not None and abs(bw * p / sw - 1) > 0.1:
            logger.warning(
                "optical box is %.1f px wide but the scan (%.3g um) at %.3g um/px is %.1f px; "
                "the pixel size is used", bw, sw * 1e6, p * 1e6, sw / p)
    else:
        if pixel_size is None or not pixel_size > 0:
            raise ConfigError("an optical centre needs the optical pixel size "
                              "(--optical-pixel-size)")
        p = float(pixel_size)
        try:
            cx, cy = (float(v) / p for v in center)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ConfigError(f"optical centre must be X,Y in m, got {center!r}") from None
    w, h = sw / p, sh / p
    out = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if out[2] <= 0 or out[3] <= 0 or out[0] >= cols or out[1] >= rows:
        raise ConfigError(
            f"scan box {tuple(round(v, 1) for v in out)} px lies outside the "
            f"{cols} x {rows} px optical image"
        )
    return out, p


@dataclass
class Placement:
    """Where the scan area lies in the optical image.

    Attributes
    ----------
    box_px : tuple of float
        ``(x0, y0, x1, y1)`` refined, optical px (unrotated box; rotation about its centre).
    angle_deg : float
        Rotation of the scan in the image, degrees.
    confidence : float
        0..1: how much the best mutual information stands out from the next-best distinct
        placement, relative to the median over the search window (1: unique peak; 0: ambiguous).
    mutual_information : float
        Bits, at the refined placement.
    initial_box_px : tuple of float
    pixel_size : float
        Optical pixel size, m.
    search_radius_px : float
    at_search_edge : bool
        The best translation lies on the border of the search window (true position may be
        outside it).
    """

    box_px: tuple[float, float, float, float]
    angle_deg: float
    confidence: float
    mutual_information: float
    initial_box_px: tuple[float, float, float, float]
    pixel_size: float
    search_radius_px: float
    at_search_edge: bool = False

    @property
    def shift_px(self) -> tuple[float, float]:
        """``(dx, dy)`` of the refined box from the initial one, optical px."""
        return (self.box_px[0] - self.initial_box_px[0], self.box_px[1] - self.initial_box_px[1])

    def corners(self) -> np.ndarray:
        """Corners (top-left, top-right, bottom-right, bottom-left) as ``(4, 2)`` x, y in px."""
        x0, y0, x1, y1 = self.box_px
        return _box_points(self.box_px, self.angle_deg,
                           np.array([0.0, 1, 1, 0]), np.array([0.0, 0, 1, 1])).T

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "box_px": [float(v) for v in self.box_px],
            "angle_deg": float(self.angle_deg),
            "confidence": float(self.confidence),
            "mutual_information_bits": float(self.mutual_information),
            "initial_box_px": [float(v) for v in self.initial_box_px],
            "shift_px": [float(v) for v in self.shift_px],
            "pixel_size_m": float(self.pixel_size),
            "search_radius_px": float(self.search_radius_px),
            "at_search_edge": bool(self.at_search_edge),
        }


def _box_points(box: tuple[float, float, float, float], angle_deg: float,
                u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Optical (x, y) of fractional scan positions u (across) and v (down)."""
    x0, y0, x1, y1 = box
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    px = (u - 0.5) * (x1 - x0)
    py = (v - 0.5) * (y1 - y0)
    if angle_deg:
        a = math.radians(angle_deg)
        c, s = math.cos(a), math.sin(a)
        px, py = c * px + s * py, -s * px + c * py
    return np.stack([cx + px, cy + py])


def sample_patch(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    shape: tuple[int, int],
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Resample the optical image onto a scan grid.

    Parameters
    ----------
    image : ndarray of float, shape (orows, ocols)
        Brightness.
    box : tuple of float
        ``(x0, y0, x1, y1)`` of the scan, optical px.
    shape : tuple of int
        ``(rows, cols)`` of the scan grid.
    angle_deg : float, optional

    Returns
    -------
    ndarray of float, shape ``shape``
        Bilinear interpolation at the scan pixel centres; NaN outside the image.
    """
    rows, cols = shape
    v, u = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols,
                       indexing="ij")
    xy = _box_points(box, angle_deg, u.ravel(), v.ravel())
    return _sample(image, xy).reshape(shape)


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    coords = np.stack([xy[1] - 0.5, xy[0] - 0.5])
    out = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
    inside = ((coords[0] >= -0.5) & (coords[0] <= image.shape[0] - 0.5)
              & (coords[1] >= -0.5) & (coords[1] <= image.shape[1] - 0.5))
    out[~inside] = np.nan
    return out
