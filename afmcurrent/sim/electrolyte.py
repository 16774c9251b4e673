"""The material canvas: class domains, current fields and topography of a virtual electrolyte.

1. **Domains**: a smooth class map (codes of :mod:`afmcurrent.core.classes`) made by
   thresholding Gaussian random fields so that the area fractions in the +V frame are exactly
   those of the preset.
2. **Currents**: per class, the ionic and the electronic current at +V are log-normal random
   fields (mean and coefficient of variation from the preset) with a correlation length of a
   few hundred nm ("regions 100 nm - 1 um", Jiang et al.).
3. **Topography**: per class RMS roughness and corrugation length, blended smoothly across
   domain boundaries.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ..core.classes import N_CODES
from ..core.errors import ConfigError
from .presets import Preset

__all__ = ["Material", "gaussian_field", "make_material"]

logger = logging.getLogger(__name__)

def gaussian_field(
    rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with a Gaussian correlation.

    White noise filtered in Fourier space with a Gaussian of standard deviation ``sigma_px``
    (periodic boundaries), then normalised.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
        ``(rows, cols)``.
    sigma_px : float
        Filter width in pixels (>= 0; 0 gives white noise).

    Returns
    -------
    ndarray of float, shape ``shape``
    """
    noise = rng.standard_normal(shape)
    if sigma_px > 0:
        spec = sfft.rfft2(noise)
        fy = sfft.fftfreq(shape[0])[:, None]
        fx = sfft.rfftfreq(shape[1])[None, :]
        spec *= np.exp(-2.0 * (math.pi * sigma_px) ** 2 * (fy**2 + fx**2))
        noise = sfft.irfft2(spec, s=shape)
    noise -= noise.mean()
    sd = noise.std()
    return noise / sd if sd > 0 else noise


def _lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """log10 median and sigma (decades) of a log-normal with the given mean and cv."""
    sigma_ln = math.sqrt(math.log1p(cv * cv))
    median = mean / math.sqrt(1.0 + cv * cv)
    return math.log10(median), sigma_ln / math.log(10.0)


def place_classes(
    rng: np.random.Generator,
    preset: Preset,
    canvas_shape: tuple[int, int],
    window: tuple[slice, slice],
    pixel: float,
) -> np.ndarray:
    classes = np.full(canvas_shape, preset.base_class, dtype=np.uint8)
    free = np.ones(canvas_shape, bool)
    n_window = free[window].size
    for layer in preset.layers:
        f = gaussian_field(rng, canvas_shape, layer.length / pixel)
        candidates = f[window][free[window]]
        k = int(round(layer.fraction * n_window))
        if k <= 0:
            continue
        k = min(k, candidates.size)
        threshold = np.partition(candidates, candidates.size - k)[candidates.size - k]
        claim = free & (f >= threshold)
        classes[claim] = layer.code
        free &= ~claim
    return classes


@dataclass
class Material:
    """A virtual electrolyte on a canvas larger than the scan.

    Attributes
    ----------
    classes : ndarray of uint8, shape (canvas rows, canvas cols)
        Class codes.
    log_ionic, log_electronic : ndarray of float, shape (canvas rows, canvas cols)
        log10 of the true ionic and electronic current at +V, A.
    height : ndarray of float, shape (canvas rows, canvas cols)
        True topography, m.
    """

    classes: np.ndarray
    log_ionic: np.ndarray
    log_electronic: np.ndarray
    height: np.ndarray


def make_material(
    rng: np.random.Generator,
    preset: Preset,
    canvas_shape: tuple[int, int],
    window: tuple[slice, slice],
    pixel: float,
) -> Material:
    """Domains, currents and topography of a preset on a canvas.

    Parameters
    ----------
    rng : numpy.random.Generator
        Drawn from in a fixed order (domains, ionic field, electronic field, height fields):
        equal seeds give equal materials.
    preset : Preset
    canvas_shape : tuple of int
        ``(rows, cols)`` of the canvas.
    window : tuple of slice
        The +V frame inside the canvas: the layers' area fractions hold exactly there.
    pixel : float
        Canvas pixel size, m (sets the length scales of the random fields).

    Returns
    -------
    Material

    Raises
    ------
    ConfigError
        If the preset places a class it does not describe.
    """
    classes = place_classes(rng, preset, canvas_shape, window, pixel)
    log_ion, log_el = _current_fields(rng, preset, classes, pixel)
    height = _topography(rng, preset, classes, pixel)
    return Material(classes, log_ion, log_el, height)


def _current_fields(rng: np.random.Generator, preset: Preset, classes: np.ndarray,
                    pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """log10 of the ionic and electronic current at +V: per class a log-normal random field."""
    shape = classes.shape
    g_ion = gaussian_field(rng, shape, preset.current_length / pixel)
    g_el = gaussian_field(rng, shape, preset.current_length / pixel)
    # rows: ionic median, ionic sigma, electronic median, electronic sigma; columns: class code
    lut = np.zeros((4, N_CODES))
    for code, props in preset.classes.items():
        lut[0, code], lut[1, code] = _lognormal_params(props.ionic_mean, props.ionic_cv)
        lut[2, code], lut[3, code] = _lognormal_params(props.electronic_mean, props.electronic_cv)
    missing = set(np.unique(classes).tolist()) - set(preset.classes)
    if missing:
        raise ConfigError(f"preset {preset.name!r} places classes {sorted(missing)} it does not "
                          "describe in `classes`")
    return (lut[0, classes] + lut[1, classes] * g_ion,
            lut[2, classes] + lut[3, classes] * g_el)


def _topography(rng: np.random.Generator, preset: Preset, classes: np.ndarray,
                pixel: float) -> np.ndarray:
    """Per class roughness, blended over ``boundary_blend`` across domain edges, m."""
    shape = classes.shape
    lengths = sorted({p.corrugation_length for p in preset.classes.values()})
    unit_height = {L: gaussian_field(rng, shape, L / pixel) for L in lengths}
    blend = preset.boundary_blend / pixel
    height = np.zeros(shape)
    weight_sum = np.zeros(shape)
    for code, props in preset.classes.items():
        w = ndimage.gaussian_filter((classes == code).astype(np.float64), blend, mode="wrap")
        height += w * props.roughness_rms * unit_height[props.corrugation_length]
        weight_sum += w
    height /= np.maximum(weight_sum, 1e-12)
    return height
