"""The paper's six-panel figure of one pair (``figure_paper.png``; Jiang et al., Figs. 3-5)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.classes import N_CODES
from ._panels import bare_axes, bound_overlay, draw_line, profile_limits, profile_panel
from .style import (
    CLASS_COLORS,
    CURRENT_CMAP,
    RC,
    FigureScales,
    add_scale_bar,
    class_legend_handles,
    cmap_with_bad,
    height_limits,
    pair_current_histogram,
    save_figure,
    scale_from_histogram,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...pair.result import PairResult

__all__ = ["plot_paper"]

logger = logging.getLogger(__name__)


def plot_paper(
    result: PairResult,
    path: str | Path | None = None,
    *,
    format: str | None = None,
    dpi: int = 200,
    scales: FigureScales | None = None,
) -> Figure:
    """The paper's six-panel figure of one pair (Jiang et al., Figs. 3-5 layout).

    (a) optical image with the scan square (the class map when there is no optical image),
    (b) topography, (c) I(+V) on a log colour scale with the profile line, (d) its profile,
    (e) |I(-V)| on the same scale, (f) its profile. Scale bars in µm; the class of each point
    of the profile is shown as a strip above (d) and (f), the class legend below the panels.
    The two profiles share one current axis fitted to their values; points at the amplifier
    floor are drawn as upper bounds (open downward triangles).

    Parameters
    ----------
    result : PairResult
    path : str or Path, optional
        Where to save; not saved when None.
    format : str, optional
        ``"png"``, ``"pdf"`` or ``"svg"`` (default from the file name).
    dpi : int, optional
        Resolution of raster output and of the embedded images.
    scales : FigureScales, optional
        Shared colour scales (:func:`shared_scales`); default from this pair.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure

    m = result.maps
    h_um, w_um = (s * 1e6 for s in result.plus.size)
    extent = (0.0, w_um, h_um, 0.0)
    sc = scales or FigureScales()
    cur = sc.current_log10 or scale_from_histogram(pair_current_histogram(result))
    hlim = sc.height_nm or height_limits(result.height)
    prof = result.profile()

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.0, 9.0), layout="constrained")
        axes = fig.subplots(3, 2)
        title = result.plus.path.name if result.plus.path else "+V scan"
        fig.suptitle(f"{title}: {result.bias_plus:+g} V / {result.bias_minus:+g} V", fontsize=9)

        ax = axes[0, 0]
        opt = result.optical
        if opt is not None:
            oh, ow = opt.image.shape
            p_um = opt.placement.pixel_size * 1e6
            ax.imshow(opt.image, cmap="gray", extent=(0, ow * p_um, oh * p_um, 0),
                      interpolation="nearest")
            corners = np.vstack([opt.placement.corners(), opt.placement.corners()[:1]]) * p_um
            ax.plot(corners[:, 0], corners[:, 1], color="#ffd700", lw=1.2)
            add_scale_bar(ax, ow * p_um)
            ax.set_title(f"(a) optical; scan square (confidence "
                         f"{opt.placement.confidence:.2f})")
        else:
            ccmap = ListedColormap(CLASS_COLORS)
            ax.imshow(result.class_map, extent=extent, cmap=ccmap,
                      norm=BoundaryNorm(np.arange(-0.5, N_CODES), N_CODES), interpolation="nearest")
            add_scale_bar(ax, w_um, color="black")
            ax.set_title("(a) degradation classes (no optical image)")
        bare_axes(ax)

        ax = axes[0, 1]
        im = ax.imshow(result.height * 1e9, extent=extent, cmap="afmhot", vmin=hlim[0],
                       vmax=hlim[1], interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.9).set_label("height (nm)")
        add_scale_bar(ax, w_um)
        ax.set_title("(b) topography")
        bare_axes(ax)

        cmap = cmap_with_bad(CURRENT_CMAP)
        with np.errstate(divide="ignore", invalid="ignore"):
            maps = ((np.log10(m.plus_current), f"(c) I(+V) at {result.bias_plus:+g} V",
                     m.plus_at_floor, m.plus_at_saturation),
                    (np.log10(m.minus_current), f"(e) |I(-V)| at {result.bias_minus:+g} V",
                     m.minus_at_floor, m.minus_at_saturation))
        for ax, (data, name, floor, sat) in zip(axes[1:, 0], maps, strict=True):
            im = ax.imshow(data, extent=extent, cmap=cmap, vmin=cur[0], vmax=cur[1],
                           interpolation="nearest")
            cb = fig.colorbar(im, ax=ax, shrink=0.9)
            cb.set_label("log$_{10}$ |I| (A)")
            suffix = bound_overlay(ax, floor, sat, extent)
            draw_line(ax, prof.line)
            add_scale_bar(ax, w_um)
            ax.set_title(name + suffix)
            bare_axes(ax)
        ylim = profile_limits(*(prof.values[k] * 1e12 for k in
                                ("plus_current", "minus_current", "ionic_current")))
        profile_panel(axes[1, 1], prof, "plus_current", "I(+V)", "#b2182b", ylim)
        axes[1, 1].set_title("(d) I(+V) profile (strip: class)", pad=14)
        profile_panel(axes[2, 1], prof, "minus_current", "|I(-V)|", "#2166ac", ylim)
        axes[2, 1].set_title("(f) |I(-V)| profile (strip: class)", pad=14)
        fig.legend(handles=class_legend_handles(), loc="outside lower center", ncol=3,
                   frameon=False, title="degradation class " + ("(strips)" if opt is not None
                                                 else "(map and strips)"),
                   handlelength=1.2, columnspacing=1.2)

    return save_figure(fig, path, format, dpi)
