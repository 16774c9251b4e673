"""Optical micrographs: place the AFM scan area, compare brightness with the electrical classes.

The paper recognises degradation domains first in the optical microscope: type 1 (ionic-
conducting) and type 3 (electronic shunt) regions look bright, type 2 (ionic-blocked with
electronic leakage) dark, over fields far larger than a scan (C.-S. Jiang et al., NREL;
SCIENCE.md). This module

1. reads PNG, TIFF and JPEG images (through ``imageio``, which uses Pillow and tifffile) as
   brightness in [0, 1] (colour images: Rec. 709 luma weights 0.2126, 0.7152, 0.0722);
2. places the scan area from a box in optical pixels, or from a centre in m and the scan size;
3. refines the placement (translation, optionally a small rotation) by maximising the mutual
   information between the optical brightness and the AFM class map (Viola & Wells, "Alignment
   by maximization of mutual information", IJCV 24 (1997) 137; Maes et al., IEEE TMI 16 (1997)
   187), estimated from a joint histogram, and reports a confidence;
4. resamples the optical patch onto the AFM grid, segments the whole field into bright and dark
   (Otsu's threshold, ``skimage.filters.threshold_otsu``, after dividing out a smooth quadratic
   illumination surface fitted by least squares, which removes vignetting), and tabulates the
   segmentation against the classes with Cramer's V (``scipy.stats.contingency.association``).

Coordinates: optical pixel ``(i, j)`` (row, column) covers ``[j, j + 1) x [i, i + 1)``; a box is
``(x0, y0, x1, y1)`` in those continuous pixel coordinates (x along columns, y down the rows),
the scan's top-left corner at ``(x0, y0)``. A rotation ``angle_deg`` turns the scan about the box
centre, counter-clockwise as displayed (y down).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..core.errors import ConfigError, ReadError, RegistrationError
from .domains import CLASS_NAMES

__all__ = [
    "LUMA_WEIGHTS",
    "read_optical",
    "initial_box",
    "Placement",
    "sample_patch",
    "mutual_information",
    "refine_placement",
    "flatten_illumination",
    "segment_bright_dark",
    "contingency_table",
    "cramers_v",
    "OpticalResult",
    "analyze_optical",
]

logger = logging.getLogger(__name__)

#: Rec. ITU-R BT.709 luma weights for R, G, B.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


# ------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------
def read_optical(path: str | Path) -> np.ndarray:
    """Read an optical micrograph as brightness in [0, 1].

    Parameters
    ----------
    path : str or Path
        PNG, TIFF or JPEG file (anything ``imageio.v3.imread`` reads); the first page of a
        multi-page TIFF; integer images are scaled by their type's maximum, float images by
        their own range.

    Returns
    -------
    ndarray of float64, shape (rows, cols)

    Raises
    ------
    ReadError
        If the file is missing, cannot be decoded, or is not a 2-D grey or colour image.
    """
    import imageio.v3 as iio

    p = Path(path)
    if not p.is_file():
        raise ReadError(f"{p}: optical image not found")
    try:
        with warnings.catch_warnings():  # imageio's plug-in probing warns about DICOM
            warnings.simplefilter("ignore", DeprecationWarning)
            img = (iio.imread(p, index=0) if p.suffix.lower() in (".tif", ".tiff")
                   else iio.imread(p))
    except Exception as exc:  # imageio raises many types for undecodable files
        raise ReadError(f"{p}: cannot read as an image ({type(exc).__name__}: {exc})") from None
    return as_brightness(img, str(p))


def as_brightness(img: np.ndarray, label: str = "optical image") -> np.ndarray:
    """Convert a grey ``(rows, cols)`` or colour ``(rows, cols, 3|4)`` array to [0, 1] floats.

    Raises
    ------
    ReadError
        If the array is not such an image or holds no finite value.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        scale = _type_max(a)
        rgb = a[..., :3].astype(np.float64) / scale
        a = rgb @ np.asarray(LUMA_WEIGHTS)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0].astype(np.float64) / _type_max(a)
    elif a.ndim == 2:
        a = a.astype(np.float64) / _type_max(a)
    else:
        raise ReadError(f"{label}: not a grey or RGB image (array shape {a.shape})")
    if a.shape[0] < 8 or a.shape[1] < 8:
        raise ReadError(f"{label}: image of {a.shape[0]} x {a.shape[1]} pixels is too small")
    fin = np.isfinite(a)
    if not fin.any():
        raise ReadError(f"{label}: image holds no finite value")
    if not np.issubdtype(np.asarray(img).dtype, np.integer):
        lo, hi = float(a[fin].min()), float(a[fin].max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _type_max(a: np.ndarray) -> float:
    if np.issubdtype(a.dtype, np.integer):
        return float(np.iinfo(a.dtype).max)
    if a.dtype == bool:
        return 1.0
    return 1.0


# ------------------------------------------------------------------------------------------------
# placement
# ------------------------------------------------------------------------------------------------
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


def mutual_information(labels: np.ndarray, values: np.ndarray, edges: np.ndarray,
                       n_labels: int = 5) -> float:
    """Mutual information (bits) of integer labels and binned values, from the joint histogram.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        0..n_labels-1.
    values : ndarray of float, shape (n,)
        NaN entries are left out.
    edges : ndarray of float, shape (bins + 1,)
        Bin edges of the values (values outside are put in the end bins).
    n_labels : int, optional

    Returns
    -------
    float
        ``sum p(l, b) log2(p(l, b) / (p(l) p(b)))``; 0 with no finite value.
    """
    ok = np.isfinite(values)
    if not ok.any():
        return 0.0
    nb = edges.size - 1
    b = np.clip(np.searchsorted(edges, values[ok], side="right") - 1, 0, nb - 1)
    joint = np.bincount(labels[ok] * nb + b, minlength=n_labels * nb).reshape(n_labels, nb)
    p = joint / joint.sum()
    pl = p.sum(1, keepdims=True)
    pb = p.sum(0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / (pl @ pb)[nz])))


