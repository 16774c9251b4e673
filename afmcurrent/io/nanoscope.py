"""Bruker (Digital Instruments / Veeco) Nanoscope image files: reader and writer.

Public API (a contract, keep it stable)
---------------------------------------
read_nanoscope_header(path) -> dict
    Parse and return the text header only (works on header-only files).
read_nanoscope(path) -> Scan
    Read every image channel of a Nanoscope image file (``.spm``, ``.000`` ... ``.999``).
write_nanoscope(path, scan, overwrite=False) -> Path
    Write a Scan as a Nanoscope image file (v5-style header, 4 bytes per pixel).

File layout (facts of the format)
---------------------------------
A Nanoscope file starts with a text header of ``\\key: value`` lines grouped in sections
(``\\*File list``, ``\\*Scanner list``, ``\\*Ciao scan list``, one ``\\*Ciao image list`` per
image channel, ...), closed by ``\\*File list end``. Each image section gives the absolute
``Data offset`` and ``Data length`` of its pixels: little-endian signed integers of
``Bytes/pixel`` (2 or 4) bytes, ``Number of lines`` rows of ``Samps/line`` values, stored
bottom row first. A value is ``raw / 2**(8*Bytes/pixel) * Z * S`` where ``Z`` is the final
number of the image's ``@2:Z scale: V [Sens. X] (... V/LSB) Z V`` entry and ``S`` the number
of the ``@Sens. X: V S unit/V`` entry. This is exactly what Gwyddion's ``nanoscope`` module
does (checked against Gwyddion 2.62 with ``gwyddion --convert-to-gwy``: identical values);
a sensitivity without unit gives volts, as in Gwyddion.

Pixel data are read with :func:`numpy.frombuffer`, not through ``pySPM.Bruker``: pySPM
reshapes non-square images with rows and columns swapped, scales unit-less 4-byte channels by
``1/65536`` instead of ``1/2**32``, returns values in nm and upside down, and loops forever on a
header without ``\\*File list end``. pySPM is kept as an independent cross-check in the tests
(it agrees with this reader on square images after ``np.flipud`` and nm -> m).

Conventions of the returned :class:`~afmcurrent.model.Scan`
-----------------------------------------------------------
* channel name: the quoted name of ``\\@2:Image Data: S [Height] "Height"`` for a trace image,
  ``"<name> (retrace)"`` for a retrace image (``\\Line direction: Retrace``); a name that would
  repeat gets ``" #2"``, ``" #3"``...; ``Channel.quantity`` is the quoted name;
* orientation: row 0 is the top row as Gwyddion displays the file (the stored rows reversed);
* units: SI (``"m"``, ``"A"``, ``"V"``, ``"deg"``); other sensitivity units are kept as text
  with the numeric prefix applied where it is recognisable;
* ``Scan.size = (height, width)`` in m from the first image's ``\\Scan size: W H unit``
  (units nm, ~m = um, ...): width = W, height = H * lines / samples-per-line, a single number
  meaning H = W. This is Gwyddion 2.62's rule (measured on written non-square files), so a
  partial frame keeps square pixels;
* ``Scan.offset = (y0, x0)`` from ``\\X offset`` / ``\\Y offset`` of the scan list;
* ``Scan.bias``: the sample bias in V (see below) or ``None``.

Metadata
--------
``Scan.metadata`` holds every header entry of the non-image sections as a string, keyed by the
header key without its leading backslash (``"Scan rate"``, ``"@Sens. Zscan"``,
``"@2:Sample Bias"``). A key seen again in a later section with a different value is stored
as ``"<section>::<key>"`` (e.g. ``"Ciao scan list::Samps/line"``); a key repeated within a
section with a different value gets ``" #2"``. Each channel's own section goes to
``Channel.metadata`` (same key rule). Normalised keys are added to ``Scan.metadata``:

``scan_size_m`` (fast-axis scan size, m), ``samples_per_line``, ``lines``, ``scan_rate_hz``,
``date`` (ISO 8601), ``scan_angle_deg`` (``\\Rotate Ang.``, which Nanoscope records in radians:
1.5708 is 90 deg), ``x_offset_m``, ``y_offset_m``, ``bias_V``,
``current_sensitivity_A_per_V`` (``@Sens. Current`` or ``@Sens. CurrentSens``, sign kept),
``nanoscope_version``. A key is absent when the header does not record it.

Sample bias rule
----------------
``bias_V`` is the value of the first of these main-scan (``@2:``) entries present:
``@2:Sample Bias`` (NanoScope 6 and later; the one :func:`write_nanoscope` writes),
``@2:Bias`` (NanoScope 5, the STM/TUNA "Bias" parameter), ``@2:DC Sample Bias``,
``@2:DC bias``; its unit (mV or V) is converted to V. ``@3:`` entries (interleave / lift
pass) are not used.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReadError
from ..model import Channel, Scan
from ._common import check_readable, check_writable, parse_length_m, si_factor

logger = logging.getLogger(__name__)

__all__ = ["read_nanoscope_header", "read_nanoscope", "write_nanoscope", "MAX_HEADER_BYTES"]

#: The header must end within this many bytes (real headers are 8-80 kB).
MAX_HEADER_BYTES = 4 * 1024 * 1024
#: Largest accepted number of samples per line or of lines.
MAX_PIXELS_PER_AXIS = 65536

_END = b"\\*File list end"
_BIAS_KEYS = ("@2:Sample Bias", "@2:Bias", "@2:DC Sample Bias", "@2:DC bias")
_CURRENT_SENS_KEYS = ("@Sens. Current", "@Sens. CurrentSens")
_IMAGE_SECTIONS = ("ciao image list", "afm image list", "ncafm image list")

# "V [Sens. Zscan] (0.006713765 V/LSB) 439.9866 V" -> type, soft scale, hard scale, value
_AT_VALUE = re.compile(
    r"^(?P<type>[VSC])\s+(?:\[(?P<soft>[^\]]*)\]\s*)?(?:\((?P<hard>[^)]*)\)\s*)?(?P<value>.*?)\s*$"
)
_NUMBER_UNIT = re.compile(
    r"^\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>.*?)\s*$"
)


# ----------------------------------------------------------------------------------------------
# header parsing
# ----------------------------------------------------------------------------------------------
def _read_header_bytes(path: Path) -> tuple[str, int, int]:
    """Return (header text, byte offset just after ``\\*File list end``, file size)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        buf = fh.read(min(size, MAX_HEADER_BYTES))
    i = buf.find(_END)
    if i < 0:
        if size <= MAX_HEADER_BYTES:
            raise ReadError(
                f"{path}: truncated or corrupt Nanoscope file: the header has no "
                f"'\\*File list end' line (file ends at byte {size})"
            )
        raise ReadError(
            f"{path}: not a valid Nanoscope file: no '\\*File list end' within the first "
            f"{MAX_HEADER_BYTES // (1024 * 1024)} MiB"
        )
    end = i + len(_END)
    return buf[:end].decode("latin-1"), end, size


