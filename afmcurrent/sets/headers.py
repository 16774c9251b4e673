"""What pairing reads from each scan file: the header fields, read in isolated children.

Files are found by the name endings of the formats in the registry
(:func:`afmcurrent.io.registry.matches_suffix`) and recognised by their content
(:func:`~afmcurrent.io.registry.detect_format`), so any mix of formats pairs by the same header
fields (bias, size, pixels, offsets, date: ``Scan`` typed fields and ``Scan.metadata``).
Headers are read in child processes (:class:`afmcurrent.sets.isolation.IsolatedPool`) with a
time limit per file: a file that crashes its reading library or makes it loop is reported as
unreadable, and discovery goes on.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io  # noqa: F401  (imported once here, inherited by the forked readers)
from ..core.errors import AfmcurrentError, ConfigError
from ..io import load_scan
from ..io.nanoscope import read_nanoscope_header
from ..io.registry import detect_format, matches_suffix
from ..io.session import read_session
from .isolation import IsolatedPool, TaskFailed

__all__ = [
    "ScanHeader",
    "SCAN_SUFFIXES",
    "HEADER_TIMEOUT",
    "read_scan_header",
    "find_scan_files",
    "read_headers",
]

logger = logging.getLogger(__name__)

#: Deprecated: discovery asks the format registry (``afmcurrent.io.registry.matches_suffix``).
SCAN_SUFFIXES = re.compile(r"\.(spm|gwy|h5|hdf5|\d{3})$", re.IGNORECASE)

#: Time limit for reading one file's header during discovery, s.
HEADER_TIMEOUT = 60.0


@dataclass(frozen=True)
class ScanHeader:
    """What pairing needs from a scan file's header.

    Attributes
    ----------
    path : Path
    bias : float or None
        Sample bias in V.
    size : tuple of float
        ``(height, width)`` in m.
    shape : tuple of int
        ``(rows, cols)``.
    offset : tuple of float
        ``(y0, x0)`` in m.
    date : datetime or None
        Start of the capture (naive, local time).
    format : str
        Registry name of the file's format.
    """

    path: Path
    bias: float | None
    size: tuple[float, float]
    shape: tuple[int, int]
    offset: tuple[float, float]
    date: _dt.datetime | None
    format: str = ""


def read_scan_header(path: str | Path) -> ScanHeader:
    """Read the header fields pairing needs from a scan file (in this process).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ScanHeader

    Raises
    ------
    ReadError
        If the file cannot be read (see :func:`afmcurrent.io.load_scan`), or is an acquire
        session (several scans: see :func:`afmcurrent.io.session.read_session`).
    """

    return _from_scan(load_scan(Path(path)))


def _from_scan(scan: Any) -> ScanHeader:
    return ScanHeader(
        path=Path(scan.path),
        bias=scan.bias,
        size=scan.size,
        shape=scan.shape,
        offset=scan.offset,
        date=_parse_iso(scan.metadata.get("date")),
        format=str(scan.format),
    )


def _parse_iso(text: Any) -> _dt.datetime | None:
    if not text:
        return None
    try:
        d = text if isinstance(text, _dt.datetime) else _dt.datetime.fromisoformat(str(text))
    except (ValueError, TypeError):
        return None
    if d.tzinfo is not None:  # compared with naive local times of other formats
        d = d.astimezone().replace(tzinfo=None)
    return d


def _nanoscope_header(path: Path) -> ScanHeader | None:
    """A Nanoscope file's pairing fields from its text header alone (no pixel data), when the
    header gives the image geometry as the reader reads it; else None (the file is read)."""

    h = read_nanoscope_header(path)
    n = h["normalised"]
    keys = ("lines", "samples_per_line", "scan_height_m", "scan_width_m")
    if h.get("kind") != "image" or any(n.get(k) is None for k in keys):
        return None
    return ScanHeader(
        path=Path(path),
        bias=n.get("bias_V"),
        size=(float(n["scan_height_m"]), float(n["scan_width_m"])),
        shape=(int(n["lines"]), int(n["samples_per_line"])),
        offset=(float(n.get("y_offset_m", 0.0)), float(n.get("x_offset_m", 0.0))),
        date=_parse_iso(n.get("date")),
        format="nanoscope",
    )


def _header_task(path: Path) -> tuple[str, Any]:
    """What discovery needs from one file, read in a child process; never raises.

    Returns ``("scan", ScanHeader)``, ``("session", Session)`` or ``("error", message)``.
    """
    try:

        fmt = detect_format(path)
        if fmt is None:
            return "error", "not a format afmcurrent reads (by its content)"
        if fmt.name == "acquire-session":
            return "session", read_session(path)
        if fmt.refused_reason:
            return "error", fmt.refused_reason
        if fmt.name == "nanoscope":
            header = _nanoscope_header(path)
            if header is not None:
                return "scan", header
        return "scan", _from_scan(fmt.read(path))
    except AfmcurrentError as exc:
        return "error", str(exc)
    except Exception as exc:  # a reader's bug must not end the discovery
        return "error", f"{type(exc).__name__}: {exc}"


def find_scan_files(root: str | Path) -> list[Path]:
    """Scan files below ``root`` (recursively, sorted), by the name endings of the registry.

    Hidden folders and afmcurrent output folders (holding a ``summary.json``) are skipped.

    Raises
    ------
    ConfigError
        If ``root`` is not a folder.
    """

    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel):
            continue
        if matches_suffix(p) and p.is_file():
            if (p.parent / "summary.json").exists():
                continue
            out.append(p)
    return out



def read_headers(files: list[Path], workers: int | None, timeout: float | None
                  ) -> list[tuple[str, Any]]:
    if not files:
        return []
    if workers == 0:
        return [_header_task(p) for p in files]

    n = max(1, min(workers or os.cpu_count() or 1, len(files)))
    out: dict[Path, tuple[str, Any]] = {}
    with IsolatedPool(n, timeout=timeout) as pool:
        handles = {pool.submit(_header_task, p): p for p in files}
        for h in pool.as_completed(list(handles)):
            try:
                out[handles[h]] = h.result()
            except TaskFailed as exc:
                out[handles[h]] = ("error", f"reading it crashed or hung: {exc}")
                logger.warning("%s: %s", handles[h], out[handles[h]][1])
    return [out[p] for p in files]


