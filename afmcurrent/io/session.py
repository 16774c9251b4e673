"""Acquire's session files as inputs: the scans of a session, their status, and +V / -V pairs.

``afmcurrent acquire`` writes one HDF5 file per session (``acquisition/storage.py`` writes it;
this module reads it on its own, so that ``afmcurrent`` never imports ``acquisition``). The
layout read here (``format = "afmcurrent-acquisition/1"``)::

    /                     attrs: format, created, calibration (JSON {"logamp": {...}, "name"}),
                          sample, area, session (TOML text), ...
    /events               (n,) compound log of the session (not needed here)
    /scans/NNN/           attrs: bias (V, sample bias as applied), polarity, lines,
                          samples_per_line, size_m (height, width), offset_m (y0, x0),
                          rate_hz, angle_deg
      Height              (lines, samples) float64, m, NaN until the line is recorded
      LogAmp              (lines, samples) float64, V, the log-amplifier output
      line_time           (lines,) float64, unix s at the end of each line, NaN: not recorded
      lines_recorded      (1,) int64
      status              (1,) S16: "planned", "running", "complete", "aborted"
      reason              (1,) S400: why a scan was aborted
      times               (2,) float64: start and end of the scan, unix s

The writer keeps the file in HDF5's single-writer / multiple-reader mode (SWMR), so it is read
here with ``swmr=True``: a file still being written, or left by a writer that was killed, opens
with every line that was flushed, without ``h5clear``.

A session holds several scans, so it is not one scan: :func:`afmcurrent.io.load_scan` refuses
it with a message naming its scans (:func:`read_session_as_scan`); read one scan with
:func:`read_session_scan`, or a +V / -V pair with the calibration stored in the session with
:func:`load_session_pair`::

    from afmcurrent import analyze_pair
    from afmcurrent.io.session import load_session_pair

    pair = load_session_pair("S_A1_20261102-090000.h5")           # first complete pair
    result = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)

Lines not recorded
    A scan that did not finish (``aborted``; ``running`` when its writer was stopped) is
    refused with its reason unless ``allow_partial``: then both scans of the pair are
    **cropped** to the rows recorded in both (a contiguous block of whole lines; the scan
    size along the slow axis shrinks with it, the pixel size is kept). Cropping rather than
    masking: the pipeline's leveling, registration and classification see only measured
    pixels, and the area fractions are fractions of the area actually scanned instead of
    counting never-scanned rows as unclassified.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.model import Channel, Scan
from ._common import check_readable

__all__ = [
    "FORMAT",
    "MIN_LINES",
    "SessionScan",
    "Session",
    "SessionPair",
    "sniff_session",
    "read_session",
    "read_session_scan",
    "load_session_pair",
    "read_session_as_scan",
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
        :func:`afmcurrent.logamp.load_calibration` and ``analyze_pair(logamp=...)`` take);
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


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _text(v.reshape(-1)[0])
    return str(v)


def _attr_value(v: Any) -> Any:
    if isinstance(v, (bytes, str)):
        return _text(v)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [_attr_value(x) for x in v.tolist()] if v.dtype.kind in "SOU" else v.tolist()
    return v


def _open(path: Path) -> Any:
    import h5py

    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        # Still open for writing: a writer at work, or one that was killed (the superblock's
        # flag stays set). SWMR read opens both without h5clear. Only then: SWMR read retries
        # every metadata block whose checksum fails (with sleeps), which on a damaged file
        # lasts until the time limit.
        text = str(exc)
        if not any(k in text for k in ("open for write", "h5clear", "lock")):
            raise ReadError(f"{path}: cannot open the session file: {exc}") from None
        try:
            f = h5py.File(path, "r", libver="latest", swmr=True)
        except (OSError, ValueError) as exc2:
            raise ReadError(f"{path}: cannot open the session file: {exc2}") from None
    try:
        fmt = _text(f.attrs.get("format", ""))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        f.close()
        raise ReadError(f"{path}: unreadable root attributes: {exc}") from None
    if fmt != FORMAT:
        f.close()
        raise ReadError(f"{path}: not an acquire session file (format attribute {fmt!r}, "
                        f"expected {FORMAT!r})")
    return f


def _dataset(g: Any, name: str, path: Path, shape: tuple[int, ...] | None = None) -> Any:
    """A member dataset that is stored in this file (no links out, no virtual or external
    storage), of the expected shape."""
    import h5py

    where = f"{path}: {g.name}/{name}"
    link = g.get(name, getlink=True)
    if link is None:
        raise ReadError(f"{where}: missing")
    if not isinstance(link, h5py.HardLink):
        raise ReadError(f"{where}: is a {type(link).__name__}; links are not followed")
    ds = g[name]
    if not isinstance(ds, h5py.Dataset):
        raise ReadError(f"{where}: not a dataset")
    if ds.is_virtual or ds.external:
        raise ReadError(f"{where}: virtual or external storage is not read")
    if shape is not None and tuple(ds.shape) != shape:
        raise ReadError(f"{where}: shape {tuple(ds.shape)}, expected {shape}")
    return ds


def _finite_pair(v: Any, what: str, where: str, positive: bool) -> tuple[float, float]:
    try:
        a = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        a = np.array([])
    if a.size != 2 or not np.all(np.isfinite(a)) or (positive and not np.all(a > 0)):
        want = "two positive finite" if positive else "two finite"
        raise ReadError(f"{where}: {what} must be {want} numbers, got {v!r}")
    return float(a[0]), float(a[1])


def _recorded_block(line_time: np.ndarray, height: Any, logamp: Any) -> tuple[int, int]:
    """The first contiguous block of whole lines recorded, ``(first, stop)``.

    A line counts as recorded when its end-of-line time is stored. The writer stores the
    time after the line's pixels and flushes line by line, so only the last lines of the
    block can lack their pixels (a writer killed in between): those whose pixels are all NaN
    end the block.
    """
    rec = np.isfinite(line_time)
    if not rec.any():
        return 0, 0
    first = int(np.argmax(rec))
    gaps = np.flatnonzero(~rec[first:])
    stop = first + int(gaps[0]) if gaps.size else rec.size
    while stop > first and not (np.isfinite(height[stop - 1]).any()
                                and np.isfinite(logamp[stop - 1]).any()):
        stop -= 1
    return (first, stop) if stop > first else (0, 0)


def _scan_record(g: Any, path: Path, index: int, with_rows: bool = True) -> SessionScan:
    where = f"{path}: scan {index}"
    a = g.attrs
    try:
        bias = float(a["bias"])
        lines, spl = int(a["lines"]), int(a["samples_per_line"])
        size = _finite_pair(a["size_m"], "size_m", where, positive=True)
        offset = _finite_pair(a.get("offset_m", (0.0, 0.0)), "offset_m", where, positive=False)
        rate = float(a.get("rate_hz", float("nan")))
        angle = float(a.get("angle_deg", 0.0))
    except KeyError as exc:
        raise ReadError(f"{where}: attribute {exc} missing") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ReadError(f"{where}: bad attribute ({exc})") from None
    if not math.isfinite(bias) or bias == 0:
        raise ReadError(f"{where}: sample bias {bias} V is not a usable bias")
    if lines < 1 or spl < 1 or lines * spl > MAX_PIXELS:
        raise ReadError(f"{where}: {lines} lines x {spl} samples is not a readable image size "
                        f"(at most {MAX_PIXELS} pixels)")
    status = _text(_dataset(g, "status", path, (1,))[0]).strip("\x00")
    reason = _text(_dataset(g, "reason", path, (1,))[0]).strip("\x00")
    n_rec = int(_dataset(g, "lines_recorded", path, (1,))[0])
    times = np.full(2, np.nan)
    if "times" in g:
        times = np.asarray(_dataset(g, "times", path, (2,))[()], dtype=np.float64)
    rows = (0, 0)
    if with_rows:
        lt = np.asarray(_dataset(g, "line_time", path, (lines,))[()], dtype=np.float64)
        h = _dataset(g, HEIGHT, path, (lines, spl))
        v = _dataset(g, LOGAMP, path, (lines, spl))
        block = _recorded_block(lt, h, v) if lt.size else (0, 0)
        rows = block
    return SessionScan(index=index, bias=bias, status=status, reason=reason, lines=lines,
                       samples_per_line=spl, lines_recorded=max(0, min(n_rec, lines)),
                       rows=rows, size=size, offset=offset, rate_hz=rate, angle_deg=angle,
                       start=float(times[0]) if math.isfinite(times[0]) else None,
                       end=float(times[1]) if math.isfinite(times[1]) else None)


def _scan_keys(f: Any, path: Path) -> list[tuple[int, str]]:
    import h5py

    if "scans" not in f or not isinstance(f["scans"], h5py.Group):
        raise ReadError(f"{path}: session file without a /scans group")
    keys = []
    for key in f["scans"]:
        if key.isdigit():
            keys.append((int(key), key))
    return sorted(keys)


def _isolated(fn: Any, path: Path) -> Any:
    """``fn(path)`` in a forked child with a time limit (:mod:`afmcurrent.io._isolate`):
    libhdf5 can crash or loop for ever on a damaged file inside one call; that becomes a
    ReadError naming the file. (In a process running other threads, in-process.)"""
    from ._isolate import call_isolated

    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return call_isolated(fn, path, 4.0 + size / 20e6, "HDF5 (session)")


def _guard(path: Path, fn: Any) -> Any:
    """Run ``fn()`` turning any library error of a damaged file into a ReadError."""
    try:
        return fn()
    except ReadError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError,
            OverflowError, UnicodeError) as exc:
        raise ReadError(f"{path}: damaged session file ({type(exc).__name__}: {exc})") from None


def read_session(path: str | Path) -> Session:
    """Read a session file's record: its scans and their status (no pixel data).

    Parameters
    ----------
    path : str or Path
        A session file written by ``afmcurrent acquire`` (also while it is written, or left by
        a killed writer: opened in SWMR read mode).

    Returns
    -------
    Session

    Raises
    ------
    ReadError
        Missing file, not a session file, or a damaged one (the message names the file and
        what is wrong; a file on which libhdf5 crashes or hangs included: the read runs in a
        forked child with a time limit).
    """
    p = check_readable(path)
    return _isolated(_read_session, p)


def _read_session(p: Path) -> Session:
    def read() -> Session:
        with _open(p) as f:
            attrs = {k: _attr_value(v) for k, v in f.attrs.items()
                     if k not in ("format", "calibration")}
            calibration, cal_name = None, ""
            if "calibration" in f.attrs:
                try:
                    stored = json.loads(_text(f.attrs["calibration"]))
                    if not isinstance(stored, Mapping) or not isinstance(
                            stored.get("logamp"), Mapping):
                        raise ValueError("no 'logamp' table")
                except ValueError as exc:
                    raise ReadError(f"{p}: stored calibration is not readable ({exc})") from None
                calibration = {"logamp": dict(stored["logamp"])}
                cal_name = str(stored.get("name", "") or "")
            scans = tuple(_scan_record(f["scans"][key], p, i) for i, key in _scan_keys(f, p))
            return Session(path=p, created=str(attrs.pop("created", "")), attrs=attrs,
                           calibration=calibration, calibration_name=cal_name, scans=scans)

    return _guard(p, read)


def _common_rows(a: SessionScan, b: SessionScan) -> tuple[int, int]:
    first, stop = max(a.rows[0], b.rows[0]), min(a.rows[1], b.rows[1])
    return (first, stop) if stop > first else (0, 0)


def read_session_scan(path: str | Path, index: int, *, allow_partial: bool = False,
                      rows: tuple[int, int] | None = None) -> Scan:
    """Read one scan of a session as a :class:`~afmcurrent.model.Scan`.

    Parameters
    ----------
    path : str or Path
    index : int
        Scan number (as ``afmcurrent info SESSION.h5`` lists them).
    allow_partial : bool, optional
        Read a scan that did not finish: cropped to its recorded lines (see the module
        docstring). Refused by default.
    rows : tuple of int, optional
        ``(first, stop)``: crop to these rows (must lie within the recorded lines); for
        cropping both scans of a pair alike.

    Returns
    -------
    Scan
        Channels ``Height`` (m, trace) and ``LogAmp`` (V, trace; the log-amplifier output),
        ``bias`` the scan's sample bias, ``format="acquire-session"``; ``metadata`` holds
        ``scan_rate_hz``, ``scan_angle_deg``, ``date`` (start of the scan, local time),
        ``session_scan`` (the index), ``session_status``, ``lines_recorded``,
        ``planned_lines``, ``rows`` (the rows of the planned frame held) and the session's
        ``sample`` / ``area``. The size is that of the rows held; the offset that of the
        planned frame.

    Raises
    ------
    ReadError
        Not a session file, no such scan, a damaged file, or a scan that is not complete
        (its reason in the message) unless ``allow_partial``, and then fewer than
        :data:`MIN_LINES` lines recorded.
    """
    p = check_readable(path)
    return _isolated(functools.partial(_read_session_scan, index=index,
                                       allow_partial=allow_partial, rows=rows), p)


def _read_session_scan(p: Path, index: int, allow_partial: bool,
                       rows: tuple[int, int] | None) -> Scan:
    def read() -> Scan:
        with _open(p) as f:
            keys = dict(_scan_keys(f, p))
            if index not in keys:
                raise ReadError(f"{p}: no scan {index}; scans: "
                                f"{', '.join(str(i) for i in sorted(keys)) or 'none'}")
            g = f["scans"][keys[index]]
            rec = _scan_record(g, p, index)
            take = rec.rows if rows is None else rows
            if not rec.complete:
                if not allow_partial:
                    raise ReadError(f"{p}: {rec.describe()}; "
                                    "--allow-partial (allow_partial=True) analyses the lines "
                                    "recorded")
                if rec.status == "planned" or rec.recorded < MIN_LINES:
                    raise ReadError(f"{p}: {rec.describe()}: fewer than {MIN_LINES} "
                                    "lines to analyse")
            if not (rec.rows[0] <= take[0] < take[1] <= rec.rows[1]):
                raise ReadError(f"{p}: scan {index}: rows {take[0]}-{take[1] - 1} are not all "
                                f"recorded (recorded rows {rec.rows[0]}-{rec.rows[1] - 1})")
            sl = slice(take[0], take[1])
            h = np.asarray(_dataset(g, HEIGHT, p)[sl, :], dtype=np.float64)
            v = np.asarray(_dataset(g, LOGAMP, p)[sl, :], dtype=np.float64)
            cal_name = ""
            if "calibration" in f.attrs:
                try:
                    cal_name = str(json.loads(_text(f.attrs["calibration"])).get("name", ""))
                except (ValueError, AttributeError):
                    cal_name = ""
            n = take[1] - take[0]
            size = (rec.size[0] * n / rec.lines, rec.size[1])
            meta: dict[str, Any] = {
                "scan_rate_hz": rec.rate_hz, "scan_angle_deg": rec.angle_deg,
                "date": _iso(rec.start), "session_scan": index,
                "session_status": rec.status, "lines_recorded": rec.lines_recorded,
                "planned_lines": rec.lines, "lines": n,
                "samples_per_line": rec.samples_per_line, "rows": [take[0], take[1]],
                "session_created": _text(f.attrs.get("created", "")),
            }
            for key in ("sample", "area"):
                if key in f.attrs:
                    meta[key] = _text(f.attrs[key])
            if rec.reason:
                meta["session_reason"] = rec.reason
        return Scan(
            channel_list=[
                Channel(HEIGHT, h, "m", "trace", HEIGHT),
                Channel(LOGAMP, v, "V", "trace", LOGAMP, metadata={"log_amp": cal_name}),
            ],
            size=size, bias=rec.bias, offset=rec.offset, path=p, format="acquire-session",
            metadata=meta)

    return _guard(p, read)


def load_session_pair(path: str | Path, pair: tuple[int, int] | None = None, *,
                      allow_partial: bool = False) -> SessionPair:
    """Load a +V / -V pair of a session with the calibration stored in it.

    Parameters
    ----------
    path : str or Path
    pair : tuple of int, optional
        ``(plus index, minus index)`` as ``afmcurrent info SESSION.h5`` lists them. Default:
        the first consecutive pair of complete scans (:meth:`Session.pairs`); with
        ``allow_partial`` and no complete pair, the first consecutive pair holding at least
        :data:`MIN_LINES` recorded lines in common.
    allow_partial : bool, optional
        Analyse scans that did not finish: both scans are cropped to the rows both recorded
        (a note says so). Refused by default, with the scan's reason.

    Returns
    -------
    SessionPair

    Raises
    ------
    ReadError
        Not a session file or damaged; no pair (the message lists the scans and why each is
        unusable); a chosen scan that does not exist, has the wrong bias sign, or is not
        complete (unless ``allow_partial``).
    """
    p = check_readable(path)
    return _isolated(functools.partial(_load_session_pair, pair=pair,
                                       allow_partial=allow_partial), p)


def _load_session_pair(p: Path, pair: tuple[int, int] | None, allow_partial: bool
                       ) -> SessionPair:
    session = _read_session(p)
    if pair is None:
        pairs = session.pairs() or (session.pairs(allow_partial=True) if allow_partial else [])
        if not pairs:
            listing = "; ".join(s.describe() for s in session.scans) or "no scans"
            hint = "" if allow_partial else (
                " (--allow-partial analyses scans that did not finish)"
                if session.pairs(allow_partial=True) else "")
            raise ReadError(f"{p}: no consecutive +V/-V pair of complete scans{hint}: {listing}")
        pair = pairs[0]
    ip, im = int(pair[0]), int(pair[1])
    sp, sm = session.scan(ip), session.scan(im)
    if not sp.bias > 0:
        raise ReadError(f"{p}: scan {ip} is at {sp.bias:+g} V, not a +V scan (--pair takes "
                        "the +V scan first: PLUS,MINUS)")
    if not sm.bias < 0:
        raise ReadError(f"{p}: scan {im} is at {sm.bias:+g} V, not a -V scan (--pair takes "
                        "the +V scan first: PLUS,MINUS)")
    notes: list[str] = []
    rows = (0, sp.lines)
    if not (sp.complete and sm.complete):
        for s in (sp, sm):
            if not s.complete and not allow_partial:
                raise ReadError(f"{p}: {s.describe()}; "
                                "--allow-partial (allow_partial=True) analyses the lines "
                                "recorded")
        if sp.lines != sm.lines:
            raise ReadError(f"{p}: scans {ip} and {im} differ in lines ({sp.lines} vs "
                            f"{sm.lines}): not a pair")
        rows = _common_rows(sp, sm)
        if rows[1] - rows[0] < MIN_LINES:
            raise ReadError(f"{p}: scans {ip} and {im} have {rows[1] - rows[0]} recorded lines "
                            f"in common, fewer than {MIN_LINES}: {sp.describe()}; "
                            f"{sm.describe()}")
        why = "; ".join(s.describe() for s in (sp, sm) if not s.complete)
        notes.append(f"partial pair ({why}): both scans cropped to rows {rows[0]}-"
                     f"{rows[1] - 1} of {sp.lines}, the lines recorded in both")
    plus = _read_session_scan(p, ip, allow_partial, rows)
    minus = _read_session_scan(p, im, allow_partial, rows)
    return SessionPair(plus=plus, minus=minus, plus_index=ip, minus_index=im,
                       calibration=session.calibration, rows=rows, notes=tuple(notes))


def read_session_as_scan(path: str | Path) -> Scan:
    """What :func:`afmcurrent.io.load_scan` does with a session file: refuse it, helpfully.

    A session holds several scans; taking one of them silently could pair a scan with
    itself. The message lists the scans and says how to read one or a pair.

    Raises
    ------
    ReadError
        Always (a damaged file: the reason).
    """
    session = read_session(path)
    listing = "; ".join(s.describe() for s in session.scans) or "no scans"
    raise ReadError(
        f"{session.path}: acquire session file holding {len(session.scans)} scan(s) ({listing}); "
        "analyse a pair with `afmcurrent analyze SESSION.h5 -o OUT [--pair PLUS,MINUS]`, list "
        "it with `afmcurrent info SESSION.h5`, or read one scan with "
        "afmcurrent.io.session.read_session_scan(path, index)")
