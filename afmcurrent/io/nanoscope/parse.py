"""The Nanoscope text header parsed: sections, entries and the normalised metadata.

Parsing is linear in the header's size: no backtracking regular expressions, one dict operation
per entry."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ...core.errors import ReadError
from ...core.units import si_factor
from .. import _meta
from .._common import read_head
from .values import (
    _at_value,
    _bracketed,
    _length_m,
    _number_unit,
    _parse_date,
    _quoted,
    _to_volts,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_PIXELS_PER_AXIS",
]


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
    buf, size = read_head(path, MAX_HEADER_BYTES)
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

