"""Writing a scan as a Nanoscope image file, the way the instrument captures it."""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from pathlib import Path

import numpy as np

from ...core.model import Channel, Scan
from .._common import check_writable

logger = logging.getLogger(__name__)

__all__ = [
    "write_nanoscope",
]

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
    if any(_label(c.quantity) != c.quantity for c in scan.channel_list):
        logger.warning("%s: quotes, brackets, backslashes and line breaks in channel names "
                       "are written as '_'", scan.label)
    for ch in scan.channel_list:
        if not np.all(np.isfinite(ch.data)):
            raise ValueError(f"{scan.label}: channel {ch.name!r} holds NaN or inf values; "
                             "a Nanoscope file cannot store them")
    sens = _sensitivities(scan)
    images = [_image(ch, sens[ch.quantity]) for ch in scan.channel_list]
    start = _HEADER_BLOCK
    while True:
        text = _header_text(scan, sens, images, start).encode("latin-1", errors="replace")
        if len(text) <= start:
            break
        start = (len(text) // _HEADER_BLOCK + 1) * _HEADER_BLOCK
    with open(p, "wb") as fh:
        fh.write(text.ljust(start, b"\x00"))
        for *_, raw in images:
            fh.write(raw.tobytes())
    return p


#: One sensitivity entry: ``(key, value, unit text, SI units per V)``.
_Sens = tuple[str, float, str, float]
#: One image section: ``(channel, sensitivity key, Z scale in V, raw int32 data)``.
_Image = tuple[Channel, str, float, np.ndarray]


def _sensitivities(scan: Scan) -> dict[str, _Sens]:
    """One sensitivity per quantity (shared by trace and retrace), chosen so that the largest
    value of the quantity sits at about half of the +/-Z full scale.

    Raises
    ------
    ValueError
        If two quantities map to the same sensitivity name.
    """
    sens: dict[str, _Sens] = {}
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
    return sens


def _image(ch: Channel, sens: _Sens) -> _Image:
    """A channel quantised to signed 4-byte integers, bottom row first, with its Z scale."""
    key, _, _, si = sens
    amax = float(np.max(np.abs(ch.data)))
    if ch.unit in _UNIT_SENS:
        zs = float(_g(max(amax / si * 2.0 * (1 + 1e-6), 1e-12))) if amax > 0 else _Z_VOLTS
    else:
        zs = float(_g(max(amax * 2.0 * (1 + 1e-6), 1e-12))) if amax > 0 else _Z_VOLTS
    step = zs * si / 2.0 ** 32
    raw = np.rint(np.flipud(ch.data) / step)
    raw = np.clip(raw, -(2 ** 31), 2 ** 31 - 1).astype("<i4")
    return ch, key, zs, raw


def _header_text(scan: Scan, sens: dict[str, _Sens], images: list[_Image],
                 data_start: int) -> str:
    """The text header with the pixel data starting at byte ``data_start``."""
    rows, cols = scan.shape
    height, width = scan.size
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