def refine_placement(
    image: np.ndarray,
    class_map: np.ndarray,
    box: tuple[float, float, float, float],
    pixel_size: float,
    *,
    search_radius_px: float | None = None,
    max_angle_deg: float = 0.0,
    angle_step_deg: float = 0.5,
    bins: int = 16,
    samples_per_optical_px: float = 2.0,
) -> Placement:
    """Refine the scan's placement by maximising mutual information with the class map.

    A grid search over integer translations within ``search_radius_px`` of ``box``, then over
    angles (when ``max_angle_deg > 0``) and quarter-pixel translations around the best, finished
    by a parabola through the neighbours of the best quarter-pixel step in x and in y.

    Parameters
    ----------
    image : ndarray of float, shape (orows, ocols)
        Optical brightness.
    class_map : ndarray of uint8, shape (rows, cols)
        AFM classes (0 = left out).
    box : tuple of float
        Initial ``(x0, y0, x1, y1)``, optical px.
    pixel_size : float
        Optical pixel size, m (recorded in the result).
    search_radius_px : float, optional
        Half-width of the translation search window; default 10 px or a third of the box's
        smaller side, whichever is larger.
    max_angle_deg : float, optional
        Largest rotation tried (0: translation only).
    angle_step_deg : float, optional
    bins : int, optional
        Brightness bins of the joint histogram (between the 1st and 99th percentile).
    samples_per_optical_px : float, optional
        Density of the scan sub-grid on which the class map is compared, per optical pixel.

    Returns
    -------
    Placement

    Raises
    ------
    RegistrationError
        If the class map has fewer than two classes (nothing to align on) or the search window
        lies outside the image.
    """
    cm = np.asarray(class_map)
    rows, cols = cm.shape
    x0, y0, x1, y1 = box
    radius = float(search_radius_px if search_radius_px is not None
                   else max(10.0, min(x1 - x0, y1 - y0) / 3))
    present = np.unique(cm[cm > 0])
    if present.size < 2:
        raise RegistrationError(
            "the class map has fewer than two classes: the optical placement cannot be refined "
            "(give the box exactly, or skip the refinement)"
        )
    # Sub-grid of scan pixels, ~samples_per_optical_px per optical pixel.
    ny = int(min(rows, max(8, round((y1 - y0) * samples_per_optical_px))))
    nx = int(min(cols, max(8, round((x1 - x0) * samples_per_optical_px))))
    ri = ((np.arange(ny) + 0.5) * rows / ny).astype(int)
    ci = ((np.arange(nx) + 0.5) * cols / nx).astype(int)
    lab = cm[np.ix_(ri, ci)].ravel().astype(np.int64)
    keep = lab > 0
    lab = lab[keep]
    v, u = np.meshgrid((ri + 0.5) / rows, (ci + 0.5) / cols, indexing="ij")
    u, v = u.ravel()[keep], v.ravel()[keep]
    fin = image[np.isfinite(image)]
    lo, hi = np.percentile(fin, [1, 99])
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)

    def score(dx: float, dy: float, ang: float) -> float:
        b = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        vals = _sample(image, _box_points(b, ang, u, v))
        if np.mean(np.isfinite(vals)) < 0.5:
            return -np.inf
        return mutual_information(lab, vals, edges)

    r = int(math.ceil(radius))
    offs = np.arange(-r, r + 1)
    grid = np.array([[score(dx, dy, 0.0) for dx in offs] for dy in offs])
    if not np.isfinite(grid).any():
        raise RegistrationError(f"optical search window around box {box} lies outside the image")
    iy, ix = np.unravel_index(np.argmax(grid), grid.shape)
    best = (float(offs[ix]), float(offs[iy]), 0.0)
    at_edge = bool(iy in (0, grid.shape[0] - 1) or ix in (0, grid.shape[1] - 1))
    confidence = _peak_confidence(grid, iy, ix)

    if max_angle_deg > 0:
        angles = np.arange(-max_angle_deg, max_angle_deg + 1e-9, angle_step_deg)
        cand = []
        for ang in angles:
            for ddy in (-1.0, 0.0, 1.0):
                for ddx in (-1.0, 0.0, 1.0):
                    cand.append((score(best[0] + ddx, best[1] + ddy, ang),
                                 (best[0] + ddx, best[1] + ddy, float(ang))))
        best = max(cand, key=lambda t: t[0])[1]

    fine = np.arange(-1.0, 1.01, 0.25)
    fgrid = np.array([[score(best[0] + fx, best[1] + fy, best[2]) for fx in fine]
                      for fy in fine])
    fy, fx = np.unravel_index(np.argmax(fgrid), fgrid.shape)
    sx = _parabola(fgrid[fy, :], fx) * 0.25
    sy = _parabola(fgrid[:, fx], fy) * 0.25
    dx, dy = best[0] + fine[fx] + sx, best[1] + fine[fy] + sy
    mi = score(dx, dy, best[2])
    out = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
    if at_edge:
        logger.warning("optical placement: best match on the edge of the %.0f px search window; "
                       "the true position may lie further out", radius)
    return Placement(out, best[2], confidence, mi, tuple(box), pixel_size, radius, at_edge)


