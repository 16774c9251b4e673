"""Bruker (Digital Instruments / Veeco) Nanoscope image files: reader and writer.

Public API (a contract, keep it stable)
---------------------------------------
read_nanoscope_header(path) -> dict
    Parse and return the text header only (works on header-only files).
read_nanoscope(path) -> Scan
    Read every image channel of a Nanoscope image file (``.spm``, ``.000`` ... ``.999``).
write_nanoscope(path, scan, overwrite=False) -> Path
    Write a Scan as a Nanoscope image file (4 bytes per pixel).

File layout (facts of the format)
---------------------------------
A Nanoscope file starts with a text header of ``\\key: value`` lines grouped in sections
(``\\*File list``, ``\\*Scanner list``, ``\\*Ciao scan list``, one ``\\*Ciao image list`` per
image channel, ...), closed by ``\\*File list end``. Each image section gives the absolute
``Data offset`` and ``Data length`` of its pixels: little-endian signed integers, ``Number of
lines`` rows of ``Samps/line`` values, stored bottom row first.

The reading rules are those of Gwyddion's ``nanoscope`` module (Gwyddion 2.62, module 0.48),
taken as facts and checked file by file with ``gwyddion --convert-to-gwy`` in the tests:

* **sample size**: from NanoScope 9.2 on (``\\Version`` >= ``0x09200000``) every sample is a
  4-byte integer whatever ``Bytes/pixel`` says; ``Bytes/pixel`` (default 2) only sets the
  scale divisor ``2**(8 * Bytes/pixel)``. Before 9.2 the samples have ``Bytes/pixel`` bytes
  (Gwyddion reads 2 there in every case; the two agree on every real file we know);
* **value** = ``raw / 2**(8 * Bytes/pixel) * Z * S`` where ``Z`` is the hard value of the
  image's ``@2:Z scale: V [Sens. X] (... V/LSB) Z unit`` entry (``@4:`` first, as Gwyddion;
  ``@3:`` for interleave-only images) and ``S`` the number of the ``@Sens. X: V S unit/V``
  entry (looked up in the scanner list, then the scan list before the image). The unit is
  the sensitivity's numerator: ``nm/V`` gives m, ``nA/V`` / ``pA/V`` (TUNA, C-AFM, SSRM
  current through ``@Sens. CurrentSens``, ``@Sens. tunaSens``...) give A. A unit-less
  sensitivity gives the Z scale's own unit (V for an auxiliary input such as ``Input1``,
  degrees for ``Sens. Phase``). Unlike Gwyddion 2.62 the prefix of that unit is applied
  (``3999.9 mV`` is 3.9999 V; Gwyddion labels the mV numbers V). An entry without a soft
  scale is in its own hard unit;
* **size**: ``\\Scan size: W H unit`` of the image (one number: H = W). When the image's
  ``Aspect ratio`` is not 1:1, H is scaled by ``lines / samples-per-line`` if the scan list's
  aspect is also non-square, else by ``lines / scan-list Lines`` (a partial frame). When the
  data length fits the scan list's pixel counts and not the image's, those win;
* **orientation**: rows reversed (row 0 = top row as Gwyddion displays it);
* **kind**: ``\\*Force file list``, ``Operating mode: Force`` (single curves) and ``Start
  context`` ending in ``VAR`` (profile sets) are refused; force-volume files give their image
  channels (the curve maps are skipped with a warning); ``?*File list`` (text data) is
  refused.

Conventions of the returned :class:`~afmcurrent.model.Scan`
-----------------------------------------------------------
* channel name: the quoted name of ``\\@2:Image Data: S [Height] "Height"`` for a trace image,
  ``"<name> (retrace)"`` for a retrace image (``\\Line direction: Retrace``); a name that would
  repeat gets ``" #2"``, ``" #3"``...; ``Channel.quantity`` is the quoted name and
  ``Channel.metadata["gwyddion_title"]`` the bracketed one, which Gwyddion uses as its title;
  channels come in file order, as Gwyddion's data fields do;
* units: SI (``"m"``, ``"A"``, ``"V"``, ``"deg"``); other sensitivity units are kept as text;
* ``Scan.size = (height, width)`` in m (rules above); ``Scan.offset = (y0, x0)`` from
  ``\\X offset`` / ``\\Y offset`` of the scan list (Gwyddion does not report offsets);
* ``Scan.bias``: the sample bias in V (see below) or ``None``.

Metadata
--------
``Scan.metadata`` holds every header entry of the non-image sections as a string, keyed by the
header key without its leading backslash (``"Scan rate"``, ``"@Sens. Zscan"``,
``"@2:Sample Bias"``). A key seen again in a later section with a different value is stored
as ``"<section>::<key>"`` (e.g. ``"Ciao scan list::Samps/line"``); a key repeated within a
section with a different value gets ``" #2"``, ``" #3"``... Each channel's own section goes to
``Channel.metadata`` (same key rule). The normalised keys of :mod:`afmcurrent.io._meta` are
added: ``vendor``, ``instrument`` (``\\Microscope`` or ``\\Description``), ``operating_mode``
(``@MicroscopeList`` such as "PeakForce QNM", "Contact", "Tapping"), ``date``, ``bias_V``,
``bias_source``, ``scan_width_m``, ``scan_height_m``, ``scan_size_m``, ``samples_per_line``,
``lines``, ``scan_rate_hz`` (``\\Scan rate``, lines/s), ``scan_angle_deg`` (``\\Rotate Ang.``,
which Nanoscope records in radians: 1.5708 is 90 deg), ``x_offset_m``, ``y_offset_m``,
``slow_scan_direction`` (``\\Frame direction``), ``current_sensitivity_A_per_V``
(``@Sens. Current`` or ``@Sens. CurrentSens``, sign kept) and ``nanoscope_version``.

Sample bias rule
----------------
``bias_V`` is the first non-zero value among these main-scan (``@2:``) entries, in this
order: ``@2:Sample Bias`` (NanoScope 6 and later; the one :func:`write_nanoscope` writes),
``@2:DC Sample Bias`` (TUNA / C-AFM, through its ``[Sens. biassens]``), ``@2:SSRMSampleBias``,
``@2:Bias`` (NanoScope 5), ``@2:DC bias``, ``@2:DCBias``; then ``-@2:Tip Bias`` (a tip bias
is the negative sample bias). When all present entries are zero the bias is 0 V from the
first of them. Units (mV, V) are converted to V. ``@3:`` entries (interleave / lift pass)
are not used.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.model import Channel, Scan
from ..core.units import parse_length_m, si_factor
from . import _meta
from ._common import check_readable, check_writable

logger = logging.getLogger(__name__)

__all__ = ["read_nanoscope_header", "read_nanoscope", "write_nanoscope", "MAX_HEADER_BYTES"]

#: The header must end within this many bytes (real headers are 8-80 kB).
MAX_HEADER_BYTES = 4 * 1024 * 1024
#: Largest accepted number of samples per line or of lines.
MAX_PIXELS_PER_AXIS = 65536

_END = b"\\*File list end"
_BIAS_KEYS = ("@2:Sample Bias", "@2:DC Sample Bias", "@2:SSRMSampleBias", "@2:Bias",
              "@2:DC bias", "@2:DCBias")
_TIP_BIAS_KEY = "@2:Tip Bias"
_CURRENT_SENS_KEYS = ("@Sens. Current", "@Sens. CurrentSens")
_IMAGE_SECTIONS = ("afm image list", "ciao image list", "stm image list", "ncafm image list",
                   "image list")
_FORCE_IMAGE_SECTIONS = ("ciao force image list",)
_SCANNER_SECTIONS = ("scanner list", "microscope list")
_SCAN_SECTIONS = ("ciao scan list", "afm list", "stm list", "nc afm list")
_FORCE_LIST_SECTIONS = ("ciao force list",)
_FILE_SECTIONS = ("file list", "ec file list", "force file list")
_VERSION_32BIT = 0x09200000

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "~m": 1e-6, "\u00b5m": 1e-6,
                 "\u03bcm": 1e-6, "nm": 1e-9, "pm": 1e-12, "a": 1e-10, "\u00c5": 1e-10}
_DEGREE_UNITS = ("\u00ba", "\u00b0", "deg")


# ----------------------------------------------------------------------------------------------
# header parsing (linear in the header's size: no backtracking regular expressions, one dict
# operation per entry)
# ----------------------------------------------------------------------------------------------
class _Section:
    """One ``\\*...`` section: entries in file order, renamed duplicates, last-wins lookup."""

    __slots__ = ("name", "named", "last", "_count")

    def __init__(self, name: str) -> None:
        self.name = name
        self.named: dict[str, str] = {}  # key (renamed " #n" when a value differs) -> value
        self.last: dict[str, str] = {}  # casefolded key -> last value (Gwyddion's lookup)
        self._count: dict[str, int] = {}

    def add(self, key: str, value: str) -> None:
        self.last[key.casefold()] = value
        named = self.named
        if key not in named:
            named[key] = value
        elif named[key] != value:
            _add_renamed(named, self._count, key, value)

    def get(self, key: str) -> str | None:
        return self.last.get(key.casefold())


def _add_renamed(d: dict[str, str], count: dict[str, int], key: str, value: str) -> None:
    """Insert key -> value; a differing repeat becomes ``key #n`` (constant time per entry)."""
    if key not in d:
        d[key] = value
        return
    if d[key] == value:
        return
    n = count.get(key, 1) + 1
    while f"{key} #{n}" in d:  # only when a literal "key #n" exists too: rare, bounded
        n += 1
    count[key] = n
    d[f"{key} #{n}"] = value


