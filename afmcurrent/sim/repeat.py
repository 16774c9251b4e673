"""A repeat scan of a simulated area: +V, -V, +V, the sample changed between (or not) by a known
amount, with the truth of the change.

The first +V and the -V scan are :func:`afmcurrent.sim.simulate_pair`'s; the second +V scan is
recorded from the same material canvas at its own displacement, after the change has been
applied to the material (a disc whose ionic and electronic currents are multiplied by known
factors: the probe blocked the ion conduction under it, or opened an electronic leak).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..core.errors import ConfigError
from ..core.model import Scan
from .amplifier import SimulatedAmplifier, record_log_amp
from .electrolyte import make_material
from .pair import (
    SimulatedPair,
    _canvas_margin,
    _creep_function,
    _minus_coordinates,
    _recorded_scan,
    shape2,
    simulate_pair,
)
from .presets import get_preset

__all__ = ["SampleChange", "SimulatedRepeat", "simulate_repeat"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleChange:
    """A change of the sample between the first and the second +V scan.

    Attributes
    ----------
    center_px : (float, float)
        ``(row, col)`` of the centre of the changed disc in the first +V frame.
    radius_px : float
        Its radius, px.
    ionic_decades, electronic_decades : float
        Inside the disc the ionic (electronic) current is multiplied by ``10**decades``.
    """

    center_px: tuple[float, float]
    radius_px: float
    ionic_decades: float = 0.0
    electronic_decades: float = 0.0


@dataclass
class SimulatedRepeat:
    """+V, -V, +V of one simulated area.

    Attributes
    ----------
    pair : SimulatedPair
        The first +V and the -V scan, with their ground truth.
    plus_again : Scan
        The second +V scan (recorded after the -V scan).
    shift_px : (float, float)
        Its displacement at the centre row: ``scipy.ndimage.shift(plus_again, shift_px)`` lies
        on the first +V scan.
    change : SampleChange or None
    changed : ndarray of bool, shape (rows, cols)
        Pixels of the first +V frame inside the changed disc.
    true_change_decades : ndarray of float, shape (rows, cols)
        ``log10 I(+V, after) - log10 I(+V, before)`` of the true (noise-free) currents in the
        first +V frame (0 outside the disc).
    """

    pair: SimulatedPair
    plus_again: Scan
    shift_px: tuple[float, float]
    change: SampleChange | None
    changed: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    true_change_decades: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def simulate_repeat(
    preset: str = "degraded",
    *,
    seed: int = 0,
    shape: tuple[int, int] = (256, 256),
    shift_px: tuple[float, float] = (3.4, -2.7),
    drift_px_per_line: tuple[float, float] = (0.01, 0.005),
    repeat_shift_px: tuple[float, float] = (-2.2, 1.6),
    repeat_drift_px_per_line: tuple[float, float] = (0.008, -0.004),
    change: SampleChange | None = None,
    amplifier: SimulatedAmplifier | None = None,
    scan_rate_hz: float = 1.0,
) -> SimulatedRepeat:
    """Simulate +V, -V, +V of one area, the sample changed before the second +V scan.

    Parameters
    ----------
    preset, seed, shape, shift_px, drift_px_per_line, amplifier, scan_rate_hz
        As :func:`afmcurrent.sim.simulate_pair` (the first +V and the -V scan are its).
    repeat_shift_px, repeat_drift_px_per_line : (float, float)
        Displacement of the second +V scan (as ``shift_px`` / ``drift_px_per_line`` of the
        -V scan); it must fit the canvas margin of the pair (10 % of the side, at least 16 px,
        less 4 px).
    change : SampleChange, optional
        The change of the sample; None: nothing changed (only the noise and the displacement
        differ).

    Returns
    -------
    SimulatedRepeat

    Raises
    ------
    ConfigError
        On an impossible argument, or a repeat displacement beyond the canvas margin.
    """
    amp = amplifier or SimulatedAmplifier()
    pair = simulate_pair(preset, seed=seed, shape=shape, shift_px=shift_px,
                         drift_px_per_line=drift_px_per_line, amplifier=amp,
                         scan_rate_hz=scan_rate_hz)
    p = get_preset(preset)
    rows, cols = shape2(shape, "shape", int)
    size = pair.plus.size
    shift = shape2(shift_px, "shift_px")
    drift = shape2(drift_px_per_line, "drift_px_per_line")
    zeros = _creep_function(None, rows)(np.arange(rows, dtype=float))
    margin = _canvas_margin((rows, cols), shift, drift, *zeros)
    rshift = shape2(repeat_shift_px, "repeat_shift_px")
    rdrift = shape2(repeat_drift_px_per_line, "repeat_drift_px_per_line")
    half = (rows - 1) / 2.0
    need = max(abs(rshift[0]) + abs(rdrift[0]) * half, abs(rshift[1]) + abs(rdrift[1]) * half)
    if not math.isfinite(need) or need > margin - 4:
        raise ConfigError(f"repeat displacement of up to {need:.1f} px does not fit the canvas "
                          f"margin of {margin} px (at most {margin - 4} px)")
    canvas_shape = (rows + 2 * margin, cols + 2 * margin)
    window = (slice(margin, margin + rows), slice(margin, margin + cols))
    pixel = 0.5 * (size[0] / rows + size[1] / cols)
    # the same material as simulate_pair's: the same generator state before it is drawn
    material = make_material(np.random.default_rng(seed), p, canvas_shape, window, pixel)
    if not np.allclose(material.height[window], pair.truth.height):
        raise ConfigError("internal: the repeat's material differs from the pair's")

    log_ion = material.log_ionic.copy()
    log_el = material.log_electronic.copy()
    rr, cc = np.mgrid[0:canvas_shape[0], 0:canvas_shape[1]]
    disc = np.zeros(canvas_shape, bool)
    if change is not None:
        if not change.radius_px > 0:
            raise ConfigError(f"change radius must be positive, got {change.radius_px!r}")
        cy, cx = (v + margin for v in change.center_px)
        disc = (rr - cy) ** 2 + (cc - cx) ** 2 <= change.radius_px ** 2
        log_ion[disc] += change.ionic_decades
        log_el[disc] += change.electronic_decades
    before = np.log10(10.0 ** material.log_ionic[window] + 10.0 ** material.log_electronic[window])
    after = np.log10(10.0 ** log_ion[window] + 10.0 ** log_el[window])

    coords = _minus_coordinates(margin, (rows, cols), rshift, rdrift, *zeros)
    ion = 10.0 ** ndimage.map_coordinates(log_ion, coords, order=1, mode="nearest")
    el = 10.0 ** ndimage.map_coordinates(log_el, coords, order=1, mode="nearest")
    height = ndimage.map_coordinates(material.height, coords, order=3, mode="nearest")
    rng = np.random.default_rng([int(seed), 2])
    pixel_time = 1.0 / (2.0 * cols * scan_rate_hz)
    volts = record_log_amp(ion + el, pair.calibration, amp, pixel_time, rng)
    height = height + rng.normal(0.0, amp.height_noise, height.shape)
    minus_date = _dt.datetime.fromisoformat(pair.minus.metadata["date"])
    date = minus_date + _dt.timedelta(seconds=rows / scan_rate_hz) + _dt.timedelta(minutes=3)
    meta = {"samples_per_line": cols, "lines": rows, "simulated": True,
            "simulator_preset": p.name, "simulator_seed": int(seed), "repeat": True}
    again = _recorded_scan(height, volts, p.bias_plus, date, size, pair.calibration,
                           scan_rate_hz, meta)
    return SimulatedRepeat(pair=pair, plus_again=again, shift_px=rshift, change=change,
                           changed=disc[window].copy(), true_change_decades=after - before)
