"""The repeat scan's figure (``repeat.png``): what the measurement changed between two scans of
one polarity of the same area."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .style import RC, add_scale_bar, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...pair.repeat import RepeatComparison

__all__ = ["plot_repeat", "CHANGE_COLORS"]

logger = logging.getLogger(__name__)

#: Colours of the change categories: not compared, within the noise, rose, fell (distinct in
#: lightness, so they read in grayscale too), and the outline of a class change.
CHANGE_COLORS = ("#bdbdbd", "#f7f7f7", "#b35806", "#542788")
CLASS_CHANGE_COLOR = "#000000"


def plot_repeat(comparison: RepeatComparison, size_m: tuple[float, float],
                path: str | Path | None = None, *, format: str | None = None,
                dpi: int = 200) -> Figure:
    """The change of log current between two scans of one polarity, and where it matters.

    (a) ``log10 I(later) - log10 I(earlier)`` on a diverging scale symmetric about 0
    (purple-orange, readable by colour-blind readers; the sign by hue, the size by the
    distance from white); (b) the pixels whose current rose or fell beyond the noise, with
    the pixels whose class would change in black; (c) the distribution of the change with the
    median noise margin; the numbers in the title.

    Parameters
    ----------
    comparison : RepeatComparison
        With ``compared`` True (else the figure says why there are no numbers).
    size_m : (float, float)
        ``(height, width)`` of the reference frame, m.
    path, format, dpi
        As :func:`afmcurrent.outputs.figures.plot_paper`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    c = comparison
    h_um, w_um = (s * 1e6 for s in size_m)
    extent = (0.0, w_um, h_um, 0.0)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.4, 3.4), layout="constrained")
        if not c.compared:
            ax = fig.subplots()
            ax.set_axis_off()
            ax.text(0.5, 0.5, "repeat scan not compared:\n" + _wrap(c.reason, 70),
                    ha="center", va="center", fontsize=8, transform=ax.transAxes)
            return save_figure(fig, path, format, dpi)
        axes = fig.subplots(1, 3, width_ratios=[1, 1, 0.9])
        change = np.asarray(c.change, float)
        fin = change[np.isfinite(change)]
        lim = float(np.clip(np.percentile(np.abs(fin), 99.5) if fin.size else 0.5, 0.2, 4.0))
        cmap = matplotlib.colormaps["PuOr_r"].with_extremes(bad=CHANGE_COLORS[0])
        im = axes[0].imshow(change, extent=extent, cmap=cmap, vmin=-lim, vmax=lim,
                            interpolation="nearest")
        fig.colorbar(im, ax=axes[0], shrink=0.8).set_label("Δ log$_{10}$ I (decades)")
        axes[0].set_title(f"(a) change {c.polarity}, later − earlier")

        cat = np.zeros(change.shape, np.uint8)
        cat[np.isfinite(change)] = 1
        cat[c.significant & (change > 0)] = 2
        cat[c.significant & (change < 0)] = 3
        ccmap = ListedColormap(CHANGE_COLORS)
        axes[1].imshow(cat, extent=extent, cmap=ccmap, norm=BoundaryNorm(np.arange(-0.5, 4), 4),
                       interpolation="nearest")
        if c.class_changed.any():
            rgba = np.zeros((*cat.shape, 4))
            rgba[c.class_changed] = (0, 0, 0, 1)
            axes[1].imshow(rgba, extent=extent, interpolation="nearest")
        handles = [Patch(facecolor=CHANGE_COLORS[k], edgecolor="0.5", lw=0.4, label=t)
                   for k, t in ((2, "rose beyond noise"), (3, "fell beyond noise"),
                                (1, "within noise"), (0, "not compared"))]
        handles.append(Patch(facecolor=CLASS_CHANGE_COLOR, label="class changes"))
        axes[1].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02),
                       ncol=2, frameon=False, fontsize=6.5, handlelength=1.2)
        axes[1].set_title("(b) where it changed")
        for ax in axes[:2]:
            ax.set_xticks([])
            ax.set_yticks([])
            add_scale_bar(ax, w_um, color="black")

        ax = axes[2]
        if fin.size:
            ax.hist(fin, bins=np.linspace(-lim, lim, 61), color="0.35")
            ax.set_yscale("log")
            ax.axvline(0, color="k", lw=0.6)
        ax.set_xlim(-lim, lim)
        ax.set_xlabel("Δ log$_{10}$ I (decades)")
        ax.set_ylabel("pixels")
        ax.set_title("(c) distribution")

        def share(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.1f} %"

        fig.suptitle(
            f"repeat scan: {share(c.changed_fraction)} of the pixels changed beyond the noise, "
            f"{share(c.class_change_fraction)} would change class"
            + ("  —  WARNING" if c.warning else ""), fontsize=8.5)
    return save_figure(fig, path, format, dpi)


def _wrap(text: str, width: int) -> str:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(out + [line])
