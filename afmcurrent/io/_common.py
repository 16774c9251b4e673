"""Helpers shared by the afmcurrent file readers and writers (private).

Format detection looks at a file's first bytes (its magic), never only at its extension:

* Bruker Nanoscope: a text header whose first line is ``\\*File list`` (also ``\\*EC File list``
  and other ``\\*... File list`` variants); ``\\*Force file list`` is a force-curve file;
* Gwyddion native: ``GWYP`` (current), ``GWYO`` (the pre-2.0 format, refused);
* HDF5: ``\\x89HDF\\r\\n\\x1a\\n`` (the project's own result / scan format).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

from ..errors import ReadError

logger = logging.getLogger(__name__)

__all__ = [
    "HDF5_MAGIC",
    "SUPPORTED_FORMATS",
    "check_readable",
    "check_writable",
    "sniff_format",
    "parse_length_m",
]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

SUPPORTED_FORMATS = (
    "Bruker Nanoscope image files (.spm, .000-.999; header '\\*File list')",
    "Gwyddion native files (.gwy, 'GWYP')",
    "afmcurrent HDF5 files (.h5, written by afmcurrent.io.write_hdf5)",
)

#: SI prefixes used in Nanoscope and Gwyddion unit strings ("~" is Nanoscope's micro).
_PREFIX = {
    "": 1.0,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "~": 1e-6,
    "\u00b5": 1e-6,
    "\u03bc": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "f": 1e-15,
    "a": 1e-18,
    "G": 1e9,
}


def check_readable(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking that it is an existing regular file.

    Raises
    ------
    ReadError
        If the path does not exist or is a directory.
    """
    p = Path(path)
    if not p.exists():
        raise ReadError(f"{p}: no such file")
    if p.is_dir():
        raise ReadError(f"{p}: is a directory, not a scan file")
    if not p.is_file():
        raise ReadError(f"{p}: not a regular file")
    return p


def check_writable(path: str | Path, overwrite: bool) -> Path:
    """Return ``path`` as a Path, refusing to replace an existing file unless ``overwrite``.

    Raises
    ------
    FileExistsError
        If the file exists and ``overwrite`` is false.
    IsADirectoryError
        If the path is a directory.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a directory")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p}: file exists; pass overwrite=True to replace it")
    return p


_NANOSCOPE_FIRST_LINE = re.compile(rb"^\\\*([A-Za-z0-9 .]*?)\s*file list\s*$", re.IGNORECASE)


def sniff_format(path: Path) -> str:
    """Identify a file's format from its first bytes.

    Parameters
    ----------
    path : Path
        An existing file.

    Returns
    -------
    str
        One of ``"nanoscope"``, ``"nanoscope-force"``, ``"gwy"``, ``"gwy-old"``, ``"hdf5"``,
        ``"unknown"``.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError as exc:
        raise ReadError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"GWYP"):
        return "gwy"
    if head.startswith(b"GWYO"):
        return "gwy-old"
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    m = _NANOSCOPE_FIRST_LINE.match(first)
    if m:
        return "nanoscope-force" if b"force" in m.group(1).lower() else "nanoscope"
    return "unknown"


def parse_length_m(value: float, unit: str) -> float:
    """Convert a length ``value`` given in ``unit`` (``"nm"``, ``"~m"``, ``"um"``, ...) to m.

    Raises
    ------
    ValueError
        If the unit is not a (prefixed) metre.
    """
    unit = unit.strip()
    if not unit.endswith("m") or unit[:-1] not in _PREFIX:
        raise ValueError(f"not a length unit: {unit!r}")
    return float(value) * _PREFIX[unit[:-1]]


def si_factor(unit: str, base_units: tuple[str, ...] = ("m", "A", "V", "N", "Hz", "Pa", "s")
              ) -> tuple[float, str] | None:
    """Split a prefixed unit (``"nA"``, ``"mV"``, ``"~m"``) into (factor to SI, SI unit).

    Returns ``None`` when ``unit`` is not a prefixed form of one of ``base_units``.
    """
    unit = unit.strip()
    for base in sorted(base_units, key=len, reverse=True):
        if unit.endswith(base) and unit[: -len(base)] in _PREFIX:
            return _PREFIX[unit[: -len(base)]], base
    return None


def is_finite(x: float | None) -> bool:
    """True when ``x`` is a finite number (not None, NaN or inf)."""
    return x is not None and math.isfinite(x)
