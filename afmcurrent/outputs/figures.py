"""Figures of a pair in the layout of Jiang et al. (NREL), extended by the derived maps.

:func:`plot_paper` draws the paper's six panels; :func:`plot_optical_classes` the class map over
the optical patch; :func:`plot_profile` the line profile; :func:`plot_pair` the overview below.
Colour scales can be shared across a batch with :class:`FigureScales` (:func:`shared_scales`).

Panels: (a) leveled topography, (b) I(+V) and (c) registered I(-V) on one shared logarithmic
colour scale with the profile line marked, (d) current profiles along that line, (e) ionic
fraction, (f) degradation classes with legend, (g) 2-D histogram of log I(+V) against log I(-V)
with the decision boundaries of the classification, (h) area fractions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..pair.domains import CLASS_LABELS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..pair.correlate import Profile
    from ..pair.pipeline import PairResult

__all__ = [
    "plot_pair",
    "plot_paper",
    "plot_optical_classes",
    "plot_profile",
    "FigureScales",
    "shared_scales",
    "add_scale_bar",
    "CLASS_COLORS",
    "FLOOR_COLOR",
    "SATURATION_COLOR",
    "current_norm",
]

logger = logging.getLogger(__name__)

#: Colours of the class codes 0-4 (colour-blind safe, Okabe-Ito palette).
CLASS_COLORS = ("#d9d9d9", "#009e73", "#e69f00", "#d55e00", "#0072b2")
#: Colours of pixels whose current is only a bound, drawn over the current maps: the amplifier
#: floor (upper bound; sky blue, Okabe-Ito, outside the inferno palette) and saturation (lower
#: bound; bluish green).
FLOOR_COLOR = "#56b4e9"
SATURATION_COLOR = "#7fffd4"


def current_norm(*maps: np.ndarray) -> tuple[float, float]:
    """Shared log10 colour limits (log10 of A) for current maps: 0.5th to 99.5th percentile.

    Parameters
    ----------
    *maps : ndarray of float
        Current maps in A.

    Returns
    -------
    (float, float)
        ``(vmin, vmax)`` of log10(I / A), at least one decade apart.
    """
    vals = np.concatenate([np.log10(m[np.isfinite(m) & (m > 0)]) for m in maps])
    if vals.size == 0:
        return (-15.0, -9.0)
    lo, hi = np.percentile(vals, [0.5, 99.5])
    if hi - lo < 1:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 0.5, mid + 0.5
    return float(np.floor(lo * 2) / 2), float(np.ceil(hi * 2) / 2)


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
    from matplotlib.patches import Patch

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
        vmin, vmax = current_norm(m.plus_current, m.minus_current)
    cmap = _cmap_with_bad("inferno")
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log10(m.plus_current)
        lm = np.log10(m.minus_current)
    panels = ((axes[0, 1], lp, "(b) I(+V)", m.plus_at_floor, m.plus_at_saturation),
              (axes[0, 2], lm, "(c) I(-V), registered", m.minus_at_floor,
               m.minus_at_saturation))
    for ax, data, name, floor, sat in panels:
        image(ax, data, "log$_{10}$ |I| (A)", cmap=cmap, vmin=vmin, vmax=vmax)
        suffix = _bound_overlay(ax, floor, sat, extent)
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

    _plot_bounded(ax, x, m.plus_current[row] * 1e12, row_bound(m.plus_at_floor,
                  m.plus_at_saturation), label=f"I(+V) at {result.bias_plus:+g} V", lw=1,
                  color="C0")
    _plot_bounded(ax, x, m.minus_current[row] * 1e12, row_bound(m.minus_at_floor,
                  m.minus_at_saturation), label=f"|I(-V)| at {result.bias_minus:+g} V", lw=1,
                  color="C1")
    ax.semilogy(x, m.ionic_current[row] * 1e12, label="ionic", lw=1, ls=":", color="C2")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("|I| (pA)")
    ax.set_title(f"(d) profiles along y = {y_line:.2f} µm\n(▼ upper bound: amplifier floor)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="major", alpha=0.3)

    ax = axes[1, 0]
    image(ax, m.ionic_fraction, "I$_{ion}$ / I(+V)", cmap=_cmap_with_bad("viridis"),
          vmin=0, vmax=1)
    ax.set_title("(e) ionic fraction (grey: not resolved)")

    ax = axes[1, 1]
    ccmap = ListedColormap(CLASS_COLORS)
    ax.imshow(result.class_map, extent=extent, cmap=ccmap,
              norm=BoundaryNorm(np.arange(-0.5, 5.5), ccmap.N), interpolation="nearest")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title("(f) degradation classes")
    ax.legend(handles=[Patch(color=CLASS_COLORS[k], label=CLASS_LABELS[k]) for k in range(5)],
              fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)

    _histogram(axes[1, 2], fig, result)
    _fractions(axes[1, 3], result)

    return _save(fig, path, format, dpi)


def _bound_overlay(ax: Axes, floor: np.ndarray | None, sat: np.ndarray | None,
                   extent: tuple[float, float, float, float]) -> str:
    """Draw floor-limited and saturated pixels in their own colours; return a title suffix."""
    from matplotlib.colors import to_rgba

    parts = []
    rgba = None
    for mask, color, what in ((floor, FLOOR_COLOR, "floor (upper bound)"),
                              (sat, SATURATION_COLOR, "saturation (lower bound)")):
        if mask is None or not mask.any():
            continue
        if rgba is None:
            rgba = np.zeros((*mask.shape, 4))
        rgba[mask] = to_rgba(color)
        parts.append(f"{'blue' if color == FLOOR_COLOR else 'green'}: {what}")
    if rgba is not None:
        ax.imshow(rgba, extent=extent, interpolation="nearest")
    return f"\n({'; '.join(parts)})" if parts else ""


def _plot_bounded(ax: Axes, x: np.ndarray, y: np.ndarray, bound: np.ndarray | None,
                  **kw: object) -> None:
    """A current profile on a log axis: measurements as a line, bounds as markers.

    An upper bound (amplifier floor) is a downward triangle, a lower bound (saturation) an
    upward one, at the bound's value: the true current lies below (above) it.
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
            ax.semilogy(x[sel], y[sel], ls="none", marker=marker, ms=2.5, color=color,
                        alpha=0.8, label=f"{label}: {what}" if label else None)


