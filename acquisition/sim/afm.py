"""The virtual electrolyte as scan controller: :class:`SimulatedAFM`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
from scipy import ndimage

from afmcurrent.pair.logamp import LogAmpCalibration
from afmcurrent.sim import SimulatedAmplifier, record_log_amp, simulate_pair

from ..clock import Clock
from ..instruments.controller import Line, ScanController, ScanSettings

__all__ = ["SimulatedAFM"]


class SimulatedAFM(ScanController):
    """The virtual electrolyte of :mod:`afmcurrent.sim`, scanned line by line.

    The material (class map, ionic and electronic currents at the preset's +V bias,
    topography) comes from :func:`afmcurrent.simulate.simulate_pair` in the frame of the first
    scan. Each frame samples it at a position that moves by ``drift_between`` px from one frame
    to the next and by ``drift_during`` px per line within a frame (thermal drift). The current
    at bias ``V`` is ohmic: electronic ``I_e * |V| / V+``; ionic ``I_ion * V / V+`` for ``V > 0``
    and 0 for ``V < 0`` (Li+ blocked at steady state). After each bias change the current
    relaxes to its new value with time constant ``settle_tau`` (polarisation), which is what
    the protocol's settle criterion waits for. Each line is recorded through
    :func:`afmcurrent.simulate.record_log_amp` (floor, saturation, bandwidth lag, noise).

    Parameters
    ----------
    preset : str
        ``"pristine"``, ``"degraded"`` or ``"coated"``.
    seed : int
    calibration : LogAmpCalibration
        The log amplifier's transfer function.
    clock : Clock
        Real or accelerated time.
    bias_probe : callable
        ``bias_probe() -> V`` actually on the sample (the source's state).
    drift_between : tuple of float
        px per frame ``(dy, dx)``.
    drift_during : tuple of float
        px per line.
    settle_tau : float
        s.
    amplifier : SimulatedAmplifier, optional
    """

    def __init__(
        self,
        preset: str = "degraded",
        seed: int = 0,
        *,
        calibration: LogAmpCalibration,
        clock: Clock,
        bias_probe: Callable[[], float],
        drift_between: tuple[float, float] = (2.4, -1.7),
        drift_during: tuple[float, float] = (0.004, 0.002),
        settle_tau: float = 3.0,
        amplifier: SimulatedAmplifier | None = None,
    ) -> None:
        self.preset, self.seed = preset, seed
        self.calibration = calibration
        self.clock = clock
        self.bias_probe = bias_probe
        self.drift_between = drift_between
        self.drift_during = drift_during
        self.settle_tau = settle_tau
        self.amplifier = amplifier or SimulatedAmplifier()
        self.rng = np.random.default_rng(seed + 1)
        self.truth = None
        self.frames = 0
        self._stop = False
        self._bias = 0.0
        self._t_change = -math.inf
        self._i_from = 0.0

    def configure(self, settings: ScanSettings) -> None:
        """Build the virtual sample for these scan parameters."""
        super().configure(settings)
        pair = simulate_pair(self.preset, seed=self.seed,
                             shape=(settings.lines, settings.samples_per_line),
                             scan_size=settings.size, shift_px=(0.0, 0.0),
                             drift_px_per_line=(0.0, 0.0), calibration=self.calibration,
                             scan_rate_hz=settings.rate_hz, amplifier=self.amplifier)
        self.truth = pair.truth
        t = pair.truth
        self._bias_ref = t.bias_plus
        self._log_ion = np.log10(np.maximum(t.ionic_current, 1e-30))
        self._log_el = np.log10(np.maximum(t.electronic_current, 1e-30))
        self._height = t.height
        r, c = settings.lines // 2, settings.samples_per_line // 2
        self._park = (r, c)

    # -- physics -----------------------------------------------------------------------------------
    def _scale(self, bias: float) -> tuple[float, float]:
        k = abs(bias) / abs(self._bias_ref)
        return (k if bias > 0 else 0.0), k

    def steady_current(self, bias: float) -> float:
        """Steady-state current at the parked probe, A, signed like ``bias``."""
        self._require()
        r, c = self._park
        ki, ke = self._scale(bias)
        i = ki * 10 ** self._log_ion[r, c] + ke * 10 ** self._log_el[r, c]
        return math.copysign(i, bias) if bias else 0.0

    def _transient(self) -> float:
        """Present current at the park position, A (magnitude), tracking bias changes."""
        b = float(self.bias_probe())
        now = self.clock.now()
        if b != self._bias:
            self._i_from = self._current_at(now)
            self._bias, self._t_change = b, now
        return self._current_at(now)

    def _current_at(self, now: float) -> float:
        i_ss = abs(self.steady_current(self._bias))
        if self.settle_tau <= 0 or not math.isfinite(self._t_change):
            return i_ss
        w = math.exp(-(now - self._t_change) / self.settle_tau)
        return i_ss + (self._i_from - i_ss) * w

    def point_volts(self) -> float:
        """Log-amp output at the parked probe, V (with output noise)."""
        i = self._transient()
        v = float(self.calibration.to_voltage(i))
        noise = self.amplifier.noise_decades * abs(self.calibration.volts_per_decade)
        return v + float(self.rng.normal(0.0, noise))

    # -- scanning ----------------------------------------------------------------------------------
    def start_frame(self, bias: float) -> None:
        """Start the next frame (the bias that matters is the one the source applies)."""
        self._require()
        self._stop = False
        self._frame = self.frames
        self.frames += 1

    def stop(self) -> None:
        """Stop after the present line."""
        self._stop = True

    def lines(self) -> Iterator[Line]:
        """Yield lines in real or accelerated time."""
        s = self._require()
        k = self._frame
        cols = s.samples_per_line
        half = (s.lines - 1) / 2.0
        c = np.arange(cols, dtype=np.float64)
        for row in range(s.lines):
            if self._stop:
                return
            self.clock.sleep(s.line_time)
            dy = k * self.drift_between[0] + self.drift_during[0] * (row - half)
            dx = k * self.drift_between[1] + self.drift_during[1] * (row - half)
            coords = np.stack([np.full(cols, row + dy), c + dx])
            log_ion = ndimage.map_coordinates(self._log_ion, coords, order=1, mode="nearest")
            log_el = ndimage.map_coordinates(self._log_el, coords, order=1, mode="nearest")
            h = ndimage.map_coordinates(self._height, coords, order=3, mode="nearest")
            i_now = self._transient()
            ki, ke = self._scale(self._bias)
            i_ss = abs(self.steady_current(self._bias))
            ratio = float(np.clip(i_now / i_ss, 1e-3, 1e3)) if i_ss > 0 else 1.0
            current = (ki * 10 ** log_ion + ke * 10 ** log_el) * ratio
            if self._bias == 0:
                current = np.zeros(cols)
            volts = record_log_amp(current[None, :], self.calibration, self.amplifier,
                                   s.pixel_time, self.rng)[0]
            h = h + self.rng.normal(0.0, self.amplifier.height_noise, cols)
            yield Line(row, h, volts)

