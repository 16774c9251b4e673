"""The overview figure of one pair (``figure.png``).

Panels: (a) leveled topography, (b) I(+V) and (c) registered I(-V) on one shared logarithmic
colour scale with the profile line marked, (d) current profiles along that line, (e) ionic
fraction, (f) degradation classes with legend, (g) 2-D histogram of log I(+V) against log I(-V)
with the decision boundaries of the classification, (h) area fractions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.classes import CLASS_LABELS, CLASSES, N_CODES
from ._panels import bound_overlay, pa_text, plot_bounded, profile_limits
from .style import (
    CLASS_COLORS,
    CURRENT_CMAP,
    FRACTION_CMAP,
    FigureScales,
    class_legend_handles,
    cmap_with_bad,
    pair_current_histogram,
    save_figure,
    scale_from_histogram,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...pair.result import PairResult

__all__ = ["plot_pair"]

logger = logging.getLogger(__name__)


def plot_pair(result: PairResult, path: str | Path | None = None, *, format: str | None = None,
              dpi: int = 130, profile_row: int | None = None,
              scales: FigureScales | None = None) -> Figure:
    """Render the figure of one analysed pair.

    Parameters
    ----------
    result : PairResult
    path : str or Path, optional
        Where to save the figure; not saved when None.
    format : str, optional
        Matplotlib format (``"png"``, ``"pdf"``, ``"svg"``); default from the file name.
    dpi : int, optional
        Resolution of raster output.
    profile_row : int, optional
        Row of the +V frame for the line profiles (default: the middle row).
    scales : FigureScales, optional
        Colour scales shared across a batch (:func:`shared_scales`); default from this pair.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure

    m = result.maps
    rows, cols = result.class_map.shape
    h_um, w_um = (s * 1e6 for s in result.plus.size)
    extent = (0.0, w_um, h_um, 0.0)
    row = rows // 2 if profile_row is None else int(profile_row)
    y_line = (row + 0.5) * h_um / rows

    fig = Figure(figsize=(17, 8.2), layout="constrained")
    axes = fig.subplots(2, 4)
    title = result.plus.path.name if result.plus.path else "+V scan"
    fig.suptitle(
        f"{title}   +V = {result.bias_plus:+g} V, -V = {result.bias_minus:+g} V   "
        f"shift (dy, dx) = ({result.registration.shift[0]:.2f}, "
        f"{result.registration.shift[1]:.2f}) px, confidence {result.registration.confidence:.2f}",
        fontsize=11,
    )

    def image(ax, data, label, **kw):  # noqa: ANN001
        im = ax.imshow(data, extent=extent, interpolation="nearest", **kw)
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        cb.set_label(label)
        return im

    ax = axes[0, 0]
    hgt = result.height * 1e9
    if scales is not None and scales.height_nm is not None:
        lo, hi = scales.height_nm
    else:
        lo, hi = np.nanpercentile(hgt, [0.5, 99.5]) if np.isfinite(hgt).any() else (0, 1)
    image(ax, hgt, "height (nm)", cmap="afmhot", vmin=lo, vmax=hi)
    ax.set_title("(a) topography (leveled)")

    if scales is not None and scales.current_log10 is not None:
        vmin, vmax = scales.current_log10
    else:
        vmin, vmax = scale_from_histogram(pair_current_histogram(result))
    cmap = cmap_with_bad(CURRENT_CMAP)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log10(m.plus_current)
        lm = np.log10(m.minus_current)
    panels = ((axes[0, 1], lp, "(b) I(+V)", m.plus_at_floor, m.plus_at_saturation),
              (axes[0, 2], lm, "(c) I(-V), registered", m.minus_at_floor,
               m.minus_at_saturation))
    for ax, data, name, floor, sat in panels:
        image(ax, data, "log$_{10}$ |I| (A)", cmap=cmap, vmin=vmin, vmax=vmax)
        suffix = bound_overlay(ax, floor, sat, extent)
        ax.axhline(y_line, color="cyan", lw=0.8, ls="--")
        ax.set_title(name + suffix, fontsize=9 if suffix else None)

    ax = axes[0, 3]
    x = (np.arange(cols) + 0.5) * w_um / cols

    def row_bound(floor: np.ndarray | None, sat: np.ndarray | None) -> np.ndarray | None:
        if floor is None:
            return None
        b = floor[row].astype(int)
        if sat is not None:
            b[sat[row]] = 2
        return b

    plot_bounded(ax, x, m.plus_current[row] * 1e12, row_bound(m.plus_at_floor,
                  m.plus_at_saturation), label=f"I(+V) at {result.bias_plus:+g} V", lw=1,
                  color="#b2182b")
    plot_bounded(ax, x, m.minus_current[row] * 1e12, row_bound(m.minus_at_floor,
                  m.minus_at_saturation), label=f"|I(-V)| at {result.bias_minus:+g} V", lw=1,
                  color="#2166ac")
    ax.semilogy(x, m.ionic_current[row] * 1e12, label="ionic", lw=1, ls=":", color="0.35")
    ax.set_ylim(*profile_limits(*(a[row] * 1e12 for a in (m.plus_current, m.minus_current,
                                                          m.ionic_current))))
    ax.set_xlim(0, w_um)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("|I| (pA)")
    ax.set_title(f"(d) profiles along y = {y_line:.2f} µm\n(▽ upper bound: amplifier floor)",
                 fontsize=9)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1,
              frameon=False)
    ax.grid(True, which="major", alpha=0.3)

    ax = axes[1, 0]
    image(ax, m.ionic_fraction, "I$_{ion}$ / I(+V)", cmap=cmap_with_bad(FRACTION_CMAP),
          vmin=0, vmax=1)
    ax.set_title("(e) ionic fraction\n(white: not resolved)", fontsize=9)

    ax = axes[1, 1]
    ccmap = ListedColormap(CLASS_COLORS)
    ax.imshow(result.class_map, extent=extent, cmap=ccmap,
              norm=BoundaryNorm(np.arange(-0.5, N_CODES), ccmap.N), interpolation="nearest")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title("(f) degradation classes")
    ax.legend(handles=class_legend_handles(), fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)

    _histogram(axes[1, 2], fig, result)
    _fractions(axes[1, 3], result)

    return save_figure(fig, path, format, dpi)


