"""Crash-safe HDF5 session file: one new file per session, every line flushed as it arrives.

Layout (HDF5 with ``libver="latest"`` and single-writer / multiple-reader mode, SWMR, so that
the file can be read while the scan runs, and a file left by a killed process opens with every
line that was flushed)::

    /                     attrs: sample, area, created, session (TOML text), calibration
                          (JSON of the [logamp] table), format = "afmcurrent-acquisition/1"
    /events               (n,) compound: time (unix s), scan (int, -1 for the session),
                          kind (S24), message (S400); grows as events happen
    /scans/NNN/           attrs: bias (V, planned), polarity ("+"/"-"), lines, samples_per_line,
                          size_m (height, width), offset_m, rate_hz, angle_deg, channels
      Height              (lines, samples) float64, m      NaN until the line is recorded
      LogAmp              (lines, samples) float64, V      log-amplifier output
      line_time           (lines,) float64, unix s at the end of each line (NaN: not recorded)
      source_current      (lines,) float64, A read from the bias source after each line
      lines_recorded      (1,) int64
      status              (1,) S16: "planned", "running", "complete", "aborted"
      reason              (1,) S400: why it was aborted ("" otherwise)
      times               (2,) float64: start and end, unix s
      point_current       (2,) float64: log-amp current at the parked probe before / after, A

SWMR forbids creating objects once writing has started, so every scan of the plan is created
up front; statuses and counters are small datasets (attributes cannot change under SWMR).

Events written by the protocol (``kind``: message), additions of issue 14 marked (+), the
layout above is unchanged and ``format`` stays ``afmcurrent-acquisition/1``:

* (+) ``bias``: written *before* each command that changes the source's level or output
  (write-ahead), message ``level +5.000000e-01 V output on: <why>``
  (:func:`format_bias_event` / :func:`parse_bias_event`); the last one says what the source was
  last told, or was about to be told (:func:`last_bias_event`);
* (+) ``recovered``: what the start found (output left on, level from the instrument or the
  write-ahead state, or switched off directly); ``limits``: the instrument's own limits read
  back at configure; ``watchdog``: the on-instrument watchdog armed / disarmed / fired;
  ``signal``: a signal held back during the shutdown; ``shutdown``: how the bias reached 0 V
  (ramp, or direct switch-off after the deadline; confirmed or not);
  ``shutdown_failed``: the instrument could not be reached (output state unknown);
* ``session``, ``identify``, ``output_on``, ``ramp``, ``rest``, ``settled``,
  ``settle_timeout``, ``point_before``, ``point_after``, ``scan_done``, ``abort``,
  ``analysis``, ``analysis_failed`` as before.

(+) A session whose process was killed cannot get more events: the file keeps its SWMR write
flag, and HDF5 refuses a second writer. Its supervisor (:mod:`acquisition.supervisor`) writes
what it did beside it, in ``<session>.supervisor.json``; the next session on the same source
records it again as a ``recovered`` event in its own file.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmcurrent.core.errors import ReadError
from afmcurrent.core.model import Channel, Scan
from afmcurrent.pair.logamp import LogAmpCalibration

__all__ = ["ScanPlan", "SessionFile", "open_session", "read_scan", "scan_status", "FORMAT",
           "HEIGHT", "LOGAMP", "new_session_path", "format_bias_event", "parse_bias_event",
           "last_bias_event", "supervisor_report_path"]

logger = logging.getLogger(__name__)

FORMAT = "afmcurrent-acquisition/1"
#: Channel names in the file (the log-amp name matches afmcurrent's "log" hint).
HEIGHT, LOGAMP = "Height", "LogAmp"
_EVENT = np.dtype([("time", "f8"), ("scan", "i4"), ("kind", "S24"), ("message", "S400")])
#: Event kind of the write-ahead bias record.
BIAS_EVENT = "bias"
_BIAS_RE = re.compile(r"^level ([-+0-9.eE]+) V output (on|off)")


def format_bias_event(level: float, output: bool, note: str = "") -> str:
    """Message of a ``bias`` event: ``level +5.000000e-01 V output on: ramp to +1 V``."""
    return f"level {level:+.6e} V output {'on' if output else 'off'}" + (f": {note}" if note
                                                                          else "")


def parse_bias_event(message: str) -> tuple[float, bool] | None:
    """``(level V, output on)`` of a ``bias`` event message; None if it is not one."""
    m = _BIAS_RE.match(message)
    if m is None:
        return None
    try:
        v = float(m.group(1))
    except ValueError:
        return None
    if not math.isfinite(v):
        return None
    return v, m.group(2) == "on"


def supervisor_report_path(session_path: str | Path) -> Path:
    """``<session>.supervisor.json`` beside the session file."""
    p = Path(session_path)
    return p.with_name(p.stem + ".supervisor.json")


@dataclass(frozen=True)
class ScanPlan:
    """One planned scan.

    Attributes
    ----------
    bias : float
        Sample bias, V.
    lines, samples_per_line : int
    size : tuple of float
        ``(height, width)`` of the area, m.
    offset : tuple of float
        ``(y0, x0)``, m.
    rate_hz : float
        Lines per second.
    angle_deg : float
    """

    bias: float
    lines: int
    samples_per_line: int
    size: tuple[float, float]
    offset: tuple[float, float] = (0.0, 0.0)
    rate_hz: float = 1.0
    angle_deg: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def new_session_path(outdir: str | Path, sample: str, area: str, when: float | None = None
                     ) -> Path:
    """A session file name that does not exist yet: ``SAMPLE_AREA_YYYYmmdd-HHMMSS[_n].h5``."""
    outdir = Path(outdir)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when or time.time()))
    safe = "_".join("".join(c if c.isalnum() or c in "-." else "-" for c in s)
                    for s in (sample, area) if s)
    base = f"{safe or 'session'}_{stamp}"
    path = outdir / f"{base}.h5"
    n = 1
    while path.exists():
        path = outdir / f"{base}_{n}.h5"
        n += 1
    return path


class SessionFile:
    """Writer of one session file (never overwrites).

    Parameters
    ----------
    path : str or Path
        New file; an existing file is refused.
    plans : sequence of ScanPlan
    attrs : dict
        Session attributes (strings / numbers).
    calibration : LogAmpCalibration

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    """

    def __init__(self, path: str | Path, plans: Sequence[ScanPlan], attrs: dict[str, Any],
                 calibration: LogAmpCalibration) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # "x": fail if it exists, never overwrite.
        self._f = h5py.File(self.path, "x", libver="latest")
        f = self._f
        f.attrs["format"] = FORMAT
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        f.attrs["calibration"] = json.dumps({"logamp": calibration.to_dict(),
                                             "name": calibration.name})
        for k, v in attrs.items():
            f.attrs[k] = v
        f.create_dataset("events", shape=(0,), maxshape=(None,), dtype=_EVENT, chunks=(64,))
        self.plans = list(plans)
        for i, p in enumerate(self.plans):
            g = f.create_group(f"scans/{i:03d}")
            g.attrs.update(bias=p.bias, polarity="+" if p.bias > 0 else "-", lines=p.lines,
                           samples_per_line=p.samples_per_line, size_m=list(p.size),
                           offset_m=list(p.offset), rate_hz=p.rate_hz, angle_deg=p.angle_deg,
                           channels=json.dumps({HEIGHT: "m", LOGAMP: "V"}))
            for k, v in p.extra.items():
                g.attrs[k] = v
            for name in (HEIGHT, LOGAMP):
                g.create_dataset(name, shape=(p.lines, p.samples_per_line), dtype="f8",
                                 chunks=(1, p.samples_per_line), fillvalue=np.nan)
            for name in ("line_time", "source_current"):
                g.create_dataset(name, shape=(p.lines,), dtype="f8", fillvalue=np.nan)
            g.create_dataset("lines_recorded", data=np.zeros(1, np.int64))
            g.create_dataset("status", data=np.array([b"planned"], dtype="S16"))
            g.create_dataset("reason", data=np.array([b""], dtype="S400"))
            g.create_dataset("times", data=np.full(2, np.nan))
            g.create_dataset("point_current", data=np.full(2, np.nan))
        f.swmr_mode = True
        f.flush()

    # -- writing --------------------------------------------------------------------------------
    def _g(self, index: int) -> h5py.Group:
        return self._f[f"scans/{index:03d}"]

    def event(self, kind: str, message: str, scan: int = -1, when: float | None = None) -> None:
        """Append one event (flushed)."""
        ds = self._f["events"]
        n = ds.shape[0]
        ds.resize((n + 1,))
        ds[n] = (when or time.time(), scan, kind.encode("ascii", "replace")[:24],
                 message.encode("utf-8", "replace")[:400])
        ds.flush()

    def bias_event(self, level: float, output: bool, note: str = "", scan: int = -1) -> None:
        """Write-ahead record of a change of the source (before it is sent); flushed."""
        self.event(BIAS_EVENT, format_bias_event(level, output, note), scan)

    def start_scan(self, index: int) -> None:
        """Mark a scan running, with its start time."""
        g = self._g(index)
        g["status"][0] = b"running"
        g["times"][0] = time.time()
        self._f.flush()

    def write_line(self, index: int, row: int, height: np.ndarray, logamp: np.ndarray,
                   source_current: float = float("nan")) -> None:
        """Write one line of both channels and flush it to disk.

        Parameters
        ----------
        index : int
            Scan number.
        row : int
            Line (row 0 = top).
        height : ndarray, shape (samples_per_line,)
            m.
        logamp : ndarray, shape (samples_per_line,)
            V.
        source_current : float, optional
            A.
        """
        g = self._g(index)
        g[HEIGHT][row, :] = height
        g[LOGAMP][row, :] = logamp
        g["line_time"][row] = time.time()
        g["source_current"][row] = source_current
        g["lines_recorded"][0] = max(int(g["lines_recorded"][0]), row + 1)
        self._f.flush()

    def point_current(self, index: int, which: int, amps: float) -> None:
        """Record the parked-probe current, ``which`` = 0 before, 1 after the scan (A)."""
        self._g(index)["point_current"][which] = amps
        self._f.flush()

    def finish_scan(self, index: int, status: str, reason: str = "") -> None:
        """Mark a scan ``"complete"`` or ``"aborted"`` (with the reason) and its end time."""
        g = self._g(index)
        g["status"][0] = status.encode("ascii")[:16]
        g["reason"][0] = reason.encode("utf-8", "replace")[:400]
        g["times"][1] = time.time()
        self._f.flush()

    def scan(self, index: int) -> Scan:
        """The recorded scan as a :class:`afmcurrent.model.Scan` (unrecorded lines NaN)."""
        return _scan_from_group(self._g(index), self.path, index)

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if self._f.id.valid:
            self._f.flush()
            self._f.close()

    def __enter__(self) -> SessionFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------
def open_session(path: str | Path) -> h5py.File:
    """Open a session file for reading, also while it is written or after a crash (SWMR).

    Raises
    ------
    ReadError
        If the file is missing or not a session file.
    """
    path = Path(path)
    try:
        f = h5py.File(path, "r", libver="latest", swmr=True)
    except (OSError, ValueError) as exc:
        raise ReadError(f"{path}: cannot open session file: {exc}") from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise ReadError(f"{path}: not an acquisition session file (format attribute)")
    return f


def _scan_from_group(g: h5py.Group, path: Path, index: int) -> Scan:
    a = g.attrs
    cal = json.loads(g.file.attrs["calibration"])
    return Scan(
        channel_list=[
            Channel(HEIGHT, g[HEIGHT][()], "m", "trace", HEIGHT),
            Channel(LOGAMP, g[LOGAMP][()], "V", "trace", LOGAMP,
                    metadata={"log_amp": cal.get("name", "")}),
        ],
        size=tuple(a["size_m"]),
        bias=float(a["bias"]),
        offset=tuple(a["offset_m"]),
        path=path,
        format="acquisition",
        metadata={
            "scan_rate_hz": float(a["rate_hz"]),
            "scan_angle_deg": float(a["angle_deg"]),
            "samples_per_line": int(a["samples_per_line"]),
            "lines": int(a["lines"]),
            "scan_index": index,
            "status": g["status"][0].decode(),
            "lines_recorded": int(g["lines_recorded"][0]),
        },
    )


def read_scan(path: str | Path, index: int) -> Scan:
    """Read scan ``index`` of a session file as a :class:`~afmcurrent.model.Scan`.

    Raises
    ------
    ReadError
        If the file or the scan does not exist.
    """
    with open_session(path) as f:
        key = f"scans/{index:03d}"
        if key not in f:
            raise ReadError(f"{path}: no scan {index} (scans: {len(f['scans'])})")
        return _scan_from_group(f[key], Path(path), index)


def scan_status(path: str | Path) -> list[dict[str, Any]]:
    """Per scan: index, bias, status, reason, lines recorded of lines."""
    out = []
    with open_session(path) as f:
        for key in sorted(f["scans"]):
            g = f["scans"][key]
            out.append({"index": int(key), "bias": float(g.attrs["bias"]),
                        "status": g["status"][0].decode(),
                        "reason": g["reason"][0].decode("utf-8", "replace"),
                        "lines_recorded": int(g["lines_recorded"][0]),
                        "lines": int(g.attrs["lines"]),
                        "point_current": [float(v) for v in g["point_current"][()]]})
    return out


def last_bias_event(path: str | Path) -> dict[str, Any] | None:
    """The last ``bias`` event of a session file (also of one left by a killed process).

    Returns
    -------
    dict or None
        ``{"time": unix s, "level": V, "output": bool, "message": str}``, or None if the file
        has none or cannot be read (logged).
    """
    try:
        with open_session(path) as f:
            ev = f["events"][()]
    except (ReadError, OSError, KeyError) as exc:
        logger.warning("%s: cannot read the bias events: %s", path, exc)
        return None
    for row in ev[::-1]:
        if row["kind"].decode("ascii", "replace") != BIAS_EVENT:
            continue
        msg = row["message"].decode("utf-8", "replace")
        parsed = parse_bias_event(msg)
        if parsed is None:
            continue
        return {"time": float(row["time"]), "level": parsed[0], "output": parsed[1],
                "message": msg}
    return None