def _parabola(vals: np.ndarray, i: int) -> float:
    if i <= 0 or i >= vals.size - 1 or not np.all(np.isfinite(vals[i - 1:i + 2])):
        return 0.0
    a, b, c = vals[i - 1], vals[i], vals[i + 1]
    den = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0


def _peak_confidence(grid: np.ndarray, iy: int, ix: int, exclude: int = 3) -> float:
    g = np.where(np.isfinite(grid), grid, np.nan)
    best = g[iy, ix]
    med = np.nanmedian(g)
    yy, xx = np.indices(g.shape)
    far = (np.abs(yy - iy) > exclude) | (np.abs(xx - ix) > exclude)
    second = np.nanmax(g[far]) if np.isfinite(g[far]).any() else med
    if not best > med:
        return 0.0
    return float(np.clip((best - second) / (best - med), 0.0, 1.0))


# ------------------------------------------------------------------------------------------------
# segmentation and association
# ------------------------------------------------------------------------------------------------
def flatten_illumination(image: np.ndarray) -> np.ndarray:
    """Divide out a smooth illumination: a quadratic surface fitted by least squares.

    Parameters
    ----------
    image : ndarray of float, shape (rows, cols)
        Brightness.

    Returns
    -------
    ndarray of float, shape (rows, cols)
        ``image / fit * mean(fit)`` (vignetting and uneven lighting removed; domains far smaller
        than the field keep their contrast).
    """
    a = np.asarray(image, np.float64)
    rows, cols = a.shape
    step = max(1, int(math.sqrt(a.size / 40000)))
    y, x = np.mgrid[0:rows:step, 0:cols:step]
    yn, xn = y / rows - 0.5, x / cols - 0.5
    z = a[::step, ::step]
    ok = np.isfinite(z)
    basis = np.stack([np.ones_like(xn), xn, yn, xn * xn, yn * yn, xn * yn])
    coef, *_ = np.linalg.lstsq(basis[:, ok].T, z[ok], rcond=None)
    yy, xx = np.mgrid[0:rows, 0:cols]
    yy, xx = yy / rows - 0.5, xx / cols - 0.5
    fit = (coef[0] + coef[1] * xx + coef[2] * yy + coef[3] * xx * xx + coef[4] * yy * yy
           + coef[5] * xx * yy)
    fit = np.maximum(fit, 1e-6 * max(float(np.nanmax(np.abs(fit))), 1e-12))
    return a / fit * float(np.nanmean(fit))


