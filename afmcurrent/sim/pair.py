"""A virtual electrolyte scanned at +V and -V through a log amplifier, with ground truth.

The simulator builds a material canvas larger than the scan (so a shifted or drifting -V scan
still sees real material; :mod:`.electrolyte`), then records the two scans a lab would record
(:mod:`.amplifier`), and keeps the ground truth. Scanning: the +V frame is the canvas window; the
-V frame is sampled from the canvas by interpolation at a known sub-pixel shift plus a linear
slow-axis drift (and creep). Electronic conduction is ohmic and symmetric:
``|I(-V)| = I_e(+V) * |V-/V+|``; at -V no ionic current flows (Li+ is blocked at steady state).

Conventions: images are ``(rows, cols)``, row 0 at the top, columns along the fast axis; the
trace direction runs from column 0 to the last column. A shift ``(dy, dx)`` means
``scipy.ndimage.shift(minus_image, (dy, dx))`` lies on the +V image.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ..core.classes import CLASSES
from ..core.errors import ConfigError
from ..core.model import Channel, Scan
from ..pair.logamp import LogAmpCalibration, load_calibration
from .amplifier import SimulatedAmplifier, default_calibration, record_log_amp
from .electrolyte import make_material
from .presets import Preset, get_preset

__all__ = ["GroundTruth", "SimulatedPair", "simulate_pair"]

logger = logging.getLogger(__name__)

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
        :mod:`afmcurrent.pair.registration`: ``plus[r, c] ~ minus[r - dy(r), c - dx(r)]``
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
                str(int(c)): float(np.mean(self.class_map == c)) for c in CLASSES
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


def shape2(value: Any, what: str, cast: type = float) -> tuple[Any, Any]:
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
        :func:`afmcurrent.pair.logamp.load_calibration` accepts); default
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
    preset = get_preset(preset)
    rows, cols = shape2(shape, "shape", int)
    if rows < 8 or cols < 8:
        raise ConfigError(f"shape must be at least 8 x 8 pixels, got {shape!r}")
    size = shape2(scan_size, "scan_size")
    if not (size[0] > 0 and size[1] > 0):
        raise ConfigError(f"scan_size must be positive (m), got {scan_size!r}")
    shift = shape2(shift_px, "shift_px")
    drift = shape2(drift_px_per_line, "drift_px_per_line")
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
    creep_y, creep_x = creep_fn(np.arange(rows, dtype=np.float64))
    margin = _canvas_margin((rows, cols), shift, drift, creep_y, creep_x)
    canvas_shape = (rows + 2 * margin, cols + 2 * margin)
    window = (slice(margin, margin + rows), slice(margin, margin + cols))
    rng = np.random.default_rng(seed)
    material = make_material(rng, preset, canvas_shape, window, pixel)

    # the two frames
    ratio = abs(preset.bias_minus / preset.bias_plus)
    ion_plus = 10.0 ** material.log_ionic[window]
    el_plus = 10.0 ** material.log_electronic[window]
    height_plus = material.height[window]
    coords = _minus_coordinates(margin, (rows, cols), shift, drift, creep_y, creep_x)
    el_minus = ratio * 10.0 ** ndimage.map_coordinates(material.log_electronic, coords, order=1,
                                                       mode="nearest")
    height_minus = ndimage.map_coordinates(material.height, coords, order=3, mode="nearest")

    # the log amplifier and the height sensor
    pixel_time = 1.0 / (2.0 * cols * scan_rate_hz)
    v_plus = record_log_amp(ion_plus + el_plus, cal, amp, pixel_time, rng)
    v_minus = record_log_amp(el_minus, cal, amp, pixel_time, rng)
    h_plus = height_plus + rng.normal(0.0, amp.height_noise, height_plus.shape)
    h_minus = height_minus + rng.normal(0.0, amp.height_noise, height_minus.shape)

    start = _dt.datetime(2021, 6, 1, 10, 0, 0)
    dates = (start, start + _dt.timedelta(seconds=rows / scan_rate_hz) + _dt.timedelta(minutes=3))
    meta = {"samples_per_line": cols, "lines": rows, "simulated": True,
            "simulator_preset": preset.name, "simulator_seed": int(seed)}
    truth = GroundTruth(
        class_map=material.classes[window].copy(),
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
        plus=_recorded_scan(h_plus, v_plus, preset.bias_plus, dates[0], size, cal,
                            scan_rate_hz, meta),
        minus=_recorded_scan(h_minus, v_minus, preset.bias_minus, dates[1], size, cal,
                             scan_rate_hz, meta),
        calibration=cal,
        truth=truth,
    )


def _canvas_margin(shape: tuple[int, int], shift: tuple[float, float],
                   drift: tuple[float, float], creep_y: np.ndarray, creep_x: np.ndarray) -> int:
    """Canvas border, px: 10 % of the larger side (at least 16 px), or what the -V frame's
    displacement needs plus 4 px (the material does not depend on the displacement while it
    fits the default)."""
    rows, cols = shape
    half = (rows - 1) / 2.0
    need = max(abs(shift[0]) + abs(drift[0]) * half + float(np.max(np.abs(creep_y))),
               abs(shift[1]) + abs(drift[1]) * half + float(np.max(np.abs(creep_x))))
    return max(16, int(math.ceil(0.1 * max(rows, cols))), int(math.ceil(need)) + 4)


def _minus_coordinates(margin: int, shape: tuple[int, int], shift: tuple[float, float],
                       drift: tuple[float, float], creep_y: np.ndarray,
                       creep_x: np.ndarray) -> np.ndarray:
    """Canvas coordinates (2, rows, cols) sampled by the -V frame: shift, drift and creep."""
    rows, cols = shape
    half = (rows - 1) / 2.0
    r = np.arange(rows, dtype=np.float64)[:, None]
    c = np.arange(cols, dtype=np.float64)[None, :]
    yy = margin + r + shift[0] + drift[0] * (r - half) + creep_y[:, None]
    xx = margin + c + shift[1] + drift[1] * (r - half) + creep_x[:, None]
    return np.stack(np.broadcast_arrays(yy, xx))


def _recorded_scan(h: np.ndarray, v: np.ndarray, bias: float, date: _dt.datetime,
                   size: tuple[float, float], cal: LogAmpCalibration, scan_rate_hz: float,
                   meta: dict[str, Any]) -> Scan:
    """A recorded scan as the instrument gives it: height (m) and log-amp output (V)."""
    return Scan(
        channel_list=[
            Channel("Height", h, "m", "trace", "Height"),
            Channel("Input1", v, "V", "trace", "Input1", metadata={"log_amp": cal.name}),
        ],
        size=size,
        bias=bias,
        format="memory",
        metadata={"scan_rate_hz": float(scan_rate_hz), "date": date.isoformat(), **meta},
    )
