"""NT-MDT ``.mdt`` files (NTEGRA, Solver, NEXT; Nova / Nova Px): reader, own parser.

No maintained Python library reads MDT files (checked on PyPI); the layout below is a
documented fact of the format, as Gwyddion's ``nt-mdt`` module reads it, and every rule is
held to Gwyddion 2.62's reading of a real file in the tests.

Public API (a contract, keep it stable)
---------------------------------------
read_ntmdt(path) -> Scan
    Every 2-D image frame of the file (MDA frames with two dimensions and one measurand, and
    classic "scanned data" frames), one channel per frame.
sniff_mdt(head) -> bool
    Whether the first bytes carry the MDT magic ``01 b0 93 ff``.

File layout (little-endian)
---------------------------
File header (33 bytes): magic ``01 b0 93 ff``, u32 size of the rest of the file (file size -
33), 4 reserved bytes, u16 index of the last frame, reserved bytes. Then the frames, each
with a 22-byte header: u32 frame size (header included), u16 type (0 scanned data, 1
spectroscopy, 3 text, 105 old MDA, 106 MDA, 107 palette, 190/201 curves), 2 version bytes,
six u16 date-time fields (year, month, day, hour, minute, second), u16 size of the variables.

* **MDA frame (106)**: a record with u32 header size, u32 total size, two GUIDs and a status
  word (36 bytes), u32 sizes of the name, the comment, the view info, the spec, the source
  info and the variables, u32 data offset, u32 data size; after the header come the name
  (cp1251, e.g. ``1F:Iprobe``), the comment (UTF-16LE XML with every parameter of the
  scan), the spec, view info and source info; then u32 total size, u32 struct length, u64
  point count, u32 cell size, u32 number of dimensions, u32 number of measurands; then one
  calibration per dimension and per measurand: u32 total length, u32 struct length, u32 name,
  comment and unit lengths, u64 SI-unit code, f64 accuracy, 8 skipped bytes, f64 bias,
  f64 scale, u64 min index, u64 max index, i32 data type (-1 int8, 1 uint8, -2 int16, 2
  uint16, -4 int32, 4 uint32, -8 int64, 8 uint64, -5892 float32, -13320 float64), u32
  author length, then the strings. The samples follow: x fastest.
  value = 10**p(unit) * (bias + scale * raw); extent = scale * (n - 1) per axis (Gwyddion's
  rule, which equals the scan size ``scshXSize`` of the XML parameters); the first pixel sits
  at the dimension's bias. ``Scan.offset`` is the scan centre (``scshXCentre`` /
  ``scshYCentre`` of the XML, um; else first pixel + half the extent).
* **Scanned-data frame (0)**: three axis scales (f32 offset, f32 step, i16 unit code) for
  x, y, z, scan variables (ADC channel, mode, pixels, velocity in A/s, setpoint, bias in V,
  ...), then at 22 + variables size the frame mode (u16 mode, x and y pixels, number of
  dots), the dots, the int16 samples, the title and the XML. value = 10**p(z unit) *
  (z offset + z step * raw), extent = pixels * step.

Rows are stored bottom row first and are reversed (Gwyddion's vertical inversion).

Channel names: the frame name without its ``<n><F|B>:`` prefix (``Iprobe``) for a forward
(trace) frame, ``"Iprobe (retrace)"`` for a backward one (``B``); ``gwyddion_title`` keeps the
name. Sample bias (MDA frames): the ``Parameters/SchemeSW0`` block of the XML routes the bias
voltage BV (``par12_pi_hvValueBV``, V) to the sample (``par28_pi_SampleIn = BV``: +BV) or to
the probe (``par29_pi_ProbeIn = BV``: the sample sees -BV); neither routed: 0 V. Scanned
frames carry their bias in the scan variables.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.model import Channel, Scan
from . import _meta
from ._common import check_readable, read_head

logger = logging.getLogger(__name__)

__all__ = ["read_ntmdt", "sniff_mdt", "MDT_MAGIC"]

MDT_MAGIC = b"\x01\xb0\x93\xff"
_MAX_PIXELS = 65536
_MAX_FRAMES = 65536
_MAX_XML_CHARS = 4 * 1024 * 1024

#: MDT unit codes -> (SI unit, factor)
_UNITS: dict[int, tuple[str, float]] = {
    -5: ("m", 1.0), -4: ("m", 1e-2), -3: ("m", 1e-3), -2: ("m", 1e-6), -1: ("m", 1e-9),
    0: ("m", 1e-10), 1: ("A", 1e-9), 2: ("V", 1.0), 3: ("", 1.0), 4: ("Hz", 1e3),
    5: ("deg", 1.0), 6: ("%", 1.0), 7: ("degC", 1.0), 8: ("V", 1.0), 9: ("s", 1.0),
    10: ("s", 1e-3), 11: ("s", 1e-6), 12: ("s", 1e-9), 13: ("", 1.0), 14: ("px", 1.0),
    20: ("A", 1.0), 21: ("A", 1e-3), 22: ("A", 1e-6), 23: ("A", 1e-9), 24: ("A", 1e-12),
    25: ("V", 1.0), 26: ("V", 1e-3), 27: ("V", 1e-6), 28: ("V", 1e-9), 29: ("V", 1e-12),
    30: ("N", 1.0), 31: ("N", 1e-3), 32: ("N", 1e-6), 33: ("N", 1e-9), 34: ("N", 1e-12),
}
#: MDA unit strings -> (SI unit, factor)
_UNIT_TEXT: dict[str, tuple[str, float]] = {
    "m": ("m", 1.0), "cm": ("m", 1e-2), "mm": ("m", 1e-3), "um": ("m", 1e-6),
    "\u00b5m": ("m", 1e-6), "nm": ("m", 1e-9), "pm": ("m", 1e-12), "A": ("A", 1.0),
    "mA": ("A", 1e-3), "uA": ("A", 1e-6), "\u00b5A": ("A", 1e-6), "nA": ("A", 1e-9),
    "pA": ("A", 1e-12), "fA": ("A", 1e-15), "V": ("V", 1.0), "mV": ("V", 1e-3),
    "uV": ("V", 1e-6), "\u00b5V": ("V", 1e-6), "nV": ("V", 1e-9), "deg": ("deg", 1.0),
    "Hz": ("Hz", 1.0), "kHz": ("Hz", 1e3), "MHz": ("Hz", 1e6), "N": ("N", 1.0),
    "nN": ("N", 1e-9), "s": ("s", 1.0), "ms": ("s", 1e-3),
}
#: MDA SI-unit codes (when the unit string is empty), as Gwyddion maps them
_SI_CODES = {0x1: ("", 1.0), 0x101: ("m", 1.0), 0x100001: ("A", 1.0),
             0xFFFD010200: ("V", 1.0), 0x1000001: ("s", 1.0)}
_MDA_TYPES = {-1: "i1", 1: "u1", -2: "<i2", 2: "<u2", -4: "<i4", 4: "<u4", -8: "<i8",
              8: "<u8", -(4 + 23 * 256): "<f4", -(8 + 52 * 256): "<f8"}
_PREFIX = re.compile(r"^\s*\d*\s*([FB])\s*:\s*")


def sniff_mdt(head: bytes) -> bool:
    """True when the first bytes carry the NT-MDT magic ``01 b0 93 ff``. Pure."""
    return head[:4] == MDT_MAGIC


class _Buf:
    """Bounds-checked little-endian reads from the file's bytes."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path = data, path

    def unpack(self, fmt: str, pos: int) -> tuple[Any, ...]:
        try:
            return struct.unpack_from("<" + fmt, self.data, pos)
        except struct.error as exc:
            raise ReadError(f"{self.path}: truncated MDT file (reading at byte {pos})") from exc

    def bytes(self, pos: int, n: int) -> bytes:
        if pos < 0 or n < 0 or pos + n > len(self.data):
            raise ReadError(f"{self.path}: truncated MDT file ({n} bytes wanted at {pos}, "
                            f"file has {len(self.data)})")
        return self.data[pos:pos + n]


