"""The maps of a result as channels: ``result.h5`` as a :class:`Scan`, and the same made fit
for Gwyddion (every field finite, the pixels without a value masked, currents also in log10)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..core.model import Channel, Scan
from ..pair.result import PairResult
from ..pair.transport import bound_code

__all__ = ["RESULT_MAPS", "ResultStream", "result_scan", "result_channels", "gwy_channels",
           "iter_gwy_channels"]


#: Names of the maps of :func:`result_scan`, in order.
RESULT_MAPS = ("class", "ionic_current", "electronic_current", "ionic_fraction", "plus_current",
               "minus_current", "height", "valid", "current_density_ionic",
               "current_density_electronic", "plus_bound", "minus_bound", "lagging")


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
    return Scan(list(result_channels(result)), **_frame(result))


def _frame(result: PairResult) -> dict:
    return {"size": result.plus.size, "bias": result.bias_plus, "offset": result.plus.offset,
            "path": None, "format": "afmcurrent",
            "metadata": {"software": "afmcurrent", "plus": str(result.plus.path)}}


def result_channels(result: PairResult) -> Iterator[Channel]:
    """The channels of :func:`result_scan` (names :data:`RESULT_MAPS`), each built when asked
    for: a writer that consumes them one at a time holds one float64 map, not thirteen."""
    m = result.maps
    shape = m.valid.shape
    yield Channel("class", result.class_map.astype(float), "", quantity="degradation class")
    yield Channel("ionic_current", m.ionic_current, "A")
    yield Channel("electronic_current", m.electronic_current, "A")
    yield Channel("ionic_fraction", m.ionic_fraction, "")
    yield Channel("plus_current", m.plus_current, "A")
    yield Channel("minus_current", m.minus_current, "A")
    yield Channel("height", result.height, "m")
    yield Channel("valid", m.valid.astype(float), "")
    density = result.current_density_maps()
    yield Channel("current_density_ionic", density.pop("current_density_ionic"), "A/m^2",
                  quantity="ionic current density")
    yield Channel("current_density_electronic", density.pop("current_density_electronic"),
                  "A/m^2", quantity="electronic current density")
    del density
    yield Channel("plus_bound", bound_code(m.plus_at_floor, m.plus_at_saturation, shape), "",
                  quantity="I(+V) bound: 0 value, 1 upper bound (floor), 2 lower bound")
    yield Channel("minus_bound", bound_code(m.minus_at_floor, m.minus_at_saturation, shape), "",
                  quantity="I(-V) bound: 0 value, 1 upper bound (floor), 2 lower bound")
    yield Channel("lagging", _as_float(m.lagging, shape), "",
                  quantity="amplifier bandwidth below the pixel rate")


class ResultStream:
    """The maps of a result as a scan whose channels are built one at a time.

    Has what :func:`afmcurrent.io.hdf5.write_hdf5` and
    :func:`afmcurrent.io.gwy.write_gwy_channels` read of a :class:`Scan` (``size``,
    ``offset``, ``pixel_size``, ``bias``, ``path``, ``format``, ``metadata``, ``channels``);
    ``channel_list`` is a new :func:`result_channels` iterator on every access.
    """

    def __init__(self, result: PairResult) -> None:
        self._result = result
        for k, v in _frame(result).items():
            setattr(self, k, v)
        rows, cols = result.maps.valid.shape
        self.pixel_size = (self.size[0] / rows, self.size[1] / cols)
        self.channels = list(RESULT_MAPS)

    @property
    def channel_list(self) -> Iterator[Channel]:
        return result_channels(self._result)


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
    for ch, mask in iter_gwy_channels(scan.channel_list):
        chans.append(ch)
        if mask is not None:
            masks[ch.name] = mask
    out = Scan(chans, size=scan.size, bias=scan.bias, offset=scan.offset, path=None,
               format=scan.format, metadata=dict(scan.metadata))
    return out, masks


def iter_gwy_channels(channels: Iterable[Channel]) -> Iterator[tuple[Channel, np.ndarray | None]]:
    """:func:`gwy_channels` one channel at a time: each finite channel and its mask (None when
    no pixel is filled), the log10 channel of a current map after it.

    Parameters
    ----------
    channels : iterable of Channel
        E.g. :func:`result_channels`.

    Yields
    ------
    (Channel, ndarray of bool or None)
    """

    def fit(name: str, data: np.ndarray, unit: str, quantity: str | None = None
            ) -> tuple[Channel, np.ndarray | None]:
        data = np.asarray(data, np.float64)
        bad = ~np.isfinite(data)
        mask = None
        if bad.any():
            fin = data[~bad]
            fill = float(np.median(fin)) if fin.size else 0.0
            del fin
            data = np.where(bad, fill, data)
            mask = bad
        return Channel(name, data, unit, quantity=quantity or name), mask

    for ch in channels:
        yield fit(ch.name, ch.data, ch.unit, ch.quantity)
        if ch.name in _LOG_CHANNELS:
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.log10(ch.data)
            yield fit(f"log10_{ch.name}", lg, "", f"log10({ch.name} / A)")
            del lg