def _read_header_bytes(path: Path) -> tuple[bytes, int, int]:
    """Return (header bytes, byte offset just after ``\\*File list end``, file size)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            buf = fh.read(min(size, MAX_HEADER_BYTES))
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
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
    return buf[:end], end, size


def _parse_sections(text: str) -> list[_Section]:
    sections: list[_Section] = []
    current: _Section | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[0] != "\\":
            continue  # empty line or stray text
        if line[1] == "*":
            name = line[2:].strip()
            if name.lower() == "file list end":
                break
            current = _Section(name)
            sections.append(current)
            continue
        if current is None:
            continue
        # "@2:Image Data: ..." has a colon after the group number; skip it when splitting
        start = 4 if line[1] == "@" and line[2:3].isdigit() and line[3:4] == ":" else 1
        j = line.find(":", start)
        if j < 0:
            key, value = line[1:].strip(), ""
        else:
            key, value = line[1:j].strip(), line[j + 1:].strip()
        if key:
            current.add(key, value)
    return sections


def read_nanoscope_header(path: str | Path) -> dict[str, Any]:
    """Parse the text header of a Bruker Nanoscope file.

    Works on any Nanoscope file (image, force curve, header-only): nothing beyond the header
    is read, and the parse stops at ``\\*File list end`` (or fails if it is missing within
    :data:`MAX_HEADER_BYTES`); its time is linear in the header's size.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        ``"path"`` (str), ``"kind"`` (``"image"``, ``"force"``: a ``\\*Force file list`` or
        ``Operating mode: Force``, ``"profiles"``, ``"text"``: a ``?*File list``),
        ``"force_volume"`` (bool), ``"first_line"`` (the title line without backslash),
        ``"version"`` (int, 0 when absent), ``"header_end"`` (byte offset just after
        ``\\*File list end``), ``"file_size"`` (bytes), ``"sections"`` (list of
        ``(section name, {key: value})`` in file order), ``"globals"`` (dict of every entry of
        the non-image sections, keys as described in the module docstring), ``"images"``
        (list of dicts, one per image section, in file order) and ``"normalised"`` (the
        normalised keys of the module docstring: ``bias_V``, ``scan_rate_hz``...; with
        ``scan_width_m``, ``scan_height_m``, ``lines`` and ``samples_per_line`` of the image
        as :func:`read_nanoscope` would read it, when the header and the file size give it).
        Keys are the header keys without the leading backslash; values are the raw strings.

    Raises
    ------
    ReadError
        Missing file, not a Nanoscope header, or no ``\\*File list end``.
    """
    p = check_readable(path)
    h = _parse_header(p)
    if h["kind"] == "image":
        # the image geometry by the reader's rules (no pixel is read); absent when the header
        # alone cannot give it (header-only file, inconsistent sizes)
        try:
            layouts, _ = _layouts(h, p)
        except ReadError:
            layouts = []
        if layouts:
            norm = h["normalised"]
            norm["samples_per_line"], norm["lines"] = layouts[0]["cols"], layouts[0]["rows"]
            _meta.put(norm, "scan_height_m", layouts[0]["size"][0])
            _meta.put(norm, "scan_width_m", layouts[0]["size"][1])
    return {
        "normalised": h["normalised"],
        "path": str(p),
        "kind": h["kind"],
        "force_volume": h["force_volume"],
        "first_line": h["first_line"],
        "version": h["version"],
        "header_end": h["header_end"],
        "file_size": h["file_size"],
        "sections": [(s.name, s.named) for s in h["sections"]],
        "globals": h["globals"],
        "images": [s.named for s in h["sections"] if s.name.lower() in _IMAGE_SECTIONS],
    }


def _parse_header(p: Path) -> dict[str, Any]:
    raw, end, size = _read_header_bytes(p)
    first_raw = raw.split(b"\n", 1)[0]
    text = raw.decode("latin-1")
    first = first_raw.decode("latin-1").strip()
    if not (first.startswith(("\\*", "?*")) and first.lower().endswith("file list")):
        raise ReadError(f"{p}: not a Nanoscope file (first line {first[:40]!r})")
    sections = _parse_sections(text)
    # Gwyddion's rules: the title line gives a first guess, every "Operating mode" entry
    # (the last one wins) and the start context refine it
    state = "text" if first.startswith("?*") else "force" if "force" in first.lower() \
        else "image"
    version = 0
    start_context = None
    for s in sections:
        mode = s.get("Operating mode")
        if mode is not None:
            if mode == "Force Volume":
                state = "force_volume"
            elif mode == "Force":
                state = "force"
            elif mode == "Image" and state != "text":
                state = "image"
        if s.name.lower() in _FILE_SECTIONS:
            v = s.get("Version")
            if v is not None:
                version = _hex(v)
            sc = s.get("Start context")
            if sc is not None:
                start_context = sc.strip()
    if start_context:
        if start_context == "FVOL" and state == "image":
            state = "force_volume"
        if start_context == "FOL" and state == "force_volume":
            state = "force"
        elif start_context.endswith("VAR") and state == "image":
            state = "profiles"
    force_volume = state == "force_volume"
    kind = "image" if force_volume else state
    globals_: dict[str, str] = {}
    gcount: dict[str, int] = {}
    for s in sections:
        lname = s.name.lower()
        if lname in _IMAGE_SECTIONS or lname in _FORCE_IMAGE_SECTIONS:
            continue
        for key, value in s.named.items():
            if key in globals_ and globals_[key] != value:
                _add_renamed(globals_, gcount, f"{s.name}::{key}", value)
            else:
                globals_.setdefault(key, value)
    images = [s for s in sections if s.name.lower() in _IMAGE_SECTIONS]
    normalised = _normalised(sections, images[0] if images else None, version)
    return {"normalised": normalised, "kind": kind, "force_volume": force_volume,
            "first_line": first[1:], "version": version, "header_end": end,
            "file_size": size, "sections": sections, "globals": globals_,
            "first_raw": first_raw}


def _hex(text: str) -> int:
    parts = text.split()
    try:
        return int(parts[0], 16) if parts else 0
    except ValueError:
        return 0


# ----------------------------------------------------------------------------------------------
# value parsing
# ----------------------------------------------------------------------------------------------
def _number_unit(text: str | None) -> tuple[float, str] | None:
    """Parse '15000 nm' -> (15000.0, 'nm'); None when there is no leading number."""
    if text is None:
        return None
    t = text.strip()
    m = _NUMBER.match(t)
    if not m:
        return None
    try:
        x = float(m.group(0))
    except (ValueError, OverflowError):
        return None
    return x, t[m.end():].strip()


def _at_value(text: str | None) -> dict[str, Any] | None:
    """Parse an '@' entry value ``T [soft] (hard scale) value unit``.

    Returns a dict with ``type``, ``soft`` (str or None), ``hard`` (str or None), ``value``
    (float or None), ``unit`` (str) and ``text`` (the value part), or None when the text is
    not of that form.
    """
    if text is None:
        return None
    t = text.strip()
    if not t or t[0] not in "VSC" or (len(t) > 1 and not t[1].isspace()):
        return None
    rest = t[1:].strip()
    soft = hard = None
    if rest.startswith("["):
        j = rest.find("]")
        if j < 0:
            return None
        soft = rest[1:j].strip() or None
        rest = rest[j + 1:].strip()
    if rest.startswith("("):
        depth, j = 0, -1
        for k, ch in enumerate(rest):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    j = k
                    break
        if j < 0:
            return None
        hard = rest[1:j].strip()
        rest = rest[j + 1:].strip()
    out: dict[str, Any] = {"type": t[0], "soft": soft, "hard": hard, "value": None, "unit": "",
                           "text": rest}
    nu = _number_unit(rest)
    if nu is not None:
        out["value"], out["unit"] = nu
    return out


def _quoted(text: str | None) -> str | None:
    if text is None:
        return None
    i = text.find('"')
    if i >= 0:
        j = text.find('"', i + 1)
        if j > i + 1 and text[i + 1:j].strip():
            return text[i + 1:j].strip()
    i = text.find("[")
    if i >= 0:
        j = text.find("]", i + 1)
        if j > i + 1:
            return text[i + 1:j].strip()
    return None


def _bracketed(text: str | None) -> str | None:
    a = _at_value(text)
    if a is not None and a["soft"]:
        return a["soft"]
    return _quoted(text)


def _prefix_factor(unit: str, base: str) -> float | None:
    """Factor of a prefixed unit relative to ``base`` (``"mV"``, ``"V"`` -> 1e-3)."""
    f = si_factor(unit, (base,))
    return None if f is None else f[0]


def _split_si(unit: str) -> tuple[float, str]:
    """(factor, SI unit) of a prefixed unit; the text itself with factor 1 when unknown."""
    u = unit.strip()
    if u in _DEGREE_UNITS:
        return 1.0, "deg"
    f = si_factor(u, ("m", "A", "V", "N", "Hz", "Pa", "s", "W", "F", "Ohm", "\u03a9"))
    if f is not None:
        return f
    return 1.0, u


def _to_volts(entry: dict[str, Any] | None, lookup: Any = None) -> float | None:
    """A voltage entry in V (resolving a ``[Sens. X]`` of V/V through ``lookup``)."""
    if entry is None or entry["value"] is None:
        return None
    unit = entry["unit"] or "V"
    f = _prefix_factor(unit, "V")
    if f is None:
        return None
    v = entry["value"] * f
    if entry["soft"] and lookup is not None:
        sens = _at_value(lookup("@" + entry["soft"]))
        if sens is not None and sens["value"] is not None:
            su = sens["unit"].replace(" ", "")
            if su in ("", "V/V"):
                v *= sens["value"]
            else:
                return None  # a bias in some other unit: not a voltage we can report
    return v if math.isfinite(v) else None


def _parse_date(text: str) -> str | None:
    for fmt in ("%I:%M:%S %p %a %b %d %Y", "%H:%M:%S %a %b %d %Y", "%I:%M:%S %p %m/%d/%Y"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return None


def _length_m(text: str | None) -> float | None:
    nu = _number_unit(text)
    if nu is None:
        return None
    try:
        x = parse_length_m(nu[0], nu[1] or "nm")
    except ValueError:
        return None
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------------------------
# normalised metadata
# ----------------------------------------------------------------------------------------------
class _First:
    """First-occurrence lookup over some sections (case-insensitive), built once."""

    __slots__ = ("d",)

    def __init__(self, sections: list[_Section]) -> None:
        d: dict[str, str] = {}
        for sec in reversed(sections):
            d.update(sec.last)
        self.d = d

    def __call__(self, key: str) -> str | None:
        return self.d.get(key.casefold())


def _global_lookup(sections: list[_Section]):
    scanner = [s for s in sections if s.name.lower() in _SCANNER_SECTIONS]
    scan = [s for s in sections if s.name.lower() in _SCAN_SECTIONS]

    def lookup(key: str) -> str | None:
        for group in (scanner, scan):
            for s in reversed(group):
                v = s.get(key)
                if v is not None:
                    return v
        return None

    return lookup


def _normalised(sections: list[_Section], first_image: _Section | None, version: int
                ) -> dict[str, Any]:
    out: dict[str, Any] = {"vendor": "Bruker"}
    nongl_secs = [s for s in sections
                  if s.name.lower() not in _IMAGE_SECTIONS + _FORCE_IMAGE_SECTIONS]
    nongl = _First(nongl_secs)
    scan = _First([s for s in sections if s.name.lower() in _SCAN_SECTIONS])
    v = nongl("Version")
    if v:
        out["nanoscope_version"] = v
    inst = nongl("Microscope") or nongl("Description")
    if inst:
        out["instrument"] = inst
    mode = _bracketed(nongl("@MicroscopeList"))
    mode_q = _quoted(nongl("@MicroscopeList"))
    if mode_q or mode:
        out["operating_mode"] = mode_q or mode
    _meta.put(out, "scan_size_m", _length_m(scan("Scan size")
                                            or nongl("Scan size")))
    for key, name in (("Samps/line", "samples_per_line"), ("Lines", "lines")):
        nu = _number_unit(scan(key) or nongl(key))
        if nu is not None and math.isfinite(nu[0]):
            _meta.put(out, name, int(nu[0]))
    if first_image is not None:
        for key, name in (("Samps/line", "samples_per_line"), ("Number of lines", "lines")):
            nu = _number_unit(first_image.get(key))
            if nu is not None and math.isfinite(nu[0]):  # the image's own size wins
                _meta.put(out, name, int(nu[0]))
    nu = _number_unit(scan("Scan rate") or nongl("Scan rate"))
    if nu is not None:
        _meta.put(out, "scan_rate_hz", nu[0])
    d = nongl("Date")
    if d:
        iso = _parse_date(d)
        out["date"] = iso if iso else d
    nu = _number_unit(scan("Rotate Ang.") or nongl("Rotate Ang."))
    if nu is not None:
        _meta.put(out, "scan_angle_deg", math.degrees(nu[0]))
    for key, name in (("X offset", "x_offset_m"), ("Y offset", "y_offset_m")):
        _meta.put(out, name, _length_m(scan(key) or nongl(key)))
    fd = scan("Frame direction") or nongl("Frame direction") or (
        first_image.get("Frame direction") if first_image is not None else None)
    if fd and fd.strip().lower() in ("up", "down"):
        out["slow_scan_direction"] = fd.strip().lower()
    lookup = _global_lookup(sections)
    bias = src = None
    first_zero: tuple[float, str] | None = None
    for key in _BIAS_KEYS:
        volts = _to_volts(_at_value(nongl(key)), lookup)
        if volts is None:
            continue
        if volts != 0.0:
            bias, src = volts, key
            break
        if first_zero is None:
            first_zero = (0.0, key)
    if bias is None:
        tip = _to_volts(_at_value(nongl(_TIP_BIAS_KEY)), lookup)
        if tip is not None and tip != 0.0:
            bias, src = -tip, f"-{_TIP_BIAS_KEY}"
        elif first_zero is not None:
            bias, src = first_zero
        elif tip is not None:
            bias, src = 0.0, f"-{_TIP_BIAS_KEY}"
    if bias is not None:
        _meta.put(out, "bias_V", bias)
        out["bias_source"] = src
    for key in _CURRENT_SENS_KEYS:
        e = _at_value(lookup(key) or nongl(key))
        if e is not None and e["value"] is not None:
            num = e["unit"].split("/")[0]
            f = si_factor(num, ("A",))
            if f is not None:
                _meta.put(out, "current_sensitivity_A_per_V", e["value"] * f[0])
                break
    return out


# ----------------------------------------------------------------------------------------------
# reader
# ----------------------------------------------------------------------------------------------
def _count(sec: _Section, key: str, where: str, required: bool = True) -> int | None:
    v = sec.get(key)
    if v is None:
        if required:
            raise ReadError(f"{where}: missing '\\{key}' entry")
        return None
    nu = _number_unit(v)
    if nu is None or not math.isfinite(nu[0]) or nu[0] < 0 or nu[0] > 2 ** 62:
        raise ReadError(f"{where}: invalid '\\{key}: {v}'")
    return int(nu[0])  # truncation, as Gwyddion's (gsize) cast


def _scan_size_gwy(text: str | None, where: str) -> tuple[float, float]:
    """``Scan size: W [H] unit`` -> (W, H) in m, Gwyddion's parsing rules."""
    if text is None:
        raise ReadError(f"{where}: missing '\\Scan size' entry")
    parts = text.split()
    nums: list[float] = []
    for tok in parts[:2]:
        try:
            nums.append(float(tok))
        except ValueError:
            break
    if not nums or len(parts) <= len(nums):
        raise ReadError(f"{where}: cannot parse '\\Scan size: {text}'")
    unit = parts[len(nums)]
    factor = _LENGTH_UNITS.get(unit)
    if factor is None:
        f = si_factor(unit, ("m",))
        if f is None:
            raise ReadError(f"{where}: '\\Scan size: {text}': {unit!r} is not a length unit")
        factor = f[0]
    w = nums[0] * factor
    h = (nums[1] if len(nums) > 1 else nums[0]) * factor
    return w, h


