"""Reading a session: its record, one scan, a +V / -V pair with the stored calibration."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import ReadError
from ...core.model import Channel, Scan
from .._common import check_readable
from .file import _attr_value, _dataset, _guard, _isolated, _open, _scan_keys, _scan_record, _text
from .records import (
    HEIGHT,
    LOGAMP,
    MIN_LINES,
    Session,
    SessionPair,
    _common_rows,
    _iso,
)

__all__ = [
    "read_session",
    "read_session_scan",
    "load_session_pair",
    "read_session_as_scan",
]

logger = logging.getLogger(__name__)

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


def read_session_scan(path: str | Path, index: int, *, allow_partial: bool = False,
                      rows: tuple[int, int] | None = None) -> Scan:
    """Read one scan of a session as a :class:`~afmcurrent.core.model.Scan`.

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
