"""Nanonis ``.sxm`` scan files (SPECS Nanonis controllers): reader, own parser.

The format is a text header followed by one block of samples; a parser is a few dozen lines,
shorter than adapting a library (nanonispy's last release is from 2021). Every rule below is
held to Gwyddion 2.62's reading of a real file in the tests.

Public API (a contract, keep it stable)
---------------------------------------
read_nanonis_sxm(path) -> Scan
sniff_sxm(head) -> bool
    Whether the first bytes start with ``:NANONIS_VERSION:``.

File layout (facts of the format, Nanonis SPM controller manual)
----------------------------------------------------------------
A latin-1 header of ``:KEY:`` lines each followed by its value lines, up to
``:SCANIT_END:``; the binary data start after the next ``\\x1a\\x04``. Keys read here:
``SCAN_PIXELS`` (x y), ``SCAN_RANGE`` (x y, m), ``SCAN_OFFSET`` (centre x y, m),
``SCAN_ANGLE`` (deg), ``SCAN_DIR`` (``up`` or ``down``), ``SCAN_TIME`` (s per line, forward
and backward), ``BIAS`` (V, applied to the sample), ``REC_DATE`` (dd.mm.yyyy), ``REC_TIME``,
``SCANIT_TYPE`` (``FLOAT MSBFIRST``...), ``Z-CONTROLLER`` and ``DATA_INFO`` (tab-separated
tables; the latter lists the channels: name, unit, direction ``both`` / ``forward`` /
``backward``). The data hold, channel by channel, the forward then the backward image, each
``y pixels`` rows of ``x pixels`` samples in scan order, already in the channel's unit.

Reading rules (Gwyddion's presentation)
---------------------------------------
* a frame scanned ``up`` is flipped vertically (its first line is at the bottom); a backward
  image is also flipped horizontally, so that every image runs left to right;
* channel ``Z`` forward -> ``"Z"``, backward -> ``"Z (retrace)"`` (``gwyddion_title``
  ``"Z (Forward)"`` / ``"Z (Backward)"``); units as in ``DATA_INFO`` (prefixes converted);
* ``Scan.size = (range y, range x)``, ``Scan.offset`` = the scan centre ``SCAN_OFFSET``
  (Gwyddion reports the corner: centre - range / 2), ``Scan.bias = BIAS``;
* ``scan_rate_hz = 1 / (forward + backward line time)``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.model import Channel, Scan
from ..core.units import to_si
from . import _meta
from ._common import check_readable, open_binary, read_head

logger = logging.getLogger(__name__)

#: SI units recognised behind a prefix in SXM channel units.
_UNIT_BASES = ("m", "A", "V", "Hz", "N", "s", "deg")

__all__ = ["read_nanonis_sxm", "sniff_sxm"]

_MAGIC = b":NANONIS_VERSION:"
_END = b":SCANIT_END:"
_MAX_HEADER = 1024 * 1024
_MAX_PIXELS = 65536


def sniff_sxm(head: bytes) -> bool:
    """True when the file starts with ``:NANONIS_VERSION:``. Pure."""
    return head.lstrip(b"\r\n")[: len(_MAGIC)] == _MAGIC


def _header(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    key = None
    lines: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if len(s) > 2 and s.startswith(":") and s.endswith(":") and " " not in s:
            if key is not None and key not in out:
                out[key] = "\n".join(lines).strip("\n")
            key, lines = s[1:-1], []
        else:
            lines.append(line)
    if key is not None and key not in out:
        out[key] = "\n".join(lines).strip("\n")
    return out


def _floats(text: str | None, n: int, what: str, path: Path) -> list[float]:
    if text is None:
        raise ReadError(f"{path}: Nanonis header without :{what}:")
    try:
        vals = [float(t) for t in text.split()[:n]]
    except ValueError as exc:
        raise ReadError(f"{path}: unreadable :{what}: {text!r}") from exc
    if len(vals) < n or not all(math.isfinite(v) for v in vals):
        raise ReadError(f"{path}: invalid :{what}: {text!r}")
    return vals


def _table(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    rows = [r.strip("\r").split("\t") for r in text.split("\n") if r.strip()]
    rows = [[c.strip() for c in r if c.strip() != ""] for r in rows]
    if len(rows) < 2:
        return []
    head = rows[0]
    return [dict(zip(head, r, strict=False)) for r in rows[1:]]


def read_nanonis_sxm(path: str | Path) -> Scan:
    """Read a Nanonis ``.sxm`` file into a :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    Scan
        Every channel in each recorded direction, SI units, Gwyddion orientation,
        ``format="nanonis-sxm"``.

    Raises
    ------
    ReadError
        No ``:SCANIT_END:`` within 1 MiB, missing or invalid pixel counts / range, an
        unknown sample type, data shorter than the header promises, non-finite geometry.
    """
    p = check_readable(path)
    buf, size = read_head(p, _MAX_HEADER)
    if not sniff_sxm(buf):
        raise ReadError(f"{p}: not a Nanonis SXM file (no :NANONIS_VERSION:)")
    end = buf.find(_END)
    if end < 0:
        raise ReadError(f"{p}: truncated or corrupt Nanonis SXM file: no :SCANIT_END: in the "
                        "header")
    start = buf.find(b"\x1a\x04", end)
    if start < 0:
        raise ReadError(f"{p}: truncated Nanonis SXM file: no data marker after :SCANIT_END:")
    start += 2
    h = _header(buf[:end].decode("latin-1"))
    nx_f, ny_f = _floats(h.get("SCAN_PIXELS"), 2, "SCAN_PIXELS", p)
    nx, ny = int(nx_f), int(ny_f)
    if not (0 < nx <= _MAX_PIXELS and 0 < ny <= _MAX_PIXELS):
        raise ReadError(f"{p}: implausible :SCAN_PIXELS: {nx} x {ny}")
    width, height = _floats(h.get("SCAN_RANGE"), 2, "SCAN_RANGE", p)
    try:
        cx, cy = _floats(h.get("SCAN_OFFSET"), 2, "SCAN_OFFSET", p)
    except ReadError:
        cx = cy = 0.0
    kind = (h.get("SCANIT_TYPE") or "FLOAT MSBFIRST").split()
    order = ">" if "MSBFIRST" in kind else "<"
    base = {"FLOAT": "f4", "INT": "i4", "UINT": "u4", "DOUBLE": "f8"}.get(kind[0] if kind else "")
    if base is None:
        raise ReadError(f"{p}: unknown :SCANIT_TYPE: {h.get('SCANIT_TYPE')!r}")
    dtype = np.dtype(order + base)
    chans = _table(h.get("DATA_INFO"))
    if not chans:
        raise ReadError(f"{p}: Nanonis header without a :DATA_INFO: channel table")
    images: list[tuple[str, str]] = []  # (name, direction)
    for c in chans:
        d = c.get("Direction", "both").lower()
        name = c.get("Name", "?")
        if d in ("both", "forward"):
            images.append((name, "trace"))
        if d in ("both", "backward"):
            images.append((name, "retrace"))
    if not images:
        raise ReadError(f"{p}: :DATA_INFO: lists no channel with a direction both / forward / "
                        "backward")
    n = nx * ny
    need = len(images) * n * dtype.itemsize
    if start + need > size:
        raise ReadError(f"{p}: truncated Nanonis SXM file: {len(images)} images of {ny} x {nx} "
                        f"need {need} bytes after the header, the file has {size - start}")
    up = (h.get("SCAN_DIR") or "").strip().lower() == "up"
    units = {c.get("Name", "?"): c.get("Unit", "") for c in chans}
    channels: list[Channel] = []
    used: set[str] = set()
    with open_binary(p) as fh:
        fh.seek(start)
        for name, direction in images:
            raw = fh.read(n * dtype.itemsize)
            if len(raw) != n * dtype.itemsize:
                raise ReadError(f"{p}: truncated data in image {name!r}")
            img = np.frombuffer(raw, dtype=dtype).reshape(ny, nx).astype(np.float64)
            if up:
                img = img[::-1]
            if direction == "retrace":
                img = img[:, ::-1]
            f, unit = to_si(units.get(name, ""), _UNIT_BASES)
            if f != 1.0:
                img *= f
            label = name if direction == "trace" else f"{name} (retrace)"
            label = _meta.unique_name(label, used)
            gtitle = f"{name} ({'Forward' if direction == 'trace' else 'Backward'})"
            channels.append(Channel(name=label, data=np.ascontiguousarray(img), unit=unit,
                                    direction=direction,  # type: ignore[arg-type]
                                    quantity=name, metadata={"gwyddion_title": gtitle}))
    meta: dict[str, Any] = {f"nanonis.{k}": v for k, v in h.items()}
    meta["vendor"] = "SPECS Nanonis"
    meta["instrument"] = "Nanonis" + (f" {h['NANONIS_VERSION'].strip()}"
                                      if h.get("NANONIS_VERSION", "").strip() else "")
    zc = _table(h.get("Z-CONTROLLER"))
    if zc:
        if zc[0].get("Name"):
            meta["operating_mode"] = f"Z controller: {zc[0]['Name']}"
        if zc[0].get("Setpoint"):
            meta["setpoint"] = zc[0]["Setpoint"]
    d, t = (h.get("REC_DATE") or "").strip(), (h.get("REC_TIME") or "").strip()
    if d:
        try:
            meta["date"] = _dt.datetime.strptime(f"{d} {t or '00:00:00'}",
                                                 "%d.%m.%Y %H:%M:%S").isoformat()
        except ValueError:
            meta["date"] = f"{d} {t}".strip()
    try:
        bias = _floats(h.get("BIAS"), 1, "BIAS", p)[0]
    except ReadError:
        bias = None
    _meta.put(meta, "bias_V", bias)
    if "bias_V" in meta:
        meta["bias_source"] = "BIAS"
    _meta.put(meta, "scan_width_m", width)
    _meta.put(meta, "scan_height_m", height)
    _meta.put(meta, "scan_size_m", width)
    _meta.put(meta, "samples_per_line", nx)
    _meta.put(meta, "lines", ny)
    try:
        tf, tb = _floats(h.get("SCAN_TIME"), 2, "SCAN_TIME", p)
        if tf + tb > 0:
            _meta.put(meta, "scan_rate_hz", 1.0 / (tf + tb))
    except ReadError:
        pass
    try:
        _meta.put(meta, "scan_angle_deg", _floats(h.get("SCAN_ANGLE"), 1, "SCAN_ANGLE", p)[0])
    except ReadError:
        pass
    _meta.put(meta, "x_offset_m", cx)
    _meta.put(meta, "y_offset_m", cy)
    if (h.get("SCAN_DIR") or "").strip().lower() in ("up", "down"):
        meta["slow_scan_direction"] = h["SCAN_DIR"].strip().lower()
    return _meta.checked_scan(p, channels, (height, width), (cy, cx), meta.get("bias_V"),
                              "nanonis-sxm", meta)