def _nonsquare(sec: _Section | None) -> bool:
    if sec is None:
        return False
    v = sec.get("Aspect ratio")
    if v is None or v.strip() == "1:1":
        return False
    nu = _number_unit(v)
    return nu is not None and nu[0] > 0 and nu[0] != 1.0


def _channel_scale(img: _Section, lookup: Any, where: str) -> tuple[float, str]:
    """Return (factor per raw count before the 2**(8 qbpp) division, SI unit)."""
    old = img.get("Z scale")
    if old is not None:  # NanoScope 4.2 style "\Z scale: value unit"
        nu = _number_unit(old)
        if nu is None:
            raise ReadError(f"{where}: unreadable '\\Z scale: {old}'")
        f, unit = _split_si(nu[1])
        return nu[0] * f, unit
    key = next((k for k in ("@4:Z scale", "@2:Z scale", "@3:Z scale") if img.get(k) is not None),
               None)
    zs = _at_value(img.get(key)) if key else None
    if zs is None or zs["value"] is None:
        raise ReadError(f"{where}: missing or unreadable '@2:Z scale' entry")
    zval, zunit = zs["value"], zs["unit"]
    if not zs["soft"]:
        f, unit = _split_si(zunit)
        return zval * f, unit
    sens = _at_value(lookup("@" + zs["soft"]))
    if sens is None or sens["value"] is None:
        logger.warning("%s: sensitivity '@%s' not in header; values in raw Z-scale units",
                       where, zs["soft"])
        return zval, ""
    factor = zval * sens["value"]
    sunit = sens["unit"].strip()
    if not sunit:
        # unit-less sensitivity: the quantity is in the Z scale's own unit (V, mV, deg)
        if zs["soft"] == "Sens. Phase" or zunit in _DEGREE_UNITS:
            return factor, "deg"
        fz = _prefix_factor(zunit or "V", "V")
        if fz is not None:
            return factor * fz, "V"
        f, unit = _split_si(zunit)
        return factor * f, unit
    num, slash, den = sunit.partition("/")
    num, den = num.strip(), den.strip()
    if slash:
        zf = 1.0
        if zunit:
            # the Z scale's unit must be the sensitivity's denominator, possibly prefixed
            zf_opt = _prefix_factor(zunit, den) if den else None
            if zf_opt is None:
                return factor, f"{sunit}*{zunit}"
            zf = zf_opt
        f, unit = _split_si(num)
        return factor * zf * f, unit
    f, unit = _split_si(sunit)
    fz = _prefix_factor(zunit or "V", "V")
    return factor * f * (fz if fz is not None else 1.0), (unit + "*V" if unit else "V")


