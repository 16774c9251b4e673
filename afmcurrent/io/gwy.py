"""Gwyddion native ``.gwy`` files (``GWYP``): reader (:func:`parse_gwy`, the checked walk of
the object tree) and writer (through ``gwyfile``).

Public API (a contract, keep it stable)
---------------------------------------
read_gwy(path) -> Scan
    Every 2-D data field ``/N/data`` of the file (in increasing N), with title, units,
    ``xreal``/``yreal``, ``xoff``/``yoff`` and the per-channel metadata ``/N/meta``.
write_gwy(path, scan, overwrite=False, masks=None) -> Path
    Every channel as a data field with title, units, size, offset and metadata strings, and
    a Gwyddion mask (``/N/mask``) for the channels given in ``masks``.
write_gwy_channels(path, frame, channels, overwrite=False) -> Path
    The same, written channel by channel from an iterable (memory: one channel at a time).

Reading rules
-------------
* ``Channel.name`` = the field's title ``/N/data/title`` (``"Channel N"`` when untitled; a
  repeated title gets ``" #2"``...); direction from the title ("Retrace" -> retrace, "Trace"
  -> trace, also as a suffix as in "HeightRetrace"; else ``None``) unless the metadata
  carry ``afmcurrent.direction`` (written by :func:`write_gwy`); ``quantity`` = the title
  without the direction word, or ``afmcurrent.quantity``;
* units: ``si_unit_z`` / ``si_unit_xy`` (Gwyddion stores base SI units; a prefixed unit
  string such as ``"nm"`` is converted to SI); values and orientation as stored, which is
  Gwyddion's own orientation;
* ``Scan.size = (yreal, xreal)``, ``Scan.offset = (yoff, xoff)`` of the first field; fields
  whose shape differs from the first one are skipped with a logged warning;
* ``Scan.metadata`` = the first channel's ``/N/meta`` strings (keys with Gwyddion's division
  slash ``"\u2215"`` turned back into ``"/"``), plus ``gwy_ids`` (list of N);
  ``Scan.bias`` = ``float(meta["afmcurrent.bias_V"])`` when present, else ``None``.

Writing rules
-------------
Field N = channel N, title = ``Channel.name``, ``si_unit_z`` = ``Channel.unit``,
``si_unit_xy = "m"``. ``/N/meta`` holds, as strings, the scan metadata, then the channel
metadata, then ``afmcurrent.direction``, ``afmcurrent.quantity``, ``afmcurrent.bias_V``
(``"None"`` when unknown) and ``afmcurrent.format``; non-string values are JSON-encoded, and
``"/"`` in keys is written as ``"\u2215"`` (as Gwyddion's own importers do). A mask is a data
field of the same geometry with 1 on the masked pixels and 0 elsewhere (Gwyddion's
``/N/mask`` convention, drawn as a coloured overlay); the writer does not alter the data, so
the caller fills pixels without a value (Gwyddion draws a field with NaN black with a false
scale).
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.model import Channel, Scan
from ..core.units import to_si
from ._common import atomic_path, check_readable, check_writable, read_head
from ._meta import check_scan_numbers, unique_name

logger = logging.getLogger(__name__)

__all__ = ["read_gwy", "write_gwy", "write_gwy_channels", "parse_gwy", "validate_gwy_structure"]

_DIV_SLASH = "\u2215"
_FIELD_KEY = re.compile(r"^/(\d+)/data$")
_DIR_WORD = re.compile(r"(retrace|trace)(?![a-z])", re.IGNORECASE)


def _unit(obj: Any) -> str:
    if obj is None:
        return ""
    try:
        return str(obj.get("unitstr", "") or "")
    except AttributeError:
        return ""


def _direction_from_title(title: str) -> tuple[str | None, str]:
    m = _DIR_WORD.search(title)
    if not m:
        return None, title
    direction = "retrace" if m.group(1).lower() == "retrace" else "trace"
    quantity = _DIR_WORD.sub("", title)
    quantity = re.sub(r"[\(\[]\s*[\)\]]", "", quantity)
    quantity = re.sub(r"\s+", " ", quantity).strip(" -_")
    return direction, quantity or title


def _meta_dict(obj: Any) -> dict[str, str]:
    if obj is None:
        return {}
    out = {}
    try:
        items = list(obj.items())
    except AttributeError:
        return {}
    for k, v in items:
        out[str(k).replace(_DIV_SLASH, "/")] = v if isinstance(v, str) else str(v)
    return out


_GWY_FIXED = {"b": 1, "c": 1, "i": 4, "q": 8, "d": 8}
_GWY_SCALAR = {"i": struct.Struct("<i"), "q": struct.Struct("<q"), "d": struct.Struct("<d")}
_GWY_ARRAY = {"C": 1, "I": 4, "Q": 8, "D": 8}
_GWY_ARRAY_DTYPE = {"C": "u1", "I": "<i4", "Q": "<i8", "D": "<f8"}
_GWY_MAX_DEPTH = 32
_GWY_MAX_ITEMS = 2_000_000


class GwyNode(dict):
    """A serialised GWY object as parsed by :func:`parse_gwy`: its components by name
    (numbers, strings, nested objects, NumPy arrays that view the file's bytes), and its
    type name in :attr:`type`."""

    type: str = ""


def parse_gwy(buf: bytes, values: bool = True) -> GwyNode | None:
    """Walk the serialised GWYP object tree with bounds checks (and read its values).

    The GWY format (Gwyddion user guide, "GWY file format"): ``GWYP``, then one object: a
    NUL-terminated type name, a u32 byte size and that many bytes of components; a component
    is a NUL-terminated name, a type character and a value: ``b``/``c`` 1 byte, ``i`` 4,
    ``q``/``d`` 8, ``s`` a NUL-terminated string, ``o`` an object, upper case an array (u32
    count then the items: ``C`` 1, ``I`` 4, ``Q``/``D`` 8 bytes each, ``S`` strings, ``O``
    objects). Every string must end inside its object and every size must fit in its
    parent, so that no read runs past the data (gwyfile, the library, loops for ever on a
    string without its NUL). Time linear in the number of components and the bytes, bounded.

    Parameters
    ----------
    buf : bytes
        The whole file, ``GWYP`` included.
    values : bool, optional
        Build the tree (else only check the structure and return None).

    Returns
    -------
    GwyNode or None
        The top-level object (a ``GwyContainer``): keys as in the file (``/0/data``, ...);
        arrays are read-only views of ``buf`` (``D`` float64, ``I``/``Q`` integers, ``C``
        bytes), ``S`` lists of str, ``O`` lists of GwyNode, ``b`` bool, ``c`` a one-byte
        int, strings decoded as UTF-8 (invalid bytes replaced).

    Raises
    ------
    ValueError
        On a structure that does not fit (the message says where).

    Notes
    -----
    gwyfile's reader copies the rest of the buffer at every component (seconds for large
    files, ~9 ms per 4 MB 512 x 512 two-channel file); this walk reads each value once, and
    the data arrays not at all. ``tests/test_io_gwy.py`` checks it against gwyfile on real
    files.
    """
    items = 0
    view = memoryview(buf)

    def cstring(pos: int, limit: int) -> int:
        j = buf.find(b"\x00", pos, limit)
        if j < 0:
            raise ValueError(f"string at byte {pos} has no terminating NUL inside its object")
        return j + 1

    def text(a: int, b: int) -> str:
        return buf[a:b - 1].decode("utf-8", "replace")

    def obj(pos: int, limit: int, depth: int) -> tuple[int, GwyNode | None]:
        nonlocal items
        if depth > _GWY_MAX_DEPTH:
            raise ValueError("objects nested too deeply")
        start = pos
        pos = cstring(pos, limit)
        node = None
        if values:
            node = GwyNode()
            node.type = text(start, pos)
        if pos + 4 > limit:
            raise ValueError(f"object size field at byte {pos} runs past its parent")
        size = int.from_bytes(buf[pos:pos + 4], "little")
        pos += 4
        end = pos + size
        if end > limit:
            raise ValueError(f"object at byte {pos} claims {size} bytes, past its parent")
        while pos < end:
            items += 1
            if items > _GWY_MAX_ITEMS:
                raise ValueError("too many components")
            name_at = pos
            pos = cstring(pos, end)
            if pos >= end:
                raise ValueError(f"component type missing at byte {pos}")
            name = text(name_at, pos) if values else ""
            t = chr(buf[pos])
            pos += 1
            value: Any = None
            if t in _GWY_FIXED:
                n = _GWY_FIXED[t]
                if values and pos + n <= end:
                    if t == "b":
                        value = buf[pos] != 0
                    elif t == "c":
                        value = buf[pos]
                    else:
                        value = _GWY_SCALAR[t].unpack_from(buf, pos)[0]
                pos += n
            elif t == "s":
                s0 = pos
                pos = cstring(pos, end)
                value = text(s0, pos) if values else None
            elif t == "o":
                pos, value = obj(pos, end, depth + 1)
            elif t in _GWY_ARRAY or t in "SO":
                if pos + 4 > end:
                    raise ValueError(f"array count at byte {pos} runs past its object")
                n = int.from_bytes(buf[pos:pos + 4], "little")
                pos += 4
                if t in _GWY_ARRAY:
                    nbytes = n * _GWY_ARRAY[t]
                    if values and pos + nbytes <= end:
                        value = np.frombuffer(view, _GWY_ARRAY_DTYPE[t], n, pos)
                    pos += nbytes
                else:
                    if n > end - pos:
                        raise ValueError(f"array of {n} items at byte {pos} cannot fit")
                    value = [] if values else None
                    for _ in range(n):
                        if t == "S":
                            s0 = pos
                            pos = cstring(pos, end)
                            if values:
                                value.append(text(s0, pos))
                        else:
                            pos, sub = obj(pos, end, depth + 1)
                            if values:
                                value.append(sub)
            else:
                raise ValueError(f"unknown component type {t!r} at byte {pos - 1}")
            if pos > end:
                raise ValueError(f"component value at byte {pos} runs past its object")
            if node is not None:
                node[name] = value
        return end, node

    if buf[:4] != b"GWYP":
        raise ValueError("no GWYP magic")
    return obj(4, len(buf), 0)[1]


def validate_gwy_structure(buf: bytes) -> str | None:
    """Walk the serialised GWYP object tree with bounds checks; return a problem or None
    (:func:`parse_gwy` without building the tree)."""
    try:
        parse_gwy(buf, values=False)
    except ValueError as exc:
        return str(exc)
    return None


def _field_data(field: Any) -> np.ndarray:
    """The image of a ``GwyDataField`` node, shape (yres, xres), float64 (a new array)."""
    xres, yres = int(field["xres"]), int(field["yres"])
    data = field["data"]
    if xres <= 0 or yres <= 0 or data is None or data.size != xres * yres:
        raise ValueError(f"xres {xres} x yres {yres} does not match "
                         f"{None if data is None else data.size} values")
    return np.array(data, dtype=np.float64).reshape(yres, xres)


def read_gwy(path: str | Path) -> Scan:
    """Read a Gwyddion ``.gwy`` file (GWYP format) into a :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    Scan
        ``format="gwyddion"``; see the module docstring for names, units and metadata.

    Raises
    ------
    ReadError
        Missing file, old GWYO format, corrupt or truncated file, no data field.
    """
    p = check_readable(path)
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic == b"GWYO":
        raise ReadError(f"{p}: old Gwyddion 1.x file format (GWYO magic), which afmcurrent "
                        "cannot read; open it in a current Gwyddion (2.x) and save it again")
    if magic != b"GWYP":
        raise ReadError(f"{p}: not a Gwyddion file (no GWYP magic)")
    buf, _ = read_head(p)
    try:
        obj = parse_gwy(buf)
    except ValueError as exc:
        raise ReadError(f"{p}: corrupt or truncated Gwyddion file: {exc}") from exc
    assert obj is not None
    ids = sorted(int(m.group(1)) for k in obj.keys() if (m := _FIELD_KEY.match(str(k))))
    if not ids:
        raise ReadError(f"{p}: Gwyddion file without any image data field (/N/data)")
    channels: list[Channel] = []
    used: set[str] = set()
    geometry = None
    kept: list[int] = []
    first_meta: dict[str, str] = {}
    for n in ids:
        try:
            field = obj[f"/{n}/data"]
            data = _field_data(field)
            xreal = float(field.get("xreal", 1.0))
            yreal = float(field.get("yreal", 1.0))
            xoff = float(field.get("xoff", 0.0) or 0.0)
            yoff = float(field.get("yoff", 0.0) or 0.0)
            zunit = _unit(field.get("si_unit_z"))
            xyunit = _unit(field.get("si_unit_xy"))
        except Exception as exc:
            raise ReadError(f"{p}: data field /{n}/data is unreadable ({exc})") from exc
        if data.ndim != 2:
            raise ReadError(f"{p}: data field /{n}/data is not 2-D")
        fz, zunit = to_si(zunit)
        fxy, xyunit = to_si(xyunit)
        if xyunit not in ("m", ""):
            logger.warning("%s: field /%d/data has lateral unit %r (not m)", p, n, xyunit)
        geo = (data.shape, (yreal * fxy, xreal * fxy), (yoff * fxy, xoff * fxy))
        if geometry is None:
            geometry = geo
        elif data.shape != geometry[0]:
            logger.warning("%s: skipping field /%d/data of shape %s (first field: %s)",
                           p, n, data.shape, geometry[0])
            continue
        title = obj.get(f"/{n}/data/title")
        title = str(title) if title else f"Channel {n}"
        meta = _meta_dict(obj.get(f"/{n}/meta"))
        direction, quantity = _direction_from_title(title)
        if meta.get("afmcurrent.direction") in ("trace", "retrace", "None"):
            d = meta["afmcurrent.direction"]
            direction = None if d == "None" else d
        quantity = meta.get("afmcurrent.quantity", quantity)
        name = unique_name(title, used)
        if not kept:
            first_meta = meta
        kept.append(n)
        channels.append(Channel(name=name, data=data * fz if fz != 1.0 else data, unit=zunit,
                                direction=direction, quantity=quantity, metadata=meta))
    assert geometry is not None
    metadata: dict[str, Any] = dict(first_meta)
    metadata["gwy_ids"] = kept
    bias = None
    b = first_meta.get("afmcurrent.bias_V")
    if b not in (None, "", "None"):
        try:
            bias = float(b)
        except ValueError:
            logger.warning("%s: unreadable afmcurrent.bias_V %r", p, b)
    if not (geometry[1][0] > 0 and geometry[1][1] > 0):
        raise ReadError(f"{p}: invalid physical size {geometry[1]} of the first data field")
    check_scan_numbers(p, geometry[1], geometry[2], bias)
    return Scan(channel_list=channels, size=geometry[1], bias=bias, offset=geometry[2],
                path=p, format="gwyddion", metadata=metadata)


def _str(v: Any) -> str:
    if isinstance(v, str):
        return v
    try:
        return json.dumps(v, default=str)
    except (TypeError, ValueError):
        return str(v)


def write_gwy(
    path: str | Path,
    scan: Scan,
    overwrite: bool = False,
    masks: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a scan as a Gwyddion ``.gwy`` file (one data field per channel).

    Parameters
    ----------
    path : str or Path
        Output file.
    scan : Scan
        The scan (SI units, Gwyddion orientation).
    overwrite : bool, optional
        Replace an existing file; refused by default.
    masks : dict of str to ndarray of bool, optional
        Channel name -> mask of shape (rows, cols), True on the pixels to mark (e.g. those
        without a value); written as ``/N/mask``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If a mask's shape is not its channel's.
    """
    masks = masks or {}
    return write_gwy_channels(path, scan, ((ch, masks.get(ch.name)) for ch in scan.channel_list),
                              overwrite=overwrite)


