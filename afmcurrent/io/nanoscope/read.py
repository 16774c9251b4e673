"""Reading the image channels of a Nanoscope file (the rules of Gwyddion's ``nanoscope`` module;
see :mod:`afmcurrent.io.nanoscope`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import ReadError
from ...core.model import Channel, Scan
from .. import _meta
from .._common import check_readable, open_binary
from .header import _layouts
from .parse import (
    _parse_header,
)

logger = logging.getLogger(__name__)

__all__ = [
    "read_nanoscope",
]


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
    with open_binary(p) as fh:
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
            name = _meta.unique_name(name, used)
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
    return _meta.checked_scan(p, channels, (height, width), offset, bias, "nanoscope", meta_s)

