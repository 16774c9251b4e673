"""Park Systems (formerly PSIA) SmartScan / XEI TIFF files: reader, through ``tifffile``.

Public API (a contract, keep it stable)
---------------------------------------
read_park_tiff(path) -> Scan
    The one image a Park TIFF holds (Park writes one file per channel and direction).
sniff_park_tiff(head) -> bool
    Whether the first bytes are a little-endian TIFF whose first IFD carries Park's magic tag.

File layout (facts of the format, as Gwyddion's ``psia`` module reads it)
------------------------------------------------------------------------
A little-endian TIFF whose visible image is an 8-bit preview. Park's private tags hold the
data: 50432 magic number ``0x0E031301``, 50433 version, 50434 the samples, 50435 a binary
header, 50436 a comment. The header (little-endian, at least 356 bytes) holds, in order:
image type (u32, 0 = 2-D map; 1 = line profile, refused), source name (32 UTF-16 units,
e.g. "Topography", "Current"), image mode (8 units, "NCM", "C-AFM"...), low-pass strength
(f64), auto-flatten, AC track (u32), x and y pixels (u32), rotation angle (f64, degrees),
sine scan (u32), overscan rate (f64), forward (u32: 1 = the fast scan runs left to right,
i.e. trace), scan up (u32), swap xy (u32), x and y scan size (f64, um), x and y offset (f64,
um), scan rate (f64, Hz = lines/s), set point (f64) and its unit (8 units), tip bias and
sample bias (f64, V), data gain, Z scale, Z offset (f64), Z unit (8 units), data min, max,
average (i32), compression (u32). From version 0x01000002 on, the header continues and the
u32 at byte 348 gives the sample type (0 int16, 1 int32, 2 float32); the size of tag 50434
(2 or 4 bytes per pixel) must agree with it.

value = 10**p(Z unit) * data gain * (raw * Z scale + Z offset), in the Z unit's SI base
(p = the unit's power of ten: um -> -6, pA -> -12); rows are stored bottom row first and are
reversed (row 0 = top row as Gwyddion shows it). Checked against Gwyddion 2.62 on a real
SmartScan file (``tests/test_io_vendors.py``).

Conventions of the returned Scan: one channel named after the source name with
``" (retrace)"`` for a backward image, ``Channel.quantity`` the source name, unit SI;
``Scan.size = (y size, x size)``, ``Scan.offset = (y offset, x offset)`` in m,
``Scan.bias`` = the sample bias (``bias_source = "sample bias"``; when only a tip bias is
recorded, its negative), normalised metadata as in :mod:`afmcurrent.io._meta`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.model import Channel, Scan
from ..core.units import si_factor
from . import _meta
from ._common import check_readable

logger = logging.getLogger(__name__)

__all__ = ["read_park_tiff", "sniff_park_tiff", "PARK_MAGIC"]

PARK_MAGIC = 0x0E031301
_TAG_MAGIC, _TAG_VERSION, _TAG_DATA, _TAG_HEADER, _TAG_COMMENT = 50432, 50433, 50434, 50435, 50436
_MAX_PIXELS = 65536


def sniff_park_tiff(head: bytes) -> bool:
    """True when ``head`` is a little-endian TIFF whose first IFD holds tag 50432 = Park magic.

    Pure; never raises (a first IFD beyond ``head`` gives False).
    """
    try:
        if head[:4] != b"II*\x00" or len(head) < 16:
            return False
        ifd = struct.unpack_from("<I", head, 4)[0]
        if ifd + 2 > len(head):
            return False
        n = struct.unpack_from("<H", head, ifd)[0]
        for i in range(min(n, 512)):
            pos = ifd + 2 + 12 * i
            if pos + 12 > len(head):
                return False
            tag, typ, count, value = struct.unpack_from("<HHII", head, pos)
            if tag == _TAG_MAGIC:
                return typ == 4 and count == 1 and value == PARK_MAGIC
        return False
    except (struct.error, IndexError):
        return False


class _Cursor:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        v = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return v[0]

    def wstr(self, n: int) -> str:
        raw = self.buf[self.pos:self.pos + 2 * n]
        self.pos += 2 * n
        return raw.decode("utf-16-le", "replace").split("\x00", 1)[0].strip()


def _header(buf: bytes) -> dict[str, Any]:
    c = _Cursor(buf)
    h: dict[str, Any] = {}
    h["image_type"] = c.take("I")
    h["source_name"] = c.wstr(32)
    h["image_mode"] = c.wstr(8)
    h["lpf_strength"] = c.take("d")
    h["auto_flatten"] = c.take("I")
    h["ac_track"] = c.take("I")
    h["xres"] = c.take("I")
    h["yres"] = c.take("I")
    h["angle"] = c.take("d")
    h["sine_scan"] = c.take("I")
    h["overscan_rate"] = c.take("d")
    h["forward"] = c.take("I")
    h["scan_up"] = c.take("I")
    h["swap_xy"] = c.take("I")
    h["xreal_um"] = c.take("d")
    h["yreal_um"] = c.take("d")
    h["xoff_um"] = c.take("d")
    h["yoff_um"] = c.take("d")
    h["scan_rate"] = c.take("d")
    h["set_point"] = c.take("d")
    h["set_point_unit"] = c.wstr(8) or "V"
    h["tip_bias"] = c.take("d")
    h["sample_bias"] = c.take("d")
    h["data_gain"] = c.take("d")
    h["z_scale"] = c.take("d")
    h["z_offset"] = c.take("d")
    h["z_unit"] = c.wstr(8)
    h["data_min"] = c.take("i")
    h["data_max"] = c.take("i")
    h["data_avg"] = c.take("i")
    h["compression"] = c.take("I")
    h["data_type"] = struct.unpack_from("<I", buf, 348)[0] if len(buf) >= 352 else None
    return h


def _tags(path: Path) -> dict[int, Any]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise ReadError(f"{path}: TIFF without any image directory")
            page = tif.pages.first
            tags = page.tags
            out = {}
            for code in (_TAG_MAGIC, _TAG_VERSION, _TAG_DATA, _TAG_HEADER, _TAG_COMMENT, 306):
                t = tags.get(code)
                if t is not None:
                    out[code] = t.value
            return out
    except ReadError:
        raise
    except Exception as exc:  # tifffile raises assorted errors on corrupt input
        raise ReadError(f"{path}: corrupt or unreadable TIFF ({type(exc).__name__}: {exc})"
                        ) from exc


def _as_bytes(v: Any) -> bytes | None:
    if isinstance(v, bytes):
        return v
    if isinstance(v, np.ndarray):
        return v.tobytes()
    if isinstance(v, (tuple, list)):
        try:
            return bytes(int(x) & 0xFF for x in v)
        except (TypeError, ValueError):
            return None
    return None


def _as_int(v: Any) -> int | None:
    if isinstance(v, (tuple, list)) and v:
        v = v[0]
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return None


def read_park_tiff(path: str | Path) -> Scan:
    """Read a Park Systems TIFF (one channel) into a :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        A ``.tiff`` / ``.tif`` written by Park SmartScan or XEI.

    Returns
    -------
    Scan
        One channel in SI units, Gwyddion orientation; ``format="park-tiff"``.

    Raises
    ------
    ReadError
        Not a Park TIFF (no magic tag 50432), a line profile, a header shorter than 356
        bytes, a data tag whose size does not match the pixel counts, non-finite or
        non-positive geometry, or any TIFF-level corruption.
    """
    p = check_readable(path)
    tags = _tags(p)
    if _as_int(tags.get(_TAG_MAGIC)) != PARK_MAGIC:
        raise ReadError(f"{p}: TIFF file but not a Park Systems image (no magic tag 50432)")
    version = _as_int(tags.get(_TAG_VERSION)) or 0
    hdr = _as_bytes(tags.get(_TAG_HEADER))
    data = _as_bytes(tags.get(_TAG_DATA))
    if hdr is None or len(hdr) < 356:
        raise ReadError(f"{p}: Park header tag 50435 missing or shorter than 356 bytes")
    if data is None:
        raise ReadError(f"{p}: Park data tag 50434 missing")
    try:
        h = _header(hdr)
    except struct.error as exc:
        raise ReadError(f"{p}: Park header tag 50435 truncated ({exc})") from exc
    if h["image_type"] != 0:
        raise ReadError(f"{p}: Park line-profile file (image type {h['image_type']}), not an "
                        "image")
    xres, yres = h["xres"], h["yres"]
    if not (0 < xres <= _MAX_PIXELS and 0 < yres <= _MAX_PIXELS):
        raise ReadError(f"{p}: implausible image size {yres} x {xres} pixels")
    n = xres * yres
    bps = len(data) // n if n else 0
    dt = h["data_type"] if version >= 0x01000002 else 0
    dtype = {(2, 0): "<i2", (2, None): "<i2", (4, 1): "<i4", (4, 2): "<f4"}.get((bps, dt))
    if dtype is None or len(data) < n * bps:
        raise ReadError(f"{p}: Park data tag holds {len(data)} bytes, which does not fit "
                        f"{yres} x {xres} pixels of sample type {dt}")
    raw = np.frombuffer(data[: n * bps], dtype=dtype).reshape(yres, xres)
    zunit = h["z_unit"] or "um"
    f = si_factor(zunit, ("m", "A", "V", "N", "Hz", "Pa", "s", "deg"))
    if f is None:
        logger.warning("%s: Z unit %r not recognised; values kept in it", p, zunit)
        f = (1.0, zunit)
    zscale = h["z_scale"] if h["z_scale"] != 0.0 else 1.0  # Gwyddion's rule
    q = f[0] * h["data_gain"]
    if not all(math.isfinite(x) for x in (q, zscale, h["z_offset"])):
        raise ReadError(f"{p}: non-finite data gain / Z scale / Z offset in the Park header")
    values = q * (raw[::-1].astype(np.float64) * zscale + h["z_offset"])
    width, height = abs(h["xreal_um"]) * 1e-6, abs(h["yreal_um"]) * 1e-6
    offset = (h["yoff_um"] * 1e-6, h["xoff_um"] * 1e-6)
    direction = "trace" if h["forward"] else "retrace"
    name = h["source_name"] or "Image"
    meta: dict[str, Any] = {f"park.{k}": v for k, v in h.items()}
    meta["park.version"] = f"{version:08x}"
    comment = tags.get(_TAG_COMMENT)
    if isinstance(comment, str) and comment:
        meta["park.comment"] = comment
    meta["vendor"] = "Park Systems"
    meta["instrument"] = "Park Systems SmartScan" if version else "Park Systems"
    if h["image_mode"]:
        meta["operating_mode"] = h["image_mode"]
    bias = h["sample_bias"]
    source = "sample bias"
    if bias == 0.0 and h["tip_bias"] not in (0.0,):
        bias, source = -h["tip_bias"], "-tip bias"
    _meta.put(meta, "bias_V", bias)
    if "bias_V" in meta:
        meta["bias_source"] = source
    date = tags.get(306)
    if isinstance(date, str):
        try:
            meta["date"] = _dt.datetime.strptime(date.strip(), "%Y:%m:%d %H:%M:%S").isoformat()
        except ValueError:
            meta["date"] = date
    _meta.put(meta, "scan_width_m", width)
    _meta.put(meta, "scan_height_m", height)
    _meta.put(meta, "scan_size_m", width)
    _meta.put(meta, "samples_per_line", xres)
    _meta.put(meta, "lines", yres)
    _meta.put(meta, "scan_rate_hz", h["scan_rate"])
    _meta.put(meta, "scan_angle_deg", h["angle"])
    _meta.put(meta, "x_offset_m", offset[1])
    _meta.put(meta, "y_offset_m", offset[0])
    meta["slow_scan_direction"] = "up" if h["scan_up"] else "down"
    if math.isfinite(h["set_point"]):
        meta["setpoint"] = f"{h['set_point']:g} {h['set_point_unit']}"
    bias_v = meta.get("bias_V")
    _meta.check_scan_numbers(p, (height, width), offset, bias_v)
    chan_name = name if direction == "trace" else f"{name} (retrace)"
    ch = Channel(name=chan_name, data=values, unit=f[1], direction=direction, quantity=name,
                 metadata={"gwyddion_title": name})
    return Scan(channel_list=[ch], size=(height, width), bias=bias_v, offset=offset, path=p,
                format="park-tiff", metadata=meta)
