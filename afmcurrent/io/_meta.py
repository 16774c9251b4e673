"""Normalised metadata keys shared by every reader, and the checks every Scan passes (private).

Every reader puts the header entries of its format into ``Scan.metadata`` as read (strings
and numbers, under the format's own key names) and adds the normalised keys below where the
file records the quantity. A key is absent when the file does not record it; a value is never
a guess. Units are SI; the key name carries the unit.

==========================  ==========  ===================================================
key                         type        meaning
==========================  ==========  ===================================================
``vendor``                  str         maker of the instrument / format (``"Bruker"``...)
``instrument``              str         microscope or controller model as recorded
``operating_mode``          str         imaging mode as recorded (``"Contact"``,
                                        ``"PeakForce TUNA"``, ``"Spreading Resistance"``...)
``date``                    str         start of the scan, ISO 8601 (local time as recorded)
``bias_V``                  float       sample bias in V, sign as applied to the sample
                                        (also ``Scan.bias``); a tip bias is negated
``bias_source``             str         the header entry ``bias_V`` came from
``scan_width_m``            float       fast-axis extent of the image in m (``Scan.size[1]``)
``scan_height_m``           float       slow-axis extent of the image in m (``Scan.size[0]``)
``scan_size_m``             float       fast-axis extent as recorded (same as width)
``samples_per_line``        int         pixels along the fast axis (``Scan.shape[1]``)
``lines``                   int         lines (``Scan.shape[0]``)
``scan_rate_hz``            float       lines per second (one trace + retrace per line)
``scan_angle_deg``          float       scan rotation in degrees
``x_offset_m``              float       x position of the scan area in m (``Scan.offset[1]``)
``y_offset_m``              float       y position of the scan area in m (``Scan.offset[0]``)
``slow_scan_direction``     str         ``"up"`` or ``"down"`` (as the frame was recorded)
``current_sensitivity_A_per_V`` float   current amplifier sensitivity (Bruker, sign kept)
``setpoint``                str         feedback setpoint as recorded, with its unit
==========================  ==========  ===================================================

Typed fields of :class:`~afmcurrent.core.model.Scan` carry the geometry (``size``, ``offset``,
``shape``) and ``bias``; ``Scan.date``, ``Scan.scan_rate_hz``... read the keys above.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ..core.errors import ReadError
from ..core.model import Channel, Scan

logger = logging.getLogger(__name__)

__all__ = ["NORMALISED_KEYS", "put", "check_scan_numbers", "checked_scan", "unique_name"]

#: The normalised keys (name -> one-line meaning), documented in ``docs/formats.md``.
NORMALISED_KEYS: dict[str, str] = {
    "vendor": "maker of the instrument / format",
    "instrument": "microscope or controller model as recorded",
    "operating_mode": "imaging mode as recorded",
    "date": "start of the scan, ISO 8601 (local time as recorded)",
    "bias_V": "sample bias in V, sign as applied to the sample",
    "bias_source": "header entry the bias came from",
    "scan_width_m": "fast-axis extent in m",
    "scan_height_m": "slow-axis extent in m",
    "scan_size_m": "fast-axis extent as recorded, m",
    "samples_per_line": "pixels along the fast axis",
    "lines": "number of lines (slow axis)",
    "scan_rate_hz": "lines per second",
    "scan_angle_deg": "scan rotation, degrees",
    "x_offset_m": "x position of the scan area, m",
    "y_offset_m": "y position of the scan area, m",
    "slow_scan_direction": "'up' or 'down'",
    "current_sensitivity_A_per_V": "current amplifier sensitivity, A/V",
    "setpoint": "feedback setpoint as recorded, with unit",
}

_NUMERIC = {"bias_V", "scan_width_m", "scan_height_m", "scan_size_m", "scan_rate_hz",
            "scan_angle_deg", "x_offset_m", "y_offset_m", "current_sensitivity_A_per_V"}
_POSITIVE = {"scan_width_m", "scan_height_m", "scan_size_m", "scan_rate_hz"}


def put(meta: dict[str, Any], key: str, value: Any) -> None:
    """Store a normalised key when ``value`` is usable.

    ``None`` is skipped; a numeric key whose value is not finite (or not positive where it
    must be) is skipped with a logged warning, so a damaged header entry never becomes a
    number downstream.
    """
    if value is None:
        return
    if key in _NUMERIC:
        try:
            x = float(value)
        except (TypeError, ValueError, OverflowError):
            logger.warning("metadata %s: unreadable value %r skipped", key, value)
            return
        if not math.isfinite(x) or (key in _POSITIVE and x <= 0):
            logger.warning("metadata %s: invalid value %r skipped", key, value)
            return
        meta[key] = x
        return
    if key in ("samples_per_line", "lines"):
        try:
            n = int(value)
        except (TypeError, ValueError, OverflowError):
            return
        if n > 0:
            meta[key] = n
        return
    meta[key] = value


def check_scan_numbers(path: Path | str, size: tuple[float, float],
                       offset: tuple[float, float], bias: float | None) -> None:
    """Refuse geometry or bias that no real scan has.

    Raises
    ------
    ReadError
        If a scan size is not finite and positive, an offset is not finite, or the bias is
        not finite (``None``, not recorded, is fine).
    """
    for name, v in (("height", size[0]), ("width", size[1])):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ReadError(f"{path}: invalid scan {name} {v!r} (must be finite and > 0)")
    for name, v in (("y", offset[0]), ("x", offset[1])):
        if not (isinstance(v, (int, float)) and math.isfinite(v)):
            raise ReadError(f"{path}: invalid scan {name} offset {v!r} (must be finite)")
    if bias is not None and not (isinstance(bias, (int, float)) and math.isfinite(bias)):
        raise ReadError(f"{path}: invalid sample bias {bias!r} (must be finite)")


def checked_scan(path: Path, channels: list[Channel], size: tuple[float, float],
                 offset: tuple[float, float], bias: float | None, fmt: str,
                 metadata: dict[str, Any]) -> Scan:
    """A reader's :class:`Scan`, its geometry and bias checked first (:func:`check_scan_numbers`).

    Raises
    ------
    ReadError
        As :func:`check_scan_numbers`.
    """
    check_scan_numbers(path, size, offset, bias)
    return Scan(channel_list=channels, size=size, bias=bias, offset=offset, path=path,
                format=fmt, metadata=metadata)


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``"name #2"``, ``"name #3"``... when it is taken; the result is added to
    ``used`` (channel names are unique within a scan)."""
    out, k = name, 2
    while out in used:
        out = f"{name} #{k}"
        k += 1
    used.add(out)
    return out