def _cmap_with_bad(name: str):  # noqa: ANN202
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#bdbdbd")


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
    ax.barh(range(4), vals, color=CLASS_COLORS[1:5])
    ax.set_yticks(range(4), [CLASS_LABELS[k] for k in range(1, 5)], fontsize=8)
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
        f"median I(+V): {_pa(med['plus_current'], bounds.get('plus_current'))}\n"
        f"median |I(-V)|: {_pa(med['minus_current'], bounds.get('minus_current'))}\n"
        f"median I$_{{ion}}$: {_pa(med['ionic_current'], bounds.get('ionic_current'))}"
    )
    ax.text(0.98, 0.02, txt, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "0.7"})
    ax.set_title("(h) area fractions")
    del names


def _pa(v: float | None, bound: str | None = None) -> str:
    """A current in pA as text; ``bound`` "upper" / "lower" prefixes "<" / ">"."""
    prefix = {"upper": "< ", "lower": "> "}.get(bound or "", "")
    return "n/a" if v is None else f"{prefix}{v * 1e12:.3g} pA"


# ------------------------------------------------------------------------------------------------
# publication figures: the paper's six panels, the class map over the optical patch, profiles
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FigureScales:
    """Colour scales of the figures, to share across the pairs of a batch.

    Attributes
    ----------
    current_log10 : tuple of float, optional
        ``(vmin, vmax)`` of log10(|I| / A) for every current map and profile.
    height_nm : tuple of float, optional
        ``(vmin, vmax)`` of the topography, nm.
    """

    current_log10: tuple[float, float] | None = None
    height_nm: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, list[float] | None]:
        """JSON-safe dict."""
        return {k: (list(v) if v is not None else None)
                for k, v in (("current_log10", self.current_log10),
                             ("height_nm", self.height_nm))}


def _height_limits(*heights: np.ndarray) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(h, float).ravel() * 1e9 for h in heights])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(vals, [0.5, 99.5])
    return (float(lo), float(hi if hi > lo else lo + 1.0))


def shared_scales(results: Iterable[PairResult]) -> FigureScales:
    """Colour scales covering every pair of a batch (pass them to the plot functions).

    Parameters
    ----------
    results : iterable of PairResult

    Returns
    -------
    FigureScales
        Current limits from :func:`current_norm` over all +V and -V maps; height limits from
        the 0.5th to 99.5th percentile over all topographies, nm.
    """
    results = list(results)
    if not results:
        return FigureScales()
    cur = current_norm(*[m for r in results for m in (r.maps.plus_current,
                                                       r.maps.minus_current)])
    return FigureScales(cur, _height_limits(*[r.height for r in results]))


