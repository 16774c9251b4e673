"""Writing a pair's results: the output contract other tools read (docs/outputs.md).

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
    The same maps as Gwyddion channels, every field finite: pixels without a value are filled
    with the median of the channel's values and marked by the channel's mask (``/N/mask``);
    the current maps also as log10 channels.
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

from ..core.errors import OutputExistsError
from ..core.model import Channel, Scan
from ..io._common import atomic_path

if TYPE_CHECKING:
    from ..pair.pipeline import PairResult

__all__ = ["write_result", "result_scan", "gwy_channels", "prepare_outdir", "atomic_path"]

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
        Channel("plus_bound", _bound_code(m.plus_at_floor, m.plus_at_saturation), "",
                quantity="I(+V) bound: 0 value, 1 upper bound (floor), 2 lower bound"),
        Channel("minus_bound", _bound_code(m.minus_at_floor, m.minus_at_saturation), "",
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


def _bound_code(floor: np.ndarray | None, sat: np.ndarray | None) -> np.ndarray:
    """0 for a measurement, 1 at the floor (upper bound), 2 at saturation (lower bound)."""
    shape = (floor if floor is not None else sat).shape  # type: ignore[union-attr]
    out = _as_float(floor, shape)
    if sat is not None:
        out[sat] = 2.0
    return out


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
    from ..io.gwy import write_gwy

    if figure_format not in ("png", "pdf", "svg"):
        from ..core.errors import ConfigError

        raise ConfigError(f"figure format must be png, pdf or svg, got {figure_format!r}")
    from ..io.hdf5 import write_hdf5

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
        write_hdf5(tmp, scan, attrs=attrs,
                   dtypes={k: np.uint8 for k in ("class", "valid", "plus_bound", "minus_bound",
                                                  "lagging")},
                   overwrite=True)
        _write_row_displacement(tmp, result.registration)
    written["result.h5"] = out / "result.h5"

    with atomic_path(out / "result.gwy") as tmp:
        gwy_scan, gwy_masks = gwy_channels(scan)
        write_gwy(tmp, gwy_scan, overwrite=True, masks=gwy_masks)
        del gwy_scan, gwy_masks
    written["result.gwy"] = out / "result.gwy"

    with atomic_path(out / "domains.csv") as tmp:
        result.domains.to_csv(tmp)
    written["domains.csv"] = out / "domains.csv"

    with atomic_path(out / "profile.csv") as tmp:
        result.profile().to_csv(tmp)
    written["profile.csv"] = out / "profile.csv"

    if figures:
        from .figures import plot_optical_classes, plot_pair, plot_paper, plot_profile

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


def _write_row_displacement(path: Path, registration: Any) -> None:
    """Add ``/registration/row_displacement`` (rows x 2, [dy, dx] px per +V row) to result.h5."""
    import h5py

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
