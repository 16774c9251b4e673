"""The optical image tied to one scan: placement, patch, segmentation against the classes.

The paper recognises degradation domains first in the optical microscope: type 1
(ionic-conducting) and type 3 (electronic shunt) regions look bright, type 2 (ionic-blocked
with electronic leakage) dark, over fields far larger than a scan (``docs/science.md``).
:func:`analyze_optical` places the scan (:mod:`.placement`, :mod:`.refine`), resamples the
optical patch onto the scan grid, segments the whole field (:mod:`.segment`) and tabulates the
segmentation against the classes with Cramer's V (``scipy.stats.contingency.association``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...core.classes import CLASS_NAMES, CLASSES
from .placement import Placement, initial_box, sample_patch
from .read import as_brightness, read_optical
from .refine import refine_placement
from .segment import segment_bright_dark

__all__ = ["contingency_table", "cramers_v", "OpticalResult", "analyze_optical"]

logger = logging.getLogger(__name__)


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
    return np.bincount(idx, minlength=2 * len(CLASSES)).reshape(len(CLASSES), 2)


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
        table = {c.key: {"dark": int(self.contingency[k, 0]),
                         "bright": int(self.contingency[k, 1])} for k, c in enumerate(CLASSES)}
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