def write_gwy_channels(
    path: str | Path,
    frame: Any,
    channels: Iterable[tuple[Channel, np.ndarray | None]],
    overwrite: bool = False,
) -> Path:
    """Write ``.gwy`` channel by channel: memory holds one channel at a time, not the file.

    The file is the one :func:`write_gwy` describes, byte for byte what ``gwyfile`` writes for
    the same container (each component is serialised by ``gwyfile.objects.serialize_component``
    except the data arrays, written straight from the arrays); the container's byte count,
    which precedes its components in the GWYP layout (``docs/formats.md``), is written when
    the last channel is done.

    Parameters
    ----------
    path : str or Path
        Output file.
    frame : Scan or object with ``size``, ``offset``, ``bias``, ``format`` and ``metadata``
        The geometry (m, (y, x)) and the scan metadata of every channel.
    channels : iterable of (Channel, ndarray of bool or None)
        Each channel (data shape (rows, cols)) and its mask (True on the marked pixels) or
        None; consumed once, in order (channel N = the N-th item).
    overwrite : bool, optional
        Replace an existing file; refused by default.

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If a mask's shape is not its channel's, or the container exceeds the 4 GiB that the
        format's 32-bit byte count can describe.
    """
    from gwyfile.objects import GwyContainer, serialize_component

    p = check_writable(path, overwrite)
    height, width = frame.size
    y0, x0 = frame.offset
    geometry = {"xreal": float(width), "yreal": float(height), "xoff": float(x0),
                "yoff": float(y0)}
    with atomic_path(p) as tmp, open(tmp, "wb") as fh:
        fh.write(b"GWYP" + b"GwyContainer\0")
        size_at = fh.tell()
        fh.write(b"\0\0\0\0")  # the container's byte count, written at the end
        for n, (ch, mask) in enumerate(channels):
            _write_field(fh, f"/{n}/data", ch.data, ch.unit, geometry)
            fh.write(serialize_component(f"/{n}/data/title", ch.name))
            if mask is not None:
                m = np.asarray(mask, bool)
                if m.shape != ch.data.shape:
                    raise ValueError(f"mask of {ch.name!r} has shape {m.shape}, the channel "
                                     f"{ch.data.shape}")
                _write_field(fh, f"/{n}/mask", m.astype(np.float64), "", geometry)
                del m
            meta: dict[str, str] = {}
            for src in (frame.metadata, ch.metadata):
                for k, v in src.items():
                    meta[str(k).replace("/", _DIV_SLASH)] = _str(v)
            meta["afmcurrent.direction"] = str(ch.direction)
            meta["afmcurrent.quantity"] = ch.quantity
            meta["afmcurrent.bias_V"] = repr(frame.bias) if frame.bias is not None else "None"
            meta["afmcurrent.format"] = frame.format
            fh.write(serialize_component(f"/{n}/meta", GwyContainer(meta)))
        size = fh.tell() - size_at - 4
        if size >= 2**32:
            raise ValueError(f"{p}: {size} bytes of channels exceed the 4 GiB a .gwy "
                             "container can hold")
        fh.seek(size_at)
        fh.write(struct.pack("<I", size))
    return p


def _write_field(fh: Any, key: str, data: np.ndarray, unit: str,
                 geometry: dict[str, float]) -> None:
    """One ``GwyDataField`` component, its array written without a serialised copy."""
    from gwyfile.objects import GwyDataField, GwySIUnit, serialize_component

    arr = np.ascontiguousarray(data, dtype="<f8")
    rows, cols = arr.shape
    # gwyfile's own field (for the order and encoding of its components) on a 1 x 1 array
    field = GwyDataField(np.zeros((1, 1)), si_unit_xy=GwySIUnit(unitstr="m"),
                         si_unit_z=GwySIUnit(unitstr=unit), **geometry)
    field["xres"], field["yres"] = cols, rows
    head = b"".join(serialize_component(k, field[k], field.typecodes.get(k))
                    for k in field if k != "data")
    data_head = b"data\0D" + struct.pack("<I", arr.size)
    body = len(head) + len(data_head) + arr.nbytes
    fh.write(key.encode() + b"\0o" + b"GwyDataField\0" + struct.pack("<I", body) + head)
    fh.write(data_head)
    fh.write(memoryview(arr).cast("B"))
