"""AFM scan controllers: the interface, its settings and the line record.

Interface (:class:`ScanController`): :meth:`~ScanController.configure` with
:class:`ScanSettings` (scan size, samples per line, lines, rate, angle, offset),
:meth:`~ScanController.start_frame`, :meth:`~ScanController.lines` yielding :class:`Line`
records as they arrive (topography in m, log-amplifier output in V), :meth:`~ScanController.stop`
and :meth:`~ScanController.point_volts`, the log-amp output with the probe parked (``None``
where the controller cannot read it). Implementations: :class:`acquisition.instruments.
NanoscopeCaptureFolder` (a real Nanoscope's capture folder) and :class:`acquisition.sim.
SimulatedAFM` (the virtual electrolyte).

Wiring assumed (see docs/instrument.md): the log-amplifier output goes into an auxiliary input
of the AFM controller, so the controller records it as a channel in V next to the height.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from afmcurrent.core.errors import AfmcurrentError, ConfigError

__all__ = ["ScanSettings", "Line", "ScanController", "CaptureError"]


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

