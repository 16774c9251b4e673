"""The class map over the optical patch (``optical.png``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.classes import CLASS_LABELS, CLASSES
from ._panels import bare_axes
from .style import CLASS_COLORS, RC, add_scale_bar, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...pair.result import PairResult

__all__ = ["plot_optical_classes"]

logger = logging.getLogger(__name__)


def plot_optical_classes(
    result: PairResult,
    path: str | Path | None = None,
    *,
    format: str | None = None,
    dpi: int = 200,
    alpha: float = 0.45,
) -> Figure:
    """The class map over the optical patch, and the optical brightness per class.

    (a) optical patch resampled onto the scan grid, (b) classes over it (translucent),
    (c) bright and dark share of each class (the contingency table) with Cramer's V.

    Parameters
    ----------
    result : PairResult
        With an optical image.
    path, format, dpi
        As :func:`plot_paper`.
    alpha : float, optional
        Opacity of the class colours in (b).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the result has no optical image.
    """
    import matplotlib
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    opt = result.optical
    if opt is None:
        raise ValueError("plot_optical_classes: the result has no optical image")
    h_um, w_um = (s * 1e6 for s in result.plus.size)
    extent = (0.0, w_um, h_um, 0.0)
    fin = opt.patch[np.isfinite(opt.patch)]
    lo, hi = (np.percentile(fin, [0.5, 99.5]) if fin.size else (0.0, 1.0))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.0, 2.9), layout="constrained")
        axes = fig.subplots(1, 3, width_ratios=[1, 1, 0.9])
        for ax in axes[:2]:
            ax.imshow(opt.patch, extent=extent, cmap="gray", vmin=lo, vmax=hi,
                      interpolation="nearest")
            add_scale_bar(ax, w_um)
            bare_axes(ax)
        axes[0].set_title("(a) optical patch on the scan grid")
        rgba = np.zeros((*result.class_map.shape, 4))
        colors = matplotlib.colors.to_rgba_array(CLASS_COLORS)
        rgba[:] = colors[result.class_map]
        rgba[..., 3] = np.where(result.class_map > 0, alpha, 0.0)
        axes[1].imshow(rgba, extent=extent, interpolation="nearest")
        axes[1].set_title("(b) classes over the optical patch")
        axes[1].legend(handles=[Patch(color=CLASS_COLORS[k], label=CLASS_LABELS[k])
                                for k in CLASSES], loc="upper center",
                       bbox_to_anchor=(0.5, -0.02), ncol=1, frameon=False, fontsize=6.5)

        ax = axes[2]
        t = opt.contingency.astype(float)
        tot = t.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            bright = np.where(tot > 0, t[:, 1] / tot, np.nan) * 100
        ypos = np.arange(len(CLASSES))
        ax.barh(ypos, np.nan_to_num(bright), color=ListedColormap(CLASS_COLORS[1:]).colors,
                edgecolor="0.3", lw=0.4)
        ax.barh(ypos, np.where(tot > 0, 100 - np.nan_to_num(bright), 0),
                left=np.nan_to_num(bright), color="white", hatch="/////", edgecolor="0.3",
                lw=0.4)  # hatched, not a grey: a grey would match a class colour in lightness
        for i in range(len(CLASSES)):
            ax.text(101, i, f"n={int(tot[i])}", va="center", fontsize=6)
        ax.set_yticks(ypos, [CLASS_LABELS[k].split(" ", 1)[0] for k in CLASSES])
        ax.invert_yaxis()
        ax.set_xlim(0, 140)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("bright share of class (%)\n(hatched: dark share)")
        ax.set_ylabel("class")
        v = opt.cramers_v
        ax.set_title(f"(c) optical vs class, V = {v:.2f}" if np.isfinite(v)
                     else "(c) optical vs class")
        ax.text(0.02, -0.32, f"field bright fraction {opt.field_bright_fraction * 100:.1f} %",
                transform=ax.transAxes, fontsize=6.5)
    return save_figure(fig, path, format, dpi)
