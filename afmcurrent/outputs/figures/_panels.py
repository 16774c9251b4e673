"""Drawing pieces shared by the figures: bound overlays, bounded profiles, class strips."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ...core.classes import N_CODES
from .style import BOUND_COLOR_NAMES, CLASS_COLORS, FLOOR_COLOR, SATURATION_COLOR

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ...pair.correlate import Profile

__all__ = [
    "bound_overlay",
    "plot_bounded",
    "pa_text",
    "bare_axes",
    "class_strip",
    "profile_panel",
    "profile_limits",
    "draw_line",
]

logger = logging.getLogger(__name__)


def bound_overlay(ax: Axes, floor: np.ndarray | None, sat: np.ndarray | None,
                   extent: tuple[float, float, float, float]) -> str:
    """Draw floor-limited and saturated pixels in their own colours; return a title suffix."""
    from matplotlib.colors import to_rgba

    parts = []
    rgba = None
    for mask, color, what in ((floor, FLOOR_COLOR, "at the floor, upper bound"),
                              (sat, SATURATION_COLOR, "saturated, lower bound")):
        if mask is None or not mask.any():
            continue
        if rgba is None:
            rgba = np.zeros((*mask.shape, 4))
        rgba[mask] = to_rgba(color)
        parts.append(f"{BOUND_COLOR_NAMES[color]}: {what}")
    if rgba is not None:
        ax.imshow(rgba, extent=extent, interpolation="nearest")
    return f"\n({'; '.join(parts)})" if parts else ""


def plot_bounded(ax: Axes, x: np.ndarray, y: np.ndarray, bound: np.ndarray | None,
                  **kw: object) -> None:
    """A current profile on a log axis: measurements as a line, bounds as open markers.

    An upper bound (amplifier floor) is an open downward triangle, a lower bound (saturation)
    an open upward one, at the bound's value: the true current lies below (above) it. The
    line is broken where the points are bounds (it joins measurements only).
    """
    if bound is None or not np.any(bound > 0):
        ax.semilogy(x, y, **kw)
        return
    b = np.nan_to_num(bound).astype(int)
    ax.semilogy(x, np.where(b == 0, y, np.nan), **kw)
    color = kw.get("color")
    label = kw.get("label")
    for code, marker, what in ((1, "v", "upper bound (floor)"), (2, "^", "lower bound (sat.)")):
        sel = b == code
        if sel.any():
            ax.semilogy(x[sel], y[sel], ls="none", marker=marker, ms=3.2, mfc="none",
                        mew=0.7, color=color,
                        label=f"{label}: {what}" if label else what)


def profile_limits(*values: np.ndarray, pad: float = 0.25) -> tuple[float, float]:
    """Limits of a log current axis fitted to the plotted values (bounds included).

    Parameters
    ----------
    *values : ndarray of float
        The plotted currents (any unit); non-positive and non-finite values are ignored.
    pad : float, optional
        Room beyond the extreme values, decades.

    Returns
    -------
    (float, float)
        ``(lo, hi)`` in the values' unit: the extremes widened by ``pad`` and rounded out to
        half decades, at least one decade apart; (1e-3, 1e3) when nothing is positive.
    """
    v = np.concatenate([np.ravel(np.asarray(a, float)) for a in values]) if values else []
    v = np.log10(v[np.isfinite(v) & (v > 0)]) if len(v) else np.zeros(0)
    if v.size == 0:
        return (1e-3, 1e3)
    lo = np.floor((v.min() - pad) * 2) / 2
    hi = np.ceil((v.max() + pad) * 2) / 2
    if hi - lo < 1:
        lo, hi = lo - 0.5, hi + 0.5
    return (float(10**lo), float(10**hi))


def pa_text(v: float | None, bound: str | None = None) -> str:
    """A current in pA as text; ``bound`` "upper" / "lower" prefixes "<" / ">"."""
    prefix = {"upper": "< ", "lower": "> "}.get(bound or "", "")
    return "n/a" if v is None else f"{prefix}{v * 1e12:.3g} pA"


def bare_axes(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def class_strip(ax: Axes, prof: Profile) -> None:
    from matplotlib.colors import BoundaryNorm, ListedColormap

    strip = ax.inset_axes([0.0, 1.01, 1.0, 0.05])
    cls = np.nan_to_num(prof.values["class"]).astype(int)[None, :]
    d = prof.distance * 1e6
    cmap = ListedColormap(CLASS_COLORS)
    strip.imshow(cls, aspect="auto", cmap=cmap,
                 norm=BoundaryNorm(np.arange(-0.5, N_CODES), N_CODES),
                 extent=(d[0], d[-1], 0, 1), interpolation="nearest")
    strip.set_xlim(d[0], d[-1])
    strip.set_axis_off()


def profile_panel(ax: Axes, prof: Profile, key: str, label: str, color: str,
                   ylim: tuple[float, float]) -> None:
    """One current profile (pA) with its bounds, the ionic current under I(+V), and the class
    strip above; ``ylim`` in pA (:func:`profile_limits`, shared by the profiles of a pair)."""
    d = prof.distance * 1e6
    bkey = "plus_bound" if key == "plus_current" else "minus_bound"
    plot_bounded(ax, d, prof.values[key] * 1e12, prof.values.get(bkey), color=color, lw=0.9,
                  label=label)
    if key == "plus_current":
        ax.semilogy(d, prof.values["ionic_current"] * 1e12, color="0.35", lw=0.7, ls=":",
                    label="ionic")
    ax.set_ylim(*ylim)
    ax.set_xlim(d[0], d[-1])
    ax.set_xlabel("distance along line (µm)")
    ax.set_ylabel("|I| (pA)")
    ax.grid(True, which="major", alpha=0.25, lw=0.5)
    ax.legend(loc="best", framealpha=0.85, edgecolor="none")
    class_strip(ax, prof)


def draw_line(ax: Axes, line: tuple[float, float, float, float], color: str = "cyan") -> None:
    x0, y0, x1, y1 = (v * 1e6 for v in line)
    ax.plot([x0, x1], [y0, y1], color=color, lw=1.0, ls="--")
    ax.plot([x0], [y0], marker="o", ms=2.5, color=color)