def _histogram(ax, fig, result: PairResult) -> None:  # noqa: ANN001
    m = result.maps
    ok = m.valid
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.log10(m.minus_current[ok])
        ly = np.log10(m.plus_current[ok])
    fin = np.isfinite(lx) & np.isfinite(ly)
    lx, ly = lx[fin], ly[fin]
    if lx.size:
        lo = float(np.floor(min(lx.min(), ly.min()))) - 0.5
        hi = float(np.ceil(max(lx.max(), ly.max()))) + 0.5
        h = ax.hist2d(lx, ly, bins=120, range=[[lo, hi], [lo, hi]], cmap="Greys", cmin=1,
                      norm="log")
        fig.colorbar(h[3], ax=ax, shrink=0.85).set_label("pixels")
    else:
        lo, hi = -16.0, -9.0
    t = result.thresholds
    shift = np.log10(m.bias_ratio)  # log I_e = log |I(-V)| + shift
    xs = np.array([lo, hi])
    # Ionic-dominated above this line: log I+ - log I_e = -log10(1 - f_min).
    ax.plot(xs, xs + shift + t.log_ratio_min, "g--", lw=1,
            label=f"I$_{{ion}}$/I = {t.ionic_fraction_min:g}")
    ax.plot(xs, xs + shift, color="0.4", lw=0.8, ls=":", label="I(+V) = I$_e$(+V)")
    ax.axhline(np.log10(t.ionic_current_min), color="tab:blue", lw=1, ls="--",
               label=f"I$_{{ion}}$ = {t.ionic_current_min * 1e12:g} pA")
    ax.axvline(np.log10(t.shunt_current_min) - shift, color="tab:red", lw=1, ls="--",
               label=f"I$_e$ = {t.shunt_current_min * 1e12:g} pA")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("log$_{10}$ |I(-V)| (A)")
    ax.set_ylabel("log$_{10}$ I(+V) (A)")
    ax.set_title("(g) pixels and decision boundaries")
    ax.legend(fontsize=7, loc="lower right")


def _fractions(ax, result: PairResult) -> None:  # noqa: ANN001
    fr = result.fractions
    names = list(fr)
    vals = [0.0 if not np.isfinite(v) else v * 100 for v in fr.values()]
    ax.barh(range(len(CLASSES)), vals, color=[CLASS_COLORS[k] for k in CLASSES])
    ax.set_yticks(range(len(CLASSES)), [CLASS_LABELS[k] for k in CLASSES], fontsize=8)
    ax.invert_yaxis()
    for i, v in enumerate(vals):
        ax.text(v + 1, i, f"{v:.1f} %", va="center", fontsize=8)
    ax.set_xlim(0, 115)
    ax.set_xlabel("area fraction of classified pixels (%)")
    med = result.median_currents()
    bounds = result.median_current_bounds()
    txt = (
        f"classified: {result.classified_fraction * 100:.1f} % of frame\n"
        f"domains: {len(result.domains)}\n"
        f"median I(+V): {pa_text(med['plus_current'], bounds.get('plus_current'))}\n"
        f"median |I(-V)|: {pa_text(med['minus_current'], bounds.get('minus_current'))}\n"
        f"median I$_{{ion}}$: {pa_text(med['ionic_current'], bounds.get('ionic_current'))}"
    )
    ax.text(0.98, 0.02, txt, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "0.7"})
    ax.set_title("(h) area fractions")
    del names
