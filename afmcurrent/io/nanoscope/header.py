"""A Nanoscope file's header read alone, with the image geometry and scaling by the reader's
rules (no pixel data)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ...core.errors import ReadError
from ...core.units import DEGREE_UNITS, si_factor, to_si
from .. import _meta
from .._common import check_readable
from .parse import (
    _FORCE_IMAGE_SECTIONS,
    _FORCE_LIST_SECTIONS,
    _IMAGE_SECTIONS,
    _SCAN_SECTIONS,
    _SCANNER_SECTIONS,
    _VERSION_32BIT,
    MAX_PIXELS_PER_AXIS,
    _parse_header,
    _Section,
)
from .values import (
    _LENGTH_UNITS,
    UNIT_BASES,
    _at_value,
    _bracketed,
    _number_unit,
    _prefix_factor,
    _quoted,
)

logger = logging.getLogger(__name__)

__all__ = [
    "read_nanoscope_header",
]


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
        f, unit = to_si(nu[1], UNIT_BASES)
        return nu[0] * f, unit
    key = next((k for k in ("@4:Z scale", "@2:Z scale", "@3:Z scale") if img.get(k) is not None),
               None)
    zs = _at_value(img.get(key)) if key else None
    if zs is None or zs["value"] is None:
        raise ReadError(f"{where}: missing or unreadable '@2:Z scale' entry")
    zval, zunit = zs["value"], zs["unit"]
    if not zs["soft"]:
        f, unit = to_si(zunit, UNIT_BASES)
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
        if zs["soft"] == "Sens. Phase" or zunit in DEGREE_UNITS:
            return factor, "deg"
        fz = _prefix_factor(zunit or "V", "V")
        if fz is not None:
            return factor * fz, "V"
        f, unit = to_si(zunit, UNIT_BASES)
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
        f, unit = to_si(num, UNIT_BASES)
        return factor * zf * f, unit
    f, unit = to_si(sunit, UNIT_BASES)
    fz = _prefix_factor(zunit or "V", "V")
    return factor * f * (fz if fz is not None else 1.0), (unit + "*V" if unit else "V")




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

