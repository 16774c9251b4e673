"""The maps of a result as channels: ``result.h5`` as a :class:`Scan`, and the same made fit
for Gwyddion (every field finite, the pixels without a value masked, currents also in log10)."""

from __future__ import annotations

import numpy as np

from ..core.model import Channel, Scan
from ..pair.result import PairResult
from ..pair.transport import bound_code

__all__ = ["result_scan", "gwy_channels"]


def result_scan(result: PairResult) -> Scan:
    """The derived maps of a result as a :class:`Scan` in the +V frame (for HDF5 and .gwy).

    Returns
    -------
    Scan
        Channels ``class``, ``ionic_current`` (A), ``electronic_current`` (A),
        ``ionic_fraction`` (dimensionless), ``plus_current`` (A), ``minus_current`` (A,
        registered), ``height`` (m, leveled +V topography), ``valid`` (1 inside the overlap),
        ``current_density_ionic`` and ``current_density_electronic`` (A/m^2, ``I / (pi r^2)``),
        ``plus_bound`` and ``minus_bound`` (0 a measurement, 1 at the amplifier floor: an
        upper bound, 2 at saturation: a lower bound; 0 outside the valid pixels), ``lagging``
        (1 where the amplifier bandwidth is below the pixel rate).
    """
    m = result.maps
    density = result.current_density_maps()
    chans = [
        Channel("class", result.class_map.astype(float), "", quantity="degradation class"),
        Channel("ionic_current", m.ionic_current, "A"),
        Channel("electronic_current", m.electronic_current, "A"),
        Channel("ionic_fraction", m.ionic_fraction, ""),
        Channel("plus_current", m.plus_current, "A"),
        Channel("minus_current", m.minus_current, "A"),
        Channel("height", result.height, "m"),
        Channel("valid", m.valid.astype(float), ""),
        Channel("current_density_ionic", density["current_density_ionic"], "A/m^2",
                quantity="ionic current density"),
        Channel("current_density_electronic", density["current_density_electronic"],
                "A/m^2", quantity="electronic current density"),
        Channel("plus_bound", bound_code(m.plus_at_floor, m.plus_at_saturation, m.valid.shape), "",
                quantity="I(+V) bound: 0 value, 1 upper bound (floor), 2 lower bound"),
        Channel("minus_bound",
                bound_code(m.minus_at_floor, m.minus_at_saturation, m.valid.shape), "",
                quantity="I(-V) bound: 0 value, 1 upper bound (floor), 2 lower bound"),
        Channel("lagging", _as_float(m.lagging, m.valid.shape), "",
                quantity="amplifier bandwidth below the pixel rate"),
    ]
    return Scan(
        chans,
        size=result.plus.size,
        bias=result.bias_plus,
        offset=result.plus.offset,
        path=None,
        format="afmcurrent",
        metadata={"software": "afmcurrent", "plus": str(result.plus.path)},
    )




def _as_float(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape) if mask is None else mask.astype(np.float64)




#: Maps of result.h5 that Gwyddion also gets as log10 channels (a log current map looks right
#: in Gwyddion's linear palettes).
_LOG_CHANNELS = ("plus_current", "minus_current", "ionic_current", "electronic_current")


def gwy_channels(scan: Scan) -> tuple[Scan, dict[str, np.ndarray]]:
    """The channels of :func:`result_scan` made fit for Gwyddion, and their masks.

    Every data field is finite: a pixel without a value (NaN, outside the overlap, ionic
    current not resolved) is filled with the median of the channel's finite values (0 when it
    has none), a neutral value that neither stretches the colour scale nor reads as a
    measurement, and is marked in the channel's mask. The current maps are added as
    ``log10_<name>`` (log10 of the current in A).

    Parameters
    ----------
    scan : Scan
        From :func:`result_scan`.

    Returns
    -------
    scan : Scan
        Finite channels (and the log10 channels after the maps they come from).
    masks : dict of str to ndarray of bool
        Channel name -> True on the filled pixels (only channels that have any).
    """
    chans: list[Channel] = []
    masks: dict[str, np.ndarray] = {}

    def add(name: str, data: np.ndarray, unit: str, quantity: str | None = None) -> None:
        data = np.asarray(data, np.float64)
        bad = ~np.isfinite(data)
        if bad.any():
            fin = data[~bad]
            fill = float(np.median(fin)) if fin.size else 0.0
            data = np.where(bad, fill, data)
            masks[name] = bad
        chans.append(Channel(name, data, unit, quantity=quantity or name))

    for ch in scan.channel_list:
        add(ch.name, ch.data, ch.unit, ch.quantity)
        if ch.name in _LOG_CHANNELS:
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.log10(ch.data)
            add(f"log10_{ch.name}", lg, "", f"log10({ch.name} / A)")
    out = Scan(chans, size=scan.size, bias=scan.bias, offset=scan.offset, path=None,
               format=scan.format, metadata=dict(scan.metadata))
    return out, masks


