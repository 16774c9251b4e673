"""An optical micrograph of a field around a simulated scan, with its ground truth."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from ..core.classes import (
    ELECTRONIC_SHUNT,
    IONIC_BLOCKED_INSULATING,
    IONIC_BLOCKED_LEAKY,
    IONIC_CONDUCTING,
)
from ..core.errors import ConfigError
from .electrolyte import place_classes
from .pair import SimulatedPair, shape2
from .presets import PRESETS, UM

__all__ = ["OPTICAL_BRIGHTNESS", "SimulatedOptical", "simulate_optical"]

logger = logging.getLogger(__name__)

#: Relative optical brightness of each class: types 1 and 3 look bright, type 2 dark (Jiang et
#: al., optical images of cycled LICGC); type 4 is not in the paper and is given a dark grey.
OPTICAL_BRIGHTNESS: Mapping[int, float] = MappingProxyType({
    IONIC_CONDUCTING: 0.75, IONIC_BLOCKED_LEAKY: 0.3, ELECTRONIC_SHUNT: 0.7,
    IONIC_BLOCKED_INSULATING: 0.35})


@dataclass
class SimulatedOptical:
    """An optical micrograph of a field around a simulated scan, with its ground truth.

    Attributes
    ----------
    image : ndarray of uint8, shape (orows, ocols)
        The recorded grey image (8 bit).
    pixel_size : float
        Optical pixel size, m.
    box_px : tuple of float
        True ``(x0, y0, x1, y1)`` of the scan in optical pixels (rotation about its centre).
    angle_deg : float
        True rotation of the scan in the image.
    bright_fraction : float
        True share of the field covered by bright classes (1 and 3).
    brightness : mapping int -> float
        Brightness per class used (before illumination and noise).
    """

    image: np.ndarray
    pixel_size: float
    box_px: tuple[float, float, float, float]
    angle_deg: float
    bright_fraction: float
    brightness: Mapping[int, float]


def simulate_optical(
    pair: SimulatedPair,
    *,
    pixel_size: float = 0.2 * UM,
    shape: tuple[int, int] = (160, 200),
    box_origin_px: tuple[float, float] = (70.3, 48.6),
    angle_deg: float = 0.0,
    seed: int = 0,
    brightness: Mapping[int, float] | None = None,
    noise: float = 0.03,
    blur_px: float = 0.7,
    vignetting: float = 0.35,
    supersample: int = 4,
) -> SimulatedOptical:
    """Render the optical image of a field around a simulated scan.

    The field's classes come from the same preset (thresholded Gaussian random fields with the
    preset's area fractions and domain lengths); inside the scan area the true class map of the
    pair is used, so the image and the scan agree. Each optical pixel averages ``supersample**2``
    sub-samples of the class brightness, then the image is blurred (Gaussian point-spread
    function), darkened towards the corners (vignetting ``1 - vignetting * r**2``, ``r`` = 1 at
    the corners), given Gaussian noise and quantised to 8 bit.

    Parameters
    ----------
    pair : SimulatedPair
    pixel_size : float, optional
        Optical pixel size, m.
    shape : tuple of int, optional
        ``(rows, cols)`` of the image.
    box_origin_px : tuple of float, optional
        ``(x0, y0)`` of the scan's top-left corner (before rotation), optical px.
    angle_deg : float, optional
        Rotation of the scan about its centre.
    seed : int, optional
    brightness : mapping int -> float, optional
        Brightness per class (default :data:`OPTICAL_BRIGHTNESS`).
    noise : float, optional
        RMS noise in brightness units (full scale 1).
    blur_px : float, optional
        Gaussian sigma of the point-spread function, optical px.
    vignetting : float, optional
    supersample : int, optional

    Returns
    -------
    SimulatedOptical

    Raises
    ------
    ConfigError
        If the scan area does not lie inside the field or a parameter is out of range.
    """
    if not pixel_size > 0 or supersample < 1 or noise < 0 or blur_px < 0:
        raise ConfigError("simulate_optical: positive pixel size and supersample, non-negative "
                          "noise and blur needed")
    lut_map = dict(OPTICAL_BRIGHTNESS if brightness is None else brightness)
    preset = PRESETS.get(pair.truth.preset)
    truth = pair.truth.class_map
    rows, cols = truth.shape
    sh, sw = pair.plus.size
    orows, ocols = shape2(shape, "shape", int)
    bx0, by0 = shape2(box_origin_px, "box_origin_px")
    box = (bx0, by0, bx0 + sw / pixel_size, by0 + sh / pixel_size)
    if box[0] < 0 or box[1] < 0 or box[2] > ocols or box[3] > orows:
        raise ConfigError(f"scan box {box} px does not fit the {ocols} x {orows} px field")
    rng = np.random.default_rng(seed)
    s = int(supersample)
    fine_shape = (orows * s, ocols * s)
    fine_px = pixel_size / s
    if preset is not None:
        field_classes = place_classes(rng, preset, fine_shape, (slice(None), slice(None)),
                                       fine_px)
    else:
        field_classes = np.full(fine_shape, np.bincount(truth.ravel()).argmax(), np.uint8)
    # Sub-sample centres in optical px; those inside the scan take the true class map.
    fy = (np.arange(fine_shape[0]) + 0.5) / s
    fx = (np.arange(fine_shape[1]) + 0.5) / s
    yy, xx = np.meshgrid(fy, fx, indexing="ij")
    cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    a = math.radians(angle_deg)
    px, py = xx - cx, yy - cy
    # Inverse of the rotation in afmcurrent.pair.optical (scan -> image).
    ux = math.cos(a) * px - math.sin(a) * py
    uy = math.sin(a) * px + math.cos(a) * py
    u = ux / (box[2] - box[0]) + 0.5
    v = uy / (box[3] - box[1]) + 0.5
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    r_idx = np.clip((v[inside] * rows).astype(int), 0, rows - 1)
    c_idx = np.clip((u[inside] * cols).astype(int), 0, cols - 1)
    field_classes[inside] = truth[r_idx, c_idx]
    lut = np.zeros(256)
    for code, b in lut_map.items():
        lut[code] = b
    fine = lut[field_classes]
    img = fine.reshape(orows, s, ocols, s).mean(axis=(1, 3))
    if blur_px > 0:
        img = ndimage.gaussian_filter(img, blur_px, mode="reflect")
    oy = (np.arange(orows) + 0.5) / orows - 0.5
    ox = (np.arange(ocols) + 0.5) / ocols - 0.5
    r2 = (oy[:, None] ** 2 + ox[None, :] ** 2) / 0.5
    img = img * (1.0 - vignetting * r2)
    img = img + rng.normal(0.0, noise, img.shape)
    image = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    bright_fraction = float(np.isin(field_classes, (IONIC_CONDUCTING, ELECTRONIC_SHUNT)).mean())
    return SimulatedOptical(image, pixel_size, box, float(angle_deg), bright_fraction,
                            MappingProxyType(lut_map))
