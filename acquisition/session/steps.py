"""The protocol's steps between commands: waits, the settle criterion, the parked-probe current,
the over-current interlock.

Every wait is cut into quarter-second (wall) pieces with a check after each, so that a signal or
a fired watchdog stops the session within a quarter second (:func:`wait`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from afmcurrent.pair.logamp import LogAmpCalibration

from ..clock import Clock
from ..instruments import BiasSource, ScanController
from .config import InterlockSpec, SessionConfig

__all__ = ["Abort", "point_current", "wait", "settle", "OverCurrent"]


class Abort(Exception):  # noqa: N818 - an outcome, not a bug
    """An interlock stopped the scan; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def point_current(src: BiasSource, ctl: ScanController, cal: LogAmpCalibration) -> float:
    """Current at the parked probe, A: the log amplifier through the controller, else the
    source's own reading (magnitude)."""
    v = ctl.point_volts()
    if v is None:
        return abs(src.read_current())
    return float(cal.to_current(v))


def wait(clock: Clock, seconds: float, check: Callable[[], None]) -> None:
    """``clock.sleep(seconds)`` in quarter-second (wall) pieces, calling ``check`` after each."""
    left = seconds
    piece = 0.25 * clock.speed
    while left > 0:
        clock.sleep(min(left, piece))
        left -= piece
        check()


def settle(cfg: SessionConfig, src: BiasSource, ctl: ScanController, clock: Clock,
           note: Callable[[str, str], None], check: Callable[[], None]) -> None:
    """Wait after a ramp: ``fixed`` time, or until the parked-probe current is ``stable``
    (max - min of log10(I) within ``tolerance`` decades over ``window`` s), at most ``timeout``
    s (then the scan goes on and a ``settle_timeout`` event says so)."""
    s = cfg.settle
    if s.mode == "fixed":
        wait(clock, s.time, check)
        note("settled", f"fixed wait {s.time:g} s")
        return
    t0 = clock.now()
    readings: list[tuple[float, float]] = []
    while True:
        t = clock.now()
        i = point_current(src, ctl, cfg.calibration)
        readings.append((t, math.log10(max(i, 1e-30))))
        window = [r for r in readings if r[0] >= t - s.window]
        if t - readings[0][0] >= s.window and len(window) >= 2:
            spread = max(r[1] for r in window) - min(r[1] for r in window)
            if spread <= s.tolerance:
                note("settled", f"current {i:.3e} A stable within {spread:.3f} decades over "
                     f"{s.window:g} s after {t - t0:.1f} s")
                return
        if t - t0 >= s.timeout:
            note("settle_timeout", f"current {i:.3e} A not stable within {s.tolerance:g} "
                 f"decades after {s.timeout:g} s; scanning anyway")
            return
        wait(clock, s.interval, check)


class OverCurrent:
    """The over-current interlock: log-amp current above ``max_current`` for
    ``consecutive_pixels`` pixels in a row (a shunt), counted across the lines of a scan."""

    def __init__(self, spec: InterlockSpec) -> None:
        self.spec = spec
        self.run = 0

    def check_line(self, amps: np.ndarray, row: int) -> str:
        """Count one line's pixels (A, shape (samples_per_line,)); the reason to abort, or ""."""
        for flag in amps > self.spec.max_current:  # run length of consecutive over-current pixels
            self.run = self.run + 1 if flag else 0
            if self.run >= self.spec.consecutive_pixels:
                return (f"over-current: log-amp current above {self.spec.max_current:g} A for "
                        f"{self.run} consecutive pixels at line {row} (a shunt?)")
        return ""