def _add(d: dict[str, str], key: str, value: str) -> str:
    """Insert key -> value, renaming a differing duplicate with ' #n'; return the key used."""
    if key not in d:
        d[key] = value
        return key
    if d[key] == value:
        return key
    n = 2
    while f"{key} #{n}" in d:
        if d[f"{key} #{n}"] == value:
            return f"{key} #{n}"
        n += 1
    d[f"{key} #{n}"] = value
    return f"{key} #{n}"


def read_nanoscope_header(path: str | Path) -> dict[str, Any]:
    """Parse the text header of a Bruker Nanoscope file.

    Works on any Nanoscope file (image, force curve, header-only): nothing beyond the header
    is read, and the parse stops at ``\\*File list end`` (or fails if it is missing within
    :data:`MAX_HEADER_BYTES`), so it cannot hang.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        ``"path"`` (str), ``"kind"`` (``"image"`` or ``"force"``: a ``\\*Force file list``),
        ``"first_line"`` (the title line without backslash), ``"header_end"`` (byte offset
        just after ``\\*File list end``), ``"file_size"`` (bytes), ``"sections"`` (list of
        ``(section name, {key: value})`` in file order), ``"globals"`` (dict of every entry of
        the non-image sections, keys as described in the module docstring) and ``"images"``
        (list of dicts, one per image section, in file order), ``"normalised"`` (the
        normalised keys of the module docstring: ``bias_V``, ``scan_rate_hz``...). Keys are
        the header keys without the leading backslash; values are the raw strings.

    Raises
    ------
    ReadError
        Missing file, not a Nanoscope header, or no ``\\*File list end``.
    """
    p = check_readable(path)
    text, end, size = _read_header_bytes(p)
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    if not first.startswith("\\*") or not first.lower().endswith("file list"):
        raise ReadError(f"{p}: not a Nanoscope file (first line {first[:40]!r})")
    sections: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("\\*"):
            name = line[2:].strip()
            if name.lower() == "file list end":
                break
            current = {}
            sections.append((name, current))
            continue
        if not line.startswith("\\") or current is None:
            continue  # stray text: ignore, as Gwyddion does
        body = line[1:]
        # "@2:Image Data: ..." has a colon after the group number; skip it when splitting
        start = 3 if re.match(r"@\d:", body) else 0
        j = body.find(":", start)
        if j < 0:
            key, value = body.strip(), ""
        else:
            key, value = body[:j].strip(), body[j + 1 :].strip()
        _add(current, key, value)
    globals_: dict[str, str] = {}
    images: list[dict[str, str]] = []
    for name, entries in sections:
        if name.lower() in _IMAGE_SECTIONS:
            images.append(entries)
            continue
        for key, value in entries.items():
            if key in globals_ and globals_[key] != value:
                _add(globals_, f"{name}::{key}", value)
            else:
                globals_.setdefault(key, value)
    kind = "force" if "force" in first.lower() else "image"
    normalised = _normalised(globals_, images[0] if images else None)
    return {
        "normalised": normalised,
        "path": str(p),
        "kind": kind,
        "first_line": first[1:],
        "header_end": end,
        "file_size": size,
        "sections": sections,
        "globals": globals_,
        "images": images,
    }


