"""Nanosurf ``.nid`` files (easyScan 2, FlexAFM, CoreAFM with the C3000 controller): reader.

NSFopen, Nanosurf's own reader, was checked and not used: its wheel is 26 MB (example data),
it pulls pandas and matplotlib, prints instead of raising on a bad file, and splits the whole
file in memory without size checks. The format is an INI text header plus one binary block,
read here with the standard library and numpy; every rule is held to Gwyddion 2.62's reading
of a real file in the tests.

Public API (a contract, keep it stable)
---------------------------------------
read_nanosurf_nid(path) -> Scan
sniff_nid(head) -> bool
    Whether the first bytes are the ``[DataSet]`` section of an NID header.

File layout (facts of the format)
---------------------------------
An INI header (``[Section]`` lines, ``key=value`` lines, CR LF) ends at the marker ``#!``;
the samples follow. ``[DataSet]`` lists the groups (``GroupCount``, ``Gr<g>-Name`` such as
"Scan forward", "Scan backward", ``Gr<g>-Count``) and their channels (``Gr<g>-Ch<c>`` =
the name of the channel's section). Each channel section gives ``Points`` (x pixels),
``Lines``, ``Dim0Range`` / ``Dim1Range`` (m), ``Dim2Name`` (e.g. "Z-Axis", "Amplitude",
"Phase"), ``Dim2Unit``, ``Dim2Min``, ``Dim2Range``, ``SaveBits`` (16 or 32), ``SaveSign``
(Signed / Unsigned), ``SaveOrder`` (Intel = little-endian). The blocks follow one another in
group, then channel order. ``[DataSet-Info]`` holds the scan parameters as displayed
("Image size", "Time/Line", "Date" dd-mm-yyyy, "Time", "Op. mode", "Tip voltage",
"Rotation", "X-Pos", "Y-Pos"...).

Reading rules (Gwyddion's presentation)
---------------------------------------
* value = ``Dim2Min + (raw - raw_min) / 2**SaveBits * Dim2Range`` (``raw_min`` =
  ``-2**(bits-1)`` for signed samples, 0 for unsigned), in ``Dim2Unit`` (SI, ``°`` -> deg);
* every image flipped vertically (the first stored line is the bottom one), the backward
  images as stored (not mirrored);
* channel name ``Dim2Name`` (``"<name> (retrace)"`` for a backward group; ``gwyddion_title``
  ``"Z-Axis forward"``); groups whose name does not start with "Scan" or "2nd scan"
  (spectroscopy, sweeps) are skipped;
* ``Scan.size = (Dim1Range, Dim0Range)``; ``Scan.offset`` = ``(Y-Pos, X-Pos)`` (the image
  centre) where recorded; ``Scan.bias = -Tip voltage`` (Nanosurf applies the bias to the
  tip); ``scan_rate_hz = 1 / Time/Line``.
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
from ..core.units import si_factor, to_si
from . import _meta
from ._common import check_readable, open_binary, read_head

logger = logging.getLogger(__name__)

#: SI units recognised behind a prefix in NID channel units.
_UNIT_BASES = ("m", "A", "V", "Hz", "N", "s")

__all__ = ["read_nanosurf_nid", "sniff_nid"]

_MARKER = b"#!"
_MAX_HEADER = 4 * 1024 * 1024
_MAX_PIXELS = 65536


def sniff_nid(head: bytes) -> bool:
    """True when the file starts with an NID ``[DataSet]`` section. Pure."""
    t = head.lstrip(b"\xef\xbb\xbf\r\n ")
    return t.startswith(b"[DataSet]") and b"GroupCount=" in head


def _ini(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("[") and s.endswith("]"):
            cur = out.setdefault(s[1:-1], {})
            continue
        if cur is None:
            continue
        k, sep, v = s.partition("=")
        if sep:
            cur.setdefault(k.strip(), v.strip())
    return out


def _split_number(text: str) -> tuple[str, str]:
    """``"7.41µm"`` -> ``("7.41", "µm")``: the leading number's text and the rest, stripped."""
    t = text.strip()
    j = 0
    while j < len(t) and (t[j].isdigit() or t[j] in "+-.eE"):
        j += 1
    while j > 0 and t[j - 1] in "eE+-":
        j -= 1
    return t[:j], t[j:].strip()


