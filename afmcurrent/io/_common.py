"""Helpers shared by the afmcurrent file readers and writers (private).

Format detection lives in :mod:`afmcurrent.io.registry`.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from ..core.errors import ReadError

logger = logging.getLogger(__name__)

__all__ = [
    "HDF5_MAGIC",
    "atomic_path",
    "check_readable",
    "check_writable",
    "read_head",
    "open_binary",
]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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


def read_head(path: Path, limit: int | None = None) -> tuple[bytes, int]:
    """The first ``limit`` bytes of a file (all of it when None) and the file's size.

    Raises
    ------
    ReadError
        If the file cannot be read (the message names it and the system's reason).
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            return fh.read(size if limit is None else min(size, limit)), size
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def open_binary(path: Path) -> Any:
    """A file opened for binary reading (a context manager).

    Raises
    ------
    ReadError
        If it cannot be opened.
    """
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ReadError(f"{path}: cannot open ({exc.strerror or exc})") from exc


class atomic_path:  # noqa: N801 - used like a function in a with statement
    """Context manager yielding a new temporary file beside ``path``, renamed onto it on success.

    The temporary file ``.NAME.<random>.partial`` is created here, empty, with
    ``O_CREAT | O_EXCL | O_NOFOLLOW``: it is a new regular file, never a symlink placed there
    beforehand (an existing name is never opened, a random one is tried instead), so the
    writer that opens it by name writes into the output folder only. The final rename
    replaces ``path`` itself; a symlink at ``path`` is replaced, not followed. On an error the
    temporary file is removed and ``path`` is left as it was.

    Raises
    ------
    OSError
        If the folder does not exist or is not writable.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        for _ in range(100):
            tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.partial")
            try:
                os.close(os.open(tmp, flags, 0o666))
            except FileExistsError:
                continue
            self.tmp = tmp
            return tmp
        raise FileExistsError(f"{self.path}: no free temporary name beside it")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.tmp is None:
            return
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