def read_nanoscope(path: str | Path) -> Scan:
    """Read a Bruker Nanoscope image file into a :class:`Scan` (SI units, Gwyddion orientation).

    Parameters
    ----------
    path : str or Path
        A Nanoscope image file (``.spm``, ``.000`` ... ``.999``), NanoScope 4.3 to 9.x.

    Returns
    -------
    Scan
        Every image channel, ``format="nanoscope"``; see the module docstring for the rules,
        names, units, orientation and metadata.

    Raises
    ------
    ReadError
        Missing file, force-curve or profile file, text-data file, header without
        ``\\*File list end``, no image (header-only file), inconsistent or truncated pixel
        data (checked against the file size before anything is allocated), geometry that is
        not finite and positive. Images whose shape differs from that of most images are
        skipped with a warning (listed in ``metadata["skipped_channels"]``).
    """
    p = check_readable(path)
    h = _parse_header(p)
    layouts, skipped = _layouts(h, p)
    channels: list[Channel] = []
    used: set[str] = set()
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise ReadError(f"{p}: cannot open ({exc.strerror or exc})") from exc
    with fh:
        for lay in layouts:
            n = lay["rows"] * lay["cols"]
            fh.seek(lay["offset"])
            buf = fh.read(n * lay["bpp"])
            if len(buf) != n * lay["bpp"]:
                raise ReadError(f"{p}: truncated file while reading image {lay['name']!r}")
            dtype = {1: "i1", 2: "<i2", 4: "<i4"}[lay["bpp"]]
            data = np.frombuffer(buf, dtype=dtype).reshape(lay["rows"], lay["cols"])
            data = data[::-1].astype(np.float64)  # stored bottom row first (Gwyddion: top)
            data *= lay["factor"] / float(256 ** lay["qbpp"])
            name = lay["name"] if lay["direction"] == "trace" else f"{lay['name']} (retrace)"
            base, k = name, 2
            while name in used:
                name = f"{base} #{k}"
                k += 1
            used.add(name)
            meta = dict(lay["section"].named)
            meta["gwyddion_title"] = lay["gwy_title"]
            meta["sample_bytes"] = lay["bpp"]
            channels.append(Channel(name=name, data=data, unit=lay["unit"],
                                    direction=lay["direction"], quantity=lay["name"],
                                    metadata=meta))
    height, width = layouts[0]["size"]
    meta_s: dict[str, Any] = dict(h["globals"])
    meta_s.update(h["normalised"])
    if skipped:
        meta_s["skipped_channels"] = skipped
    meta_s["samples_per_line"], meta_s["lines"] = layouts[0]["cols"], layouts[0]["rows"]
    _meta.put(meta_s, "scan_width_m", width)
    _meta.put(meta_s, "scan_height_m", height)
    meta_s.setdefault("scan_size_m", width)
    offset = (meta_s.get("y_offset_m", 0.0), meta_s.get("x_offset_m", 0.0))
    bias = meta_s.get("bias_V")
    _meta.check_scan_numbers(p, (height, width), offset, bias)
    return Scan(channel_list=channels, size=(height, width), bias=bias, offset=offset, path=p,
                format="nanoscope", metadata=meta_s)