def _num(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        x = float(_split_number(text)[0])
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _quantity(text: str | None, base: str) -> float | None:
    """'7.41µm' -> 7.41e-6 (base m); '803ms' -> 0.803 (base s)."""
    x = _num(text)
    if x is None or text is None:
        return None
    unit = _split_number(text)[1]
    if not unit:
        return x
    f = si_factor(unit, (base,))
    return None if f is None else x * f[0]


def read_nanosurf_nid(path: str | Path) -> Scan:
    """Read the scan images of a Nanosurf ``.nid`` file into a :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    Scan
        Every channel of the scan groups (forward and backward), SI units, Gwyddion
        orientation, ``format="nanosurf-nid"``.

    Raises
    ------
    ReadError
        No ``#!`` data marker within 4 MiB, no ``[DataSet]`` groups, invalid pixel counts or
        sample sizes, data shorter than the header promises, no scan image (spectroscopy
        only), non-finite geometry.
    """
    p = check_readable(path)
    ini, start, size = _header(p)
    blocks = _blocks(p, ini)
    need = sum(b["nx"] * b["ny"] * b["bits"] // 8 for b in blocks)
    if start + need > size:
        raise ReadError(f"{p}: truncated Nanosurf NID file: the channels need {need} bytes "
                        f"after the header, the file has {size - start}")
    channels, geometry = _scan_channels(p, blocks, start)
    meta, offset = _metadata(ini.get("DataSet-Info", {}), geometry)
    return _meta.checked_scan(p, channels, geometry[1], offset, meta.get("bias_V"),
                              "nanosurf-nid", meta)


def _header(p: Path) -> tuple[dict[str, dict[str, str]], int, int]:
    """The INI header as sections, the byte offset of the data, the file size."""
    buf, size = read_head(p, _MAX_HEADER)
    cut = buf.find(_MARKER)
    if cut < 0:
        raise ReadError(f"{p}: truncated or corrupt Nanosurf NID file: no '#!' data marker")
    raw_head = buf[:cut]
    try:
        text = raw_head.decode("utf-8")
    except UnicodeDecodeError:
        text = raw_head.decode("latin-1")
    return _ini(text), cut + len(_MARKER), size


def _blocks(p: Path, ini: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Every channel of the ``[DataSet]`` groups, in file order, with its size."""
    ds = ini.get("DataSet")
    if ds is None:
        raise ReadError(f"{p}: NID header without a [DataSet] section")
    try:
        n_groups = int(ds.get("GroupCount", "0"))
    except ValueError as exc:
        raise ReadError(f"{p}: invalid GroupCount {ds.get('GroupCount')!r}") from exc
    if not 0 < n_groups <= 64:
        raise ReadError(f"{p}: invalid GroupCount {n_groups}")
    blocks: list[dict[str, Any]] = []
    for g in range(n_groups):
        gname = ds.get(f"Gr{g}-Name", "")
        try:
            count = int(ds.get(f"Gr{g}-Count", "0"))
        except ValueError:
            count = 0
        for c in range(min(max(count, 0), 256)):
            sec_name = ds.get(f"Gr{g}-Ch{c}")
            if not sec_name:
                continue
            sec = ini.get(sec_name)
            if sec is None:
                raise ReadError(f"{p}: channel section [{sec_name}] is missing")
            try:
                nx, ny = int(sec["Points"]), int(sec["Lines"])
                bits = int(sec.get("SaveBits", "16"))
            except (KeyError, ValueError) as exc:
                raise ReadError(f"{p}: [{sec_name}]: missing or invalid Points / Lines / "
                                f"SaveBits ({exc})") from exc
            if not (0 < nx <= _MAX_PIXELS and 0 < ny <= _MAX_PIXELS) or bits not in (16, 32):
                raise ReadError(f"{p}: [{sec_name}]: implausible {ny} x {nx} samples of "
                                f"{bits} bits")
            blocks.append({"group": gname, "section": sec, "name": sec_name, "nx": nx,
                           "ny": ny, "bits": bits})
    if not blocks:
        raise ReadError(f"{p}: NID file without any channel")
    return blocks


def _scan_channels(p: Path, blocks: list[dict[str, Any]], start: int
                   ) -> tuple[list[Channel], tuple[tuple[int, int], tuple[float, float]]]:
    """The channels of the scan groups (forward, backward, 2nd scan) and the geometry
    ``((rows, cols), (height, width))`` of the first."""
    channels: list[Channel] = []
    used: set[str] = set()
    geometry = None
    with open_binary(p) as fh:
        pos = start
        for blk in blocks:
            nbytes = blk["nx"] * blk["ny"] * blk["bits"] // 8
            group = blk["group"].strip().lower()
            this_pos, pos = pos, pos + nbytes
            if not (group.startswith("scan") or group.startswith("2nd scan")):
                continue
            fh.seek(this_pos)
            data, unit, size = _channel_data(p, blk, fh.read(nbytes))
            geo = ((blk["ny"], blk["nx"]), size)
            if geometry is None:
                geometry = geo
            elif geo[0] != geometry[0]:
                logger.warning("%s: skipping channel [%s] of another shape", p, blk["name"])
                continue
            sec = blk["section"]
            qname = sec.get("Dim2Name", blk["name"])
            direction = "retrace" if "backward" in group else "trace"
            label = qname if direction == "trace" else f"{qname} (retrace)"
            if group.startswith("2nd"):
                label = f"2nd {label}"
            label = _meta.unique_name(label, used)
            suffix = blk["group"].split()[-1] if blk["group"].split() else ""
            channels.append(Channel(name=label, data=data, unit=unit,
                                    direction=direction,  # type: ignore[arg-type]
                                    quantity=qname,
                                    metadata={"gwyddion_title": f"{qname} {suffix}".strip(),
                                              **{f"nid.{k2}": v for k2, v in sec.items()}}))
    if not channels or geometry is None:
        raise ReadError(f"{p}: NID file without a scan image (spectroscopy only?)")
    return channels, geometry


def _channel_data(p: Path, blk: dict[str, Any], raw_bytes: bytes
                  ) -> tuple[np.ndarray, str, tuple[float, float]]:
    """One channel's values in SI (row 0 at the top), its unit, and the scan size
    ``(height, width)`` in m its section gives."""
    sec = blk["section"]
    signed = sec.get("SaveSign", "Signed").lower().startswith("s")
    order = ">" if sec.get("SaveOrder", "Intel").lower().startswith("m") else "<"
    dtype = np.dtype(f"{order}{'i' if signed else 'u'}{blk['bits'] // 8}")
    try:
        zmin, zrange = float(sec["Dim2Min"]), float(sec["Dim2Range"])
        xr, yr = float(sec["Dim0Range"]), float(sec["Dim1Range"])
    except (KeyError, ValueError) as exc:
        raise ReadError(f"{p}: [{blk['name']}]: missing or invalid Dim ranges ({exc})"
                        ) from exc
    if not all(math.isfinite(v) for v in (zmin, zrange)):
        raise ReadError(f"{p}: [{blk['name']}]: non-finite Dim2Min / Dim2Range")
    raw = np.frombuffer(raw_bytes, dtype=dtype).reshape(blk["ny"], blk["nx"])
    rmin = -(2.0 ** (blk["bits"] - 1)) if signed else 0.0
    f, unit = to_si(sec.get("Dim2Unit", ""), _UNIT_BASES)
    data = f * (zmin + (raw[::-1].astype(np.float64) - rmin) / 2.0 ** blk["bits"] * zrange)
    return data, unit, (yr, xr)


def _metadata(info: dict[str, str], geometry: tuple[tuple[int, int], tuple[float, float]]
              ) -> tuple[dict[str, Any], tuple[float, float]]:
    """The ``[DataSet-Info]`` entries and the normalised keys; the scan offset ``(y0, x0)``."""
    height, width = geometry[1]
    meta: dict[str, Any] = {f"nid.{k}": v for k, v in info.items()}
    meta["vendor"] = "Nanosurf"
    if info.get("Scan head"):
        meta["instrument"] = f"Nanosurf ({info['Scan head']})"
    if info.get("Op. mode"):
        meta["operating_mode"] = info["Op. mode"]
    if info.get("Date"):
        try:
            meta["date"] = _dt.datetime.strptime(
                f"{info['Date']} {info.get('Time', '00:00:00')}", "%d-%m-%Y %H:%M:%S"
            ).isoformat()
        except ValueError:
            meta["date"] = f"{info['Date']} {info.get('Time', '')}".strip()
    tip = _quantity(info.get("Tip voltage"), "V")
    if tip is not None:
        _meta.put(meta, "bias_V", -tip + 0.0)
        meta["bias_source"] = "-Tip voltage"
    _meta.put(meta, "scan_width_m", width)
    _meta.put(meta, "scan_height_m", height)
    _meta.put(meta, "scan_size_m", width)
    _meta.put(meta, "samples_per_line", geometry[0][1])
    _meta.put(meta, "lines", geometry[0][0])
    t_line = _quantity(info.get("Time/Line"), "s")
    if t_line:
        _meta.put(meta, "scan_rate_hz", 1.0 / t_line)
    _meta.put(meta, "scan_angle_deg", _num(info.get("Rotation")))
    x0, y0 = _quantity(info.get("X-Pos"), "m"), _quantity(info.get("Y-Pos"), "m")
    offset = (y0 if y0 is not None else 0.0, x0 if x0 is not None else 0.0)
    _meta.put(meta, "x_offset_m", offset[1])
    _meta.put(meta, "y_offset_m", offset[0])
    sd = (info.get("Scan direction") or "").strip().lower()
    if sd in ("up", "down"):
        meta["slow_scan_direction"] = sd
    if info.get("Setpoint"):
        meta["setpoint"] = info["Setpoint"]
    return meta, offset