def _unit_text(text: str, code: int) -> tuple[str, float]:
    t = text.strip()
    if t in _UNIT_TEXT:
        return _UNIT_TEXT[t]
    if not t:
        return _SI_CODES.get(code, ("", 1.0))
    return t, 1.0


def _calibration(b: _Buf, pos: int) -> dict[str, Any]:
    tot, slen = b.unpack("II", pos)
    s = pos + 8
    name_len, comm_len, unit_len = b.unpack("III", s)
    si_code, accuracy = b.unpack("Qd", s + 12)
    bias, scale = b.unpack("dd", s + 36)
    imin, imax = b.unpack("QQ", s + 52)
    dtype, author_len = b.unpack("iI", s + 68)
    t = s + slen
    name = b.bytes(t, name_len).decode("cp1251", "replace")
    t += name_len + comm_len
    unit = b.bytes(t, unit_len).decode("cp1251", "replace")
    if tot < 8:
        raise ReadError(f"{b.path}: corrupt MDA calibration (length {tot})")
    return {"tot": tot, "name": name, "unit": unit, "si_code": si_code, "bias": bias,
            "scale": scale, "min": imin, "max": imax, "dtype": dtype}


def _xml_params(text: str) -> dict[str, str]:
    """Flatten the frame XML to ``{"Parameters/Scan/ScanMode": "Spreading Resistance"}``."""
    if not text or len(text) > _MAX_XML_CHARS:
        return {}
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion, ever
        return {}
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return {}
    out: dict[str, str] = {}

    def walk(e: ET.Element, path: str) -> None:
        for c in e:
            p = f"{path}/{c.tag}" if path else c.tag
            if len(c) == 0:
                out.setdefault(p, (c.text or "").strip())
            else:
                walk(c, p)

    walk(root, "")
    return out


