"""Crash-safe HDF5 session file: one new file per session, every line flushed as it arrives.

:class:`SessionFile` writes the layout of :mod:`acquisition.session.layout` (SWMR, so the file
can be read while it is written; every scan of the plan created up front); the readers are in
:mod:`acquisition.session.reading`. A session file is never overwritten
(:func:`new_session_path`, HDF5 mode ``"x"``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from afmcurrent.core.model import Scan
from afmcurrent.pair.logamp import LogAmpCalibration

from .layout import BIAS_EVENT, EVENT_DTYPE, FORMAT, HEIGHT, LOGAMP, format_bias_event
from .reading import scan_from_group

__all__ = ["ScanPlan", "SessionFile", "new_session_path"]

logger = logging.getLogger(__name__)


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

    Attributes
    ----------
    atomic : callable
        ``atomic()`` returns the context manager each record (an event, a line, a status) is
        written in; the session sets :meth:`acquisition.safety.SafeBias.atomic`, so that a
        signal cannot leave half a record. Default: none.

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    """

    def __init__(self, path: str | Path, plans: Sequence[ScanPlan], attrs: dict[str, Any],
                 calibration: LogAmpCalibration) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.atomic: Callable[[], AbstractContextManager[object]] = nullcontext
        # "x": fail if it exists, never overwrite.
        self._f = h5py.File(self.path, "x", libver="latest")
        f = self._f
        f.attrs["format"] = FORMAT
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        f.attrs["calibration"] = json.dumps({"logamp": calibration.to_dict(),
                                             "name": calibration.name})
        for k, v in attrs.items():
            f.attrs[k] = v
        f.create_dataset("events", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE, chunks=(64,))
        self.plans = list(plans)
        for i, p in enumerate(self.plans):
            _create_scan(f, i, p)
        f.swmr_mode = True
        f.flush()

    # -- writing -----------------------------------------------------------------------------------
    def _g(self, index: int) -> h5py.Group:
        return self._f[f"scans/{index:03d}"]

    def event(self, kind: str, message: str, scan: int = -1, when: float | None = None) -> None:
        """Append one event (flushed)."""
        with self.atomic():
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
        with self.atomic():
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
        with self.atomic():  # rows 0 .. lines_recorded - 1 hold data, the rest NaN
            g = self._g(index)
            g[HEIGHT][row, :] = height
            g[LOGAMP][row, :] = logamp
            g["line_time"][row] = time.time()
            g["source_current"][row] = source_current
            g["lines_recorded"][0] = max(int(g["lines_recorded"][0]), row + 1)
            self._f.flush()

    def point_current(self, index: int, which: int, amps: float) -> None:
        """Record the parked-probe current, ``which`` = 0 before, 1 after the scan (A)."""
        with self.atomic():
            self._g(index)["point_current"][which] = amps
            self._f.flush()

    def finish_scan(self, index: int, status: str, reason: str = "") -> None:
        """Mark a scan ``"complete"`` or ``"aborted"`` (with the reason) and its end time."""
        with self.atomic():
            g = self._g(index)
            g["status"][0] = status.encode("ascii")[:16]
            g["reason"][0] = reason.encode("utf-8", "replace")[:400]
            g["times"][1] = time.time()
            self._f.flush()

    def scan(self, index: int) -> Scan:
        """The recorded scan as a :class:`afmcurrent.model.Scan` (unrecorded lines NaN)."""
        return scan_from_group(self._g(index), self.path, index)

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if self._f.id.valid:
            self._f.flush()
            self._f.close()

    def __enter__(self) -> SessionFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create_scan(f: h5py.File, i: int, p: ScanPlan) -> None:
    """``/scans/NNN`` with every dataset of the layout (SWMR: nothing is created later)."""
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
