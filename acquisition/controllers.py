"""AFM scan controllers: one interface, a simulated AFM and a Nanoscope capture folder.

Interface (:class:`ScanController`): :meth:`~ScanController.configure` with
:class:`ScanSettings` (scan size, samples per line, lines, rate, angle, offset),
:meth:`~ScanController.start_frame`, :meth:`~ScanController.lines` yielding :class:`Line`
records as they arrive (topography in m, log-amplifier output in V), :meth:`~ScanController.stop`
and :meth:`~ScanController.point_volts`, the log-amp output with the probe parked (``None``
where the controller cannot read it).

Wiring assumed (see docs/instrument.md): the log-amplifier output goes into an auxiliary input
of the AFM controller, so the controller records it as a channel in V next to the height.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from afmcurrent.core.errors import AfmcurrentError, ConfigError
from afmcurrent.core.model import Scan
from afmcurrent.pair.logamp import LogAmpCalibration
from afmcurrent.sim import SimulatedAmplifier, record_log_amp, simulate_pair

from .clock import Clock

__all__ = ["ScanSettings", "Line", "ScanController", "SimulatedAFM", "NanoscopeCaptureFolder",
           "CaptureError"]

logger = logging.getLogger(__name__)


class CaptureError(AfmcurrentError):
    """A capture did not arrive, or is not what the session asked for."""


@dataclass(frozen=True)
class ScanSettings:
    """Scan parameters.

    Attributes
    ----------
    size : tuple of float
        ``(height, width)`` of the area, m.
    samples_per_line, lines : int
    rate_hz : float
        Lines per second (trace + retrace).
    angle_deg : float
    offset : tuple of float
        ``(y0, x0)``, m.
    """

    size: tuple[float, float]
    samples_per_line: int
    lines: int
    rate_hz: float = 1.0
    angle_deg: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not (self.size[0] > 0 and self.size[1] > 0):
            raise ConfigError(f"scan size must be positive (m), got {self.size!r}")
        if self.samples_per_line < 8 or self.lines < 8:
            raise ConfigError(f"scan needs at least 8 x 8 pixels, got {self.lines} lines x "
                              f"{self.samples_per_line} samples")
        if not self.rate_hz > 0:
            raise ConfigError(f"scan rate must be positive, got {self.rate_hz!r}")

    @property
    def line_time(self) -> float:
        """Seconds per line (trace + retrace)."""
        return 1.0 / self.rate_hz

    @property
    def pixel_time(self) -> float:
        """Dwell per pixel, s: ``1 / (2 * samples_per_line * rate_hz)``."""
        return 1.0 / (2.0 * self.samples_per_line * self.rate_hz)


@dataclass
class Line:
    """One recorded scan line.

    Attributes
    ----------
    row : int
        Line index, 0 = top.
    height : ndarray, shape (samples_per_line,)
        m.
    logamp : ndarray, shape (samples_per_line,)
        Log-amplifier output, V.
    """

    row: int
    height: np.ndarray
    logamp: np.ndarray


class ScanController:
    """Interface of a scan controller (see the module docstring)."""

    settings: ScanSettings | None = None

    def configure(self, settings: ScanSettings) -> None:
        """Set the scan parameters."""
        self.settings = settings

    def start_frame(self, bias: float) -> None:
        """Start a frame at the given (nominal) sample bias, V."""
        raise NotImplementedError

    def lines(self) -> Iterator[Line]:
        """Yield the lines of the running frame as they arrive."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the running frame (withdraws nothing: the probe stays parked)."""

    def point_volts(self) -> float | None:
        """Log-amp output with the probe parked, V (None if not readable)."""
        return None

    def _require(self) -> ScanSettings:
        if self.settings is None:
            raise ConfigError("scan controller used before configure()")
        return self.settings


