"""What a session file holds: its scans with their status, and +V / -V pairs (no pixel data)."""

from __future__ import annotations

import datetime as _dt
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import ReadError
from ...core.model import Scan

__all__ = [
    "FORMAT",
    "MIN_LINES",
    "MAX_PIXELS",
    "HEIGHT",
    "LOGAMP",
    "SessionScan",
    "Session",
    "SessionPair",
    "sniff_session",
]

logger = logging.getLogger(__name__)

#: Root attribute ``format`` of a session file.
FORMAT = "afmcurrent-acquisition/1"
#: Channel names in a session file.
HEIGHT, LOGAMP = "Height", "LogAmp"
#: Fewest recorded lines a partial scan may have to be analysed (acquire's smallest scan).
MIN_LINES = 8
#: Largest image read from a session (pixels per channel; 8192 x 8192), checked before reading.
MAX_PIXELS = 8192 * 8192

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def sniff_session(head: bytes) -> bool:
    """Whether a file's first bytes are those of a session file.

    The HDF5 magic and the ``format`` attribute's value: acquire writes that attribute first,
    so its string is the first object of the file's first global heap, within its first few
    kB. :func:`read_session` checks the attribute itself. Never raises.
    """
    try:
        return head[:8] == _HDF5_MAGIC and FORMAT.encode() in head
    except Exception:
        return False