def _get(d: dict[str, str], key: str) -> str | None:
    """Case-insensitive lookup (Nanoscope versions differ: 'Scan size' / 'Scan Size')."""
    if key in d:
        return d[key]
    k = key.casefold()
    for kk, v in d.items():
        if kk.casefold() == k:
            return v
    return None


def _number_unit(text: str | None) -> tuple[float, str] | None:
    """Parse '15000 nm' -> (15000.0, 'nm'); None when there is no leading number."""
    if text is None:
        return None
    m = _NUMBER_UNIT.match(text)
    if not m:
        return None
    return float(m.group("num")), m.group("unit")


def _at_value(text: str | None) -> dict[str, Any] | None:
    """Parse an '@' entry value: {'type', 'soft', 'hard', 'value', 'unit'}."""
    if text is None:
        return None
    m = _AT_VALUE.match(text)
    if not m:
        return None
    out: dict[str, Any] = {"type": m.group("type"), "soft": m.group("soft"),
                           "hard": m.group("hard"), "value": None, "unit": "",
                           "text": m.group("value")}
    nu = _number_unit(m.group("value"))
    if nu is not None:
        out["value"], out["unit"] = nu
    return out


def _quoted(text: str | None) -> str | None:
    if text is None:
        return None
    m = re.search(r'"([^"]*)"', text)
    if m and m.group(1).strip():
        return m.group(1).strip()
    m = re.search(r"\[([^\]]+)\]", text)
    return m.group(1).strip() if m else None


def _int_field(img: dict[str, str], key: str, path: Path, idx: int) -> int:
    v = _get(img, key)
    nu = _number_unit(v)
    if nu is None or nu[0] != int(nu[0]):
        raise ReadError(f"{path}: image {idx + 1}: missing or invalid '\\{key}' ({v!r})")
    return int(nu[0])