def segment_bright_dark(image: np.ndarray, *, flatten: bool = True) -> tuple[np.ndarray, float]:
    """Bright / dark segmentation of an optical field (Otsu's threshold).

    Parameters
    ----------
    image : ndarray of float, shape (rows, cols)
    flatten : bool, optional
        Divide out the illumination first (:func:`flatten_illumination`).

    Returns
    -------
    (ndarray of bool, float)
        Bright mask (True = bright) and the threshold on the (flattened) brightness.
    """
    from skimage.filters import threshold_otsu

    a = flatten_illumination(image) if flatten else np.asarray(image, np.float64)
    fin = a[np.isfinite(a)]
    t = float(threshold_otsu(fin)) if fin.size and np.ptp(fin) > 0 else float("inf")
    return a > t, t


def contingency_table(class_map: np.ndarray, bright: np.ndarray,
                      valid: np.ndarray | None = None) -> np.ndarray:
    """Pixel counts of the electrical classes against the optical segmentation.

    Parameters
    ----------
    class_map : ndarray of uint8, shape (rows, cols)
    bright : ndarray of bool, shape (rows, cols)
        Optical segmentation resampled onto the scan grid.
    valid : ndarray of bool, optional
        Pixels to count (class 0 is always left out).

    Returns
    -------
    ndarray of int, shape (4, 2)
        Rows: classes 1-4; columns: dark, bright.
    """
    ok = (class_map > 0) if valid is None else (class_map > 0) & valid
    idx = (class_map[ok].astype(np.int64) - 1) * 2 + bright[ok].astype(np.int64)
    return np.bincount(idx, minlength=8).reshape(4, 2)