def _mda_frame(b: _Buf, fstart: int, fsize: int) -> dict[str, Any] | None:
    p = fstart + 22
    head_size, _total = b.unpack("II", p)
    name_size, comm_size, view_size, spec_size, src_size, _var_size = b.unpack("6I", p + 44)
    q = p + head_size
    fend = fstart + fsize
    if q + name_size + comm_size > fend:
        raise ReadError(f"{b.path}: MDA frame at byte {fstart}: name / comment run past the "
                        "frame")
    title = b.bytes(q, name_size).decode("cp1251", "replace")
    q += name_size
    xml = b.bytes(q, comm_size).decode("utf-16-le", "replace") if comm_size else ""
    q += comm_size + spec_size + view_size + src_size
    q += 4
    (slen,) = b.unpack("I", q)
    q += 4
    _num, cell, ndim, nmes = b.unpack("QIII", q)
    q += slen
    if ndim > 16 or nmes > 64:
        raise ReadError(f"{b.path}: MDA frame at byte {fstart}: {ndim} dimensions, {nmes} "
                        "measurands")
    cals = []
    for _ in range(ndim + nmes):
        c = _calibration(b, q)
        cals.append(c)
        q += c["tot"]
        if q > fend:
            raise ReadError(f"{b.path}: MDA frame at byte {fstart}: calibrations run past "
                            "the frame")
    return {"title": title, "xml": xml, "dims": cals[:ndim], "mes": cals[ndim:],
            "data_pos": q, "frame_end": fend, "cell": cell}


