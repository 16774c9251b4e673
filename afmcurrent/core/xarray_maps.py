"""Maps of one frame as an :class:`xarray.Dataset` (the optional extra ``afmcurrent[xarray]``).

The coordinates are the pixel centres in m, ``y`` downwards from the top row (row 0 at the top,
as Gwyddion displays a scan) and ``x`` along the fast axis, both from the frame's offset; each
variable carries its ``units``; the class map carries its codes in the CF convention
(``flag_values``, ``flag_meanings``) and the labels (``docs/conventions.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .classes import CLASS_LABELS, CLASS_NAMES, ClassCode

__all__ = ["maps_to_xarray", "XARRAY_HINT"]

#: How to get xarray, in the message when it is missing.
XARRAY_HINT = "pip install 'afmcurrent[xarray]' (or: pip install xarray)"

#: Maps of class codes (stored as integers).
_CODE_MAPS = ("class", "valid", "plus_bound", "minus_bound", "lagging")


def maps_to_xarray(maps: Mapping[str, np.ndarray], units: Mapping[str, str],
                   size: tuple[float, float], offset: tuple[float, float] = (0.0, 0.0),
                   attrs: Mapping[str, Any] | None = None) -> Any:
    """Maps of one frame as an xarray Dataset with coordinates in m.

    Parameters
    ----------
    maps : mapping of str to ndarray, shape (rows, cols)
        The maps (all of one shape).
    units : mapping of str to str
        Unit of each map (SI: ``"A"``, ``"m"``, ``"A/m^2"``; ``""`` dimensionless).
    size : (float, float)
        ``(height, width)`` of the frame, m.
    offset : (float, float), optional
        ``(y0, x0)`` of the frame's top-left corner, m.
    attrs : mapping, optional
        Attributes of the dataset (JSON-like values).

    Returns
    -------
    xarray.Dataset
        Dimensions ``("y", "x")``; coordinates ``y``, ``x`` (m, pixel centres); variables as
        ``maps``, the code maps as uint8.

    Raises
    ------
    ImportError
        If xarray is not installed (the message says how to install it).
    ValueError
        If the maps differ in shape.
    """
    try:
        import xarray as xr
    except ImportError as exc:
        raise ImportError(f"to_xarray needs xarray: {XARRAY_HINT}") from exc
    shapes = {np.shape(m) for m in maps.values()}
    if len(shapes) != 1:
        raise ValueError(f"maps of different shapes: {sorted(shapes)}")
    rows, cols = shapes.pop()
    y = offset[0] + (np.arange(rows) + 0.5) * size[0] / rows
    x = offset[1] + (np.arange(cols) + 0.5) * size[1] / cols
    data_vars = {}
    for name, m in maps.items():
        arr = np.asarray(m)
        if name in _CODE_MAPS:
            arr = np.nan_to_num(arr).astype(np.uint8)
        va: dict[str, Any] = {"units": units.get(name, "")}
        if name == "class":
            va.update(flag_values=np.arange(len(ClassCode), dtype=np.uint8),
                      flag_meanings=" ".join(["undetermined", *CLASS_NAMES.values()]),
                      labels="; ".join(f"{int(c)}: {CLASS_LABELS[c]}" for c in ClassCode))
        elif name in ("plus_bound", "minus_bound"):
            va.update(flag_values=np.array([0, 1, 2], np.uint8),
                      flag_meanings="measurement upper_bound_floor lower_bound_saturation")
        data_vars[name] = (("y", "x"), arr, va)
    coords = {"y": ("y", y, {"units": "m", "long_name": "slow axis, from the top row"}),
              "x": ("x", x, {"units": "m", "long_name": "fast axis"})}
    return xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))