@dataclass(frozen=True)
class SessionScan:
    """One scan of a session, as its file records it (no pixel data).

    Attributes
    ----------
    index : int
        Scan number in the session (``/scans/NNN``), from 0.
    bias : float
        Sample bias, V (as planned and applied; sign included).
    status : str
        ``"planned"``, ``"running"``, ``"complete"`` or ``"aborted"``.
    reason : str
        Why the scan was aborted, as the session recorded it ("" when not aborted).
    lines, samples_per_line : int
        Planned image size.
    lines_recorded : int
        Lines the file holds (the writer's counter).
    rows : tuple of int
        ``(first, stop)``: the contiguous block of whole lines recorded (``stop - first``
        lines; ``(0, 0)`` when none).
    size : tuple of float
        ``(height, width)`` of the planned frame, m.
    offset : tuple of float
        ``(y0, x0)``, m (the instrument's offset of the planned frame).
    rate_hz : float
        Lines per second.
    angle_deg : float
    start, end : float or None
        Unix time of the start and end of the scan.
    """

    index: int
    bias: float
    status: str
    reason: str
    lines: int
    samples_per_line: int
    lines_recorded: int
    rows: tuple[int, int]
    size: tuple[float, float]
    offset: tuple[float, float]
    rate_hz: float
    angle_deg: float
    start: float | None = None
    end: float | None = None

    @property
    def complete(self) -> bool:
        """Finished as planned, every line recorded."""
        return self.status == "complete" and self.rows == (0, self.lines)

    @property
    def recorded(self) -> int:
        """Whole lines recorded in the contiguous block :attr:`rows`."""
        return self.rows[1] - self.rows[0]

    @property
    def problem(self) -> str:
        """Why the scan is not complete, in words ("" when it is complete)."""
        if self.complete:
            return ""
        if self.status == "aborted":
            return f"aborted: {self.reason or 'no reason recorded'}"
        if self.status == "running":
            return ("not finished: still being written, or its writer stopped (process killed "
                    "or crashed)")
        if self.status == "planned":
            return "not started"
        if self.status == "complete":
            return "marked complete but lines are missing"
        return f"in status {self.status!r}"

    def describe(self) -> str:
        """One line: index, bias, lines recorded and, where not complete, why."""
        text = f"scan {self.index} ({self.bias:+g} V, {self.recorded} of {self.lines} lines)"
        return text + (f" {self.problem}" if not self.complete else " complete")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the record."""
        return {"index": self.index, "bias_V": self.bias, "status": self.status,
                "reason": self.reason, "lines": self.lines,
                "samples_per_line": self.samples_per_line,
                "lines_recorded": self.lines_recorded, "rows": list(self.rows),
                "complete": self.complete, "problem": self.problem,
                "size_m": list(self.size), "offset_m": list(self.offset),
                "rate_hz": self.rate_hz, "angle_deg": self.angle_deg,
                "start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class Session:
    """A session file's record: its scans with their status, and the stored calibration.

    Attributes
    ----------
    path : Path
    created : str
        When the session started (ISO 8601, as stored).
    attrs : dict
        Root attributes other than the calibration (``sample``, ``area``, ``session`` TOML
        text, ...).
    calibration : dict or None
        The log-amplifier calibration stored in the session, as ``{"logamp": {...}}`` (what
        :func:`afmcurrent.pair.logamp.load_calibration` and ``analyze_pair(logamp=...)`` take);
        None when the file has none.
    calibration_name : str
    scans : tuple of SessionScan
    """

    path: Path
    created: str
    attrs: dict[str, Any]
    calibration: dict[str, Any] | None
    calibration_name: str
    scans: tuple[SessionScan, ...]

    def scan(self, index: int) -> SessionScan:
        """The scan numbered ``index``.

        Raises
        ------
        ReadError
            If the session has no such scan.
        """
        for s in self.scans:
            if s.index == index:
                return s
        raise ReadError(f"{self.path}: no scan {index}; scans: "
                        f"{', '.join(str(s.index) for s in self.scans) or 'none'}")

    def pairs(self, allow_partial: bool = False) -> list[tuple[int, int]]:
        """The consecutive +V / -V pairs, as ``(plus index, minus index)``.

        Two scans next to each other in the session with opposite bias signs make a pair
        (+V, -V, +V gives (0, 1) and (2, 1)), as ``acquire`` pairs them itself. Only pairs
        of complete scans, unless ``allow_partial``: then also pairs whose scans both hold
        at least :data:`MIN_LINES` recorded lines in common.
        """
        out = []
        scans = sorted(self.scans, key=lambda s: s.index)
        for a, b in zip(scans, scans[1:], strict=False):
            if not (a.bias * b.bias < 0 and math.isfinite(a.bias * b.bias)):
                continue
            p, m = (a, b) if a.bias > 0 else (b, a)
            if p.complete and m.complete:
                out.append((p.index, m.index))
            elif allow_partial and _common_rows(p, m)[1] - _common_rows(p, m)[0] >= MIN_LINES:
                out.append((p.index, m.index))
        return out

    def table(self) -> str:
        """Plain-text listing of the scans (for ``afmcurrent info``)."""
        lines = [f"{self.path}  (acquire session, {self.created or 'date not recorded'})"]
        for key in ("sample", "area", "operator"):
            if key in self.attrs:
                lines.append(f"  {key}: {self.attrs[key]}")
        if self.calibration:
            cal = self.calibration["logamp"]
            lines.append(f"  log-amplifier calibration: {self.calibration_name or 'stored'} "
                         f"({cal.get('volts_per_decade', float('nan')):g} V/decade)")
        else:
            lines.append("  log-amplifier calibration: not stored")
        if self.scans:
            s0 = self.scans[0]
            lines.append(f"  scans ({len(self.scans)}), {s0.lines} lines x "
                         f"{s0.samples_per_line} samples, {s0.size[0] * 1e6:.4g} x "
                         f"{s0.size[1] * 1e6:.4g} µm:")
        lines.append(f"    {'index':>5s}  {'bias':>8s}  {'status':<9s}  {'lines':>11s}  reason")
        for s in self.scans:
            rec = f"{s.recorded}/{s.lines}"
            why = "" if s.complete else s.problem
            lines.append(f"    {s.index:5d}  {s.bias:+6.3g} V  {s.status:<9s}  {rec:>11s}  {why}")
        pairs = self.pairs()
        lines.append("  complete +V/-V pairs (--pair PLUS,MINUS): "
                     + (", ".join(f"{p},{m}" for p, m in pairs) or "none"))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for ``afmcurrent info --json``)."""
        return {"file": str(self.path), "format": "acquire-session", "created": self.created,
                "attrs": {k: v for k, v in self.attrs.items() if k != "session"},
                "calibration": self.calibration, "calibration_name": self.calibration_name,
                "scans": [s.to_dict() for s in self.scans],
                "pairs": [list(p) for p in self.pairs()]}


@dataclass(frozen=True)
class SessionPair:
    """A +V / -V pair of a session, loaded, with the calibration stored in the session.

    ``analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)`` analyses it.

    Attributes
    ----------
    plus, minus : Scan
        The scans (channels ``Height`` in m and ``LogAmp`` in V), cropped to the rows both
        recorded when the pair is partial.
    plus_index, minus_index : int
    calibration : dict or None
        ``{"logamp": {...}}`` as stored; None when the session has none.
    rows : tuple of int
        ``(first, stop)`` rows of the planned frame that the scans hold.
    notes : tuple of str
        What was done that the user should know (cropping).
    """

    plus: Scan
    minus: Scan
    plus_index: int
    minus_index: int
    calibration: dict[str, Any] | None
    rows: tuple[int, int]
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------


def _iso(t: float | None) -> str | None:
    if t is None or not math.isfinite(t):
        return None
    try:
        return _dt.datetime.fromtimestamp(t).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


def _common_rows(a: SessionScan, b: SessionScan) -> tuple[int, int]:
    first, stop = max(a.rows[0], b.rows[0]), min(a.rows[1], b.rows[1])
    return (first, stop) if stop > first else (0, 0)