def _mda_image(b: _Buf, fr: dict[str, Any]) -> tuple[np.ndarray, tuple[float, float],
                                                      tuple[float, float], str]:
    xa, ya = fr["dims"][0], fr["dims"][1]
    za = fr["mes"][0]
    nx = xa["max"] - xa["min"] + 1
    ny = ya["max"] - ya["min"] + 1
    if not (0 < nx <= _MAX_PIXELS and 0 < ny <= _MAX_PIXELS):
        raise ReadError(f"{b.path}: MDA image frame {fr['title']!r}: implausible size "
                        f"{ny} x {nx}")
    dt = _MDA_TYPES.get(za["dtype"])
    if dt is None:
        raise ReadError(f"{b.path}: MDA image frame {fr['title']!r}: unknown data type "
                        f"{za['dtype']}")
    nbytes = nx * ny * np.dtype(dt).itemsize
    if fr["data_pos"] + nbytes > fr["frame_end"]:
        raise ReadError(f"{b.path}: MDA image frame {fr['title']!r}: {ny} x {nx} samples do "
                        "not fit in the frame (truncated?)")
    raw = np.frombuffer(b.bytes(fr["data_pos"], nbytes), dtype=dt).reshape(ny, nx)
    xyunit, fxy = _unit_text(xa["unit"], xa["si_code"])
    zunit, fz = _unit_text(za["unit"], za["si_code"])
    if xyunit != "m":
        raise ReadError(f"{b.path}: MDA frame {fr['title']!r}: lateral unit {xa['unit']!r} "
                        "is not a length (a spectrum, not an image)")
    data = fz * (za["bias"] + za["scale"] * raw[::-1].astype(np.float64))
    size = (abs(ya["scale"]) * (ny - 1) * fxy, abs(xa["scale"]) * (nx - 1) * fxy)
    offset = (ya["bias"] * fxy, xa["bias"] * fxy)
    return data, size, offset, zunit


def _scanned_image(b: _Buf, fstart: int, fsize: int, var_size: int
                   ) -> tuple[np.ndarray, tuple[float, float], tuple[float, float], str,
                              dict[str, Any]] | None:
    p = fstart + 22
    xo, xs, xu, yo, ys, yu, zo, zs, zu = b.unpack("ffhffhffh", p)
    q = p + 30
    (chan, mode, _xr, _yr, _nd, _step, _adt, _g, _ai, _s16, _s17, scan_dir, _p2, vel, setp,
     bias) = b.unpack("BBHHHfHBBBBBBfff", q)
    fm = fstart + 22 + var_size
    _fm_mode, nx, ny, ndots = b.unpack("HHHH", fm)
    q = fm + 8
    if ndots:
        q += 14 + ndots * 16
    if nx == 0 or ny == 0:
        return None
    nbytes = 2 * nx * ny
    if q + nbytes > fstart + fsize:
        raise ReadError(f"{b.path}: scanned-data frame at byte {fstart}: {ny} x {nx} samples "
                        "do not fit in the frame")
    raw = np.frombuffer(b.bytes(q, nbytes), dtype="<i2").reshape(ny, nx)
    q += nbytes
    title = ""
    if fstart + fsize - q > 4:
        (tl,) = b.unpack("I", q)
        if 0 < tl <= fstart + fsize - q - 4:
            title = b.bytes(q + 4, tl).decode("cp1251", "replace")
    xyunit, fxy = _UNITS.get(xu, ("", 1.0))
    zunit, fz = _UNITS.get(zu, ("", 1.0))
    if xyunit != "m":
        raise ReadError(f"{b.path}: scanned frame at byte {fstart}: lateral unit code {xu} is "
                        "not a length")
    xs = abs(xs) or 1.0
    ys = abs(ys) or 1.0
    zs = zs or 1.0
    data = fz * zo + fz * zs * raw[::-1].astype(np.float64)
    size = (ny * ys * fxy, nx * xs * fxy)
    offset = (yo * fxy, xo * fxy)
    extra = {"bias_V": bias, "velocity_m_per_s": vel * 1e-10, "scan_dir": scan_dir,
             "title": title, "adc_channel": chan, "mode": mode, "setpoint": setp}
    return data, size, offset, zunit, extra


def _bias_from_xml(params: dict[str, str]) -> tuple[float | None, str | None]:
    base = "Parameters/SchemeSW0/"
    try:
        value = float(params[base + "par12_pi_hvValueBV"])
    except (KeyError, ValueError):
        return None, None
    if not math.isfinite(value):
        return None, None
    if params.get(base + "par28_pi_SampleIn") == "BV":
        return value, "SchemeSW0/par12_pi_hvValueBV (SampleIn = BV)"
    if params.get(base + "par29_pi_ProbeIn") == "BV":
        return -value, "-SchemeSW0/par12_pi_hvValueBV (ProbeIn = BV)"
    return 0.0, "SchemeSW0 (BV routed to neither sample nor probe)"