# ----------------------------------------------------------------------------------------------
# normalised metadata
# ----------------------------------------------------------------------------------------------
def _to_volts(entry: dict[str, Any] | None) -> float | None:
    if entry is None or entry["value"] is None:
        return None
    unit = entry["unit"] or "V"
    f = si_factor(unit, ("V",))
    if f is None:
        return None
    return entry["value"] * f[0]


def _parse_date(text: str) -> str | None:
    for fmt in ("%I:%M:%S %p %a %b %d %Y", "%H:%M:%S %a %b %d %Y", "%I:%M:%S %p %m/%d/%Y"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return None


def _normalised(g: dict[str, str], first_image: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    v = _get(g, "Version")
    if v:
        out["nanoscope_version"] = v
    nu = _number_unit(_get(g, "Scan size"))
    if nu is not None:
        try:
            out["scan_size_m"] = parse_length_m(nu[0], nu[1] or "nm")
        except ValueError:
            pass
    for key, name in (("Samps/line", "samples_per_line"), ("Lines", "lines")):
        nu = _number_unit(_get(g, key))
        if nu is not None:
            out[name] = int(nu[0])
    if first_image is not None:
        for key, name in (("Samps/line", "samples_per_line"), ("Number of lines", "lines")):
            nu = _number_unit(_get(first_image, key))
            if nu is not None:  # the image's own size wins (partial frames)
                out[name] = int(nu[0])
    nu = _number_unit(_get(g, "Scan rate"))
    if nu is not None:
        out["scan_rate_hz"] = nu[0]
    d = _get(g, "Date")
    if d:
        iso = _parse_date(d)
        out["date"] = iso if iso else d
    nu = _number_unit(_get(g, "Rotate Ang."))
    if nu is not None:
        out["scan_angle_deg"] = math.degrees(nu[0])
    for key, name in (("X offset", "x_offset_m"), ("Y offset", "y_offset_m")):
        nu = _number_unit(_get(g, key))
        if nu is not None:
            try:
                out[name] = parse_length_m(nu[0], nu[1] or "nm")
            except ValueError:
                pass
    for key in _BIAS_KEYS:
        volts = _to_volts(_at_value(g.get(key)))
        if volts is not None:
            out["bias_V"] = volts
            out["bias_source"] = key
            break
    for key in _CURRENT_SENS_KEYS:
        e = _at_value(g.get(key))
        if e is not None and e["value"] is not None:
            num = e["unit"].split("/")[0]
            f = si_factor(num, ("A",))
            if f is not None:
                out["current_sensitivity_A_per_V"] = e["value"] * f[0]
                break
    return out


# ----------------------------------------------------------------------------------------------
# reader
# ----------------------------------------------------------------------------------------------
def _layout(header: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Validate every image section against the file size; return their geometry."""
    size = header["file_size"]
    offsets = [_number_unit(_get(img, "Data offset")) for img in header["images"]]
    if all(o is not None and o[0] >= size for o in offsets):
        raise ReadError(
            f"{path}: Nanoscope header without pixel data: the file ends at byte {size}, "
            f"before the first image's data offset {int(offsets[0][0])} (header-only file?)"
        )
    out = []
    for idx, img in enumerate(header["images"]):
        label = _get(img, "@2:Image Data") or _get(img, "@3:Image Data")
        name = _quoted(label) or f"Image {idx + 1}"
        off = _int_field(img, "Data offset", path, idx)
        length = _int_field(img, "Data length", path, idx)
        bpp = _int_field(img, "Bytes/pixel", path, idx) if _get(img, "Bytes/pixel") else 2
        cols = _int_field(img, "Samps/line", path, idx)
        rows = _int_field(img, "Number of lines", path, idx)
        where = f"{path}: image {idx + 1} ({name!r})"
        if bpp not in (2, 4):
            raise ReadError(f"{where}: unsupported Bytes/pixel {bpp} (expected 2 or 4)")
        if not (0 < cols <= MAX_PIXELS_PER_AXIS and 0 < rows <= MAX_PIXELS_PER_AXIS):
            raise ReadError(
                f"{where}: implausible image size {rows} lines x {cols} samples/line "
                f"(each must be 1..{MAX_PIXELS_PER_AXIS})"
            )
        if length != rows * cols * bpp:
            raise ReadError(
                f"{where}: inconsistent header: Data length {length} bytes != "
                f"{rows} lines x {cols} samples x {bpp} bytes = {rows * cols * bpp}"
            )
        if off < header["header_end"] or off < 0:
            raise ReadError(f"{where}: Data offset {off} lies inside the header")
        if off + length > size:
            raise ReadError(
                f"{where}: truncated file: pixel data needs bytes {off}..{off + length} "
                f"but the file has only {size} bytes"
            )
        out.append({"index": idx, "name": name, "offset": off, "length": length, "bpp": bpp,
                    "rows": rows, "cols": cols, "section": img})
    return out


def _channel_scale(img: dict[str, str], g: dict[str, str], path: Path, name: str
                   ) -> tuple[float, str]:
    """Return (factor per raw count before the 2**(8 bpp) division, SI unit)."""
    key = next((k for k in ("@2:Z scale", "@3:Z scale", "@4:Z scale", "Z scale")
                if _get(img, k) is not None), None)
    zs = _at_value(_get(img, key)) if key else None
    if zs is None or zs["value"] is None:
        raise ReadError(f"{path}: image {name!r}: missing or unreadable '@2:Z scale' entry")
    if zs["soft"]:
        sens = _at_value(g.get("@" + zs["soft"]))
        if sens is None or sens["value"] is None:
            logger.warning("%s: image %r: sensitivity '@%s' not in header; unit left empty",
                           path, name, zs["soft"])
            return zs["value"], ""
        factor = zs["value"] * sens["value"]
        unit = sens["unit"]
        if not unit:
            return factor, ("deg" if zs["soft"] == "Sens. Phase" else "V")
        num, _, den = unit.partition("/")
        if den.strip() in ("V", ""):
            f = si_factor(num, ("m", "A", "V", "N", "Hz", "Pa", "s"))
            if f is not None:
                return factor * f[0], f[1]
            return factor, num.strip()
        return factor, unit
    unit = zs["unit"]
    if unit in ("\u00ba", "\u00b0", "deg"):
        return zs["value"], "deg"
    f = si_factor(unit, ("V", "m", "A", "Hz"))
    if f is not None:
        return zs["value"] * f[0], f[1]
    return zs["value"], unit


def _scan_size(img: dict[str, str], g: dict[str, str], path: Path, rows: int, cols: int
               ) -> tuple[float, float]:
    text = _get(img, "Scan size") or _get(g, "Scan size")
    if text is None:
        raise ReadError(f"{path}: no '\\Scan size' entry in the header")
    parts = text.split()
    try:
        nums = []
        for tok in parts:
            try:
                nums.append(float(tok))
            except ValueError:
                break
        unit = parts[len(nums)] if len(parts) > len(nums) else "nm"
        width = parse_length_m(nums[0], unit)
        second = parse_length_m(nums[1], unit) if len(nums) > 1 else width
        # Gwyddion 2.62 (measured on written files): y extent = second number * lines / samples
        height = second * rows / cols
    except (ValueError, IndexError) as exc:
        raise ReadError(f"{path}: cannot parse '\\Scan size: {text}' ({exc})") from exc
    if not (width > 0 and height > 0 and math.isfinite(width) and math.isfinite(height)):
        raise ReadError(f"{path}: invalid scan size {text!r}")
    return height, width


def read_nanoscope(path: str | Path) -> Scan:
    """Read a Bruker Nanoscope image file into a :class:`Scan` (SI units, Gwyddion orientation).

    Parameters
    ----------
    path : str or Path
        A Nanoscope image file (``.spm``, ``.000`` ... ``.999``).

    Returns
    -------
    Scan
        Every image channel, ``format="nanoscope"``; see the module docstring for names,
        units, orientation and metadata.

    Raises
    ------
    ReadError
        Missing file, force-curve file, header without ``\\*File list end``, no image
        (header-only file), inconsistent or truncated pixel data (checked against the file
        size before anything is allocated), images of differing shapes.
    """
    header = read_nanoscope_header(path)
    p = Path(header["path"])
    if header["kind"] == "force":
        raise ReadError(f"{p}: Bruker force-curve file ('\\*Force file list'), not an image: "
                        "afmcurrent reads image scans only")
    if not header["images"]:
        raise ReadError(f"{p}: Nanoscope header without any image section: no pixel data")
    layout = _layout(header, p)
    shapes = {(lay["rows"], lay["cols"]) for lay in layout}
    if len(shapes) != 1:
        raise ReadError(f"{p}: images of different sizes in one file: {sorted(shapes)}")
    g = header["globals"]
    channels: list[Channel] = []
    used: set[str] = set()
    with open(p, "rb") as fh:
        for lay in layout:
            img = lay["section"]
            direction = "retrace" if (_get(img, "Line direction") or "").strip().lower() == \
                "retrace" else "trace"
            factor, unit = _channel_scale(img, g, p, lay["name"])
            fh.seek(lay["offset"])
            buf = fh.read(lay["length"])
            if len(buf) != lay["length"]:
                raise ReadError(f"{p}: truncated file while reading image {lay['name']!r}")
            raw = np.frombuffer(buf, dtype="<i2" if lay["bpp"] == 2 else "<i4")
            data = raw.reshape(lay["rows"], lay["cols"]).astype(np.float64)
            data *= factor / float(2 ** (8 * lay["bpp"]))
            data = np.flipud(data)  # stored bottom row first; Gwyddion shows it on top
            name = lay["name"] if direction == "trace" else f"{lay['name']} (retrace)"
            base, n = name, 2
            while name in used:
                name = f"{base} #{n}"
                n += 1
            used.add(name)
            channels.append(Channel(name=name, data=data, unit=unit, direction=direction,
                                    quantity=lay["name"], metadata=dict(img)))
    height, width = _scan_size(layout[0]["section"], g, p, layout[0]["rows"], layout[0]["cols"])
    meta: dict[str, Any] = dict(g)
    meta.update(header["normalised"])
    meta["scan_size_m"] = width if "scan_size_m" not in meta else meta["scan_size_m"]
    offset = (meta.get("y_offset_m", 0.0), meta.get("x_offset_m", 0.0))
    return Scan(channel_list=channels, size=(height, width), bias=meta.get("bias_V"),
                offset=offset, path=p, format="nanoscope", metadata=meta)


# ----------------------------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------------------------
_HEADER_BLOCK = 8192
# Gwyddion honours "Bytes/pixel: 4" only for NanoScope 9.2 and later headers (measured with
# Gwyddion 2.62: 0x09100000 is read as 2-byte data, 0x09200000 correctly); the layout of the
# header is otherwise the classic v5 one.
_VERSION = "0x09200000"
_UNIT_SENS = {"m": ("nm/V", 1e-9), "A": ("nA/V", 1e-9)}
_Z_VOLTS = 20.0  # full-scale Z scale (V) of a height / current channel, as on the instrument


def _g(x: float) -> str:
    return f"{x:.9g}"


def _label(text: str) -> str:
    """A channel name safe inside ``S [name] "name"`` on one header line."""
    return re.sub(r'["\[\]\\\r\n:]', "_", text)


def _fixed(x: float) -> str:
    """Shortest round-trip decimal without exponent (pySPM's header regex needs it)."""
    return np.format_float_positional(float(x), trim="-")


def _nanoscope_date(iso: str | None) -> str:
    t = None
    if iso:
        try:
            t = _dt.datetime.fromisoformat(str(iso))
        except ValueError:
            t = None
    if t is None:
        t = _dt.datetime.now().replace(microsecond=0)
    return t.strftime("%I:%M:%S %p %a %b %d %Y")


def write_nanoscope(path: str | Path, scan: Scan, overwrite: bool = False) -> Path:
    """Write a scan as a Nanoscope v5-style image file, the way the instrument captures it.

    Every channel becomes one ``\\*Ciao image list`` of signed 4-byte integers (4 bytes give
    2**32 levels, i.e. sub-microvolt steps on a +/-10 V log-amplifier output). Scaling, as
    read by Gwyddion's ``nanoscope`` module and by :func:`read_nanoscope`:

    * unit ``"m"``: ``@2:Z scale: V [Sens. Zscan] ...`` with ``@Sens. Zscan`` in nm/V
      (other quantities in m get their own ``@Sens. <quantity>``);
    * unit ``"A"``: ``[Sens. <quantity>]`` in nA/V (``@Sens. Current`` for a quantity named
      "Current"), so the file records a current sensitivity;
    * unit ``"V"`` (and anything else): an auxiliary input recorded in volts, i.e. a
      unit-less ``@Sens. <quantity>: V 1`` sensitivity (Gwyddion then reports V);
      a channel whose unit is neither m, A nor V is written in V with its unit lost
      (a warning is logged).

    The quantisation step of a channel is ``max|data| / 2**31`` (about 5e-10 relative).
    The header carries ``\\Date`` (from ``scan.metadata["date"]``, ISO 8601, else now),
    ``\\Scan rate`` (``metadata["scan_rate_hz"]`` where present), ``\\Scan size`` (width and
    height), ``\\X offset`` / ``\\Y offset``, ``\\Rotate Ang.`` (radians, from
    ``metadata["scan_angle_deg"]``), ``\\Line direction`` of each channel (``None`` ->
    Trace) and the bias as ``\\@2:Sample Bias: V (0.3051758 mV/LSB) <mV> mV`` (omitted when
    ``scan.bias`` is None). Image names are ``Channel.quantity``: reading the file back gives
    ``quantity`` for trace and ``"quantity (retrace)"`` for retrace channels. Other metadata
    are not written.

    Parameters
    ----------
    path : str or Path
        Output file (conventionally ``.spm`` or ``.000``...).
    scan : Scan
        The scan; channels in SI units, Gwyddion orientation.
    overwrite : bool, optional
        Replace an existing file; by default an existing file is refused.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If a channel holds NaN or infinite values (a Nanoscope file has no missing values).
    """
    p = check_writable(path, overwrite)
    rows, cols = scan.shape
    if any(_label(c.quantity) != c.quantity for c in scan.channel_list):
        logger.warning("%s: quotes, brackets, backslashes and line breaks in channel names "
                       "are written as '_'", scan.label)
    height, width = scan.size
    # one sensitivity per quantity (shared by trace and retrace), chosen so that the
    # largest value of the quantity sits at about half of the +/-Z full scale.
    sens: dict[str, tuple[str, float, str, float]] = {}  # quantity -> key, value, unit, SI
    for ch in scan.channel_list:
        if not np.all(np.isfinite(ch.data)):
            raise ValueError(f"{scan.label}: channel {ch.name!r} holds NaN or inf values; "
                             "a Nanoscope file cannot store them")
    for ch in scan.channel_list:
        if ch.quantity in sens:
            continue
        same = [c for c in scan.channel_list if c.quantity == ch.quantity]
        amax = max(float(np.max(np.abs(c.data))) for c in same)
        if ch.unit in _UNIT_SENS:
            unit_txt, si = _UNIT_SENS[ch.unit]
            if ch.unit == "m" and "Sens. Zscan" not in [s[0] for s in sens.values()]:
                key = "Sens. Zscan"
            else:
                key = f"Sens. {_label(ch.quantity)}"
            value = float(_g(amax / si / (_Z_VOLTS / 2))) if amax > 0 else 1.0
            sens[ch.quantity] = (key, value, unit_txt, value * si)
        else:
            if ch.unit != "V":
                logger.warning("%s: channel %r has unit %r; written as volts", scan.label,
                               ch.name, ch.unit)
            sens[ch.quantity] = (f"Sens. {_label(ch.quantity)}", 1.0, "", 1.0)
    keys = [s[0] for s in sens.values()]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{scan.label}: two quantities map to the same sensitivity name")

    images = []
    for ch in scan.channel_list:
        key, sval, _, si = sens[ch.quantity]
        amax = float(np.max(np.abs(ch.data)))
        if ch.unit in _UNIT_SENS:
            zs = float(_g(max(amax / si * 2.0 * (1 + 1e-6), 1e-12))) if amax > 0 else _Z_VOLTS
        else:
            zs = float(_g(max(amax * 2.0 * (1 + 1e-6), 1e-12))) if amax > 0 else _Z_VOLTS
        step = zs * si / 2.0 ** 32
        raw = np.rint(np.flipud(ch.data) / step)
        raw = np.clip(raw, -(2 ** 31), 2 ** 31 - 1).astype("<i4")
        images.append((ch, key, zs, raw))

    def header_text(data_start: int) -> str:
        ang = math.radians(float(scan.metadata.get("scan_angle_deg", 0.0) or 0.0))
        w_nm, h_nm = width * 1e9, height * 1e9
        y0, x0 = scan.offset
        L = [
            "\\*File list",
            f"\\Version: {_VERSION}",
            f"\\Date: {_nanoscope_date(scan.metadata.get('date'))}",
            "\\Start context: OL",
            f"\\Data length: {data_start}",
            "\\Text: written by afmcurrent",
            "\\*Equipment list",
            "\\Description: afmcurrent Nanoscope writer",
            "\\*Scanner list",
            "\\Scanner type: afmcurrent",
        ]
        for key, sval, unit_txt, _ in sens.values():
            L.append(f"\\@{key}: V {_g(sval)} {unit_txt}".rstrip() + (" " if not unit_txt else ""))
        L += [
            "\\*Ciao scan list",
            "\\Operating mode: Image",
            f"\\Scan size: {_g(w_nm)} nm",
            f"\\X offset: {_g(x0 * 1e9)} nm",
            f"\\Y offset: {_g(y0 * 1e9)} nm",
            f"\\Rotate Ang.: {_g(ang)}",
            f"\\Samps/line: {cols}",
            f"\\Lines: {rows}",
            f"\\Aspect ratio: {_g(w_nm / h_nm)}:1",
        ]
        rate = scan.metadata.get("scan_rate_hz")
        if rate is not None:
            L.append(f"\\Scan rate: {_g(float(rate))}")
        if scan.bias is not None:
            L.append(f"\\@2:Sample Bias: V (0.3051758 mV/LSB) {_g(scan.bias * 1e3)} mV")
        off = data_start
        for ch, key, zs, _raw in images:
            direction = "Retrace" if ch.direction == "retrace" else "Trace"
            L += [
                "\\*Ciao image list",
                f"\\Data offset: {off}",
                f"\\Data length: {rows * cols * 4}",
                "\\Bytes/pixel: 4",
                "\\Data type: AFM",
                f"\\Samps/line: {cols}",
                f"\\Number of lines: {rows}",
                f"\\Aspect ratio: {_g(w_nm / h_nm)}:1",
                f"\\Scan size: {_g(w_nm)} {_g(h_nm * cols / rows)} nm",
                "\\Scan line: Main",
                f"\\Line direction: {direction}",
                f"\\@2:Image Data: S [{_label(ch.quantity)}] \"{_label(ch.quantity)}\"",
                f"\\@2:Z scale: V [{key}] ({_fixed(zs / 2 ** 32)} V/LSB) {_fixed(zs)} V",
                f"\\@2:Z offset: V [{key}] ({_fixed(zs / 2 ** 32)} V/LSB) 0 V",
            ]
            off += rows * cols * 4
        L.append("\\*File list end")
        return "\r\n".join(L) + "\r\n\x1a"

    start = _HEADER_BLOCK
    while True:
        text = header_text(start).encode("latin-1", errors="replace")
        if len(text) <= start:
            break
        start = (len(text) // _HEADER_BLOCK + 1) * _HEADER_BLOCK
    with open(p, "wb") as fh:
        fh.write(text.ljust(start, b"\x00"))
        for *_, raw in images:
            fh.write(raw.tobytes())
    return p
