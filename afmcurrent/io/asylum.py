"""Asylum Research (Oxford Instruments) Igor binary wave ``.ibw`` images: reader, via ``igor2``.

Public API (a contract, keep it stable)
---------------------------------------
read_asylum_ibw(path) -> Scan
    Every layer of a 3-D image wave (MFP-3D, Cypher, Jupiter), one channel per layer.
sniff_ibw(head) -> bool
    Whether the first bytes are an Igor binary wave header (version 1, 2, 3 or 5, either byte
    order) with a valid checksum.

File layout (facts of the format, Igor Technical Note TN003, and of Asylum's use of it)
--------------------------------------------------------------------------------------
A version-5 wave: a 64-byte binary header (checksum, sizes of the wave, formula, note,
extended units and dimension labels), a 320-byte wave header (type, ``nDim``, ``sfA`` =
pixel pitch per dimension, ``sfB``, data units), the samples in column-major order
(``[x, y, layer]``), the wave note, then the dimension labels (32-byte NUL-terminated slots;
the layer labels name the channels, e.g. ``HeightRetrace``, ``CurrentTrace``). The checksum
is the 16-bit sum of the first 384 bytes, which is 0 in a valid file. Asylum's wave note is
``key: value`` lines separated by CR: ``ScanSize``, ``FastScanSize``, ``SlowScanSize``,
``ScanRate`` (Hz = lines/s), ``ScanAngle`` (deg), ``XOffset``/``YOffset`` (m),
``ImagingMode``, ``MicroscopeModel``, ``SurfaceVoltage`` and ``TipVoltage`` (V), ``Date``,
``Time``, ``ScanDown``...

Reading rules (held to Gwyddion 2.62's reading of a real Cypher file in the tests)
---------------------------------------------------------------------------------
* layer k -> image ``flipud(data[:, :, k].T)`` (rows = slow axis, row 0 at the top);
* size = ``(ny * sfA[1], nx * sfA[0])`` (the pixel pitch times the pixel count, as Gwyddion);
* channel name = the layer label; a trailing ``Trace`` / ``Retrace`` gives the direction and
  is dropped from ``Channel.quantity``; a label without it has direction ``None``;
* unit from the channel name, as Gwyddion assigns it: ``Phase`` -> deg, ``Current`` -> A,
  ``Frequency`` -> Hz, ``Capacitance`` -> F, ``Height``, ``ZSensor``, ``Amplitude``,
  ``Deflection`` -> m, anything else (``UserIn0``, ``Bias``, ``Potential``...) -> V; values are
  stored in those SI units by the Asylum software and are not scaled;
* ``Scan.offset = (YOffset, XOffset)`` from the note (Gwyddion reports none);
* ``Scan.bias`` = ``SurfaceVoltage`` (the sample) when non-zero, else ``-TipVoltage`` when
  non-zero, else 0 V when either is recorded (``bias_source`` names the entry).
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
from . import _meta
from ._common import check_readable

logger = logging.getLogger(__name__)

__all__ = ["read_asylum_ibw", "sniff_ibw"]

_HEADER5 = 64 + 320
_MAX_PIXELS = 65536
_UNIT_RULES = (("phase", "deg"), ("current", "A"), ("frequency", "Hz"), ("capacitance", "F"),
               ("height", "m"), ("zsensor", "m"), ("amplitude", "m"), ("deflection", "m"))


def _version(head: bytes) -> tuple[int, str] | None:
    if len(head) < 2:
        return None
    v = struct.unpack_from("<H", head, 0)[0]
    if v & 0xFF:
        return v, "<"
    return v >> 8, ">"


def sniff_ibw(head: bytes) -> bool:
    """True for an Igor binary wave header with a valid checksum (Gwyddion's test). Pure."""
    try:
        vo = _version(head)
        if vo is None:
            return False
        version, order = vo
        size = {1: 8 + 110, 2: 16 + 110, 3: 20 + 110, 5: _HEADER5}.get(version)
        if size is None or len(head) < size:
            return False
        words = struct.unpack_from(f"{order}{size // 2}H", head, 0)
        return sum(words) & 0xFFFF == 0
    except struct.error:
        return False


def _unit(label: str) -> str:
    low = label.lower()
    for key, unit in _UNIT_RULES:
        if key in low:
            return unit
    return "V"


def _direction(label: str) -> tuple[str | None, str]:
    if label.endswith("Retrace"):
        return "retrace", label[: -len("Retrace")] or label
    if label.endswith("Trace"):
        return "trace", label[: -len("Trace")] or label
    return None, label


def _note(raw: bytes) -> dict[str, str]:
    text = raw.decode("latin-1", "replace")
    out: dict[str, str] = {}
    for line in text.replace("\n", "\r").split("\r"):
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _float(d: dict[str, str], key: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    try:
        x = float(v.split()[0]) if v.split() else None
    except (ValueError, OverflowError):
        return None
    return x if x is not None and math.isfinite(x) else None


def _labels(raw_file: Path, bh: dict[str, Any], n_layers: int) -> list[str]:
    """Layer labels from the raw label block (slots split at their first NUL)."""
    try:
        sizes = [int(s) for s in bh["dimLabelsSize"]]
        start = (64 + int(bh["wfmSize"]) + int(bh["formulaSize"]) + int(bh["noteSize"])
                 + int(bh["dataEUnitsSize"]) + sum(int(s) for s in bh["dimEUnitsSize"]))
        start += sizes[0] + sizes[1]
        n = sizes[2]
        if n <= 0 or n > 32 * (n_layers + 1) + 32:
            return []
        with open(raw_file, "rb") as fh:
            fh.seek(start)
            block = fh.read(n)
    except (KeyError, TypeError, ValueError, OSError, IndexError):
        return []
    slots = [block[i:i + 32] for i in range(0, len(block) - 31, 32)]
    names = [s.split(b"\x00", 1)[0].decode("latin-1", "replace").strip() for s in slots]
    return names[1:1 + n_layers]  # slot 0 labels the dimension as a whole


def _check_sizes(p: Path) -> None:
    """Refuse a header whose sizes exceed the file before igor2 touches it."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(_HEADER5)
    vo = _version(head)
    if vo is None or vo[0] != 5:
        ver = vo[0] if vo else "?"
        raise ReadError(f"{p}: Igor binary wave version {ver}: only version 5 holds images "
                        "(Asylum Research image files)")
    if len(head) < _HEADER5:
        raise ReadError(f"{p}: truncated Igor binary wave (header cut at {len(head)} bytes)")
    order = vo[1]
    fields = struct.unpack_from(f"{order}hh15l", head, 0)
    wfm, formula, note, deu = fields[2], fields[3], fields[4], fields[5]
    parts = [wfm, formula, note, deu, *fields[6:10], *fields[10:14], fields[14]]
    if any(x < 0 for x in parts) or 64 + sum(parts) > size:
        raise ReadError(f"{p}: Igor wave header sizes ({64 + sum(parts)} bytes) exceed the "
                        f"file ({size} bytes): truncated or corrupt")
    npts = struct.unpack_from(f"{order}l", head, 64 + 12)[0]
    ndim = struct.unpack_from(f"{order}4l", head, 64 + 68)
    if any(n < 0 for n in ndim) or npts < 0:
        raise ReadError(f"{p}: corrupt Igor wave header (negative dimension)")
    if not (0 < ndim[0] <= _MAX_PIXELS and 0 < ndim[1] <= _MAX_PIXELS):
        raise ReadError(f"{p}: not a 2-D image wave (dimensions {list(ndim)})")
    if ndim[3] not in (0, 1) or ndim[2] > 4096:
        raise ReadError(f"{p}: unsupported wave dimensions {list(ndim)}")
    layers = max(ndim[2], 1)
    if npts != ndim[0] * ndim[1] * layers:
        raise ReadError(f"{p}: {npts} points do not match the dimensions {list(ndim)}")
    wtype = struct.unpack_from(f"{order}h", head, 64 + 16)[0]
    tsize = {2: 4, 4: 8, 8: 1, 0x10: 2, 0x20: 4}.get(wtype & ~0x40)
    if tsize is None:
        raise ReadError(f"{p}: Igor wave type {wtype:#x} (text or complex): not an image")
    if wfm - 320 < npts * tsize:
        raise ReadError(f"{p}: wave data ({wfm - 320} bytes) too short for {npts} points of "
                        f"{tsize} bytes")


def read_asylum_ibw(path: str | Path) -> Scan:
    """Read an Asylum Research ``.ibw`` image into a :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        An Igor binary wave (version 5) written by the Asylum Research software.

    Returns
    -------
    Scan
        One channel per layer, SI units, Gwyddion orientation, ``format="asylum-ibw"``.

    Raises
    ------
    ReadError
        Not version 5, not a 2-D (or 2-D x layers) wave, a complex or text wave, sizes that
        exceed the file, non-finite data scaling or geometry, or anything igor2 cannot
        parse.
    """
    p = check_readable(path)
    _check_sizes(p)
    try:
        from igor2 import binarywave

        wave = binarywave.load(str(p))["wave"]
        data = np.asarray(wave["wData"])
        wh = wave["wave_header"]
        bh = wave["bin_header"]
        note_raw = wave.get("note", b"") or b""
        sfa = [float(x) for x in wh["sfA"]]
        sfb = [float(x) for x in wh["sfB"]]
    except ReadError:
        raise
    except Exception as exc:  # igor2 raises assorted errors on corrupt input
        raise ReadError(f"{p}: corrupt Igor binary wave ({type(exc).__name__}: {exc})"
                        ) from exc
    if data.dtype.kind not in "iuf":
        raise ReadError(f"{p}: Igor wave of type {data.dtype} (text or complex): not an image")
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise ReadError(f"{p}: Igor wave with {data.ndim} dimensions: not an image")
    nx, ny, nl = data.shape
    labels = _labels(p, bh, nl)
    note = _note(note_raw if isinstance(note_raw, bytes) else bytes(note_raw))
    dx, dy = abs(sfa[0]), abs(sfa[1])
    width, height = nx * dx, ny * dy
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ReadError(f"{p}: invalid pixel pitch sfA = {sfa[:2]} (must be finite and > 0)")
    channels: list[Channel] = []
    used: set[str] = set()
    for k in range(nl):
        label = labels[k] if k < len(labels) and labels[k] else f"Layer {k}"
        direction, quantity = _direction(label)
        img = np.ascontiguousarray(data[:, :, k].T[::-1], dtype=np.float64)
        name = _meta.unique_name(label, used)
        channels.append(Channel(name=name, data=img, unit=_unit(label),
                                direction=direction, quantity=quantity,  # type: ignore[arg-type]
                                metadata={"gwyddion_title": label}))
    meta: dict[str, Any] = {f"asylum.{k}": v for k, v in note.items()}
    meta["vendor"] = "Asylum Research"
    if note.get("MicroscopeModel"):
        meta["instrument"] = note["MicroscopeModel"]
    if note.get("ImagingMode"):
        meta["operating_mode"] = note["ImagingMode"]
    date = None
    if note.get("Date"):
        for fmt in ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S"):
            try:
                date = _dt.datetime.strptime(f"{note['Date']} {note.get('Time', '')}".strip(),
                                             fmt).isoformat()
                break
            except ValueError:
                continue
    if date is None:
        try:
            date = (_dt.datetime(1904, 1, 1)
                    + _dt.timedelta(seconds=int(wh["creationDate"]))).isoformat()
        except (KeyError, TypeError, ValueError, OverflowError):
            date = None
    if date:
        meta["date"] = date
    xoff = _float(note, "XOffset")
    yoff = _float(note, "YOffset")
    offset = (yoff if yoff is not None else sfb[1], xoff if xoff is not None else sfb[0])
    surf, tip = _float(note, "SurfaceVoltage"), _float(note, "TipVoltage")
    bias, src = None, None
    if surf:
        bias, src = surf, "SurfaceVoltage"
    elif tip:
        bias, src = -tip, "-TipVoltage"
    elif surf is not None or tip is not None:
        bias, src = 0.0, "SurfaceVoltage" if surf is not None else "-TipVoltage"
    _meta.put(meta, "bias_V", bias)
    if "bias_V" in meta:
        meta["bias_source"] = src
    _meta.put(meta, "scan_width_m", width)
    _meta.put(meta, "scan_height_m", height)
    _meta.put(meta, "scan_size_m", _float(note, "FastScanSize") or _float(note, "ScanSize"))
    _meta.put(meta, "samples_per_line", nx)
    _meta.put(meta, "lines", ny)
    _meta.put(meta, "scan_rate_hz", _float(note, "ScanRate"))
    _meta.put(meta, "scan_angle_deg", _float(note, "ScanAngle"))
    _meta.put(meta, "x_offset_m", offset[1])
    _meta.put(meta, "y_offset_m", offset[0])
    down = _float(note, "ScanDown")
    if down is not None:
        meta["slow_scan_direction"] = "down" if down else "up"
    if note.get("Setpoint"):
        meta["setpoint"] = note["Setpoint"]
    bias_v = meta.get("bias_V")
    return _meta.checked_scan(p, channels, (height, width), offset, bias_v, "asylum-ibw", meta)