def read_ntmdt(path: str | Path) -> Scan:
    """Read the image frames of an NT-MDT ``.mdt`` file into a :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        An MDT file.

    Returns
    -------
    Scan
        One channel per 2-D image frame (frames whose shape differs from the first image's
        are skipped with a warning), SI units, Gwyddion orientation, ``format="ntmdt-mdt"``.

    Raises
    ------
    ReadError
        Wrong magic, a size field that disagrees with the file, frames running past the end
        of the file, no image frame (spectra only), unknown data types, or geometry that is
        not finite and positive.
    """
    p = check_readable(path)
    raw_bytes, _ = read_head(p)
    b = _Buf(raw_bytes, p)
    if raw_bytes[:4] != MDT_MAGIC:
        raise ReadError(f"{p}: not an NT-MDT file (no MDT magic)")
    if len(raw_bytes) < 33:
        raise ReadError(f"{p}: truncated MDT file ({len(raw_bytes)} bytes)")
    (declared,) = b.unpack("I", 4)
    (last,) = b.unpack("H", 12)
    if declared + 33 > len(raw_bytes):
        raise ReadError(f"{p}: truncated MDT file: the header declares {declared + 33} bytes, "
                        f"the file has {len(raw_bytes)}")
    images = _image_frames(p, b, min(last + 1, _MAX_FRAMES))
    if not images:
        raise ReadError(f"{p}: NT-MDT file without any 2-D image frame (spectra, curves or "
                        "text only)")
    first = images[0]
    shape = first["data"].shape
    skipped = [f"{im['title']} {im['data'].shape}" for im in images if im["data"].shape != shape]
    if skipped:
        logger.warning("%s: frames of another shape skipped: %s", p, ", ".join(skipped))
    channels = _channels([im for im in images if im["data"].shape == shape])
    meta, offset = _metadata(first, shape)
    if skipped:
        meta["skipped_channels"] = skipped
    return _meta.checked_scan(p, channels, first["size"], offset, meta.get("bias_V"),
                              "ntmdt-mdt", meta)


def _image_frames(p: Path, b: _Buf, n_frames: int) -> list[dict[str, Any]]:
    """The 2-D image frames (MDA frames of two length axes, scanned frames) in file order."""
    raw_len = len(b.data)
    pos = 33
    images: list[dict[str, Any]] = []
    for i in range(n_frames):
        if pos + 22 > raw_len:
            raise ReadError(f"{p}: truncated MDT file: frame {i} header at byte {pos}")
        fsize, ftype = b.unpack("IH", pos)
        if fsize < 22 or pos + fsize > raw_len:
            raise ReadError(f"{p}: MDT frame {i} at byte {pos}: size {fsize} runs past the end "
                            "of the file")
        year, month, day, hour, minute, sec, var_size = b.unpack("7H", pos + 8)
        when = None
        try:
            when = _dt.datetime(year, month, day, hour, minute, sec).isoformat()
        except ValueError:
            when = None
        if ftype == 106:
            fr = _mda_frame(b, pos, fsize)
            if fr is not None and len(fr["dims"]) == 2 and len(fr["mes"]) == 1:
                xa = fr["dims"][0]
                if _unit_text(xa["unit"], xa["si_code"])[0] == "m":
                    data, size, offset, zunit = _mda_image(b, fr)
                    images.append({"title": fr["title"], "data": data, "size": size,
                                   "offset": offset, "unit": zunit, "xml": fr["xml"],
                                   "when": when, "frame": i})
        elif ftype == 0:
            if 22 + var_size + 8 <= fsize and var_size >= 30 + 77:
                got = _scanned_image(b, pos, fsize, var_size)
                if got is not None:
                    data, size, offset, zunit, extra = got
                    images.append({"title": extra["title"] or f"Frame {i}", "data": data,
                                   "size": size, "offset": offset, "unit": zunit, "xml": "",
                                   "when": when, "frame": i, "scanned": extra})
        pos += fsize
    return images


