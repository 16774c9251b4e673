"""Writing a pair's results: the output contract other tools read (docs/outputs.md).

Files in the output folder:

``summary.json``
    Registration, area fractions, classified fraction, median currents (A), inputs, settings,
    software version.
``result.h5``
    ``/maps/<name>`` for class, ionic_current, electronic_current, ionic_fraction,
    plus_current, minus_current (registered), height, valid; each with a ``units`` attribute;
    the pixel size and the registration as root attributes.
``domains.csv``
    One row per connected domain, units in the column names.
``result.gwy``
    The same maps as Gwyddion channels.
``profile.csv``
    Maps sampled along the profile line (``--profile``; default the middle row).
``figure.png``
    The overview figure (skipped with ``figures=False``).
``figure_paper.png``, ``profile.png``, ``optical.png``
    The paper's six panels, the profile plot and (with an optical image) the classes over the
    optical patch; with ``figure_format`` "pdf" or "svg" each figure is also written in it.

Every file is written under a temporary name and renamed into place, so a half-written file is
never mistaken for a result.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OutputExistsError
from .io._common import atomic_path
from .model import Channel, Scan

if TYPE_CHECKING:
    from .pipeline import PairResult

__all__ = ["write_result", "result_scan", "prepare_outdir", "atomic_path"]

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("summary.json", "result.h5", "domains.csv", "result.gwy", "figure.png")


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


def result_scan(result: PairResult) -> Scan:
    """The derived maps of a result as a :class:`Scan` in the +V frame (for HDF5 and .gwy).

    Returns
    -------
    Scan
        Channels ``class``, ``ionic_current`` (A), ``electronic_current`` (A),
        ``ionic_fraction`` (dimensionless), ``plus_current`` (A), ``minus_current`` (A,
        registered), ``height`` (m, leveled +V topography), ``valid`` (1 inside the overlap).
    """
    m = result.maps
    chans = [
        Channel("class", result.class_map.astype(float), "", quantity="degradation class"),
        Channel("ionic_current", m.ionic_current, "A"),
        Channel("electronic_current", m.electronic_current, "A"),
        Channel("ionic_fraction", m.ionic_fraction, ""),
        Channel("plus_current", m.plus_current, "A"),
        Channel("minus_current", m.minus_current, "A"),
        Channel("height", result.height, "m"),
        Channel("valid", m.valid.astype(float), ""),
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


def write_result(
    result: PairResult,
    outdir: str | Path,
    *,
    figures: bool = True,
    overwrite: bool = False,
    figure_format: str = "png",
    scales: Any = None,
) -> dict[str, Path]:
    """Write every output file of a pair into ``outdir`` (see the module docstring).

    Parameters
    ----------
    result : PairResult
    outdir : str or Path
    figures : bool, optional
        Render ``figure.png``.
    overwrite : bool, optional
        Replace earlier results in a non-empty ``outdir``.
    figure_format : {"png", "pdf", "svg"}, optional
        Also write every figure in this vector format (PNG is always written).
    scales : afmcurrent.plotting.FigureScales, optional
        Colour scales shared across a batch.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    OutputExistsError
        If ``outdir`` is not empty and ``overwrite`` is False.
    ConfigError
        If ``figure_format`` is not png, pdf or svg.
    """
    from .io.gwy import write_gwy

    if figure_format not in ("png", "pdf", "svg"):
        from .errors import ConfigError

        raise ConfigError(f"figure format must be png, pdf or svg, got {figure_format!r}")
    from .io.hdf5 import write_hdf5

    out = prepare_outdir(outdir, overwrite)
    written: dict[str, Path] = {}
    summary = result.summary()

    scan = result_scan(result)
    reg = result.registration.to_dict()
    attrs = {
        "registration": json.dumps(reg),
        "shift_px": np.asarray(reg["shift_px"], float),
        "drift_px_per_line": np.asarray(reg["drift_px_per_line"], float),
        "bias_plus_V": result.bias_plus,
        "bias_minus_V": result.bias_minus,
        "summary_json": json.dumps(summary),
    }
    with atomic_path(out / "result.h5") as tmp:
        write_hdf5(tmp, scan, attrs=attrs, dtypes={"class": np.uint8, "valid": np.uint8},
                   overwrite=True)
    written["result.h5"] = out / "result.h5"

    with atomic_path(out / "result.gwy") as tmp:
        write_gwy(tmp, scan, overwrite=True)
    written["result.gwy"] = out / "result.gwy"

    with atomic_path(out / "domains.csv") as tmp:
        result.domains.to_csv(tmp)
    written["domains.csv"] = out / "domains.csv"

    with atomic_path(out / "profile.csv") as tmp:
        result.profile().to_csv(tmp)
    written["profile.csv"] = out / "profile.csv"

    if figures:
        from .plotting import plot_optical_classes, plot_pair, plot_paper, plot_profile

        formats = ["png"] if figure_format == "png" else ["png", figure_format]
        plots = [("figure", plot_pair), ("figure_paper", plot_paper), ("profile", plot_profile)]
        if result.optical is not None:
            plots.append(("optical", plot_optical_classes))
        for stem, plot in plots:
            kw = {} if plot is plot_optical_classes else {"scales": scales}
            fig = plot(result, None, **kw)
            for fmt in formats:
                name = f"{stem}.{fmt}"
                with atomic_path(out / name) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=130 if stem == "figure" else 200)
                written[name] = out / name

    # summary.json last: its presence marks a complete result.
    summary["files"] = sorted(written)
    with atomic_path(out / "summary.json") as tmp:
        text = json.dumps(_finite(summary), indent=2, default=_json_default, allow_nan=False)
        tmp.write_text(text + "\n")
    written["summary.json"] = out / "summary.json"
    logger.info("wrote %s", ", ".join(str(p) for p in written.values()))
    return written


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN) throughout a nested structure."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
