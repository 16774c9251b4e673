"""A virtual LICGC-type solid electrolyte scanned at +V and -V through a log amplifier.

The simulator builds a material canvas larger than the scan (so a shifted or drifting -V scan
still sees real material), then records the two scans a lab would record, and keeps the ground
truth:

1. **Domains**: a smooth class map (codes as everywhere in afmcurrent: 1 ionic-conducting,
   2 ionic-blocked with electronic leakage, 3 electronic shunt, 4 ionic-blocked insulating)
   made by thresholding Gaussian random fields so that the area fractions in the +V frame are
   exactly those of the preset.
2. **Currents**: per class, the ionic and the electronic current at +V are log-normal random
   fields (mean and coefficient of variation from the preset) with a correlation length of a
   few hundred nm ("regions 100 nm - 1 um", Jiang et al.).
3. **Topography**: per class RMS roughness and corrugation length, blended smoothly across
   domain boundaries.
4. **Scanning**: the +V frame is the canvas window; the -V frame is sampled from the canvas by
   interpolation at a known sub-pixel shift plus a linear slow-axis drift. Electronic
   conduction is ohmic and symmetric: ``|I(-V)| = I_e(+V) * |V-/V+|``; at -V no ionic current
   flows (Li+ is blocked at steady state).
5. **Log amplifier**: true current -> volts (:meth:`LogAmpCalibration.to_voltage`, which also
   applies floor and saturation), a first-order lag along the fast axis whose bandwidth is
   proportional to the current, and output noise in decades.

Every number lives in a documented preset dataclass below (:data:`PRESETS`), not in the code.
Sources: C.-S. Jiang et al. (NREL), "Local electrical degradations of solid-state electrolyte
by nm-scale operando imaging of ionic and electronic transports", summarised in SCIENCE.md.

Conventions: images are ``(rows, cols)``, row 0 at the top, columns along the fast axis; the
trace direction runs from column 0 to the last column. A shift ``(dy, dx)`` means
``scipy.ndimage.shift(minus_image, (dy, dx))`` lies on the +V image.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ..core.errors import ConfigError
from ..core.model import Channel, Scan
from ..pair.logamp import PRESETS as LOGAMP_PRESETS
from ..pair.logamp import LogAmpCalibration, load_calibration

__all__ = [
    "ClassProperties",
    "DomainLayer",
    "Preset",
    "SimulatedAmplifier",
    "PRESETS",
    "GroundTruth",
    "SimulatedPair",
    "default_calibration",
    "gaussian_field",
    "apply_bandwidth_lag",
    "record_log_amp",
    "simulate_pair",
    "write_pair",
    "OPTICAL_BRIGHTNESS",
    "SimulatedOptical",
    "simulate_optical",
]

logger = logging.getLogger(__name__)

PA = 1e-12  # A per pA, for readable preset tables
NM = 1e-9
UM = 1e-6


# ------------------------------------------------------------------------------------------------
# presets
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassProperties:
    """Transport and topography of one material class, at the preset's bias magnitude.

    Attributes
    ----------
    ionic_mean : float
        Mean ionic current at +V, A.
    ionic_cv : float
        Coefficient of variation (std / mean) of the ionic current; the field is log-normal, so
        ``sigma_ln = sqrt(ln(1 + cv**2))``. "Fluctuation comparable to the average" is cv ~ 1.
    electronic_mean : float
        Mean electronic current at +V, A (at -V it is scaled ohmically by ``|V-/V+|``).
    electronic_cv : float
        Coefficient of variation of the electronic current.
    roughness_rms : float
        RMS height roughness, m.
    corrugation_length : float
        Correlation length (Gaussian sigma) of the topography, m.
    """

    ionic_mean: float
    ionic_cv: float
    electronic_mean: float
    electronic_cv: float
    roughness_rms: float
    corrugation_length: float


@dataclass(frozen=True)
class DomainLayer:
    """One class placed on top of the base class by thresholding its own random field.

    Attributes
    ----------
    code : int
        Class code (1..4).
    fraction : float
        Area fraction of the +V frame it takes (exact, up to one pixel).
    length : float
        Correlation length (Gaussian sigma) of its field, m: sets the domain size.
    """

    code: int
    fraction: float
    length: float


@dataclass(frozen=True)
class Preset:
    """A virtual electrolyte: biases, classes, domain layout and length scales.

    Attributes
    ----------
    name : str
    description : str
    bias_plus, bias_minus : float
        Sample bias of the two scans, V.
    base_class : int
        Class filling whatever the layers leave.
    layers : tuple of DomainLayer
        Classes placed in order; each claims the top ``fraction`` of the +V frame, among the
        pixels not yet claimed, of its own random field. A layer placed after another class
        therefore sits inside (next to) the base class.
    classes : mapping int -> ClassProperties
        Properties of every class that occurs.
    current_length : float
        Correlation length (Gaussian sigma) of the current fluctuations, m.
    boundary_blend : float
        Width (Gaussian sigma) over which topography roughness blends across domain edges, m.
    """

    name: str
    description: str
    bias_plus: float
    bias_minus: float
    base_class: int
    layers: tuple[DomainLayer, ...]
    classes: Mapping[int, ClassProperties]
    current_length: float = 150 * NM
    boundary_blend: float = 50 * NM

    @property
    def fractions(self) -> dict[int, float]:
        """Area fraction of each class in the +V frame."""
        out = {layer.code: layer.fraction for layer in self.layers}
        out[self.base_class] = 1.0 - sum(out.values())
        return out


# Pristine LICGC, +/-0.5 V (Jiang et al., Fig. 2): ionic mean 2.5 pA with fluctuation as large as
# the mean (cv = 1) in regions of 100 nm - 1 um; electronic current 5 orders of magnitude smaller
# (2.5e-5 pA), also fluctuating by its own size; RMS roughness 1.2 nm, flat and uniform.
_PRISTINE = Preset(
    name="pristine",
    description="pristine LICGC glass-ceramic at +/-0.5 V: uniform ionic conductor",
    bias_plus=0.5,
    bias_minus=-0.5,
    base_class=1,
    layers=(),
    classes={
        1: ClassProperties(2.5 * PA, 1.0, 2.5e-5 * PA, 1.0, 1.2 * NM, 60 * NM),
    },
)

# Cycled (360 cycles) bare LICGC at +/-1 V (Jiang et al., Figs. 3-5, S2):
# - type 2 (86 %, base class; > 80 % in the paper): ionic blocked, electronic leakage dominates
#   both maps, I(+V) ~ I(-V) ~ 1e-3..1e-2 pA. Chosen: electronic 6e-3 pA (cv 0.8), ionic 1.5e-3
#   pA (so I(+V) = 7.5e-3 pA, ionic fraction ~0.2). Rough, ~1 um corrugations: 12 nm RMS with a
#   0.4 um correlation length.
# - type 1 (7 %; < 10 % in the paper), few-um domains: ionic "several times" pristine (10 pA)
#   with fluctuation up to ~1 decade (cv 2: sigma ~0.55 decade); electronic like pristine
#   (2.5e-5 pA; the paper's type-1 images are at +/-0.5 V, we keep those values at +/-1 V);
#   moderately roughened (4 nm).
# - type 3 (4 %): small electronic-shunt domains placed inside / next to type 2, 1e2..1e3 pA in
#   both maps: electronic 300 pA (cv 1); ionic blocked like type 2; moderately rough (5 nm).
# - type 4 (3 %; not in the paper, present so it is represented): neither conducts. Ionic
#   0.02 pA (two decades below pristine, below the 0.1 pA class-1 threshold), electronic like
#   pristine (at the amplifier floor at -V), roughness 8 nm.
_DEGRADED = Preset(
    name="degraded",
    description="cycled bare LICGC at +/-1 V: type-2 matrix with type-1, shunt and insulating "
    "domains",
    bias_plus=1.0,
    bias_minus=-1.0,
    base_class=2,
    layers=(
        DomainLayer(code=1, fraction=0.07, length=0.8 * UM),
        DomainLayer(code=3, fraction=0.04, length=0.25 * UM),
        DomainLayer(code=4, fraction=0.03, length=0.3 * UM),
    ),
    classes={
        1: ClassProperties(10.0 * PA, 2.0, 2.5e-5 * PA, 1.0, 4 * NM, 150 * NM),
        2: ClassProperties(1.5e-3 * PA, 1.0, 6e-3 * PA, 0.8, 12 * NM, 400 * NM),
        3: ClassProperties(1.5e-3 * PA, 1.0, 300.0 * PA, 1.0, 5 * NM, 150 * NM),
        4: ClassProperties(2e-2 * PA, 1.0, 2.5e-5 * PA, 1.0, 8 * NM, 250 * NM),
    },
)

# PAN-coated LICGC after cycling, +/-1 V (Jiang et al., Fig. 7): ionic current 1.3 pA (double
# the 0.6 pA before cycling) with fluctuation slightly larger than the mean (cv 1.2); electronic
# leakage up by > 2 decades from ~1e-5 pA but still ~2 decades below the ionic: 1.3e-2 pA
# (cv 1); moderately roughened (4 nm). The SSE still works: all class 1.
_COATED = Preset(
    name="coated",
    description="PAN-coated LICGC after cycling at +/-1 V: ionic conduction dominates",
    bias_plus=1.0,
    bias_minus=-1.0,
    base_class=1,
    layers=(),
    classes={
        1: ClassProperties(1.3 * PA, 1.2, 1.3e-2 * PA, 1.0, 4 * NM, 200 * NM),
    },
)

#: The built-in virtual electrolytes by name.
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (_PRISTINE, _DEGRADED, _COATED)}
)


@dataclass(frozen=True)
class SimulatedAmplifier:
    """The simulated log amplifier's imperfections (its transfer function is a calibration).

    Attributes
    ----------
    noise_decades : float
        One-sigma output noise, in decades of current (0.02 decade = 0.004 V at 0.2 V/decade).
    hz_per_amp : float
        Small-signal bandwidth per ampere, Hz/A (bandwidth proportional to current, as for a
        translinear log amp). 1e17 Hz/A gives 100 Hz at the 1 fA floor, i.e. a time constant of
        1.6 ms, about one pixel dwell at 256 pixels per line and 1 line/s (0.8 px; 1.6 px at 512
        pixels per line): mild lag at the lowest currents only. This is a simulation choice, far
        faster than the AD8304 model (2e10 Hz/A): with that constant the paper's pA images,
        which resolve 100 nm regions at ~500 nm/s (>= ~5 Hz at 2.5 pA), would be smeared.
    height_noise : float
        RMS measurement noise of the height channel, m.
    """

    noise_decades: float = 0.02
    hz_per_amp: float = 1e17
    height_noise: float = 0.05 * NM


def default_calibration() -> LogAmpCalibration:
    """Calibration of the simulated amplifier: the AD8304 preset (0.2 V/decade, 0 V at 100 nA)
    with a 1 fA floor and a 1 mA saturation, the mA-fA range of the paper's amplifier.
    """
    base = LOGAMP_PRESETS["ad8304"]
    return dataclasses.replace(
        base, floor_current=1e-15, saturation_current=1e-3, name="AD8304 (1 fA - 1 mA)",
        hz_per_amp=None,  # not the preset's: the simulated amplifier has its own (hz_per_amp)
    )


# ------------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------------
@dataclass
class GroundTruth:
    """What the simulator knows, all in the +V frame.

    Attributes
    ----------
    class_map : ndarray of uint8, shape (rows, cols)
        Class codes 1..4.
    ionic_current, electronic_current : ndarray of float, shape (rows, cols)
        True currents at +V, A.
    height : ndarray of float, shape (rows, cols)
        True topography, m (without measurement noise).
    shift_px : tuple of float
        ``(dy, dx)`` such that ``ndimage.shift(minus, shift_px)`` lies on +V, at the centre line
        of the -V scan (row ``(rows - 1) / 2``).
    drift_px_per_line : tuple of float
        Linear slow-axis drift: at -V line ``r`` the shift is
        ``shift_px + drift_px_per_line * (r - (rows - 1) / 2)`` (plus the creep, if any).
    row_displacement : ndarray, shape (rows, 2)
        The displacement ``[dy(r), dx(r)]`` in px at every +V row ``r``, in the convention of
        :mod:`afmcurrent.registration`: ``plus[r, c] ~ minus[r - dy(r), c - dx(r)]``
        (shift, drift and creep, converted from -V lines to +V rows).
    preset : str
    seed : int
    bias_plus, bias_minus : float
        V.
    noise_decades, hz_per_amp : float
        The simulated amplifier (see :class:`SimulatedAmplifier`).
    pixel_rate_hz : float
        Pixels per second along the fast axis (trace and retrace).
    """

    class_map: np.ndarray
    ionic_current: np.ndarray
    electronic_current: np.ndarray
    height: np.ndarray
    shift_px: tuple[float, float]
    drift_px_per_line: tuple[float, float]
    preset: str
    seed: int
    row_displacement: np.ndarray | None = None
    bias_plus: float = 0.0
    bias_minus: float = 0.0
    noise_decades: float = 0.0
    hz_per_amp: float = 0.0
    pixel_rate_hz: float = 0.0

    def scalars(self) -> dict[str, Any]:
        """The scalar fields as a JSON-safe dict."""
        return {
            "preset": self.preset,
            "seed": int(self.seed),
            "shift_px": [float(v) for v in self.shift_px],
            "drift_px_per_line": [float(v) for v in self.drift_px_per_line],
            "shift_reference_line": "centre: (rows - 1) / 2",
            "row_displacement_px": None if self.row_displacement is None else [
                [round(float(a), 4), round(float(b), 4)] for a, b in self.row_displacement],
            "bias_plus_V": float(self.bias_plus),
            "bias_minus_V": float(self.bias_minus),
            "noise_decades": float(self.noise_decades),
            "hz_per_amp": float(self.hz_per_amp),
            "pixel_rate_hz": float(self.pixel_rate_hz),
            "shape": list(self.class_map.shape),
            "fractions": {
                str(c): float(np.mean(self.class_map == c)) for c in (1, 2, 3, 4)
            },
        }


@dataclass
class SimulatedPair:
    """A simulated +V / -V pair.

    Attributes
    ----------
    plus, minus : Scan
        In-memory scans (``format="memory"``) with channels ``"Height"`` (m) and ``"Input1"``
        (log-amp output, V), trace direction.
    calibration : LogAmpCalibration
        The log-amp calibration used to record ``Input1``.
    truth : GroundTruth
    """

    plus: Scan
    minus: Scan
    calibration: LogAmpCalibration
    truth: GroundTruth


# ------------------------------------------------------------------------------------------------
# building blocks
# ------------------------------------------------------------------------------------------------
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


def apply_bandwidth_lag(
    volts: np.ndarray, current: np.ndarray, pixel_time_s: float, hz_per_amp: float
) -> np.ndarray:
    """First-order response of a log amp along the fast axis, bandwidth proportional to current.

    In scan order (trace: column 0 to the last column) each output follows
    ``y[j] = y[j-1] + a[j] * (v[j] - y[j-1])`` with ``a = 1 - exp(-2 pi f dt)``, the exact step
    response of a first-order low-pass with ``f = hz_per_amp * I[j]`` over one pixel dwell
    ``dt``. The bandwidth at the present input current sets the speed, so steps down to a low
    current settle slowly while steps up are fast (a log amp's transient response differs for
    increasing and decreasing signals, LOG100 / LOG104 data sheets). Each line starts settled.

    Parameters
    ----------
    volts : ndarray of float, shape (rows, cols)
        Ideal (instantaneous) output, V.
    current : ndarray of float, shape (rows, cols)
        Input current magnitude, A (after floor/saturation clipping).
    pixel_time_s : float
        Dwell time of one pixel, s.
    hz_per_amp : float
        Bandwidth per ampere, Hz/A.

    Returns
    -------
    ndarray of float, shape (rows, cols)
        Lagged output, V.
    """
    v = np.asarray(volts, dtype=np.float64)
    alpha = -np.expm1(-2.0 * math.pi * hz_per_amp * np.abs(current) * pixel_time_s)
    out = np.empty_like(v)
    y = v[:, 0].copy()
    out[:, 0] = y
    for j in range(1, v.shape[1]):  # vectorised over rows, loop over columns
        y += alpha[:, j] * (v[:, j] - y)
        out[:, j] = y
    return out


def record_log_amp(
    current: np.ndarray,
    calibration: LogAmpCalibration,
    amplifier: SimulatedAmplifier,
    pixel_time_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Record a true current image through the log amplifier.

    True current -> clipped to ``[floor, saturation]`` -> volts (calibration) -> bandwidth lag
    along the fast axis -> output noise (``noise_decades * volts_per_decade``) -> output clipped
    to the floor and saturation voltages.

    Parameters
    ----------
    current : ndarray of float, shape (rows, cols)
        True current magnitude, A.
    calibration : LogAmpCalibration
    amplifier : SimulatedAmplifier
    pixel_time_s : float
        Pixel dwell time, s.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of float, shape (rows, cols)
        Output volts.
    """
    i = np.clip(np.abs(current), calibration.floor_current, calibration.saturation_current)
    v = calibration.to_voltage(i)
    v = apply_bandwidth_lag(v, i, pixel_time_s, amplifier.hz_per_amp)
    v = v + rng.normal(0.0, amplifier.noise_decades * abs(calibration.volts_per_decade), v.shape)
    lo, hi = sorted((calibration.floor_voltage, calibration.saturation_voltage))
    return np.clip(v, lo, hi)