class SimulatedAFM(ScanController):
    """The virtual electrolyte of :mod:`afmcurrent.simulate`, scanned line by line.

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

    # -- physics --------------------------------------------------------------------------------
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

    # -- scanning -------------------------------------------------------------------------------
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


class NanoscopeCaptureFolder(ScanController):
    """Captures saved by the Nanoscope PC into a folder.

    The operator (or the controller's own scripting) starts each capture; this wrapper waits
    for the new file to be complete (size unchanged for ``stable_s`` and the header parses),
    reads it with :func:`afmcurrent.io.load_scan`, checks that scan size, pixels and bias are
    what the session asked for, and yields its lines.

    Parameters
    ----------
    folder : str or Path
        Where the captures land.
    pattern : str
        Glob of capture names (Nanoscope numbers them ``name.000``, ``name.001``...).
    current_channel : str, optional
        Name of the log-amp channel (default: the first channel in V, else in A).
    stable_s, timeout_s, poll_s : float
        File-complete criterion, how long to wait for a capture, polling interval (s).
    calibration : LogAmpCalibration, optional
        Turns a channel in A back into log-amp volts, so that storage always holds volts.
    size_tolerance, bias_tolerance : float
        Relative size mismatch and absolute bias mismatch (V) accepted.
    """

    def __init__(self, folder: str | Path, pattern: str = "*", *,
                 current_channel: str | None = None, stable_s: float = 1.0,
                 timeout_s: float = 3600.0, poll_s: float = 0.2,
                 calibration: LogAmpCalibration | None = None,
                 size_tolerance: float = 0.01, bias_tolerance: float = 0.02) -> None:
        self.folder = Path(folder)
        self.pattern = pattern
        self.current_channel = current_channel
        self.stable_s, self.timeout_s, self.poll_s = stable_s, timeout_s, poll_s
        self.calibration = calibration
        self.size_tolerance, self.bias_tolerance = size_tolerance, bias_tolerance
        self._seen: set[Path] = set()
        self._bias = 0.0
        self._stop = False

    def start_frame(self, bias: float) -> None:
        """Remember the files present now; the next new one is this frame's capture."""
        self._require()
        if not self.folder.is_dir():
            raise CaptureError(f"{self.folder}: capture folder does not exist")
        self._seen = {p for p in self.folder.glob(self.pattern) if p.is_file()}
        self._bias = bias
        self._stop = False

    def stop(self) -> None:
        """Stop waiting for the capture."""
        self._stop = True

    def wait_for_capture(self) -> tuple[Path, Scan]:
        """Wait for a new, complete capture file; return its path and the scan read from it.

        Complete means: size unchanged for ``stable_s``, the header parses, and the file reads
        with :func:`afmcurrent.io.load_scan` (all image data present).

        Raises
        ------
        CaptureError
            On timeout, or if the file never becomes readable.
        """
        from afmcurrent.io import load_scan
        from afmcurrent.io.nanoscope import read_nanoscope_header

        deadline = time.monotonic() + self.timeout_s
        sizes: dict[Path, tuple[int, float]] = {}
        while time.monotonic() < deadline and not self._stop:
            new = sorted((p for p in self.folder.glob(self.pattern)
                          if p.is_file() and p not in self._seen), key=lambda p: p.name)
            for p in new:
                size = p.stat().st_size
                prev = sizes.get(p)
                now = time.monotonic()
                if prev is None or prev[0] != size:
                    sizes[p] = (size, now)
                    continue
                if now - prev[1] < self.stable_s or size == 0:
                    continue
                try:
                    read_nanoscope_header(p)
                    scan = load_scan(p)
                except AfmcurrentError as exc:
                    logger.debug("%s not complete yet: %s", p, exc)
                    sizes[p] = (size, now)  # wait another stable period
                    continue
                return p, scan
            time.sleep(self.poll_s)
        raise CaptureError(f"{self.folder}: no new complete capture matching {self.pattern!r} "
                           f"within {self.timeout_s:g} s")

    def lines(self) -> Iterator[Line]:
        """Wait for the capture, check it against the session, yield its lines."""
        s = self._require()
        path, scan = self.wait_for_capture()
        if scan.shape != (s.lines, s.samples_per_line):
            raise CaptureError(f"{path}: {scan.shape[0]} lines x {scan.shape[1]} samples, the "
                               f"session asked for {s.lines} x {s.samples_per_line}")
        for got, want, axis in zip(scan.size, s.size, ("height", "width"), strict=True):
            if abs(got - want) > self.size_tolerance * want:
                raise CaptureError(f"{path}: scan {axis} {got * 1e6:.4g} um, the session asked "
                                   f"for {want * 1e6:.4g} um")
        if scan.bias is not None and abs(scan.bias - self._bias) > self.bias_tolerance:
            raise CaptureError(f"{path}: recorded sample bias {scan.bias:+g} V, the session "
                               f"applied {self._bias:+g} V")
        height = scan.find_channel({"m"}, prefer=("height",))
        if height is None:
            raise CaptureError(f"{path}: no height channel (unit m); channels {scan.channels}")
        if self.current_channel:
            cur = scan.channel(self.current_channel)
        else:
            cur = scan.find_channel({"V"}) or scan.find_channel({"A"})
            if cur is None:
                raise CaptureError(f"{path}: no log-amp channel (unit V or A); channels "
                                   f"{scan.channels}")
        volts = cur.data
        if cur.unit == "A":
            if self.calibration is None:
                raise CaptureError(f"{path}: channel {cur.name!r} is in A; a calibration is "
                                   "needed to store it as log-amp volts")
            volts = self.calibration.to_voltage(cur.data)
        elif cur.unit != "V":
            raise CaptureError(f"{path}: channel {cur.name!r} has unit {cur.unit!r}, not V")
        logger.info("capture %s: %s + %s", path, height.name, cur.name)
        for row in range(s.lines):
            yield Line(row, height.data[row].copy(), np.asarray(volts[row], float).copy())
