"""Currents and height along the profile line of a pair (``profile.png``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ._panels import class_strip, plot_bounded, profile_limits
from .style import RC, FigureScales, class_legend_handles, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...pair.result import PairResult

__all__ = ["plot_profile"]

logger = logging.getLogger(__name__)


def plot_profile(
    result: PairResult,
    path: str | Path | None = None,
    *,
    format: str | None = None,
    dpi: int = 200,
    scales: FigureScales | None = None,
) -> Figure:
    """Currents and height along the profile line of a pair.

    The current axis is fitted to the plotted values; points at the amplifier floor are
    drawn as upper bounds (open downward triangles), at saturation as lower bounds (open
    upward ones); the class of each point is the strip above, its legend below the figure.

    Parameters
    ----------
    result : PairResult
    path, format, dpi, scales
        As :func:`plot_paper` (``scales`` is accepted for a uniform call; the axes are
        fitted to this profile's values).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    prof = result.profile()
    d = prof.distance * 1e6
    x0, y0, x1, y1 = (v * 1e6 for v in prof.line)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(5.0, 5.3), layout="constrained")
        ax, axh = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
        for key, label, color, ls in (
            ("plus_current", "I(+V)", "#b2182b", "-"),
            ("minus_current", "|I(-V)|", "#2166ac", "-"),
            ("ionic_current", "ionic", "0.35", ":"),
            ("electronic_current", "electronic", "0.55", "--"),
        ):
            bkey = {"plus_current": "plus_bound", "minus_current": "minus_bound",
                    "electronic_current": "minus_bound"}.get(key)
            plot_bounded(ax, d, prof.values[key] * 1e12,
                          prof.values.get(bkey) if bkey else None, color=color, lw=0.9, ls=ls,
                          label=label)
        ax.set_ylim(*profile_limits(*(prof.values[k] * 1e12 for k in (
            "plus_current", "minus_current", "ionic_current", "electronic_current"))))
        ax.set_ylabel("|I| (pA)")
        ax.grid(True, which="major", alpha=0.25, lw=0.5)
        ax.set_title(f"profile ({x0:.2f}, {y0:.2f}) → ({x1:.2f}, {y1:.2f}) µm "
                     "(strip: class)", pad=14)
        class_strip(ax, prof)
        axh.plot(d, prof.values["height"] * 1e9, color="k", lw=0.8)
        axh.set_ylabel("height (nm)")
        axh.set_xlabel("distance along line (µm)")
        axh.set_xlim(d[0], d[-1])
        axh.grid(True, alpha=0.25, lw=0.5)
        # below the panels, not over the data: the currents, then the classes of the strip
        handles = ax.get_legend_handles_labels()[0] + class_legend_handles()
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False,
                   fontsize=6.5, handlelength=1.8, columnspacing=1.0)
    return save_figure(fig, path, format, dpi)
