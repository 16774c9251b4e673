"""The figures of a batch's pairs on the set's one log current colour scale (``--figures``).

The pairs are first analysed and written without figures (:mod:`.tasks`). Then:

1. the scale pass: each pair that succeeded (analysed now or complete from an earlier run)
   gives the histogram of log10 I of its measured pixels, read from its stored ``result.h5``
   (I(+V) and registered |I(-V)|; pixels at the amplifier floor or saturated are bounds and
   left out: :func:`afmcurrent.outputs.figures.current_histogram`); the set's scale is
   :func:`afmcurrent.outputs.figures.scale_from_histogram` of their sum, the rule of a pair's
   own figures, of :func:`~afmcurrent.outputs.figures.shared_scales` and of ``currents.png``;
2. the figure pass: each pair whose figures are missing or were drawn on another scale
   (``summary.json`` ``figure_scale``) is analysed again from its inputs (the analysis is
   deterministic and a fraction of the time of drawing; its class map is checked against the
   stored one) and its figures are drawn on the set's scale. A resumed batch therefore again
   has one scale over the whole set, and a pair added to a set redraws the others only when
   it moves the scale.

The set's scale is recorded in ``OUTDIR/batch.json`` (``figure_scale``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.errors import AfmcurrentError
from ..io._common import atomic_path
from ..io.hdf5 import read_hdf5
from ..outputs.figures import FigureScales, current_histogram, scale_from_histogram
from ..outputs.summary import summary_json
from ..outputs.writers import figure_scale_record, write_figures
from .options import BatchOptions
from .pairing import PairSpec
from .tasks import analyse_spec, input_hash

__all__ = ["stored_current_histogram", "set_current_scale", "figure_task", "figure_pass",
           "record_set_scale"]

logger = logging.getLogger(__name__)

#: The figures every pair of a batch gets with ``--figures`` (and ``optical.png`` with an
#: optical image).
PAIR_FIGURES = ("figure.png", "figure_paper.png", "profile.png")


def stored_current_histogram(pair_dir: str | Path) -> np.ndarray:
    """:func:`afmcurrent.outputs.figures.current_histogram` of a written pair's measured
    I(+V) and |I(-V)| pixels (``result.h5``; bound codes other than 0 left out).

    Raises
    ------
    AfmcurrentError
        If ``result.h5`` cannot be read.
    """
    scan = read_hdf5(Path(pair_dir) / "result.h5",
                     channels=("plus_current", "minus_current", "plus_bound", "minus_bound"))
    ch = {c: scan.channel(c).data for c in ("plus_current", "minus_current", "plus_bound",
                                             "minus_bound")}
    return current_histogram(ch["plus_current"], ch["minus_current"],
                             bounds=(ch["plus_bound"], ch["minus_bound"]))


def set_current_scale(runner: Any, outdir: Path, names: list[str]
                      ) -> tuple[tuple[float, float], int]:
    """The set's log current scale from the stored results of ``names`` (on the executor).

    Returns
    -------
    scale : (float, float)
        ``(vmin, vmax)`` of log10(I / A).
    n : int
        The number of pairs it was taken from (a pair whose ``result.h5`` cannot be read is
        left out, logged).
    """
    total = np.zeros_like(current_histogram())
    n = 0
    tasks = [(str(outdir / "pairs" / name),) for name in names]
    for task, out, error in runner.map(stored_current_histogram, tasks):
        if error is None:
            total += out
            n += 1
        else:
            logger.error("%s left out of the set's current scale: %s", Path(task[0]).name,
                         error)
    return scale_from_histogram(total), n


def _figures_current(folder: Path, record: dict[str, Any], optical: bool) -> bool:
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    wanted = PAIR_FIGURES + (("optical.png",) if optical else ())
    return (isinstance(summary, dict) and summary.get("figure_scale") == record
            and all((folder / f).is_file() for f in wanted))


def figure_task(spec: PairSpec, options: BatchOptions, outdir: str,
                scale: tuple[float, float], figure_format: str = "png") -> str:
    """Draw one written pair's figures on the set's scale unless they already are.

    The pair is analysed again from its inputs (their hash must be the one its ``batch.json``
    records, and the class map the stored one); the figures are written into its folder and
    its ``summary.json`` gains them (``files``) and the scale (``figure_scale``).

    Returns
    -------
    str
        "kept" (figures present, on this scale) or "drawn".

    Raises
    ------
    AfmcurrentError
        If the stored result is not of the current inputs, or the analysis gives another class
        map than the stored one (the figures would not show the result).
    """
    folder = Path(outdir) / "pairs" / spec.name
    record = figure_scale_record(FigureScales(tuple(scale)), shared=True)
    if _figures_current(folder, record, spec.optical is not None):
        return "kept"
    stored = json.loads((folder / "batch.json").read_text())
    if stored.get("input_hash") != input_hash(spec, options):
        raise AfmcurrentError(f"{folder}: its inputs changed since it was written")
    res = analyse_spec(spec, options)
    classes = read_hdf5(folder / "result.h5", channels=("class",)).channel("class").data
    if classes.shape != res.class_map.shape or not np.array_equal(
            np.asarray(classes, np.uint8), res.class_map.astype(np.uint8)):
        raise AfmcurrentError(f"{folder}: analysed again, the class map differs from the "
                              "stored result.h5; figures not drawn")
    files, used = write_figures(res, folder, figure_format=figure_format,
                                scales=FigureScales(tuple(scale)))
    summary = json.loads((folder / "summary.json").read_text())
    summary["figure_scale"] = figure_scale_record(used, shared=True)
    summary["files"] = sorted({*summary.get("files", []), *files})
    with atomic_path(folder / "summary.json") as tmp:
        tmp.write_text(summary_json(summary))
    return "drawn"


def figure_pass(runner: Any, specs: list[PairSpec], rows: dict[str, dict[str, Any]],
                outdir: Path, options: BatchOptions, progress: bool
                ) -> tuple[tuple[float, float], int] | None:
    """The scale pass and the figure pass over the pairs that succeeded (module docstring).

    Returns
    -------
    scale, n : (float, float), int; or None
        The set's scale, log10(I / A), and the number of pairs it was taken from; None when
        no pair succeeded. A pair whose figures
        cannot be drawn is logged as an error and keeps its result (the figures are not part
        of its row).
    """
    ok = [s for s in specs if rows[s.name]["status"] in ("ok", "skipped")]
    if not ok:
        return None
    scale, n = set_current_scale(runner, outdir, [s.name for s in ok])
    logger.info("the set's current scale: log10 I = %g..%g (from %d pairs)", *scale, n)
    tasks = [(s, options, str(outdir), scale) for s in ok]
    bar = tqdm(total=len(tasks), unit="pair", desc="figures", disable=not progress)
    drawn = 0
    for task, out, error in runner.map(figure_task, tasks):
        if error is None:
            drawn += out == "drawn"
        else:
            logger.error("figures of %s not drawn: %s", task[0].name, error)
        bar.update(1)
    bar.close()
    logger.info("figures: %d pairs drawn, %d already on the set's scale", drawn,
                len(tasks) - drawn)
    return scale, n


def record_set_scale(outdir: Path, scale: tuple[float, float] | None, n_pairs: int) -> None:
    """Write the set's figure scale into ``OUTDIR/batch.json`` (``figure_scale``; removed when
    None, e.g. a run without ``--figures``)."""
    marker = outdir / "batch.json"
    try:
        stored = json.loads(marker.read_text())
    except (OSError, ValueError):
        return
    if scale is None:
        stored.pop("figure_scale", None)
    else:
        stored["figure_scale"] = {
            "current_log10": [float(scale[0]), float(scale[1])], "pairs": n_pairs,
            "rule": "0.5th to 99.5th percentile of log10 I of the measured pixels of every "
                    "pair's I(+V) and |I(-V)| (floor and saturation left out), at least one "
                    "decade, rounded outwards to half decades"}
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps(stored, indent=1, default=str) + "\n")
