"""A Nanoscope (Bruker) AFM as scan controller: its captures, read from the folder they land in.

Wiring assumed (see docs/instrument.md): the log-amplifier output goes into an auxiliary input
of the AFM controller, so each capture holds it as a channel in V next to the height.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from afmcurrent.core.errors import AfmcurrentError
from afmcurrent.core.model import Scan
from afmcurrent.pair.logamp import LogAmpCalibration

from .controller import CaptureError, Line, ScanController

__all__ = ["NanoscopeCaptureFolder"]

logger = logging.getLogger(__name__)


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
