"""File readers and writers of afmcurrent.

Public API (a contract: names and signatures stay stable)
---------------------------------------------------------
load_scan(path) -> Scan
    Read any supported file; the format is recognised from the file's first bytes (magic),
    not from its extension:

    =====================================  ==========================  =====================
    first bytes                            format                      reader
    =====================================  ==========================  =====================
    ``\\*File list`` (also ``\\*EC ...``)  Bruker Nanoscope image      :func:`read_nanoscope`
    ``\\*Force file list``                 Bruker force curve          refused (ReadError)
    ``GWYP``                               Gwyddion native             :func:`read_gwy`
    ``GWYO``                               Gwyddion pre-2.0 format     refused (ReadError)
    ``\\x89HDF\\r\\n\\x1a\\n``             afmcurrent HDF5             :func:`read_hdf5`
    =====================================  ==========================  =====================

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
from ._common import SUPPORTED_FORMATS, check_readable, sniff_format
from .gwy import read_gwy, write_gwy
from .hdf5 import read_hdf5, write_hdf5
from .nanoscope import read_nanoscope, read_nanoscope_header, write_nanoscope

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
]


def load_scan(path: str | Path) -> Scan:
    """Read a scan file of any supported format into a :class:`~afmcurrent.model.Scan`.

    Parameters
    ----------
    path : str or Path
        A Bruker Nanoscope image file, a Gwyddion ``.gwy`` file or an afmcurrent HDF5 file.
        The format is taken from the file's content; the extension is not needed.

    Returns
    -------
    Scan
        Channels in SI units, row 0 at the top as Gwyddion displays the file.

    Raises
    ------
    ReadError
        Missing file or directory, unknown format (the message lists the supported ones),
        Bruker force-curve file, old GWYO Gwyddion file, or any corrupt / truncated /
        inconsistent content.
    """
    p = check_readable(path)
    kind = sniff_format(p)
    if kind == "nanoscope":
        return read_nanoscope(p)
    if kind == "nanoscope-force":
        raise ReadError(f"{p}: Bruker force-curve file ('\\*Force file list'), not an image: "
                        "afmcurrent reads image scans only")
    if kind == "gwy":
        return read_gwy(p)
    if kind == "gwy-old":
        raise ReadError(
            f"{p}: old Gwyddion 1.x file format (GWYO magic), which afmcurrent cannot read; "
            "open it in a current Gwyddion (2.x) and save it again (File > Save As, .gwy)"
        )
    if kind == "hdf5":
        return read_hdf5(p)
    hint = f" (extension {p.suffix!r} is not decisive)" if p.suffix else ""
    raise ReadError(
        f"{p}: unknown file format{hint}; supported formats: " + "; ".join(SUPPORTED_FORMATS)
    )