def _place_classes(
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


def _creep_function(creep: Any, rows: int):
    """The creep as a function of the (fractional) -V line: ``m -> (dy, dx)`` arrays."""
    if creep is None:
        return lambda m: (np.zeros(np.shape(m)), np.zeros(np.shape(m)))
    if callable(creep):
        def fn(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            dy, dx = creep(np.asarray(m, dtype=np.float64))
            dy = np.broadcast_to(np.asarray(dy, dtype=np.float64), np.shape(m))
            dx = np.broadcast_to(np.asarray(dx, dtype=np.float64), np.shape(m))
            if not (np.all(np.isfinite(dy)) and np.all(np.isfinite(dx))):
                raise ConfigError("creep returned non-finite displacements")
            return dy, dx
        return fn
    arr = np.asarray(creep, dtype=np.float64)
    if arr.shape != (rows, 2) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"creep must be a function or a finite array of shape ({rows}, 2), "
                          f"got shape {arr.shape}")
    grid = np.arange(rows, dtype=np.float64)
    return lambda m: (np.interp(m, grid, arr[:, 0]), np.interp(m, grid, arr[:, 1]))


def _row_displacement(shift, drift, creep_fn, rows: int) -> np.ndarray:
    """Displacement at every +V row: -V line m samples canvas row m + u(m); the +V row r is
    canvas row r, so m solves m + u(m) = r and d(r) = (u(m), v(m))."""
    half = (rows - 1) / 2.0
    r = np.arange(rows, dtype=np.float64)

    def u(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cy, cx = creep_fn(m)
        return shift[0] + drift[0] * (m - half) + cy, shift[1] + drift[1] * (m - half) + cx

    m = r.copy()
    for _ in range(100):  # converges for |du/dm| < 1 (any physical creep)
        m_new = r - u(m)[0]
        if np.max(np.abs(m_new - m)) < 1e-9:
            m = m_new
            break
        m = m_new
    dy, dx = u(m)
    return np.column_stack([dy, dx])


def _shape2(value: Any, what: str, cast: type = float) -> tuple[Any, Any]:
    try:
        a, b = value
        return cast(a), cast(b)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a pair of numbers, got {value!r}") from None


# ------------------------------------------------------------------------------------------------
# the simulator
# ------------------------------------------------------------------------------------------------
def simulate_pair(
    preset: str | Preset = "degraded",
    *,
    seed: int = 0,
    shape: tuple[int, int] = (256, 256),
    scan_size: tuple[float, float] = (10e-6, 10e-6),
    shift_px: tuple[float, float] = (3.4, -2.7),
    drift_px_per_line: tuple[float, float] = (0.01, 0.005),
    creep: Any = None,
    calibration: Any = None,
    scan_rate_hz: float = 1.0,
    amplifier: SimulatedAmplifier | None = None,
) -> SimulatedPair:
    """Simulate a +V / -V scan pair of a virtual electrolyte, with ground truth.

    Parameters
    ----------
    preset : str or Preset
        ``"pristine"``, ``"degraded"``, ``"coated"`` (see :data:`PRESETS`) or a custom preset.
    seed : int
        Seed of the random generator; equal seeds give identical pairs. The material does not
        depend on the shift or drift as long as they fit the default canvas margin
        (10 % of the larger image side, at least 16 px).
    shape : tuple of int
        ``(lines, samples_per_line)`` of both scans.
    scan_size : tuple of float
        ``(height, width)`` of the scanned area, m.
    shift_px : tuple of float
        ``(dy, dx)`` of the -V scan at its centre line: ``ndimage.shift(minus, shift_px)`` lies
        on +V there.
    drift_px_per_line : tuple of float
        Linear slow-axis drift of the -V scan, px per line (see :class:`GroundTruth`).
    creep : callable or array_like, optional
        Further smooth displacement of the -V scan along the slow axis (piezo creep that
        settles after the frame starts, thermal drift): a function of the -V line index
        (float ndarray) returning ``(dy, dx)`` arrays in px, or an array of shape
        ``(lines, 2)`` with ``[dy, dx]`` per -V line. Added to ``shift_px`` and the drift;
        the truth is in ``GroundTruth.row_displacement``.
    calibration : LogAmpCalibration, str, Path or mapping, optional
        Log-amp calibration used to record volts (anything
        :func:`afmcurrent.logamp.load_calibration` accepts); default
        :func:`default_calibration`.
    scan_rate_hz : float
        Lines per second (trace + retrace pairs); the pixel dwell is
        ``1 / (2 * samples_per_line * scan_rate_hz)``.
    amplifier : SimulatedAmplifier, optional
        Noise, bandwidth and height noise; default :class:`SimulatedAmplifier()`.

    Returns
    -------
    SimulatedPair

    Raises
    ------
    ConfigError
        On an unknown preset or an impossible shape, size or rate.
    """
    if isinstance(preset, str):
        key = preset.strip().lower()
        if key not in PRESETS:
            raise ConfigError(
                f"unknown simulator preset {preset!r}; presets: {', '.join(sorted(PRESETS))}"
            )
        preset = PRESETS[key]
    elif not isinstance(preset, Preset):
        raise ConfigError(f"preset must be a name or a Preset, got {type(preset).__name__}")
    rows, cols = _shape2(shape, "shape", int)
    if rows < 8 or cols < 8:
        raise ConfigError(f"shape must be at least 8 x 8 pixels, got {shape!r}")
    size = _shape2(scan_size, "scan_size")
    if not (size[0] > 0 and size[1] > 0):
        raise ConfigError(f"scan_size must be positive (m), got {scan_size!r}")
    shift = _shape2(shift_px, "shift_px")
    drift = _shape2(drift_px_per_line, "drift_px_per_line")
    if not all(math.isfinite(v) for v in (*shift, *drift)):
        raise ConfigError("shift_px and drift_px_per_line must be finite")
    if not scan_rate_hz > 0:
        raise ConfigError(f"scan_rate_hz must be positive, got {scan_rate_hz!r}")
    creep_fn = _creep_function(creep, rows)
    cal = default_calibration() if calibration is None else load_calibration(calibration)
    amp = amplifier or SimulatedAmplifier()

    # Canvas: one pixel = one scan pixel (assumed square enough: the mean pixel size sets the
    # physical length scales of the random fields).
    pixel = 0.5 * (size[0] / rows + size[1] / cols)
    half = (rows - 1) / 2.0
    lines = np.arange(rows, dtype=np.float64)
    creep_y, creep_x = creep_fn(lines)
    need = max(abs(shift[0]) + abs(drift[0]) * half + float(np.max(np.abs(creep_y))),
               abs(shift[1]) + abs(drift[1]) * half + float(np.max(np.abs(creep_x))))
    margin = max(16, int(math.ceil(0.1 * max(rows, cols))), int(math.ceil(need)) + 4)
    canvas_shape = (rows + 2 * margin, cols + 2 * margin)
    window = (slice(margin, margin + rows), slice(margin, margin + cols))
    rng = np.random.default_rng(seed)

    # 1. domains
    classes = _place_classes(rng, preset, canvas_shape, window, pixel)

    # 2. currents at +V (log10 A), one unit field each for ionic and electronic fluctuation
    g_ion = gaussian_field(rng, canvas_shape, preset.current_length / pixel)
    g_el = gaussian_field(rng, canvas_shape, preset.current_length / pixel)
    lut = np.zeros((4, 5))  # rows: ion median, ion sigma, el median, el sigma; cols: class code
    for code, props in preset.classes.items():
        lut[0, code], lut[1, code] = _lognormal_params(props.ionic_mean, props.ionic_cv)
        lut[2, code], lut[3, code] = _lognormal_params(props.electronic_mean, props.electronic_cv)
    missing = set(np.unique(classes).tolist()) - set(preset.classes)
    if missing:
        raise ConfigError(f"preset {preset.name!r} places classes {sorted(missing)} it does not "
                          "describe in `classes`")
    log_ion = lut[0, classes] + lut[1, classes] * g_ion
    log_el = lut[2, classes] + lut[3, classes] * g_el

    # 3. topography: per class roughness, blended over boundary_blend across domain edges
    lengths = sorted({p.corrugation_length for p in preset.classes.values()})
    unit_height = {L: gaussian_field(rng, canvas_shape, L / pixel) for L in lengths}
    blend = preset.boundary_blend / pixel
    height = np.zeros(canvas_shape)
    weight_sum = np.zeros(canvas_shape)
    for code, props in preset.classes.items():
        w = ndimage.gaussian_filter((classes == code).astype(np.float64), blend, mode="wrap")
        height += w * props.roughness_rms * unit_height[props.corrugation_length]
        weight_sum += w
    height /= np.maximum(weight_sum, 1e-12)

    # 4. the two frames
    ratio = abs(preset.bias_minus / preset.bias_plus)
    ion_plus = 10.0 ** log_ion[window]
    el_plus = 10.0 ** log_el[window]
    height_plus = height[window]
    r = np.arange(rows, dtype=np.float64)[:, None]
    c = np.arange(cols, dtype=np.float64)[None, :]
    yy = margin + r + shift[0] + drift[0] * (r - half) + creep_y[:, None]
    xx = margin + c + shift[1] + drift[1] * (r - half) + creep_x[:, None]
    coords = np.stack(np.broadcast_arrays(yy, xx))
    el_minus = ratio * 10.0 ** ndimage.map_coordinates(log_el, coords, order=1, mode="nearest")
    height_minus = ndimage.map_coordinates(height, coords, order=3, mode="nearest")

    # 5. the log amplifier and the height sensor
    pixel_time = 1.0 / (2.0 * cols * scan_rate_hz)
    v_plus = record_log_amp(ion_plus + el_plus, cal, amp, pixel_time, rng)
    v_minus = record_log_amp(el_minus, cal, amp, pixel_time, rng)
    h_plus = height_plus + rng.normal(0.0, amp.height_noise, height_plus.shape)
    h_minus = height_minus + rng.normal(0.0, amp.height_noise, height_minus.shape)

    start = _dt.datetime(2021, 6, 1, 10, 0, 0)
    scan_time = _dt.timedelta(seconds=rows / scan_rate_hz)
    dates = (start, start + scan_time + _dt.timedelta(minutes=3))

    def make_scan(h: np.ndarray, v: np.ndarray, bias: float, date: _dt.datetime) -> Scan:
        return Scan(
            channel_list=[
                Channel("Height", h, "m", "trace", "Height"),
                Channel("Input1", v, "V", "trace", "Input1",
                        metadata={"log_amp": cal.name}),
            ],
            size=size,
            bias=bias,
            format="memory",
            metadata={
                "scan_rate_hz": float(scan_rate_hz),
                "date": date.isoformat(),
                "samples_per_line": cols,
                "lines": rows,
                "simulated": True,
                "simulator_preset": preset.name,
                "simulator_seed": int(seed),
            },
        )

    truth = GroundTruth(
        class_map=classes[window].copy(),
        ionic_current=ion_plus,
        electronic_current=el_plus,
        height=height_plus.copy(),
        shift_px=shift,
        drift_px_per_line=drift,
        row_displacement=_row_displacement(shift, drift, creep_fn, rows),
        preset=preset.name,
        seed=int(seed),
        bias_plus=preset.bias_plus,
        bias_minus=preset.bias_minus,
        noise_decades=amp.noise_decades,
        hz_per_amp=amp.hz_per_amp,
        pixel_rate_hz=1.0 / pixel_time,
    )
    return SimulatedPair(
        plus=make_scan(h_plus, v_plus, preset.bias_plus, dates[0]),
        minus=make_scan(h_minus, v_minus, preset.bias_minus, dates[1]),
        calibration=cal,
        truth=truth,
    )


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def write_pair(
    outdir: str | Path,
    pair: SimulatedPair,
    *,
    prefix: str | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write a simulated pair as the instrument would, plus calibration and ground truth.

    Files: ``<prefix>_plus.spm`` and ``<prefix>_minus.spm`` (Bruker Nanoscope, via
    :func:`afmcurrent.io.nanoscope.write_nanoscope`), ``logamp.toml`` (the ``[logamp]`` table),
    ``truth.npz`` (class_map, ionic_current, electronic_current, height) and ``truth.json``
    (the scalars of :meth:`GroundTruth.scalars`).

    Parameters
    ----------
    outdir : str or Path
        Folder, created if needed.
    pair : SimulatedPair
    prefix : str, optional
        File name prefix; default ``"<preset>_seed<seed>"``.
    overwrite : bool
        Replace existing files. Without it nothing is written if any target exists.

    Returns
    -------
    dict of str -> Path
        Keys ``plus``, ``minus``, ``logamp``, ``truth``, ``truth_json``.

    Raises
    ------
    FileExistsError
        If a target file exists and ``overwrite`` is false (the message lists them and names
        ``overwrite=True`` / ``--overwrite``).
    """
    from ..io.nanoscope import write_nanoscope

    outdir = Path(outdir)
    prefix = prefix or f"{pair.truth.preset}_seed{pair.truth.seed}"
    paths = {
        "plus": outdir / f"{prefix}_plus.spm",
        "minus": outdir / f"{prefix}_minus.spm",
        "logamp": outdir / "logamp.toml",
        "truth": outdir / "truth.npz",
        "truth_json": outdir / "truth.json",
    }
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{outdir}: refusing to overwrite existing file(s) {existing}; pass overwrite=True "
            "(--overwrite) or choose another folder"
        )
    outdir.mkdir(parents=True, exist_ok=True)
    write_nanoscope(paths["plus"], pair.plus, overwrite=overwrite)
    write_nanoscope(paths["minus"], pair.minus, overwrite=overwrite)
    header = (
        "# Log-amplifier calibration of the simulated pair (afmcurrent.simulate)\n"
        "# V = reference_voltage + volts_per_decade * log10(I / reference_current)\n"
    )
    paths["logamp"].write_text(header + pair.calibration.to_toml(), encoding="utf-8")
    t = pair.truth
    # float32 keeps 7 significant digits, ample for ground truth, at half the size.
    np.savez_compressed(
        paths["truth"],
        class_map=t.class_map,
        ionic_current=t.ionic_current.astype(np.float32),
        electronic_current=t.electronic_current.astype(np.float32),
        height=t.height.astype(np.float32),
    )
    scalars = t.scalars()
    scalars["files"] = {k: p.name for k, p in paths.items()}
    scalars["calibration"] = pair.calibration.to_dict()
    paths["truth_json"].write_text(json.dumps(scalars, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote simulated pair to %s", outdir)
    return paths


# ------------------------------------------------------------------------------------------------
# the optical microscope
# ------------------------------------------------------------------------------------------------
#: Relative optical brightness of each class: types 1 and 3 look bright, type 2 dark (Jiang et
#: al., optical images of cycled LICGC); type 4 is not in the paper and is given a dark grey.
OPTICAL_BRIGHTNESS: Mapping[int, float] = MappingProxyType({1: 0.75, 2: 0.3, 3: 0.7, 4: 0.35})


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
    orows, ocols = _shape2(shape, "shape", int)
    bx0, by0 = _shape2(box_origin_px, "box_origin_px")
    box = (bx0, by0, bx0 + sw / pixel_size, by0 + sh / pixel_size)
    if box[0] < 0 or box[1] < 0 or box[2] > ocols or box[3] > orows:
        raise ConfigError(f"scan box {box} px does not fit the {ocols} x {orows} px field")
    rng = np.random.default_rng(seed)
    s = int(supersample)
    fine_shape = (orows * s, ocols * s)
    fine_px = pixel_size / s
    if preset is not None:
        field_classes = _place_classes(rng, preset, fine_shape, (slice(None), slice(None)),
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
    # Inverse of the rotation in afmcurrent.optical (scan -> image).
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
    bright_fraction = float(np.isin(field_classes, (1, 3)).mean())
    return SimulatedOptical(image, pixel_size, box, float(angle_deg), bright_fraction,
                            MappingProxyType(lut_map))
