"""Checks before h5py reads anything from an untrusted HDF5 file (private).

HDF5 can make a dataset's bytes come from elsewhere: an *external link* points to an object in
another file, *external raw storage* keeps a dataset's bytes in other (arbitrary) files, and a
*virtual dataset* maps other datasets / files into it. None of them is written by afmcurrent or
acquire, and following them would read files the user never named (seen: external storage
pointing at ``/etc/passwd`` loaded as channel data). They are refused, as are datasets whose
shape or type no scan has, before any allocation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import ReadError

__all__ = ["hard_member", "check_image_dataset", "MAX_PIXELS_PER_AXIS", "MAX_PIXELS"]

#: Largest accepted image side and pixel count of one dataset.
MAX_PIXELS_PER_AXIS = 65536
MAX_PIXELS = 2 ** 28


def hard_member(group: Any, name: str, path: Path | str) -> Any:
    """Return ``group[name]`` after checking that it is a plain (hard) link inside the file.

    Raises
    ------
    ReadError
        If the member is missing, an external link or a soft link.
    """
    import h5py

    try:
        link = group.get(name, getlink=True)
    except (KeyError, ValueError, OSError, RuntimeError) as exc:
        raise ReadError(f"{path}: unreadable HDF5 member {name!r} ({exc})") from exc
    if link is None:
        raise ReadError(f"{path}: HDF5 member {name!r} is missing")
    if isinstance(link, h5py.ExternalLink):
        raise ReadError(f"{path}: HDF5 member {name!r} is an external link to "
                        f"{link.filename!r}: refused (afmcurrent never follows links out of "
                        "the file)")
    if isinstance(link, h5py.SoftLink):
        raise ReadError(f"{path}: HDF5 member {name!r} is a soft link ({link.path!r}): refused")
    try:
        return group[name]
    except (KeyError, ValueError, OSError, RuntimeError) as exc:
        raise ReadError(f"{path}: unreadable HDF5 member {name!r} ({exc})") from exc


def check_image_dataset(ds: Any, path: Path | str, ndim: int = 2) -> None:
    """Refuse a dataset that is virtual, stored externally, not numeric, or implausibly big.

    Raises
    ------
    ReadError
        With the dataset's name and the reason.
    """
    name = getattr(ds, "name", "?")
    try:
        if ds.is_virtual:
            raise ReadError(f"{path}: dataset {name} is a virtual dataset (maps other files): "
                            "refused")
        if ds.external:
            files = ", ".join(str(e[0]) for e in ds.external)
            raise ReadError(f"{path}: dataset {name} keeps its bytes in external file(s) "
                            f"({files}): refused")
        shape, kind = ds.shape, ds.dtype.kind
    except ReadError:
        raise
    except Exception as exc:  # h5py raises assorted errors on corrupt metadata
        raise ReadError(f"{path}: unreadable dataset {name} ({type(exc).__name__}: {exc})"
                        ) from exc
    if shape is None or len(shape) != ndim:
        raise ReadError(f"{path}: dataset {name} has shape {shape}, expected {ndim}-D")
    if kind not in "iufb":
        raise ReadError(f"{path}: dataset {name} holds {ds.dtype} values, not numbers")
    if ndim == 2:
        rows, cols = shape
        if not (0 < rows <= MAX_PIXELS_PER_AXIS and 0 < cols <= MAX_PIXELS_PER_AXIS
                and rows * cols <= MAX_PIXELS):
            raise ReadError(f"{path}: dataset {name} of {rows} x {cols} pixels: implausible "
                            "size, refused before reading")
