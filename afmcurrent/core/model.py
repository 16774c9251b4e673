"""Data model: a scan is a set of co-located image channels plus geometry and metadata.

Conventions (see ``docs/architecture.md``):

* every array is ``(rows, cols) = (y, x)``; row 0 is the top row of the image as Gwyddion
  displays it; columns run along the fast-scan axis;
* values are in SI units (m, A, V); the unit string of a channel names the SI unit
  (``"m"``, ``"A"``, ``"V"``, or ``""`` for a dimensionless quantity);
* the sample bias is in V, with its sign (``None`` where the file does not record it).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ChannelNotFoundError

__all__ = ["Channel", "Scan", "Direction"]

Direction = Literal["trace", "retrace"]


@dataclass
class Channel:
    """One image channel of a scan.

    Parameters
    ----------
    name : str
        Name unique within its scan, e.g. ``"Height"`` or ``"Height (retrace)"``.
    data : ndarray of float, shape (rows, cols)
        Values in SI units, Gwyddion orientation (row 0 at the top).
    unit : str
        SI unit of ``data``: ``"m"``, ``"A"``, ``"V"``, ``""`` (dimensionless), ...
    direction : {"trace", "retrace"} or None
        Fast-scan direction in which the channel was recorded; ``None`` where unknown.
    quantity : str, optional
        What is measured, without direction (``"Height"``, ``"Input1"``); defaults to ``name``.
    metadata : dict, optional
        Per-channel header entries (scale factors, data type, ...).
    """

    name: str
    data: np.ndarray
    unit: str
    direction: Direction | None = None
    quantity: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float64)
        if self.data.ndim != 2:
            raise ValueError(
                f"channel {self.name!r}: data must be 2-D, got shape {self.data.shape}"
            )
        if not self.quantity:
            self.quantity = self.name

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(rows, cols)`` of the image."""
        return self.data.shape  # type: ignore[return-value]


