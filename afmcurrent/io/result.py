"""Reading back a written result: the maps, tables and summary of an output folder.

What ``afmcurrent analyze`` (or one pair of a batch) wrote, as plain Python: the maps of
``result.h5`` as arrays in SI units, the registration per row, the domain and profile tables of
``domains.csv`` and ``profile.csv``, ``summary.json`` as a dict, and ``settings.toml`` as text.
A record of this layer (files), not the :class:`~afmcurrent.pair.result.PairResult` the analysis
returns: it holds what the files hold (maps in float32, CSV cells to six significant digits)::

    from afmcurrent.io import read_result

    r = read_result("out/")
    r.maps["class"]              # uint8 (rows, cols)
    r.maps["ionic_current"]      # A, NaN where not resolved
    r.summary["fractions"]       # as summary.json
    r.domains[0]["area_um2"]     # one dict per domains.csv row
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ReadError
from ..core.xarray_maps import maps_to_xarray
from ._common import check_readable
from ._h5safe import check_image_dataset, hard_member
from .hdf5 import read_hdf5

__all__ = ["StoredResult", "read_result", "read_csv_table"]

#: Maps of result.h5 stored as uint8 codes.
_CODE_MAPS = ("class", "valid", "plus_bound", "minus_bound", "lagging")


@dataclass
class StoredResult:
    """A written result, read back (``docs/outputs.md`` describes every file).

    Attributes
    ----------
    path : Path
        The output folder.
    summary : dict
        ``summary.json`` (non-finite numbers are None, as written).
    maps : dict of str to ndarray, shape (rows, cols)
        ``result.h5`` ``/maps``: codes as uint8 (``class``, ``valid``, ``plus_bound``,
        ``minus_bound``, ``lagging``), the others as float32 (as stored; SI units).
    units : dict of str to str
        Unit of each map (``"A"``, ``"m"``, ``"A/m^2"``, ``""``).
    size, pixel_size, offset : (float, float)
        ``(height, width)``, ``(dy, dx)``, ``(y0, x0)`` of the +V frame, m.
    row_displacement : ndarray of float, shape (rows, 2)
        ``[dy, dx]`` of the -V scan at every +V row, px.
    row_uncertainty : ndarray of float, shape (rows,)
        1-sigma error of each row's displacement, px (inf: not registered).
    domains, profile : list of dict
        The rows of ``domains.csv`` and ``profile.csv``: numbers as float (empty cells NaN),
        ``true`` / ``false`` as bool, text as str.
    repeat_maps : dict of str to ndarray
        ``result.h5`` ``/repeat`` (``change``, ``significant``, ``class_changed``) when the
        result has a repeat scan; empty otherwise.
    settings_toml : str or None
        ``settings.toml`` as text (None when the folder has none).
    files : list of str
        The files of the folder.
    """

    path: Path
    summary: dict[str, Any]
    maps: dict[str, np.ndarray]
    units: dict[str, str]
    size: tuple[float, float]
    pixel_size: tuple[float, float]
    offset: tuple[float, float]
    row_displacement: np.ndarray
    row_uncertainty: np.ndarray
    domains: list[dict[str, Any]] = field(default_factory=list)
    profile: list[dict[str, Any]] = field(default_factory=list)
    repeat_maps: dict[str, np.ndarray] = field(default_factory=dict)
    settings_toml: str | None = None
    files: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the maps."""
        return tuple(self.maps["class"].shape)  # type: ignore[return-value]

    @property
    def fractions(self) -> dict[str, float | None]:
        """Area fractions of the classes (``summary.json`` ``fractions``)."""
        return dict(self.summary.get("fractions") or {})

    @property
    def warnings(self) -> list[str]:
        """The result's warnings (``summary.json`` ``warnings``)."""
        return list(self.summary.get("warnings") or [])

    def to_xarray(self) -> Any:
        """The maps as an :class:`xarray.Dataset` with coordinates in m, as
        :meth:`afmcurrent.pair.result.PairResult.to_xarray` gives them (the optional extra
        ``pip install 'afmcurrent[xarray]'``).

        Raises
        ------
        ImportError
            If xarray is not installed.
        """
        s = self.summary
        attrs = {"software": f"afmcurrent {(s.get('software') or {}).get('version')}",
                 "result": str(self.path),
                 "bias_plus_V": (s.get("inputs") or {}).get("plus", {}).get("bias_V"),
                 "bias_minus_V": (s.get("inputs") or {}).get("minus", {}).get("bias_V"),
                 "shift_px": (s.get("registration") or {}).get("shift_px"),
                 "tip_radius_m": s.get("tip_radius_m"),
                 "classified_fraction": s.get("classified_fraction"),
                 **{f"fraction_{k}": v for k, v in self.fractions.items()},
                 "warnings": self.warnings}
        attrs = {k: (float("nan") if v is None else v) for k, v in attrs.items()}
        return maps_to_xarray(self.maps, self.units, self.size, self.offset, attrs)