def _nice_length(target_um: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``target_um``."""
    if not target_um > 0:
        return 1.0
    e = math.floor(math.log10(target_um))
    for m in (5, 2, 1):
        if m * 10**e <= target_um:
            return m * 10**e
    return 10**e


def add_scale_bar(ax: Axes, width_um: float, *, color: str = "white", fontsize: float = 7,
                  loc: str = "lower right") -> None:
    """Draw a scale bar of a 'nice' length near a quarter of ``width_um`` on an image axis
    whose data units are um (``mpl_toolkits.axes_grid1.anchored_artists.AnchoredSizeBar``)."""
    from matplotlib import font_manager
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = _nice_length(width_um / 4)
    label = f"{length:g} µm" if length >= 1 else f"{length * 1e3:g} nm"
    bar = AnchoredSizeBar(ax.transData, length, label, loc, pad=0.25, borderpad=0.5, color=color,
                          frameon=True, size_vertical=width_um / 150, sep=2,
                          fontproperties=font_manager.FontProperties(size=fontsize))
    bar.patch.set_facecolor("black" if color == "white" else "white")
    bar.patch.set_alpha(0.35)
    bar.patch.set_edgecolor("none")
    ax.add_artist(bar)


_RC = {"font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7,
       "ytick.labelsize": 7, "legend.fontsize": 7, "axes.linewidth": 0.6,
       "font.family": "DejaVu Sans", "svg.fonttype": "none", "pdf.fonttype": 42}


def _image_axes(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _class_strip(ax: Axes, prof: Profile) -> None:
    from matplotlib.colors import BoundaryNorm, ListedColormap

    strip = ax.inset_axes([0.0, 1.01, 1.0, 0.05])
    cls = np.nan_to_num(prof.values["class"]).astype(int)[None, :]
    d = prof.distance * 1e6
    cmap = ListedColormap(CLASS_COLORS)
    strip.imshow(cls, aspect="auto", cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, 5.5), 5),
                 extent=(d[0], d[-1], 0, 1), interpolation="nearest")
    strip.set_xlim(d[0], d[-1])
    strip.set_axis_off()


def _profile_panel(ax: Axes, prof: Profile, key: str, label: str, color: str,
                   ylim_log10: tuple[float, float]) -> None:
    d = prof.distance * 1e6
    bkey = "plus_bound" if key == "plus_current" else "minus_bound"
    _plot_bounded(ax, d, prof.values[key] * 1e12, prof.values.get(bkey), color=color, lw=0.9,
                  label=label)
    if key == "plus_current":
        ax.semilogy(d, prof.values["ionic_current"] * 1e12, color="0.35", lw=0.7, ls=":",
                    label="ionic")
    # a little room below the scale, so that values at the amplifier floor stay visible
    ax.set_ylim(10 ** (ylim_log10[0] - 0.3) * 1e12, 10 ** ylim_log10[1] * 1e12)
    ax.set_xlim(d[0], d[-1])
    ax.set_xlabel("distance along line (µm)")
    ax.set_ylabel("|I| (pA)")
    ax.grid(True, which="major", alpha=0.25, lw=0.5)
    ax.legend(loc="upper right", framealpha=0.85, edgecolor="none")
    _class_strip(ax, prof)


def _draw_line(ax: Axes, line: tuple[float, float, float, float], color: str = "cyan") -> None:
    x0, y0, x1, y1 = (v * 1e6 for v in line)
    ax.plot([x0, x1], [y0, y1], color=color, lw=1.0, ls="--")
    ax.plot([x0], [y0], marker="o", ms=2.5, color=color)


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
    of the profile is shown as a strip above (d) and (f).

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
    cur = sc.current_log10 or current_norm(m.plus_current, m.minus_current)
    hlim = sc.height_nm or _height_limits(result.height)
    prof = result.profile()

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.0, 8.6), layout="constrained")
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
                      norm=BoundaryNorm(np.arange(-0.5, 5.5), 5), interpolation="nearest")
            add_scale_bar(ax, w_um, color="black")
            ax.set_title("(a) degradation classes (no optical image)")
        _image_axes(ax)

        ax = axes[0, 1]
        im = ax.imshow(result.height * 1e9, extent=extent, cmap="afmhot", vmin=hlim[0],
                       vmax=hlim[1], interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.9).set_label("height (nm)")
        add_scale_bar(ax, w_um)
        ax.set_title("(b) topography")
        _image_axes(ax)

        cmap = _cmap_with_bad("inferno")
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
            suffix = _bound_overlay(ax, floor, sat, extent)
            _draw_line(ax, prof.line)
            add_scale_bar(ax, w_um)
            ax.set_title(name + suffix)
            _image_axes(ax)
        _profile_panel(axes[1, 1], prof, "plus_current", "I(+V)", "#b2182b", cur)
        axes[1, 1].set_title("(d) I(+V) profile (strip: class)", pad=14)
        _profile_panel(axes[2, 1], prof, "minus_current", "|I(-V)|", "#2166ac", cur)
        axes[2, 1].set_title("(f) |I(-V)| profile (strip: class)", pad=14)

    return _save(fig, path, format, dpi)


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
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.0, 2.9), layout="constrained")
        axes = fig.subplots(1, 3, width_ratios=[1, 1, 0.9])
        for ax in axes[:2]:
            ax.imshow(opt.patch, extent=extent, cmap="gray", vmin=lo, vmax=hi,
                      interpolation="nearest")
            add_scale_bar(ax, w_um)
            _image_axes(ax)
        axes[0].set_title("(a) optical patch on the scan grid")
        rgba = np.zeros((*result.class_map.shape, 4))
        colors = matplotlib.colors.to_rgba_array(CLASS_COLORS)
        rgba[:] = colors[result.class_map]
        rgba[..., 3] = np.where(result.class_map > 0, alpha, 0.0)
        axes[1].imshow(rgba, extent=extent, interpolation="nearest")
        axes[1].set_title("(b) classes over the optical patch")
        axes[1].legend(handles=[Patch(color=CLASS_COLORS[k], label=CLASS_LABELS[k])
                                for k in range(1, 5)], loc="upper center",
                       bbox_to_anchor=(0.5, -0.02), ncol=1, frameon=False, fontsize=6.5)

        ax = axes[2]
        t = opt.contingency.astype(float)
        tot = t.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            bright = np.where(tot > 0, t[:, 1] / tot, np.nan) * 100
        ypos = np.arange(4)
        ax.barh(ypos, np.nan_to_num(bright), color=ListedColormap(CLASS_COLORS[1:]).colors,
                edgecolor="0.3", lw=0.4)
        ax.barh(ypos, np.where(tot > 0, 100 - np.nan_to_num(bright), 0),
                left=np.nan_to_num(bright), color="0.25", edgecolor="0.3", lw=0.4)
        for i in range(4):
            ax.text(101, i, f"n={int(tot[i])}", va="center", fontsize=6)
        ax.set_yticks(ypos, [CLASS_LABELS[k].split(" ", 1)[0] for k in range(1, 5)])
        ax.invert_yaxis()
        ax.set_xlim(0, 140)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("bright share of class (%) / dark (grey)")
        ax.set_ylabel("class")
        v = opt.cramers_v
        ax.set_title(f"(c) optical vs class, V = {v:.2f}" if np.isfinite(v)
                     else "(c) optical vs class")
        ax.text(0.02, -0.32, f"field bright fraction {opt.field_bright_fraction * 100:.1f} %",
                transform=ax.transAxes, fontsize=6.5)
    return _save(fig, path, format, dpi)


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
    with matplotlib.rc_context(_RC):
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
            _plot_bounded(ax, d, prof.values[key] * 1e12,
                          prof.values.get(bkey) if bkey else None, color=color, lw=0.9, ls=ls,
                          label=label)
        ax.set_ylim(10 ** (cur[0] - 0.3) * 1e12, 10 ** cur[1] * 1e12)
        ax.set_ylabel("|I| (pA)")
        ax.grid(True, which="major", alpha=0.25, lw=0.5)
        ax.legend(loc="upper right", framealpha=0.85, edgecolor="none", ncol=2)
        ax.set_title(f"profile ({x0:.2f}, {y0:.2f}) → ({x1:.2f}, {y1:.2f}) µm; strip: class; "
                     "▼ upper bound (floor)", pad=14)
        _class_strip(ax, prof)
        axh.plot(d, prof.values["height"] * 1e9, color="k", lw=0.8)
        axh.set_ylabel("height (nm)")
        axh.set_xlabel("distance along line (µm)")
        axh.set_xlim(d[0], d[-1])
        axh.grid(True, alpha=0.25, lw=0.5)
    return _save(fig, path, format, dpi)


def _save(fig: Figure, path: str | Path | None, format: str | None, dpi: int) -> Figure:
    """Write ``fig`` to ``path`` when one is given; return it."""
    if path is not None:
        fig.savefig(path, format=format, dpi=dpi)
        logger.info("figure written to %s", path)
    return fig
