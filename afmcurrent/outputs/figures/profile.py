"""Currents and height along the profile line of a pair (``profile.png``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ._panels import class_strip, plot_bounded
from .style import RC, FigureScales, current_norm, save_figure

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

    Parameters
    ----------
    result : PairResult
    path, format, dpi, scales
        As :func:`plot_paper`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    prof = result.profile()
    m = result.maps
    cur = (scales.current_log10 if scales and scales.current_log10
           else current_norm(m.plus_current, m.minus_current))
    d = prof.distance * 1e6
    x0, y0, x1, y1 = (v * 1e6 for v in prof.line)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(5.0, 4.2), layout="constrained")
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
        ax.set_ylim(10 ** (cur[0] - 0.3) * 1e12, 10 ** cur[1] * 1e12)
        ax.set_ylabel("|I| (pA)")
        ax.grid(True, which="major", alpha=0.25, lw=0.5)
        ax.legend(loc="upper right", framealpha=0.85, edgecolor="none", ncol=2)
        ax.set_title(f"profile ({x0:.2f}, {y0:.2f}) → ({x1:.2f}, {y1:.2f}) µm; strip: class; "
                     "▼ upper bound (floor)", pad=14)
        class_strip(ax, prof)
        axh.plot(d, prof.values["height"] * 1e9, color="k", lw=0.8)
        axh.set_ylabel("height (nm)")
        axh.set_xlabel("distance along line (µm)")
        axh.set_xlim(d[0], d[-1])
        axh.grid(True, alpha=0.25, lw=0.5)
    return save_figure(fig, path, format, dpi)
