"""Writing a pair's files: the output contract other tools read (``docs/outputs.md``).

Files in the output folder:

``summary.json``
    Registration, area fractions, classified fraction, median currents (A), inputs, settings,
    software version.
``result.h5``
    ``/maps/<name>`` for class, ionic_current, electronic_current, ionic_fraction,
    plus_current, minus_current (registered), height, valid, current_density_ionic,
    current_density_electronic, plus_bound, minus_bound, lagging; each with a ``units``
    attribute; the pixel size and the registration as root attributes.
``domains.csv``
    One row per connected domain, units in the column names.
``result.gwy``
    (unless ``gwy=False``, a batch's default) The same maps as Gwyddion channels, every
    field finite: pixels without a value are filled with the median of the channel's values
    and marked by the channel's mask (``/N/mask``);
    the current maps also as log10 channels.
``profile.csv``
    Maps sampled along the profile line (``--profile``; default the middle row).
``settings.toml``
    The settings the result was made with: ``--config settings.toml`` makes it again
    (:mod:`afmcurrent.outputs.settings_file`).
``figure.png``
    The overview figure (skipped with ``figures=False``); ``summary.json`` ``figure_scale``
    records the log current colour scale of the figures (null without figures).
``figure_paper.png``, ``profile.png``, ``optical.png``, ``repeat.png``
    The paper's six panels, the profile plot, (with an optical image) the classes over the
    optical patch and (with a repeat scan) what the measurement changed; with
    ``figure_format`` "pdf" or "svg" each figure is also written in it.

Every file is written under a temporary name and renamed into place, so a half-written file is
never mistaken for a result.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..core.errors import ConfigError, OutputExistsError
from ..core.model import Scan
from ..io._common import atomic_path
from ..io.gwy import write_gwy_channels
from ..io.hdf5 import write_hdf5
from ..pair.registration import Registration
from ..pair.result import PairResult
from .figures import (
    FigureScales,
    pair_current_histogram,
    plot_optical_classes,
    plot_pair,
    plot_paper,
    plot_profile,
    scale_from_histogram,
)
from .maps import ResultStream, gwy_channels, iter_gwy_channels, result_scan
from .repeat import write_repeat_figure, write_repeat_group
from .settings_file import result_settings_toml
from .summary import summary, summary_json

__all__ = ["write_result", "write_figures", "figure_scale_record", "result_scan", "gwy_channels",
           "prepare_outdir", "atomic_path"]

logger = logging.getLogger(__name__)

#: Maps of ``result.h5`` stored as uint8 codes.
_CODE_MAPS = ("class", "valid", "plus_bound", "minus_bound", "lagging")


def prepare_outdir(outdir: str | Path, overwrite: bool) -> Path:
    """Create ``outdir``, refusing a folder that already holds files unless ``overwrite``.

    Raises
    ------
    OutputExistsError
        If ``outdir`` is not empty and ``overwrite`` is False, or is a file.
    """
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out}: folder is not empty; pass --overwrite (overwrite=True) to replace its results"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out



def write_result(
    result: PairResult,
    outdir: str | Path,
    *,
    figures: bool = True,
    overwrite: bool = False,
    figure_format: str = "png",
    scales: FigureScales | None = None,
    gwy: bool = True,
    compact: bool = False,
) -> dict[str, Path]:
    """Write every output file of a pair into ``outdir`` (see the module docstring).

    Parameters
    ----------
    result : PairResult
    outdir : str or Path
        Output folder; created if needed.
    figures : bool, optional
        Render the figures (the slowest part).
    overwrite : bool, optional
        Replace earlier results in a non-empty ``outdir``.
    figure_format : {"png", "pdf", "svg"}, optional
        Also write every figure in this vector format (PNG is always written).
    scales : FigureScales, optional
        Colour scales shared across a batch (:func:`afmcurrent.outputs.figures.shared_scales`).
    gwy : bool, optional
        Write ``result.gwy`` (float64 maps plus log10 and mask channels: ~60 MB for a
        512 x 512 pair; a batch writes it only when asked, ``--gwy``).
    compact : bool, optional
        Write ``result.h5`` compressed (:func:`afmcurrent.io.hdf5.write_hdf5` ``compact``:
        chunked gzip, float32 rounded to 12 mantissa bits, ~3.5 MB instead of 9.7 MB for
        512 x 512), as a batch does.

    Returns
    -------
    dict of str to Path
        The files written.

    Raises
    ------
    OutputExistsError
        If ``outdir`` is not empty and ``overwrite`` is False.
    ConfigError
        If ``figure_format`` is not png, pdf or svg.
    """
    if figure_format not in ("png", "pdf", "svg"):
        raise ConfigError(f"figure format must be png, pdf or svg, got {figure_format!r}")
    out = prepare_outdir(outdir, overwrite)
    contract = summary(result)
    written: dict[str, Path] = {}
    # the tables first: their temporaries are gone before the maps are gathered (a lower peak
    # of memory on large pairs)
    with atomic_path(out / "domains.csv") as tmp:
        result.domains.to_csv(tmp)
    written["domains.csv"] = out / "domains.csv"
    with atomic_path(out / "profile.csv") as tmp:
        result.profile().to_csv(tmp)
    written["profile.csv"] = out / "profile.csv"
    # the maps are built one at a time as each writer consumes them (a lower peak of memory
    # on large pairs: one float64 map at a time, not the thirteen of result_scan)
    scan = ResultStream(result)
    written["result.h5"] = _write_h5(out / "result.h5", result, scan, contract, compact)
    if result.repeat is not None:  # the repeat scan's maps (docs/outputs.md)
        write_repeat_group(out / "result.h5", result.repeat)
    if gwy:
        with atomic_path(out / "result.gwy") as tmp:
            write_gwy_channels(tmp, scan, iter_gwy_channels(scan.channel_list), overwrite=True)
        written["result.gwy"] = out / "result.gwy"
    del scan
    with atomic_path(out / "settings.toml") as tmp:  # the settings it was made with
        tmp.write_text(result_settings_toml(result), encoding="utf-8")
    written["settings.toml"] = out / "settings.toml"
    contract["figure_scale"] = None
    if figures:
        files, used = write_figures(result, out, figure_format=figure_format, scales=scales)
        written.update(files)
        contract["figure_scale"] = figure_scale_record(used, shared=scales is not None)
        if result.repeat is not None:
            formats = ("png",) if figure_format == "png" else ("png", figure_format)
            for p in write_repeat_figure(out / "repeat.png", result.repeat, result.plus.size,
                                         formats):
                written[p.name] = p
    # summary.json last: its presence marks a complete result.
    contract["files"] = sorted(written)
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(summary_json(contract))
    written["summary.json"] = out / "summary.json"
    logger.info("wrote %s", ", ".join(str(p) for p in written.values()))
    return written


def _write_h5(path: Path, result: PairResult, scan: Scan | ResultStream, contract: dict[str, Any],
              compact: bool = False) -> Path:
    """``result.h5``: the maps, the registration as attributes and per row, the summary."""
    reg = result.registration.to_dict()
    attrs = {
        "registration": json.dumps(reg),
        "shift_px": np.asarray(reg["shift_px"], float),
        "drift_px_per_line": np.asarray(reg["drift_px_per_line"], float),
        "bias_plus_V": result.bias_plus,
        "bias_minus_V": result.bias_minus,
        "summary_json": json.dumps(contract),
    }
    with atomic_path(path) as tmp:
        write_hdf5(tmp, scan, attrs=attrs,
                   dtypes={k: np.uint8 for k in _CODE_MAPS}, overwrite=True, compact=compact)
        _write_row_displacement(tmp, result.registration)
    return path


def figure_scale_record(scales: FigureScales, shared: bool) -> dict[str, Any]:
    """``summary.json`` ``figure_scale``: the log current colour scale the figures were drawn
    on, ``{"current_log10": [vmin, vmax], "shared": bool}`` (log10 of A; ``shared``: given
    from outside, e.g. the set's scale of a batch, rather than the pair's own)."""
    lo, hi = scales.current_log10
    return {"current_log10": [float(lo), float(hi)], "shared": bool(shared)}


def write_figures(result: PairResult, outdir: str | Path, *, figure_format: str = "png",
                  scales: FigureScales | None = None
                  ) -> tuple[dict[str, Path], FigureScales]:
    """Draw a pair's figures into ``outdir``: the overview, the paper's panels, the profile and
    (with an optical image) the classes over the optical patch, as PNG and, when asked, in a
    vector format (each file written atomically; other files are left alone).

    Parameters
    ----------
    result : PairResult
    outdir : str or Path
        An existing folder.
    figure_format : {"png", "pdf", "svg"}, optional
    scales : FigureScales, optional
        Colour scales from outside (a batch's set); default the pair's own current scale
        (:func:`afmcurrent.outputs.figures.pair_current_histogram`).

    Returns
    -------
    files : dict of str to Path
    scales : FigureScales
        The scales the figures were drawn on (``current_log10`` always set).
    """
    out = Path(outdir)
    if scales is None or scales.current_log10 is None:
        own = scale_from_histogram(pair_current_histogram(result))
        scales = FigureScales(own, None if scales is None else scales.height_nm)
    formats = ["png"] if figure_format == "png" else ["png", figure_format]
    plots = [("figure", plot_pair), ("figure_paper", plot_paper), ("profile", plot_profile)]
    if result.optical is not None:
        plots.append(("optical", plot_optical_classes))
    written = {}
    for stem, plot in plots:
        kw = {} if plot is plot_optical_classes else {"scales": scales}
        fig = plot(result, None, **kw)
        for fmt in formats:
            name = f"{stem}.{fmt}"
            with atomic_path(out / name) as tmp:
                fig.savefig(tmp, format=fmt, dpi=130 if stem == "figure" else 200)
            written[name] = out / name
    return written, scales


def _write_row_displacement(path: Path, registration: Registration) -> None:
    """Add ``/registration/row_displacement`` (rows x 2, [dy, dx] px per +V row) to result.h5."""
    with h5py.File(path, "a") as f:
        g = f.require_group("registration")
        d = g.create_dataset("row_displacement",
                             data=np.asarray(registration.row_displacement, np.float64))
        d.attrs["units"] = "px"
        d.attrs["columns"] = "dy, dx"
        d.attrs["convention"] = "plus[r, c] ~ minus[r - dy[r], c - dx[r]]"
        g.attrs["uncertainty_px"] = float(registration.uncertainty_px)
        u = g.create_dataset("row_uncertainty",
                             data=np.asarray(registration.row_uncertainty, np.float64))
        u.attrs["units"] = "px"
        u.attrs["meaning"] = "1-sigma error of row_displacement at each +V row (Euclidean)"