def _channels(images: list[dict[str, Any]]) -> list[Channel]:
    """One channel per image frame; ``F:`` / ``B:`` title prefixes give the direction."""
    channels: list[Channel] = []
    used: set[str] = set()
    for im in images:
        title = im["title"]
        m = _PREFIX.match(title)
        direction: str | None = None
        quantity = title
        if m:
            direction = "trace" if m.group(1) == "F" else "retrace"
            quantity = title[m.end():].strip() or title
        name = quantity if direction != "retrace" else f"{quantity} (retrace)"
        name = _meta.unique_name(name, used)
        channels.append(Channel(name=name, data=im["data"], unit=im["unit"],
                                direction=direction, quantity=quantity,  # type: ignore[arg-type]
                                metadata={"gwyddion_title": title, "mdt_frame": im["frame"]}))
    return channels


def _metadata(first: dict[str, Any], shape: tuple[int, int]
              ) -> tuple[dict[str, Any], tuple[float, float]]:
    """The XML parameters of the first frame and the normalised keys; the offset ``(y0, x0)``
    of the scan centre."""
    params = _xml_params(first["xml"])
    height, width = first["size"]
    offset = first["offset"]
    meta: dict[str, Any] = {f"mdt.{k}": v for k, v in params.items()}
    meta["vendor"] = "NT-MDT"
    if params.get("Parameters/DeviceType"):
        meta["instrument"] = params["Parameters/DeviceType"]
    mode = params.get("Parameters/Scan/ScanMode")
    if mode:
        meta["operating_mode"] = mode
    date = None
    d, t = params.get("Parameters/Common/Date"), params.get("Parameters/Scan/StartTime")
    if d:
        try:
            date = _dt.datetime.strptime(f"{d} {t or '00:00:00'}", "%d.%m.%Y %H:%M:%S"
                                         ).isoformat()
        except ValueError:
            date = None
    meta["date"] = date or first["when"]
    if meta["date"] is None:
        del meta["date"]
    bias, src = _bias_from_xml(params)
    if bias is None and "scanned" in first:
        bias, src = first["scanned"]["bias_V"], "scan variables (bias voltage)"
    _meta.put(meta, "bias_V", bias)
    if "bias_V" in meta:
        meta["bias_source"] = src
    _meta.put(meta, "scan_width_m", width)
    _meta.put(meta, "scan_height_m", height)
    _meta.put(meta, "scan_size_m", width)
    _meta.put(meta, "samples_per_line", shape[1])
    _meta.put(meta, "lines", shape[0])
    try:
        v = float(params["Parameters/ScanShell/scshRate"])
        unit = params.get("Parameters/ScanShell/scshRateUnits", "um/sec")
        if unit in ("um/sec", "um/s", "\u00b5m/s"):
            # tip speed over one line; a line is a trace and a retrace: lines/s = v / (2 L)
            _meta.put(meta, "scan_rate_hz", v * 1e-6 / (2 * width))
    except (KeyError, ValueError, ZeroDivisionError):
        pass
    try:
        _meta.put(meta, "scan_angle_deg", float(params["Parameters/ScanShell/scshAngle"]))
    except (KeyError, ValueError):
        pass
    # Scan.offset is the scan centre (as Bruker, Nanonis, Park and Asylum record it): the XML
    # centre where present, else the first pixel's position plus half the extent
    try:
        offset = (float(params["Parameters/ScanShell/scshYCentre"]) * 1e-6,
                  float(params["Parameters/ScanShell/scshXCentre"]) * 1e-6)
    except (KeyError, ValueError):
        offset = (offset[0] + height / 2, offset[1] + width / 2)
    _meta.put(meta, "x_offset_m", offset[1])
    _meta.put(meta, "y_offset_m", offset[0])
    return meta, offset
