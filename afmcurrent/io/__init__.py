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
read_park_tiff, read_asylum_ibw, read_ntmdt, read_nanonis_sxm, read_nanosurf_nid (path) -> Scan
    Park Systems TIFF, Asylum Research IBW, NT-MDT MDT, Nanonis SXM, Nanosurf NID (see their
    modules and ``docs/formats.md``).

read_result(outdir) -> StoredResult
    A written result folder read back: maps, registration, domain and profile tables,
    summary, settings (see :mod:`afmcurrent.io.result`).

Every reader raises :class:`~afmcurrent.core.errors.ReadError` (message naming the file and the
problem) on a missing, unknown, corrupt, truncated or inconsistent file; no library traceback
escapes. Writers refuse to replace an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.errors import ReadError
from ..core.model import Scan
from ._common import check_readable
from ._meta import check_scan_numbers
from .asylum import read_asylum_ibw
from .gwy import read_gwy, write_gwy
from .gwyddion_route import gwyddion_program, read_via_gwyddion
from .hdf5 import read_hdf5, write_hdf5
from .nanonis import read_nanonis_sxm
from .nanoscope import read_nanoscope, read_nanoscope_header, write_nanoscope
from .nanosurf import read_nanosurf_nid
from .ntmdt import read_ntmdt
from .park import read_park_tiff
from .registry import FORMATS, ScanFormat, detect_format, matches_suffix
from .result import StoredResult, read_result

__all__ = [
    "load_scan",
    "read_nanoscope",
    "read_nanoscope_header",
    "write_nanoscope",
    "read_gwy",
    "write_gwy",
    "read_hdf5",
    "write_hdf5",
    "read_park_tiff",
    "read_asylum_ibw",
    "read_ntmdt",
    "read_nanonis_sxm",
    "read_nanosurf_nid",
    "SUPPORTED_FORMATS",
    "FORMATS",
    "ScanFormat",
    "detect_format",
    "matches_suffix",
    "read_result",
    "StoredResult",
]


def _supported() -> tuple[str, ...]:
    out = []
    for fmt in FORMATS:
        if fmt.refused_reason is None:
            suffixes = ", ".join(s.replace(".###", ".000-.999") for s in fmt.suffixes)
            out.append(f"{fmt.vendor}: {fmt.description} ({suffixes})")
    return tuple(out)


logger = logging.getLogger(__name__)

#: One line per format read natively (for messages), from the registry.
SUPPORTED_FORMATS = _supported()


def load_scan(path: str | Path, gwyddion: bool = True) -> Scan:
    """Read a scan file of any supported format into a :class:`~afmcurrent.core.model.Scan`.

    The format is recognised from the file's first bytes through the registry
    (:func:`afmcurrent.io.registry.detect_format`); the extension only breaks ties. A file no
    registered format recognises is converted by the ``gwyddion`` program where it is
    installed (:mod:`afmcurrent.io.gwyddion_route`, with a logged notice naming the route).

    Parameters
    ----------
    path : str or Path
        A file of a format in :data:`afmcurrent.io.registry.FORMATS`, or any format
        Gwyddion reads.
    gwyddion : bool, optional
        Allow the Gwyddion route for unknown formats (default True).

    Returns
    -------
    Scan
        Channels in SI units, row 0 at the top as Gwyddion displays the file.

    Raises
    ------
    ReadError
        Missing file or directory, unknown format (the message lists the formats read
        natively and says whether Gwyddion was tried), a recognised but refused kind (Bruker
        force curve, Gwyddion 1.x file), any corrupt / truncated / inconsistent content, or a
        scan whose geometry or bias is not finite. No other exception escapes: an unexpected
        error inside a reader is reported as a ReadError naming the reader.
    """
    p = check_readable(path)
    fmt = detect_format(p)
    if fmt is None:
        hint = f" (extension {p.suffix!r} is not decisive)" if p.suffix else ""
        native = "; ".join(SUPPORTED_FORMATS)
        if gwyddion and gwyddion_program() is not None:
            try:
                return _guarded(read_via_gwyddion, p, "gwyddion-converted")
            except ReadError as exc:
                reason = str(exc).split(": ", 1)[-1]
                raise ReadError(f"{p}: unknown file format{hint}; formats read natively: "
                                f"{native}; tried Gwyddion: {reason}") from exc
        raise ReadError(
            f"{p}: unknown file format{hint}; formats read natively: {native}. Installing "
            "Gwyddion (e.g. 'apt-get install gwyddion') adds every format Gwyddion reads"
        )
    return _guarded(fmt.read, p, fmt.name)


def _guarded(read, p: Path, name: str) -> Scan:
    """Run a reader; anything but a ReadError becomes one, naming the file and the reader."""
    try:
        scan = read(p)
        check_scan_numbers(p, scan.size, scan.offset, scan.bias)
        return scan
    except ReadError:
        raise
    except MemoryError as exc:
        raise ReadError(f"{p}: the {name} reader needs more memory than is available "
                        "(corrupt size fields?)") from exc
    except RecursionError as exc:
        raise ReadError(f"{p}: the {name} reader found a too deeply nested structure") from exc
    except Exception as exc:  # the contract: no foreign exception escapes load_scan
        logger.debug("unexpected error in the %s reader", name, exc_info=True)
        raise ReadError(f"{p}: internal error in the {name} reader while reading this file "
                        f"({type(exc).__name__}: {exc}); the file is probably corrupt") from exc
