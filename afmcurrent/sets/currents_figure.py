"""The current maps of every pair of a set on one log colour scale (``currents.png``).

This figure puts the I(+V) and |I(-V)| maps of all pairs side by side on the set's scale, so
that maps of different pairs can be compared by colour; a batch's per-pair figures are drawn on
the same scale (:mod:`.figure_pass`). It is drawn from the stored ``result.h5`` of each pair,
so a rerun that skips complete pairs draws it over the whole set again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import AfmcurrentError
from ..io._common import atomic_path
from ..io.hdf5 import read_hdf5
from ..outputs.figures.style import (
    BOUND_COLOR_NAMES,
    CURRENT_CMAP,
    FLOOR_COLOR,
    RC,
    SATURATION_COLOR,
    cmap_with_bad,
    current_histogram,
    scale_from_histogram,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MAX_PAIRS", "set_current_maps", "currents_figure", "write_currents_figure"]

logger = logging.getLogger(__name__)

#: At most this many pairs are drawn (in the order of the rows); the caption says when more.
MAX_PAIRS = 48
_CHANNELS = ("plus_current", "minus_current", "plus_bound", "minus_bound")


def set_current_maps(outdir: Path, rows: Sequence[dict[str, Any]], keep: int = MAX_PAIRS
                     ) -> tuple[list[tuple[str, dict[str, np.ndarray], tuple[float, float]]],
                                np.ndarray, int]:
    """The stored current maps of the pairs that succeeded (``ok`` or ``skipped``).

    Parameters
    ----------
    outdir : Path
        The batch folder.
    rows : sequence of dict
        The batch's rows (``name``, ``status``).
    keep : int, optional
        Keep the maps of at most this many pairs (the ones drawn); the others contribute to
        the scale only.

    Returns
    -------
    pairs : list of (name, maps, size)
        ``maps``: ``plus_current``, ``minus_current`` (A) and the bound codes (0 value, 1 at
        the floor, 2 saturated); ``size``: (height, width) of the frame, m.
    histogram : ndarray of int64
        :func:`afmcurrent.outputs.figures.current_histogram` of the measured (not bound)
        pixels of both maps of every pair read: what the set's scale is taken from, in
        bounded memory however large the set.
    n_read : int
        The number of pairs read.

    A pair whose ``result.h5`` cannot be read is left out (logged).
    """
    pairs, histogram, n_read = [], current_histogram(), 0
    for r in rows:
        if r.get("status") not in ("ok", "skipped"):
            continue
        path = Path(outdir) / "pairs" / r["name"] / "result.h5"
        try:
            scan = read_hdf5(path, channels=_CHANNELS)
        except (AfmcurrentError, OSError, KeyError) as exc:
            logger.warning("currents.png: %s left out: %s", r["name"], exc)
            continue
        maps = {ch: np.asarray(scan.channel(ch).data, float) for ch in _CHANNELS}
        histogram += current_histogram(maps["plus_current"], maps["minus_current"],
                                       bounds=(maps["plus_bound"], maps["minus_bound"]))
        n_read += 1
        if len(pairs) < keep:
            pairs.append((r["name"], maps, tuple(scan.size)))
    return pairs, histogram, n_read


def currents_figure(pairs: Sequence[tuple[str, dict[str, np.ndarray], tuple[float, float]]],
                    n_total: int | None = None, histogram: np.ndarray | None = None,
                    scale: tuple[float, float] | None = None
                    ) -> tuple[Figure, tuple[float, float]]:
    """I(+V) and |I(-V)| of each pair on one log scale shared by the set.

    Parameters
    ----------
    pairs : sequence of (name, maps, size)
        From :func:`set_current_maps`; at most :data:`MAX_PAIRS` are drawn.
    n_total : int, optional
        Number of pairs of the set (for the note when not all are drawn).
    histogram : ndarray, optional
        The histogram of the measured currents of every pair of the set
        (:func:`set_current_maps`); default: that of ``pairs``.
    scale : (float, float), optional
        The scale to draw on (a batch's set scale, :mod:`.figure_pass`); default from
        ``histogram``.

    Returns
    -------
    fig : matplotlib.figure.Figure
    scale : (float, float)
        The shared limits, log10(I / A): :func:`afmcurrent.outputs.figures.scale_from_histogram`
        over every map of the set (0.5th to 99.5th percentile of the measured pixels; pixels at
        the floor or saturation are bounds and drawn in their own colours, not on the scale).
    """
    import matplotlib
    from matplotlib.colors import Normalize, to_rgba
    from matplotlib.figure import Figure

    pairs = list(pairs)
    shown = pairs[:MAX_PAIRS]
    if scale is None:
        if histogram is None:
            histogram = sum((current_histogram(m["plus_current"], m["minus_current"],
                                               bounds=(m["plus_bound"], m["minus_bound"]))
                             for _, m, _ in pairs), current_histogram())
        scale = scale_from_histogram(histogram)
    scale = (float(scale[0]), float(scale[1]))
    per_row = 2
    n_rows = max(1, math.ceil(len(shown) / per_row))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.0, 0.7 + 1.75 * n_rows), layout="constrained")
        if not shown:
            ax = fig.subplots()
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no pair succeeded: no current maps to show", ha="center",
                    va="center", transform=ax.transAxes)
            return fig, scale
        axes = np.atleast_2d(fig.subplots(n_rows, 2 * per_row))
        cmap = cmap_with_bad(CURRENT_CMAP)
        norm = Normalize(*scale)
        im = None
        for k, ax in enumerate(axes.ravel()):
            ax.set_xticks([])
            ax.set_yticks([])
            i, j = divmod(k, 2)
            if i >= len(shown):
                ax.set_axis_off()
                continue
            name, m, size = shown[i]
            key, bkey = (("plus_current", "plus_bound"), ("minus_current", "minus_bound"))[j]
            h_um, w_um = (s * 1e6 for s in size)
            extent = (0.0, w_um, h_um, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                data = np.log10(m[key])
            im = ax.imshow(data, cmap=cmap, norm=norm, extent=extent, interpolation="nearest")
            code = np.nan_to_num(m[bkey]).astype(int)
            if (code > 0).any():
                rgba = np.zeros((*code.shape, 4))
                rgba[code == 1] = to_rgba(FLOOR_COLOR)
                rgba[code == 2] = to_rgba(SATURATION_COLOR)
                ax.imshow(rgba, extent=extent, interpolation="nearest")
            short = name if len(name) <= 26 else name[:12] + "…" + name[-12:]
            ax.set_title(f"{short}\n{'I(+V)' if j == 0 else '|I(-V)|'}, {w_um:.3g} µm",
                         fontsize=6)
        cb = fig.colorbar(im, ax=axes, shrink=0.9, aspect=12 * n_rows)
        cb.set_label("log$_{10}$ |I| (A)")
        note = (f"; the first {len(shown)} of {n_total or len(pairs)} pairs"
                if (n_total or len(pairs)) > len(shown) else "")
        fig.suptitle(f"current maps of the set on one log scale "
                     f"({BOUND_COLOR_NAMES[FLOOR_COLOR]}: at the floor, upper bound; "
                     f"{BOUND_COLOR_NAMES[SATURATION_COLOR]}: saturated){note}", fontsize=7.5)
    return fig, scale


def write_currents_figure(path: Path, outdir: Path, rows: Sequence[dict[str, Any]],
                          scale: tuple[float, float] | None = None
                          ) -> tuple[Path, tuple[float, float]]:
    """Draw :func:`currents_figure` of the set's stored results and write it (PNG).

    ``scale``: the set's scale when already known (a batch's figure pass); default taken
    from the stored results.

    Returns
    -------
    path : Path
    scale : (float, float)
        The set's shared limits, log10(I / A).
    """
    pairs, histogram, n_read = set_current_maps(outdir, rows)
    fig, scale = currents_figure(pairs, n_total=n_read, histogram=histogram, scale=scale)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    return Path(path), scale