def _cell(text: str) -> Any:
    if text == "":
        return math.nan
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def read_csv_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV table written by afmcurrent (header row, cells as
    :func:`afmcurrent.io.csv_table.csv_cell` writes them) as dicts.

    Raises
    ------
    ReadError
        If the file is missing or unreadable.
    """
    p = check_readable(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReadError(f"{p}: cannot read the table: {exc}") from exc


def _h5_extras(path: Path, rows: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``/registration`` and ``/repeat`` of a result.h5 (checked like every dataset read)."""
    import h5py

    disp = np.full((rows, 2), np.nan)
    unc = np.full(rows, np.nan)
    repeat: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            if "registration" in f:
                g = hard_member(f, "registration", path)
                if "row_displacement" in g:
                    d = hard_member(g, "row_displacement", path)
                    check_image_dataset(d, path)
                    disp = np.asarray(d[()], np.float64)
                if "row_uncertainty" in g:
                    d = hard_member(g, "row_uncertainty", path)
                    check_image_dataset(d, path, ndim=1)
                    unc = np.asarray(d[()], np.float64)
            if "repeat" in f:
                g = hard_member(f, "repeat", path)
                for name in ("change", "significant", "class_changed"):
                    if name in g:
                        d = hard_member(g, name, path)
                        check_image_dataset(d, path)
                        repeat[name] = d[()]
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(f"{path}: inconsistent result file ({type(exc).__name__}: {exc})"
                        ) from exc
    return disp, unc, repeat


def read_result(outdir: str | Path) -> StoredResult:
    """Read the result an ``afmcurrent analyze`` (or a batch pair) wrote into ``outdir``.

    Parameters
    ----------
    outdir : str or Path
        The output folder (holding ``summary.json``, ``result.h5``, ``domains.csv``, ...).

    Returns
    -------
    StoredResult

    Raises
    ------
    ReadError
        If the folder is missing, holds no ``summary.json`` (not a complete result: it is
        written last) or a file is damaged; the message names the file.
    """
    out = Path(outdir)
    if not out.is_dir():
        raise ReadError(f"{out}: no such result folder")
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        raise ReadError(f"{out}: no summary.json: not a complete afmcurrent result (summary.json "
                        "is written last)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReadError(f"{summary_path}: not readable JSON ({exc})") from exc
    if not isinstance(summary, dict):
        raise ReadError(f"{summary_path}: not a summary (a JSON object expected)")
    scan = read_hdf5(out / "result.h5")
    maps, units = {}, {}
    for ch in scan.channel_list:  # the Scan holds float64: back to the stored types
        maps[ch.name] = (np.asarray(ch.data).astype(np.uint8) if ch.name in _CODE_MAPS
                         else np.asarray(ch.data, np.float32))
        units[ch.name] = ch.unit
    if "class" not in maps:
        raise ReadError(f"{out / 'result.h5'}: no class map: not an afmcurrent result")
    disp, unc, repeat = _h5_extras(out / "result.h5", maps["class"].shape[0])
    settings = out / "settings.toml"
    return StoredResult(
        path=out, summary=summary, maps=maps, units=units, size=scan.size,
        pixel_size=scan.pixel_size, offset=scan.offset, row_displacement=disp,
        row_uncertainty=unc,
        domains=read_csv_table(out / "domains.csv") if (out / "domains.csv").is_file() else [],
        profile=read_csv_table(out / "profile.csv") if (out / "profile.csv").is_file() else [],
        repeat_maps=repeat,
        settings_toml=settings.read_text(encoding="utf-8") if settings.is_file() else None,
        files=sorted(p.name for p in out.iterdir()))
