"""File readers and writers of afmcurrent.

Public API (a contract: names and signatures stay stable)
---------------------------------------------------------
load_scan(path) -> Scan
    Read any supported file; the format is recognised from the file's first bytes (magic),
    not from its extension, among every format of the registry :data:`FORMATS`
    (:mod:`afmcurrent.io.registry`; listed by ``afmcurrent info --formats`` and in
    ``docs/formats.md``).

read_nanoscope(path) -> Scan, read_nanoscope_header(path) -> dict,
write_nanoscope(path, scan, overwrite=False) -> Path
    Bruker Nanoscope (see :mod:`afmcurrent.io.nanoscope`).
read_gwy(path) -> Scan, write_gwy(path, scan, overwrite=False) -> Path
    Gwyddion ``.gwy`` (see :mod:`afmcurrent.io.gwy`).
read_hdf5(path) -> Scan, write_hdf5(path, scan, attrs=None, overwrite=False, dtypes=None) -> Path
    The project's own HDF5 layout (see :mod:`afmcurrent.io.hdf5`).

Every reader raises :class:`~afmcurrent.errors.ReadError` (message naming the file and the
problem) on a missing, unknown, corrupt, truncated or inconsistent file; no library traceback
escapes. Writers refuse to replace an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ReadError
from ..model import Scan
from ._common import check_readable
from .gwy import read_gwy, write_gwy
from .hdf5 import read_hdf5, write_hdf5
from .nanoscope import read_nanoscope, read_nanoscope_header, write_nanoscope
from .registry import FORMATS, ScanFormat, detect_format, matches_suffix

__all__ = [
    "load_scan",
    "read_nanoscope",
    "read_nanoscope_header",
    "write_nanoscope",
    "read_gwy",
    "write_gwy",
    "read_hdf5",
    "write_hdf5",
    "SUPPORTED_FORMATS",
    "FORMATS",
    "ScanFormat",
    "detect_format",
    "matches_suffix",
]


def _supported() -> tuple[str, ...]:
    out = []
    for fmt in FORMATS:
        if fmt.refused_reason is None:
            suffixes = ", ".join(s.replace(".###", ".000-.999") for s in fmt.suffixes)
            out.append(f"{fmt.vendor}: {fmt.description} ({suffixes})")
    return tuple(out)


#: One line per format read natively (for messages), from the registry.
SUPPORTED_FORMATS = _supported()


def load_scan(path: str | Path) -> Scan:
    """Read a scan file of any supported format into a :class:`~afmcurrent.model.Scan`.

    The format is recognised from the file's first bytes through the registry
    (:func:`afmcurrent.io.registry.detect_format`); the extension only breaks ties.

    Parameters
    ----------
    path : str or Path
        A file of a format in :data:`afmcurrent.io.registry.FORMATS`.

    Returns
    -------
    Scan
        Channels in SI units, row 0 at the top as Gwyddion displays the file.

    Raises
    ------
    ReadError
        Missing file or directory, unknown format (the message lists the supported ones),
        a recognised but refused kind (Bruker force curve, Gwyddion 1.x file), or any
        corrupt / truncated / inconsistent content.
    """
    p = check_readable(path)
    fmt = detect_format(p)
    if fmt is not None:
        return fmt.read(p)
    hint = f" (extension {p.suffix!r} is not decisive)" if p.suffix else ""
    raise ReadError(
        f"{p}: unknown file format{hint}; supported formats: " + "; ".join(SUPPORTED_FORMATS)
    )
