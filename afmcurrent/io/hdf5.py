"""The project's own HDF5 scan / result format, through h5py.

Public API (a contract, keep it stable)
---------------------------------------
write_hdf5(path, scan, attrs=None, overwrite=False, dtypes=None, compact=False) -> Path
read_hdf5(path, channels=None) -> Scan

Layout (``format_version = 1``)
-------------------------------
``/maps/<channel name>``
    One dataset per channel, in channel order (the order is also stored in the root attribute
    ``channel_order``, since HDF5 lists members alphabetically). Data type: ``dtypes[name]``
    when given (e.g. ``uint8`` for a class map, kept exactly), else float32 for float data
    (a float64 array whose values float32 cannot hold to 1e-7 relative stays float64 when
    ``dtypes`` says so). Dataset attributes: ``units`` (SI unit string), ``direction``
    (``"trace"``, ``"retrace"`` or ``""`` for unknown), ``quantity``, ``metadata_json``
    (the channel metadata as JSON). ``compact=True`` stores each map chunked and compressed
    (integer maps gzip; float maps Blosc Zstandard with the bit shuffle, from ``hdf5plugin``,
    which :func:`read_hdf5` loads when a map needs it), float32 values rounded to 12 bits of
    mantissa (relative error <= 1.2e-4).
Root attributes
    ``format = "afmcurrent"``, ``format_version = 1``, ``size_m`` ([height, width]),
    ``offset_m`` ([y0, x0]), ``pixel_size_m`` ([dy, dx]), ``bias_V`` (NaN when unknown),
    ``metadata_json`` (the scan metadata as JSON; values JSON cannot hold become strings),
    ``channel_order`` (list of names), ``source_format``, ``source_path``.
Extra ``attrs``
    Scalars, strings and numeric sequences become root attributes as they are; a nested
    ``dict`` becomes a JSON string attribute (read it back with ``json.loads``). Keys must not
    collide with the attributes above.

A channel name containing ``"/"`` is stored with ``"/"`` replaced by ``"\u2215"`` (HDF5 paths
cannot hold it) and restored on reading through ``channel_order``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ChannelNotFoundError, ReadError
from ..core.model import Channel, Scan
from ._common import atomic_path, check_readable, check_writable
from ._h5safe import check_image_dataset, hard_member
from ._isolate import call_isolated
from ._meta import check_scan_numbers

logger = logging.getLogger(__name__)

__all__ = ["write_hdf5", "read_hdf5", "read_hdf5_isolated", "round_mantissa", "FORMAT_NAME",
           "FORMAT_VERSION", "COMPACT_MANTISSA_BITS"]

FORMAT_NAME = "afmcurrent"
FORMAT_VERSION = 1
_RESERVED = {"format", "format_version", "size_m", "offset_m", "pixel_size_m", "bias_V",
             "metadata_json", "channel_order", "source_format", "source_path"}


#: Explicit mantissa bits kept by ``write_hdf5(..., compact=True)`` (float32 has 23): a
#: relative rounding error of at most 2**-13 = 1.2e-4, i.e. 5e-5 decades of a current (the
#: log amplifier's noise is about 0.01-0.05 decades) and 0.01 % of a height.
COMPACT_MANTISSA_BITS = 12


def round_mantissa(a: np.ndarray, keep: int) -> np.ndarray:
    """Round float32 values to ``keep`` explicit mantissa bits (to nearest, ties to even).

    The low ``23 - keep`` bits become zeros, which a lossless compressor then stores in
    almost no space (the "bit rounding" of Kloewer et al., Nat. Comput. Sci. 1, 713 (2021)).
    NaN and infinities are kept as they are; a value may round up to the next power of two.

    Parameters
    ----------
    a : ndarray of float32
    keep : int, 0..23

    Returns
    -------
    ndarray of float32, same shape (a new array; ``a`` itself when ``keep >= 23``)
        Each finite value within a relative ``2**-(keep + 1)`` of the input.
    """
    a = np.asarray(a, np.float32)
    drop = 23 - int(keep)
    if drop <= 0:
        return a
    bits = a.view(np.uint32)
    # round half to even on the dropped bits: add (half - 1) + the lowest kept bit
    low = (bits >> np.uint32(drop)) & np.uint32(1)
    low += np.uint32((1 << (drop - 1)) - 1)
    low += bits
    low &= np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    out = low.view(np.float32)
    # NaN and inf as they were (rounding could change a NaN's bits), and a value next to the
    # largest float32 that would round to inf kept unrounded
    special = ~np.isfinite(a)
    special |= ~np.isfinite(out)
    if special.any():
        out[special] = a[special]
    return out


def _compact_filter(dtype: np.dtype) -> dict[str, Any]:
    """h5py keywords of a compact map's compression: gzip for integer maps (class codes and
    masks: small, readable by every HDF5 tool), Blosc Zstandard (level 1) with the bit shuffle
    for the rest."""
    if dtype.kind in "iub":
        return {"compression": "gzip", "compression_opts": 1}
    import hdf5plugin

    return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


#: HDF5 filters every libhdf5 / h5py has (deflate, shuffle, fletcher32, szip, n-bit,
#: scale-offset, LZF); another one (Blosc: 32001) needs ``hdf5plugin``.
_BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


def _load_filters(ds: Any) -> None:
    """Register hdf5plugin's filters when ``ds`` uses one that h5py lacks (imported only
    then: ~25 ms)."""
    plist = ds.id.get_create_plist()
    codes = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    if codes - _BUILTIN_FILTERS:
        try:
            import hdf5plugin  # noqa: F401  (registers the filters with libhdf5)
        except ImportError:
            pass  # reading fails with h5py's message naming the filter


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    def clean(o: Any) -> Any:  # NaN / inf are not JSON
        if isinstance(o, float) and not math.isfinite(o):
            return str(o)
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(obj), default=default)


def _dsname(name: str) -> str:
    return name.replace("/", "\u2215")


def write_hdf5(path: str | Path, scan: Scan, attrs: dict[str, Any] | None = None,
               overwrite: bool = False, dtypes: dict[str, Any] | None = None,
               compact: bool = False) -> Path:
    """Write a scan (and optional result attributes) in the afmcurrent HDF5 layout.

    Parameters
    ----------
    path : str or Path
        Output file (conventionally ``.h5``).
    scan : Scan
        Channels to store as ``/maps/<name>``.
    attrs : dict, optional
        Extra root attributes (see the module docstring for how values are stored).
    overwrite : bool, optional
        Replace an existing file; refused by default.
    dtypes : dict of str -> dtype, optional
        Storage dtype per channel name (``Channel`` holds float64; a class map can be
        stored back as ``uint8`` here). Integer dtypes round the values.
    compact : bool, optional
        Store every map in chunks of about 64 k pixels, compressed: integer maps (class
        codes, masks) with gzip, which every HDF5 reader decodes; float maps with Blosc
        (Zstandard level 1 after the bit shuffle, HDF5 filter 32001 from the ``hdf5plugin``
        package: other
        readers need that plugin, e.g. ``import hdf5plugin`` beside ``h5py``), rounded to
        :data:`COMPACT_MANTISSA_BITS` significant bits of mantissa (:func:`round_mantissa`,
        a relative error of at most 2**-13 = 1.2e-4). About 3.0-3.5 MB instead of 9.7 MB for
        the maps of a 512 x 512 result, written in ~1/3 of gzip's time (measured on 512 x 512
        results: gzip level 1 3.0-3.5 MB, ~3x slower to write and ~2-3x slower to read; Blosc
        LZ4 ~0.5 MB larger, over 4 MB per pair). Default: uncompressed, full float32.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If an ``attrs`` key collides with a reserved attribute, or an integer dtype is
        asked for a channel holding non-integral or out-of-range values.
    """
    import h5py

    p = check_writable(path, overwrite)
    attrs = dict(attrs or {})
    clash = _RESERVED.intersection(attrs)
    if clash:
        raise ValueError(f"attrs keys reserved by the format: {sorted(clash)}")
    dtypes = dict(dtypes or {})
    with atomic_path(p) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["size_m"] = np.asarray(scan.size, dtype=np.float64)
        f.attrs["offset_m"] = np.asarray(scan.offset, dtype=np.float64)
        f.attrs["pixel_size_m"] = np.asarray(scan.pixel_size, dtype=np.float64)
        f.attrs["bias_V"] = float("nan") if scan.bias is None else float(scan.bias)
        f.attrs["metadata_json"] = _json(scan.metadata)
        f.attrs["channel_order"] = _json(scan.channels)
        f.attrs["source_format"] = scan.format
        f.attrs["source_path"] = "" if scan.path is None else str(scan.path)
        for key, value in attrs.items():
            if isinstance(value, dict):
                f.attrs[key] = _json(value)
            elif value is None:
                f.attrs[key] = "None"
            else:
                f.attrs[key] = value
        maps = f.create_group("maps")
        for ch in scan.channel_list:
            dt = np.dtype(dtypes.get(ch.name, np.float32))
            data = ch.data
            if dt.kind in "iub":
                info = np.iinfo(dt) if dt.kind != "b" else None
                if not np.all(np.isfinite(data)) or not np.all(data == np.rint(data)):
                    raise ValueError(f"channel {ch.name!r}: non-integral values cannot be "
                                     f"stored as {dt}")
                if info is not None and (data.min() < info.min or data.max() > info.max):
                    raise ValueError(f"channel {ch.name!r}: values outside the {dt} range")
            # By default uncompressed: gzip costs ~70 ms per 512 x 512 result for a factor
            # < 2 in size on full float32 (7 significant digits); compact: ~3 in size.
            stored = data.astype(dt)
            kw: dict[str, Any] = {}
            if compact and stored.ndim == 2 and stored.size:
                if dt == np.float32:
                    stored = round_mantissa(stored, COMPACT_MANTISSA_BITS)
                rows = max(1, min(stored.shape[0], 65536 // max(stored.shape[1], 1)))
                kw = {"chunks": (rows, stored.shape[1]), **_compact_filter(stored.dtype)}
            ds = maps.create_dataset(_dsname(ch.name), data=stored, **kw)
            ds.attrs["units"] = ch.unit
            ds.attrs["direction"] = ch.direction or ""
            ds.attrs["quantity"] = ch.quantity
            ds.attrs["metadata_json"] = _json(ch.metadata)
            del ch, data, stored  # before the next channel is built (a lazy channel_list)
    return p


def _attr_str(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def read_hdf5(path: str | Path, channels: Sequence[str] | None = None) -> Scan:
    """Read an afmcurrent HDF5 file back into a :class:`Scan` (channels in file order).

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_hdf5`.
    channels : sequence of str, optional
        Read only these channels (in this order); default all.

    Returns
    -------
    Scan
        ``format="hdf5"``; ``metadata`` = the stored scan metadata plus every extra root
        attribute (under its own key) and ``format_version``.

    Raises
    ------
    ReadError
        Missing file, corrupt HDF5, an HDF5 file that is not an afmcurrent file (no
        ``/maps``), an unsupported ``format_version`` or empty ``/maps``, an external or soft
        link, a virtual dataset or external raw storage (never followed), a dataset that is
        not a 2-D numeric image of at most 65536 pixels per side (checked before reading),
        size / offset / bias attributes that are not finite numbers of the right count.
    ChannelNotFoundError
        If one of ``channels`` is not in the file (the message lists those that are).
    """
    import h5py

    p = check_readable(path)
    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # OSError mostly; h5py raises others on corrupt superblocks
        raise ReadError(f"{p}: corrupt or unreadable HDF5 file ({type(exc).__name__}: {exc})"
                        ) from exc
    try:
        with f:
            if "maps" not in f:
                raise ReadError(f"{p}: HDF5 file but not an afmcurrent result: no /maps group "
                                "(expected a file written by afmcurrent.io.write_hdf5)")
            maps = hard_member(f, "maps", p)
            if not isinstance(maps, h5py.Group):
                raise ReadError(f"{p}: /maps is not a group")
            version = _attr_int(f.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise ReadError(f"{p}: afmcurrent HDF5 format_version {version} is not "
                                f"supported (this version reads {FORMAT_VERSION})")
            names = list(maps.keys())
            order = names
            if "channel_order" in f.attrs:
                stored = json.loads(_attr_str(f.attrs["channel_order"]))
                if (isinstance(stored, list) and all(isinstance(n, str) for n in stored)
                        and sorted(_dsname(n) for n in stored) == sorted(names)):
                    order = stored
            if not order:
                raise ReadError(f"{p}: afmcurrent HDF5 file with an empty /maps group")
            if channels is not None:
                missing = [c for c in channels if c not in order]
                if missing:
                    raise ChannelNotFoundError(
                        f"{p}: no channel {missing[0]!r}; channels in the file: "
                        f"{', '.join(order)}")
                order = list(channels)
            channels = []
            for name in order:
                ds = hard_member(maps, _dsname(name), p)
                if not isinstance(ds, h5py.Dataset):
                    raise ReadError(f"{p}: /maps/{name} is not a dataset")
                check_image_dataset(ds, p)
                _load_filters(ds)
                direction = _attr_str(ds.attrs.get("direction", "")) or None
                if direction not in (None, "trace", "retrace"):
                    direction = None
                meta = json.loads(_attr_str(ds.attrs.get("metadata_json", "{}")))
                if not isinstance(meta, dict):
                    meta = {"metadata_json": meta}
                channels.append(Channel(name=name, data=ds[()], unit=_attr_str(
                    ds.attrs.get("units", "")), direction=direction,  # type: ignore[arg-type]
                    quantity=_attr_str(ds.attrs.get("quantity", "")), metadata=meta))
            size = _attr_pair(f.attrs.get("size_m"), "size_m", p)
            offset = _attr_pair(f.attrs.get("offset_m", (0.0, 0.0)), "offset_m", p)
            bias = _attr_float(f.attrs.get("bias_V", float("nan")), "bias_V", p)
            metadata = json.loads(_attr_str(f.attrs.get("metadata_json", "{}")))
            if not isinstance(metadata, dict):
                metadata = {"metadata_json": metadata}
            for key, value in f.attrs.items():
                if key not in _RESERVED:
                    metadata[key] = _attr_str(value) if isinstance(value, bytes) else (
                        value.tolist() if isinstance(value, np.ndarray) else
                        value.item() if isinstance(value, np.generic) else value)
            metadata["format_version"] = version
    except ReadError:  # (ChannelNotFoundError included)
        raise
    except RecursionError as exc:
        raise ReadError(f"{p}: inconsistent afmcurrent HDF5 file (nested too deeply)") from exc
    except Exception as exc:  # h5py / libhdf5 raise assorted errors on corrupt files
        raise ReadError(f"{p}: inconsistent afmcurrent HDF5 file ({type(exc).__name__}: "
                        f"{exc})") from exc
    if math.isnan(bias):
        bias = None
    check_scan_numbers(p, size, offset, bias)
    try:
        return Scan(channel_list=channels, size=size, bias=bias, offset=offset, path=p,
                    format="hdf5", metadata=metadata)
    except ValueError as exc:
        raise ReadError(f"{p}: inconsistent afmcurrent HDF5 file ({exc})") from exc


def _attr_int(v: Any) -> int:
    try:
        return int(np.asarray(v).reshape(-1)[0])
    except (TypeError, ValueError, OverflowError, IndexError):
        return -1


def _attr_float(v: Any, what: str, p: Path) -> float:
    try:
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
        if arr.size != 1:
            raise ValueError(f"{arr.size} values")
        return float(arr[0])
    except (TypeError, ValueError) as exc:
        raise ReadError(f"{p}: attribute {what} is not a number ({exc})") from exc


def _attr_pair(v: Any, what: str, p: Path) -> tuple[float, float]:
    if v is None:
        raise ReadError(f"{p}: attribute {what} is missing")
    try:
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ReadError(f"{p}: attribute {what} is not numeric ({exc})") from exc
    if arr.size != 2:
        raise ReadError(f"{p}: attribute {what} holds {arr.size} values, expected 2")
    return float(arr[0]), float(arr[1])


def read_hdf5_isolated(path: str | Path) -> Scan:
    """:func:`read_hdf5` in a forked child with a time limit (used by ``load_scan``).

    libhdf5 can loop for ever or crash on a corrupt file inside a single call (seen: a
    damaged global heap read for a variable-length string attribute); the child is killed at
    5 s + 1 s per 20 MB of file, and a crash or overrun becomes a :class:`ReadError`. See
    :mod:`afmcurrent.io._isolate` (in a multi-threaded process the read runs in-process).

    Raises
    ------
    ReadError
        As :func:`read_hdf5`, or when the child overruns its time limit or dies.
    """
    p = check_readable(path)
    timeout = 5.0 + p.stat().st_size / 20e6
    return call_isolated(read_hdf5, p, timeout, "HDF5")