@dataclass
class Scan:
    """A scanned area: co-located channels with shared geometry.

    Parameters
    ----------
    channel_list : list of Channel
        The image channels, all of the same shape ``(rows, cols)``.
    size : tuple of float
        Physical size ``(height, width)`` of the scanned area in m (slow, fast axis).
    bias : float or None
        Sample bias in V (sign included), or ``None`` where the file does not record it.
    offset : tuple of float, optional
        Position ``(y0, x0)`` of the scan area in m (the instrument's offsets).
    path : Path or None, optional
        File the scan was read from.
    format : str, optional
        Reader that produced it (``"nanoscope"``, ``"gwyddion"``, ``"hdf5"``, ``"memory"``).
    metadata : dict, optional
        Header entries as read (strings and numbers), plus the normalised keys documented in
        ``docs/formats.md`` (``date``, ``bias_V``, ``scan_rate_hz``, ``scan_angle_deg``,
        ``instrument``, ``operating_mode``...); the properties :attr:`date`,
        :attr:`scan_rate_hz`, :attr:`scan_angle_deg`, :attr:`instrument` and
        :attr:`operating_mode` read them.

    Raises
    ------
    ValueError
        If the channels differ in shape, have no pixel, or their names repeat.
    """

    channel_list: list[Channel]
    size: tuple[float, float]
    bias: float | None = None
    offset: tuple[float, float] = (0.0, 0.0)
    path: Path | None = None
    format: str = "memory"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.channel_list:
            raise ValueError("a scan needs at least one channel")
        shapes = {c.shape for c in self.channel_list}
        if len(shapes) != 1:
            raise ValueError(f"channels of one scan must share a shape, got {sorted(shapes)}")
        if min(next(iter(shapes))) < 1:
            raise ValueError(f"a scan needs at least one pixel per axis, got {shapes.pop()}")
        names = [c.name for c in self.channel_list]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names repeat: {names}")
        self.size = (float(self.size[0]), float(self.size[1]))
        self.offset = (float(self.offset[0]), float(self.offset[1]))
        if self.path is not None:
            self.path = Path(self.path)

    # -- geometry -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(rows, cols)``."""
        return self.channel_list[0].shape

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Pixel size ``(dy, dx)`` in m."""
        rows, cols = self.shape
        return (self.size[0] / rows, self.size[1] / cols)

    # -- normalised metadata (see afmcurrent.io._meta / docs/formats.md) -----------------------
    @property
    def date(self) -> _dt.datetime | None:
        """Start of the scan (``metadata["date"]``, ISO 8601) or ``None`` when unknown."""
        text = self.metadata.get("date")
        try:
            return _dt.datetime.fromisoformat(str(text)) if text else None
        except ValueError:
            return None

    @property
    def scan_rate_hz(self) -> float | None:
        """Lines per second (``metadata["scan_rate_hz"]``) or ``None``."""
        v = self.metadata.get("scan_rate_hz")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def scan_angle_deg(self) -> float | None:
        """Scan rotation in degrees (``metadata["scan_angle_deg"]``) or ``None``."""
        v = self.metadata.get("scan_angle_deg")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def instrument(self) -> str | None:
        """Microscope / controller as recorded (``metadata["instrument"]``) or ``None``."""
        v = self.metadata.get("instrument")
        return str(v) if v else None

    @property
    def operating_mode(self) -> str | None:
        """Imaging mode as recorded (``metadata["operating_mode"]``) or ``None``."""
        v = self.metadata.get("operating_mode")
        return str(v) if v else None

    @property
    def label(self) -> str:
        """A short name for messages: the file name, or ``"<memory>"``."""
        return str(self.path) if self.path is not None else "<memory>"

    # -- channels -----------------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        """Names of the channels, in file order."""
        return [c.name for c in self.channel_list]

    def channel(self, name: str, direction: Direction | None = None) -> Channel:
        """Return a channel by name.

        Parameters
        ----------
        name : str
            Channel name as listed in :attr:`channels`, or the measured quantity
            (``"Height"``), matched case-insensitively; a quantity recorded in both
            directions resolves to the trace unless ``direction`` says otherwise.
        direction : {"trace", "retrace"}, optional
            Restrict the match to one fast-scan direction.

        Returns
        -------
        Channel

        Raises
        ------
        ChannelNotFoundError
            If no channel matches; the message names the file and lists the channels.
        """
        def ok(c: Channel) -> bool:
            return direction is None or c.direction == direction

        for c in self.channel_list:
            if c.name == name and ok(c):
                return c
        key = name.casefold()
        for candidates in (
            [c for c in self.channel_list if c.name.casefold() == key and ok(c)],
            [c for c in self.channel_list if c.quantity.casefold() == key and ok(c)],
        ):
            if candidates:
                trace = [c for c in candidates if c.direction in ("trace", None)]
                return (trace or candidates)[0]
        where = f" ({direction})" if direction else ""
        raise ChannelNotFoundError(
            f"{self.label}: no channel {name!r}{where}; channels in this file: "
            + ", ".join(repr(n) for n in self.channels)
        )

    def find_channel(self, units: Iterable[str], prefer: Iterable[str] = ()) -> Channel | None:
        """Return the first trace channel whose unit is in ``units``, or ``None``.

        Parameters
        ----------
        units : iterable of str
            Acceptable SI units.
        prefer : iterable of str, optional
            Quantity names (case-insensitive substrings) tried first, in order.
        """
        units = set(units)
        pool = [c for c in self.channel_list if c.unit in units]
        pool.sort(key=lambda c: c.direction == "retrace")
        for p in prefer:
            for c in pool:
                if p.casefold() in c.quantity.casefold():
                    return c
        return pool[0] if pool else None

    def with_channels(self, channels: Mapping[str, Channel] | list[Channel]) -> Scan:
        """Return a copy of this scan holding other channels (same geometry and metadata)."""
        chans = list(channels.values()) if isinstance(channels, Mapping) else list(channels)
        return Scan(
            channel_list=chans,
            size=self.size,
            bias=self.bias,
            offset=self.offset,
            path=self.path,
            format=self.format,
            metadata=dict(self.metadata),
        )
