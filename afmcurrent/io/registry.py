"""The format registry: every file format afmcurrent reads, in one table.

Public API (a contract: other modules code against it)
------------------------------------------------------
ScanFormat
    One format: name, vendor, description, suffixes, ``sniff`` (magic bytes), ``read``,
    optional ``write``, the ``library`` that reads it and, for a kind that is recognised
    but refused (Bruker force curves, Gwyddion 1.x files), ``refused_reason``.
FORMATS
    The registry, a tuple of :class:`ScanFormat`. Adding a format is one reader module plus
    one entry here; :func:`afmcurrent.io.load_scan`, ``afmcurrent info --formats`` and batch
    discovery all go through it.
detect_format(path) -> ScanFormat | None
    The format of a file from its first :data:`SNIFF_BYTES` bytes (magic / content
    sniffing); the file name's suffix only breaks ties between formats whose sniffers both
    accept the bytes.
matches_suffix(path) -> bool
    Whether a file name ends in a suffix of some registered format (fast pre-filter for
    batch discovery; the content decides afterwards).

Sniffers are pure functions of the first bytes: they never raise and never read the file.
Readers raise :class:`~afmcurrent.core.errors.ReadError` only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ReadError
from ..core.model import Scan
from . import asylum, gwy, hdf5, nanonis, nanoscope, nanosurf, ntmdt, park, session
from ._common import check_readable, open_binary

__all__ = [
    "ScanFormat",
    "FORMATS",
    "SNIFF_BYTES",
    "detect_format",
    "matches_suffix",
    "read_head",
    "format_by_name",
]

#: Number of leading bytes a sniffer sees.
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class ScanFormat:
    """One file format in the registry.

    Parameters
    ----------
    name : str
        Short unique name (``"nanoscope"``, ``"gwyddion"``, ``"hdf5"``, ...); it is also
        the ``Scan.format`` of the scans the reader returns.
    vendor : str
        Who defines the format (``"Bruker"``, ``"Gwyddion"``, ``"afmcurrent"``, ...).
    description : str
        One line for ``afmcurrent info --formats``.
    suffixes : tuple of str
        File name endings, lower case with the dot (``".spm"``); ``".###"`` stands for the
        numbered endings ``.000`` ... ``.999``.
    sniff : callable (bytes -> bool)
        Decides from the first :data:`SNIFF_BYTES` bytes of a file whether it is of this
        format. Pure; never raises.
    read : callable (Path -> Scan)
        The reader; raises :class:`~afmcurrent.core.errors.ReadError` only.
    write : callable or None, optional
        ``write(path, scan, overwrite=False) -> Path`` where the format can be written.
    library : str, optional
        What does the reading (``"own parser (numpy)"``, ``"gwyfile"``, ``"h5py"``, ...).
    refused_reason : str or None, optional
        For a kind of file that is recognised but not read (its ``read`` raises a
        ReadError saying this).
    """

    name: str
    vendor: str
    description: str
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    read: Callable[[Path], Scan]
    write: Callable[..., Path] | None = None
    library: str = ""
    refused_reason: str | None = None


# ----------------------------------------------------------------------------------------------
# sniffers (pure functions of the first bytes)
# ----------------------------------------------------------------------------------------------
_NANOSCOPE_FIRST_LINE = re.compile(rb"^[\\?]\*([A-Za-z0-9 .]*?)\s*file list\s*$", re.IGNORECASE)


def _nanoscope_title(head: bytes) -> bytes | None:
    first = head[:130].split(b"\n", 1)[0].rstrip(b"\r")
    if len(first) > 120:  # real first lines are "\\*File list", "\\*EC File list"...
        return None
    m = _NANOSCOPE_FIRST_LINE.match(first)
    return m.group(1).lower() if m else None


def _sniff_nanoscope(head: bytes) -> bool:
    t = _nanoscope_title(head)
    return t is not None and b"force" not in t


def _sniff_nanoscope_force(head: bytes) -> bool:
    t = _nanoscope_title(head)
    return t is not None and b"force" in t


def _sniff_gwy(head: bytes) -> bool:
    return head[:4] == b"GWYP"


def _sniff_gwy_old(head: bytes) -> bool:
    return head[:4] == b"GWYO"


def _sniff_hdf5(head: bytes) -> bool:
    # The HDF5 superblock may also sit at 512, 1024, 2048 ... (user block); afmcurrent
    # writes it at 0.
    return head[:8] == b"\x89HDF\r\n\x1a\n"


# ----------------------------------------------------------------------------------------------
# refused kinds
# ----------------------------------------------------------------------------------------------
def _refuse(reason: str) -> Callable[[Path], Scan]:
    def read(path: Path) -> Scan:
        raise ReadError(f"{path}: {reason}")

    return read


_FORCE_REASON = ("Bruker force-curve file ('\\*Force file list'), not an image: afmcurrent "
                 "reads image scans only (a force-volume file's image channels are read, as "
                 "Gwyddion does)")
_GWYO_REASON = ("old Gwyddion 1.x file format (GWYO magic), which afmcurrent cannot read; "
                "open it in a current Gwyddion (2.x) and save it again (File > Save As, .gwy)")


# ----------------------------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------------------------
FORMATS: tuple[ScanFormat, ...] = (
    ScanFormat(
        name="nanoscope", vendor="Bruker",
        description="Nanoscope image file, NanoScope 4.x to 9.x (2- and 4-byte samples)",
        suffixes=(".spm", ".###"), sniff=_sniff_nanoscope, read=nanoscope.read_nanoscope,
        write=nanoscope.write_nanoscope, library="own parser (numpy)"),
    ScanFormat(
        name="nanoscope-force", vendor="Bruker",
        description="Nanoscope force-curve file (recognised, refused)",
        suffixes=(".spm", ".###", ".pfc"), sniff=_sniff_nanoscope_force,
        read=nanoscope.read_nanoscope, library="own parser (numpy)",
        refused_reason=_FORCE_REASON),
    ScanFormat(
        name="gwyddion", vendor="Gwyddion",
        description="Gwyddion native file (GWYP), every 2-D data field",
        suffixes=(".gwy",), sniff=_sniff_gwy, read=gwy.read_gwy, write=gwy.write_gwy,
        library="gwyfile"),
    ScanFormat(
        name="gwyddion-old", vendor="Gwyddion",
        description="Gwyddion 1.x file (GWYO; recognised, refused)",
        suffixes=(".gwy",), sniff=_sniff_gwy_old, read=_refuse(_GWYO_REASON), library="-",
        refused_reason=_GWYO_REASON),
    ScanFormat(
        name="park-tiff", vendor="Park Systems",
        description="SmartScan / XEI TIFF with Park's private tags (one channel per file)",
        suffixes=(".tiff", ".tif"), sniff=park.sniff_park_tiff, read=park.read_park_tiff,
        library="tifffile"),
    ScanFormat(
        name="asylum-ibw", vendor="Asylum Research",
        description="Igor binary wave image (MFP-3D, Cypher, Jupiter), one channel per layer",
        suffixes=(".ibw",), sniff=asylum.sniff_ibw, read=asylum.read_asylum_ibw,
        library="igor2"),
    ScanFormat(
        name="ntmdt-mdt", vendor="NT-MDT",
        description="MDT file (MDA and scanned-data image frames, XML parameters, bias)",
        suffixes=(".mdt",), sniff=ntmdt.sniff_mdt, read=ntmdt.read_ntmdt,
        library="own parser (numpy)"),
    ScanFormat(
        name="nanonis-sxm", vendor="SPECS Nanonis",
        description="SXM scan file (every channel, forward and backward)",
        suffixes=(".sxm",), sniff=nanonis.sniff_sxm, read=nanonis.read_nanonis_sxm,
        library="own parser (numpy)"),
    ScanFormat(
        name="nanosurf-nid", vendor="Nanosurf",
        description="NID file (INI header + binary), scan groups forward and backward",
        suffixes=(".nid",), sniff=nanosurf.sniff_nid, read=nanosurf.read_nanosurf_nid,
        library="own parser (numpy)"),
    # ---- acquire's session files (afmcurrent/io/session/): the session reader goes HERE,
    # ---- before "hdf5" (both sniff the HDF5 magic; the first match in this order wins when
    # ---- the suffix does not decide). Only the io-registry owners edit this tuple.
    ScanFormat(
        name="acquire-session", vendor="afmcurrent",
        description="acquire's session file (HDF5, SWMR): scans listed by 'info', pairs "
        "analysed by 'analyze SESSION.h5' and 'batch'; load_scan refuses it (several scans)",
        suffixes=(".h5", ".hdf5"), sniff=session.sniff_session,
        read=session.read_session_as_scan, library="h5py (SWMR read)"),
    ScanFormat(
        name="hdf5", vendor="afmcurrent",
        description="afmcurrent HDF5 scan / result file (written by afmcurrent)",
        suffixes=(".h5", ".hdf5"), sniff=_sniff_hdf5, read=hdf5.read_hdf5_isolated,
        write=hdf5.write_hdf5, library="h5py"),
)


def format_by_name(name: str) -> ScanFormat:
    """Return the registered format called ``name``.

    Raises
    ------
    KeyError
        If no format has that name.
    """
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise KeyError(name)


def read_head(path: str | Path, n: int = SNIFF_BYTES) -> bytes:
    """Return the first ``n`` bytes of a file.

    Raises
    ------
    ReadError
        Missing file, a directory, or a file that cannot be opened.
    """
    p = check_readable(path)
    with open_binary(p) as fh:
        return fh.read(n)


_NUMBERED = re.compile(r"\.\d{3}$")


def _suffix_matches(fmt: ScanFormat, name: str) -> bool:
    name = name.lower()
    for s in fmt.suffixes:
        if s == ".###":
            if _NUMBERED.search(name):
                return True
        elif name.endswith(s):
            return True
    return False


def matches_suffix(path: str | Path) -> bool:
    """Whether the file name ends in a suffix of a registered format (case-insensitive).

    A fast pre-filter (no I/O); the file's content decides its format (:func:`detect_format`).
    """
    name = Path(path).name
    return any(_suffix_matches(fmt, name) for fmt in FORMATS)


def detect_format(path: str | Path, head: bytes | None = None) -> ScanFormat | None:
    """Identify a file's format from its first bytes.

    Every registered sniffer sees the first :data:`SNIFF_BYTES` bytes. When several accept
    them, those whose suffixes match the file name are preferred, then the order of
    :data:`FORMATS`. The extension alone never makes a format.

    Parameters
    ----------
    path : str or Path
        The file.
    head : bytes, optional
        Its first bytes when the caller has them already (then the file is not opened).

    Returns
    -------
    ScanFormat or None
        ``None`` when no registered format recognises the content.

    Raises
    ------
    ReadError
        If ``head`` is not given and the file is missing, a directory or cannot be opened.
    """
    if head is None:
        head = read_head(path)
    head = head[:SNIFF_BYTES]
    hits = []
    for fmt in FORMATS:
        try:
            ok = bool(fmt.sniff(head))
        except Exception:  # a sniffer must not raise; treat a faulty one as "no"
            ok = False
        if ok:
            hits.append(fmt)
    if not hits:
        return None
    name = Path(path).name
    by_suffix = [f for f in hits if _suffix_matches(f, name)]
    return (by_suffix or hits)[0]