def _layouts(h: dict[str, Any], p: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Validate every image section against the file (no pixel read); Gwyddion's rules.

    Returns the kept image layouts (one shape) and the names of the images skipped.
    """
    kind = h["kind"]
    if kind == "force":
        raise ReadError(f"{p}: Bruker force-curve file, not an image: afmcurrent reads image "
                        "scans only")
    if kind == "profiles":
        raise ReadError(f"{p}: Bruker profile set (Start context ...VAR, e.g. Deep Trench), "
                        "not an image: afmcurrent reads image scans only")
    if kind == "text":
        raise ReadError(f"{p}: Nanoscope text-data file ('?*File list'): not supported; "
                        "export the image as a binary Nanoscope file")
    version = h["version"]
    bpp32 = version >= _VERSION_32BIT
    size = h["file_size"]
    sections: list[_Section] = h["sections"]
    scanner: _Section | None = None
    scanlist: _Section | None = None
    gxres = gyres = 0
    gnonsquare = False
    layouts: list[dict[str, Any]] = []
    n_images = sum(s.name.lower() in _IMAGE_SECTIONS for s in sections)
    if n_images == 0:
        raise ReadError(f"{p}: Nanoscope header without any image section: no pixel data")
    skipped_force = 0
    for sec in sections:
        lname = sec.name.lower()
        if lname in _SCANNER_SECTIONS:
            scanner = sec
            continue
        if lname in _SCAN_SECTIONS or lname in _FORCE_LIST_SECTIONS:
            gx = _count(sec, "Samps/line", f"{p}: {sec.name}", required=False)
            gy = _count(sec, "Lines", f"{p}: {sec.name}", required=False)
            gxres = gx if gx else gxres
            gyres = gy if gy else gyres
            gnonsquare = _nonsquare(sec)
            if lname in _SCAN_SECTIONS:
                scanlist = sec
            continue
        if lname in _FORCE_IMAGE_SECTIONS:
            skipped_force += 1
            continue
        if lname not in _IMAGE_SECTIONS:
            continue
        idx = len(layouts)
        label = sec.get("@2:Image Data") or sec.get("@3:Image Data") or sec.get("@4:Image Data")
        name = _quoted(label) or f"Image {idx + 1}"
        where = f"{p}: image {idx + 1} ({name!r})"
        xres = _count(sec, "Samps/line", where)
        yres = _count(sec, "Number of lines", where)
        qbpp = _count(sec, "Bytes/pixel", where, required=False) or 2
        off = _count(sec, "Data offset", where)
        length = _count(sec, "Data length", where)
        assert xres is not None and yres is not None and off is not None and length is not None
        if qbpp not in (1, 2, 4):
            raise ReadError(f"{where}: unsupported Bytes/pixel {qbpp} (expected 1, 2 or 4)")
        bpp = 4 if bpp32 else qbpp
        if off < h["header_end"]:
            raise ReadError(f"{where}: Data offset {off} lies inside the header")
        if off >= size:
            raise ReadError(f"{where}: Nanoscope header without pixel data: the file ends at "
                            f"byte {size}, before the data offset {off} (header-only file?)")
        if off + length > size:
            raise ReadError(f"{where}: truncated file: pixel data needs bytes "
                            f"{off}..{off + length} but the file has only {size} bytes")
        w, ht = _scan_size_gwy(sec.get("Scan size"), where)
        gx, gy = gxres or xres, gyres or yres
        n_loc, n_glob = xres * yres, gx * gy
        use_global = False
        if length == bpp * n_loc:
            pass
        elif length == bpp * n_glob:
            use_global = True
        elif length > bpp * max(n_loc, n_glob):
            use_global = n_loc < n_glob
        elif length > bpp * min(n_loc, n_glob):
            use_global = n_loc > n_glob
        else:
            raise ReadError(
                f"{where}: inconsistent header: Data length {length} bytes != "
                f"{yres} lines x {xres} samples x {bpp} bytes = {bpp * n_loc}"
                + (" (NanoScope >= 9.2 stores 4-byte samples)" if bpp32 and qbpp != 4 else "")
            )
        if use_global:
            if xres and yres:
                w *= gx / xres
                ht *= gy / yres
            xres, yres = gx, gy
        elif _nonsquare(sec) and xres:
            ht = ht * yres / xres if gnonsquare else ht * yres / gy
        if not (0 < xres <= MAX_PIXELS_PER_AXIS and 0 < yres <= MAX_PIXELS_PER_AXIS):
            raise ReadError(f"{where}: implausible image size {yres} lines x {xres} "
                            f"samples/line (each must be 1..{MAX_PIXELS_PER_AXIS})")
        if not (math.isfinite(w) and math.isfinite(ht) and w > 0 and ht > 0):
            raise ReadError(f"{where}: invalid scan size {sec.get('Scan size')!r} "
                            "(must be finite and > 0)")
        lookup = _make_lookup(scanner, scanlist)
        factor, unit = _channel_scale(sec, lookup, where)
        if not math.isfinite(factor):
            raise ReadError(f"{where}: scale factor is not finite")
        direction = "retrace" if (sec.get("Line direction") or "").strip().lower() == \
            "retrace" else "trace"
        layouts.append({"name": name, "gwy_title": _bracketed(label) or name, "offset": off,
                        "bpp": bpp, "qbpp": qbpp, "rows": yres, "cols": xres, "size": (ht, w),
                        "factor": factor, "unit": unit, "direction": direction, "section": sec})
    if skipped_force:
        logger.warning("%s: force-volume file: %d force-curve map(s) skipped, image channels "
                       "read", p, skipped_force)
    if not h["first_raw"].endswith(b"\r"):
        # Gwyddion's rule: the binary part of such a file is damaged
        raise ReadError(f"{p}: the Nanoscope header has lost its CR LF line endings (file "
                        "sent as text by e-mail / FTP ascii mode?): its binary data are "
                        "corrupted")
    # One Scan holds channels of one shape: keep the shape most images have (the first such in
    # file order on a tie); a partial frame can leave one channel a line longer (seen in a
    # NanoScope 9.7 PeakForce file). The others are skipped with a warning, never resampled.
    shapes = [(lay["rows"], lay["cols"]) for lay in layouts]
    keep = max(shapes, key=lambda s: (shapes.count(s), -shapes.index(s)))
    skipped = [f"{lay['name']} ({lay['rows']}x{lay['cols']})" for lay in layouts
               if (lay["rows"], lay["cols"]) != keep]
    if skipped:
        logger.warning("%s: images of different sizes in one file; reading the %dx%d ones, "
                       "skipping %s", p, keep[0], keep[1], ", ".join(skipped))
        layouts = [lay for lay in layouts if (lay["rows"], lay["cols"]) == keep]
    return layouts, skipped


def _make_lookup(scanner: _Section | None, scanlist: _Section | None):
    def lookup(key: str) -> str | None:
        for sec in (scanner, scanlist):
            if sec is not None:
                v = sec.get(key)
                if v is not None:
                    return v
        return None

    return lookup


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
        # Gwyddion's rule (see the reader): a non-1:1 aspect scales the header height by
        # lines / samples-per-line, a 1:1 aspect leaves it as written.
        aspect = f"{_g(w_nm / h_nm)}:1"
        square = aspect == "1:1"
        h_hdr = h_nm if square else h_nm * cols / rows
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
            f"\\Aspect ratio: {aspect}",
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
                f"\\Aspect ratio: {aspect}",
                f"\\Scan size: {_g(w_nm)} {_g(h_hdr)} nm",
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