def cramers_v(table: np.ndarray) -> float:
    """Cramer's V of a contingency table (empty rows and columns dropped).

    ``V = sqrt(chi2 / (n (min(r, c) - 1)))`` (Cramer, *Mathematical Methods of Statistics*,
    1946), through ``scipy.stats.contingency.association``.

    Returns
    -------
    float
        0 (independent) .. 1 (one determines the other); NaN when fewer than two rows or two
        columns hold counts.
    """
    from scipy.stats.contingency import association

    t = np.asarray(table)
    t = t[t.sum(1) > 0][:, t.sum(0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return float("nan")
    return float(association(t, method="cramer"))


# ------------------------------------------------------------------------------------------------
# the whole step
# ------------------------------------------------------------------------------------------------
@dataclass
class OpticalResult:
    """The optical image tied to one scan.

    Attributes
    ----------
    path : Path or None
    image : ndarray of float32, shape (orows, ocols)
        Brightness of the whole field.
    placement : Placement
    patch : ndarray of float, shape (rows, cols)
        Brightness resampled onto the scan grid.
    bright_patch : ndarray of bool, shape (rows, cols)
        The segmentation on the scan grid.
    threshold : float
    field_bright_fraction : float
        Share of the whole optical field that is bright.
    contingency : ndarray of int, shape (4, 2)
    cramers_v : float
    brightness_by_class : dict
        Per class name: ``pixels``, ``mean``, ``median`` of the patch brightness, and the
        ``bright_share`` of its pixels.
    """

    path: Path | None
    image: np.ndarray
    placement: Placement
    patch: np.ndarray
    bright_patch: np.ndarray
    threshold: float
    field_bright_fraction: float
    contingency: np.ndarray
    cramers_v: float
    brightness_by_class: dict[str, dict[str, float | int | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` section ``optical``."""
        table = {CLASS_NAMES[k + 1]: {"dark": int(self.contingency[k, 0]),
                                      "bright": int(self.contingency[k, 1])} for k in range(4)}
        return {
            "path": str(self.path) if self.path else None,
            "shape": list(self.image.shape),
            **self.placement.to_dict(),
            "threshold": self.threshold,
            "cramers_v": None if not np.isfinite(self.cramers_v) else self.cramers_v,
            "contingency": table,
            "field_bright_fraction": self.field_bright_fraction,
            "field_dark_fraction": 1.0 - self.field_bright_fraction,
            "brightness_by_class": self.brightness_by_class,
        }


def analyze_optical(
    optical: str | Path | np.ndarray,
    class_map: np.ndarray,
    scan_size: tuple[float, float],
    *,
    pixel_size: float | None = None,
    box: tuple[float, float, float, float] | None = None,
    center: tuple[float, float] | None = None,
    refine: bool = True,
    search_radius_px: float | None = None,
    max_angle_deg: float = 0.0,
    valid: np.ndarray | None = None,
) -> OpticalResult:
    """Place the scan in an optical image and relate brightness to the classes.

    Parameters
    ----------
    optical : str, Path or ndarray
        Image file or array (grey or RGB; see :func:`read_optical`).
    class_map : ndarray of uint8, shape (rows, cols)
    scan_size : tuple of float
        ``(height, width)`` of the scan, m.
    pixel_size, box, center
        See :func:`initial_box`.
    refine : bool, optional
        Refine the placement by mutual information (:func:`refine_placement`).
    search_radius_px, max_angle_deg
        Passed to :func:`refine_placement`.
    valid : ndarray of bool, optional
        Scan pixels to tabulate.

    Returns
    -------
    OpticalResult

    Raises
    ------
    ReadError, ConfigError, RegistrationError
    """
    if isinstance(optical, np.ndarray):
        image, path = as_brightness(optical), None
    else:
        path = Path(optical)
        image = read_optical(path)
    b0, p = initial_box(image.shape, scan_size, pixel_size=pixel_size, box=box, center=center)
    if refine and np.unique(class_map[class_map > 0]).size < 2:
        logger.warning("optical placement not refined: the scan has fewer than two classes, "
                       "so there is no contrast to align on; the given placement is used")
        refine = False
    if refine:
        placement = refine_placement(image, class_map, b0, p, search_radius_px=search_radius_px,
                                     max_angle_deg=max_angle_deg)
    else:
        placement = Placement(b0, 0.0, float("nan"), float("nan"), b0, p, 0.0)
    patch = sample_patch(image, placement.box_px, class_map.shape, placement.angle_deg)
    bright_field, thr = segment_bright_dark(image)
    bright_patch = sample_patch(bright_field.astype(np.float64), placement.box_px,
                                class_map.shape, placement.angle_deg) >= 0.5
    ok = np.isfinite(patch) if valid is None else np.isfinite(patch) & valid
    table = contingency_table(class_map, bright_patch, ok)
    by_class: dict[str, dict[str, float | int | None]] = {}
    for code, name in CLASS_NAMES.items():
        sel = ok & (class_map == code)
        vals = patch[sel]
        by_class[name] = {
            "pixels": int(sel.sum()),
            "mean": float(vals.mean()) if vals.size else None,
            "median": float(np.median(vals)) if vals.size else None,
            "bright_share": float(bright_patch[sel].mean()) if vals.size else None,
        }
    return OpticalResult(
        path=path,
        image=image.astype(np.float32),
        placement=placement,
        patch=patch,
        bright_patch=bright_patch,
        threshold=thr,
        field_bright_fraction=float(bright_field.mean()),
        contingency=table,
        cramers_v=cramers_v(table),
        brightness_by_class=by_class,
    )
