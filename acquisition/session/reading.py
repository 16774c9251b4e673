"""Reading session files: also while they are written, or left by a killed process (SWMR).

Plain ``h5py.File(path, "r")`` refuses a file left open by a killed writer until ``h5clear -s``
is run; these functions open in SWMR read mode, which works on both. Layout:
:mod:`acquisition.session.layout`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import h5py

from afmcurrent.core.errors import ReadError
from afmcurrent.core.model import Channel, Scan

from .layout import BIAS_EVENT, FORMAT, HEIGHT, LOGAMP, parse_bias_event

__all__ = ["open_session", "read_scan", "scan_status", "last_bias_event", "scan_from_group"]

logger = logging.getLogger(__name__)


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


def scan_from_group(g: h5py.Group, path: Path, index: int) -> Scan:
    """Scan ``index`` of an open session file as a :class:`~afmcurrent.model.Scan`.

    Parameters
    ----------
    g : h5py.Group
        ``/scans/NNN``.
    path : Path
        The file, for the record.
    index : int

    Returns
    -------
    Scan
        Height (m) and LogAmp (V) channels, shape (lines, samples_per_line); lines not
        recorded are NaN.
    """
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
            "session_scan": index,  # as afmcurrent.io.session names it (labels "(scan N)")
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
        return scan_from_group(f[key], Path(path), index)


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
