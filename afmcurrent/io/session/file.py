"""Low-level access to a session file: opening (plain, or SWMR for a file still marked open for
write) in an isolated child with a time limit, its datasets and attributes checked."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import ReadError
from .._isolate import call_isolated
from .records import FORMAT, HEIGHT, LOGAMP, MAX_PIXELS, SessionScan

__all__ = [
]

logger = logging.getLogger(__name__)

def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return _text(v.reshape(-1)[0])
    return str(v)


def _attr_value(v: Any) -> Any:
    if isinstance(v, (bytes, str)):
        return _text(v)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [_attr_value(x) for x in v.tolist()] if v.dtype.kind in "SOU" else v.tolist()
    return v


def _open(path: Path) -> Any:
    import h5py

    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        # Still open for writing: a writer at work, or one that was killed (the superblock's
        # flag stays set). SWMR read opens both without h5clear. Only then: SWMR read retries
        # every metadata block whose checksum fails (with sleeps), which on a damaged file
        # lasts until the time limit.
        text = str(exc)
        if not any(k in text for k in ("open for write", "h5clear", "lock")):
            raise ReadError(f"{path}: cannot open the session file: {exc}") from None
        try:
            f = h5py.File(path, "r", libver="latest", swmr=True)
        except (OSError, ValueError) as exc2:
            raise ReadError(f"{path}: cannot open the session file: {exc2}") from None
    try:
        fmt = _text(f.attrs.get("format", ""))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        f.close()
        raise ReadError(f"{path}: unreadable root attributes: {exc}") from None
    if fmt != FORMAT:
        f.close()
        raise ReadError(f"{path}: not an acquire session file (format attribute {fmt!r}, "
                        f"expected {FORMAT!r})")
    return f


def _dataset(g: Any, name: str, path: Path, shape: tuple[int, ...] | None = None) -> Any:
    """A member dataset that is stored in this file (no links out, no virtual or external
    storage), of the expected shape."""
    import h5py

    where = f"{path}: {g.name}/{name}"
    link = g.get(name, getlink=True)
    if link is None:
        raise ReadError(f"{where}: missing")
    if not isinstance(link, h5py.HardLink):
        raise ReadError(f"{where}: is a {type(link).__name__}; links are not followed")
    ds = g[name]
    if not isinstance(ds, h5py.Dataset):
        raise ReadError(f"{where}: not a dataset")
    if ds.is_virtual or ds.external:
        raise ReadError(f"{where}: virtual or external storage is not read")
    if shape is not None and tuple(ds.shape) != shape:
        raise ReadError(f"{where}: shape {tuple(ds.shape)}, expected {shape}")
    return ds


def _finite_pair(v: Any, what: str, where: str, positive: bool) -> tuple[float, float]:
    try:
        a = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        a = np.array([])
    if a.size != 2 or not np.all(np.isfinite(a)) or (positive and not np.all(a > 0)):
        want = "two positive finite" if positive else "two finite"
        raise ReadError(f"{where}: {what} must be {want} numbers, got {v!r}")
    return float(a[0]), float(a[1])


def _recorded_block(line_time: np.ndarray, height: Any, logamp: Any) -> tuple[int, int]:
    """The first contiguous block of whole lines recorded, ``(first, stop)``.

    A line counts as recorded when its end-of-line time is stored. The writer stores the
    time after the line's pixels and flushes line by line, so only the last lines of the
    block can lack their pixels (a writer killed in between): those whose pixels are all NaN
    end the block.
    """
    rec = np.isfinite(line_time)
    if not rec.any():
        return 0, 0
    first = int(np.argmax(rec))
    gaps = np.flatnonzero(~rec[first:])
    stop = first + int(gaps[0]) if gaps.size else rec.size
    while stop > first and not (np.isfinite(height[stop - 1]).any()
                                and np.isfinite(logamp[stop - 1]).any()):
        stop -= 1
    return (first, stop) if stop > first else (0, 0)


def _scan_record(g: Any, path: Path, index: int, with_rows: bool = True) -> SessionScan:
    where = f"{path}: scan {index}"
    a = g.attrs
    try:
        bias = float(a["bias"])
        lines, spl = int(a["lines"]), int(a["samples_per_line"])
        size = _finite_pair(a["size_m"], "size_m", where, positive=True)
        offset = _finite_pair(a.get("offset_m", (0.0, 0.0)), "offset_m", where, positive=False)
        rate = float(a.get("rate_hz", float("nan")))
        angle = float(a.get("angle_deg", 0.0))
    except KeyError as exc:
        raise ReadError(f"{where}: attribute {exc} missing") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ReadError(f"{where}: bad attribute ({exc})") from None
    if not math.isfinite(bias) or bias == 0:
        raise ReadError(f"{where}: sample bias {bias} V is not a usable bias")
    if lines < 1 or spl < 1 or lines * spl > MAX_PIXELS:
        raise ReadError(f"{where}: {lines} lines x {spl} samples is not a readable image size "
                        f"(at most {MAX_PIXELS} pixels)")
    status = _text(_dataset(g, "status", path, (1,))[0]).strip("\x00")
    reason = _text(_dataset(g, "reason", path, (1,))[0]).strip("\x00")
    n_rec = int(_dataset(g, "lines_recorded", path, (1,))[0])
    times = np.full(2, np.nan)
    if "times" in g:
        times = np.asarray(_dataset(g, "times", path, (2,))[()], dtype=np.float64)
    rows = (0, 0)
    if with_rows:
        lt = np.asarray(_dataset(g, "line_time", path, (lines,))[()], dtype=np.float64)
        h = _dataset(g, HEIGHT, path, (lines, spl))
        v = _dataset(g, LOGAMP, path, (lines, spl))
        block = _recorded_block(lt, h, v) if lt.size else (0, 0)
        rows = block
    return SessionScan(index=index, bias=bias, status=status, reason=reason, lines=lines,
                       samples_per_line=spl, lines_recorded=max(0, min(n_rec, lines)),
                       rows=rows, size=size, offset=offset, rate_hz=rate, angle_deg=angle,
                       start=float(times[0]) if math.isfinite(times[0]) else None,
                       end=float(times[1]) if math.isfinite(times[1]) else None)


def _scan_keys(f: Any, path: Path) -> list[tuple[int, str]]:
    import h5py

    if "scans" not in f or not isinstance(f["scans"], h5py.Group):
        raise ReadError(f"{path}: session file without a /scans group")
    keys = []
    for key in f["scans"]:
        if key.isdigit():
            keys.append((int(key), key))
    return sorted(keys)


def _isolated(fn: Any, path: Path) -> Any:
    """``fn(path)`` in a forked child with a time limit (:mod:`afmcurrent.io._isolate`):
    libhdf5 can crash or loop for ever on a damaged file inside one call; that becomes a
    ReadError naming the file. (In a process running other threads, in-process.)"""

    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return call_isolated(fn, path, 4.0 + size / 20e6, "HDF5 (session)")


def _guard(path: Path, fn: Any) -> Any:
    """Run ``fn()`` turning any library error of a damaged file into a ReadError."""
    try:
        return fn()
    except ReadError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError,
            OverflowError, UnicodeError) as exc:
        raise ReadError(f"{path}: damaged session file ({type(exc).__name__}: {exc})") from None


