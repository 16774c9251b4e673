"""The look of the figures: class colours, current and height colour scales, scale bars."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.classes import CLASS_LABELS, ClassCode
from ...pair.transport.maps import bound_code

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ...pair.result import PairResult

__all__ = [
    "CLASS_COLORS",
    "FLOOR_COLOR",
    "SATURATION_COLOR",
    "BAD_COLOR",
    "CURRENT_CMAP",
    "FRACTION_CMAP",
    "lightness",
    "class_legend_handles",
    "current_norm",
    "current_histogram",
    "scale_from_histogram",
    "pair_current_histogram",
    "FigureScales",
    "shared_scales",
    "add_scale_bar",
]

logger = logging.getLogger(__name__)


#: Colours of the class codes 0-4: hues of the Okabe-Ito / Tol palettes (told apart by
#: colour-blind readers), each at its own CIE L* lightness (93, 58, 77, 41, 22: at least 16
#: apart), so that the classes also read in grayscale; the darkest is the class that conducts
#: least (4, insulating). Checked by :func:`lightness` in the tests.
CLASS_COLORS = ("#ececec", "#009e73", "#f5b33a", "#b2301a", "#332288")
#: Colour map of the current maps (log scale): cividis, made for readers with a colour-vision
#: deficiency and monotonic in lightness (Nuñez, Anderton & Renslow, PLoS ONE 13, e0199239,
#: 2018). Ratios in [0, 1] (ionic fraction) use viridis.
CURRENT_CMAP = "cividis"
FRACTION_CMAP = "viridis"
#: Colour of a pixel without a value (outside the overlap, not resolved): white, lighter than
#: any colour of cividis or viridis (L* <= 91).
BAD_COLOR = "#ffffff"
#: Colours of pixels whose current is only a bound, drawn over the current maps: the amplifier
#: floor (upper bound: black, darker than any colour of the scale, i.e. "below the scale") and
#: saturation (lower bound: reddish purple, a hue cividis does not have).
FLOOR_COLOR = "#000000"
SATURATION_COLOR = "#cc79a7"
#: Names of the bound colours in titles.
BOUND_COLOR_NAMES = {FLOOR_COLOR: "black", SATURATION_COLOR: "purple"}


def lightness(colors: Iterable[str]) -> np.ndarray:
    """CIE 1976 L* of sRGB colours (0 black .. 100 white): how light each looks in grayscale.

    Parameters
    ----------
    colors : iterable of str
        Matplotlib colour specifications.

    Returns
    -------
    ndarray of float, shape (n,)

    Notes
    -----
    sRGB decoding and relative luminance Y from IEC 61966-2-1 (D65 white), L* from CIE 15:2004
    (``116 Y^(1/3) - 16`` above ``(6/29)^3``, ``(29/3)^3 Y`` below).
    """
    from matplotlib.colors import to_rgba_array

    rgb = to_rgba_array(list(colors))[:, :3]
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = lin @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > (6 / 29) ** 3, 116 * np.cbrt(y) - 16, (29 / 3) ** 3 * y)


def class_legend_handles(codes: Iterable[int] | None = None) -> list:
    """Legend patches of the class colours with their labels (all codes 0-4 by default)."""
    from matplotlib.patches import Patch

    codes = list(ClassCode) if codes is None else [ClassCode(c) for c in codes]
    return [Patch(facecolor=CLASS_COLORS[c], edgecolor="0.5", lw=0.4, label=CLASS_LABELS[c])
            for c in codes]


#: Bins of the log-current histograms a colour scale is taken from: 0.01 decade, 1e-18 A to
#: 1 A (values outside fall into the end bins). A histogram per pair is small (1800 counts) and
#: the histograms of a set add up, so a set's scale is that of all its pixels, in bounded memory.
HIST_LO, HIST_HI, HIST_STEP = -18.0, 0.0, 0.01
_N_BINS = round((HIST_HI - HIST_LO) / HIST_STEP)


def current_histogram(*maps: np.ndarray, bounds: tuple[np.ndarray | None, ...] | None = None
                      ) -> np.ndarray:
    """Counts of log10(I / A) of the measured pixels of current maps, in :data:`HIST_STEP` bins.

    Parameters
    ----------
    *maps : ndarray of float, shape (rows, cols)
        Current maps, A.
    bounds : tuple of (ndarray or None), optional
        Per map, its bound codes (0 a measurement, 1 at the amplifier floor, 2 saturated;
        :func:`afmcurrent.pair.transport.bound_code`): pixels with a code other than 0 are
        bounds, not measurements, and are left out. None: every finite positive pixel counts.

    Returns
    -------
    ndarray of int64, shape (1800,)
        Add the histograms of several pairs to get the set's.
    """
    counts = np.zeros(_N_BINS, np.int64)
    for i, m in enumerate(maps):
        m = np.asarray(m, float)
        ok = np.isfinite(m) & (m > 0)
        b = None if bounds is None else bounds[i]
        if b is not None:
            ok &= np.asarray(b) == 0
        idx = np.floor((np.log10(m[ok]) - HIST_LO) / HIST_STEP).astype(np.int64)
        counts += np.bincount(np.clip(idx, 0, _N_BINS - 1), minlength=_N_BINS)
    return counts


def scale_from_histogram(counts: np.ndarray) -> tuple[float, float]:
    """THE rule of a log current colour scale, from :func:`current_histogram` counts.

    The 0.5th to 99.5th percentile of the counted pixels (to the bin: the lower limit at its
    bin's lower edge, the upper at its bin's upper edge, so the scale never covers less),
    widened to at least one decade about its middle, then rounded outwards to half decades.

    Returns
    -------
    (float, float)
        ``(vmin, vmax)`` of log10(I / A); (-15, -9) when nothing was counted.
    """
    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    if n == 0:
        return (-15.0, -9.0)
    cdf = np.cumsum(counts)
    i_lo = int(np.searchsorted(cdf, 0.005 * n, side="left"))
    i_hi = int(np.searchsorted(cdf, 0.995 * n, side="left"))
    lo, hi = HIST_LO + i_lo * HIST_STEP, HIST_LO + (i_hi + 1) * HIST_STEP
    if hi - lo < 1:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 0.5, mid + 0.5
    return float(np.floor(round(lo * 2, 6)) / 2), float(np.ceil(round(hi * 2, 6)) / 2)


def current_norm(*maps: np.ndarray, bounds: tuple[np.ndarray | None, ...] | None = None
                 ) -> tuple[float, float]:
    """Shared log10 colour limits (log10 of A) for current maps: 0.5th to 99.5th percentile.

    Parameters
    ----------
    *maps : ndarray of float
        Current maps in A.
    bounds : tuple of (ndarray or None), optional
        Per map, its bound codes: pixels at the floor or saturated are left out
        (:func:`current_histogram`).

    Returns
    -------
    (float, float)
        ``(vmin, vmax)`` of log10(I / A), at least one decade apart
        (:func:`scale_from_histogram`).
    """
    return scale_from_histogram(current_histogram(*maps, bounds=bounds))


def pair_current_histogram(result: PairResult) -> np.ndarray:
    """:func:`current_histogram` of a pair's I(+V) and registered |I(-V)| maps, pixels at the
    floor or saturated left out (they are drawn in their own colours, not on the scale)."""
    m = result.maps
    shape = m.plus_current.shape
    return current_histogram(
        m.plus_current, m.minus_current,
        bounds=(bound_code(m.plus_at_floor, m.plus_at_saturation, shape),
                bound_code(m.minus_at_floor, m.minus_at_saturation, shape)))


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


def height_limits(*heights: np.ndarray) -> tuple[float, float]:
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
        Current limits by :func:`scale_from_histogram` over the measured pixels of all +V and
        -V maps (pixels at the floor or saturated left out: the rule of a batch's figures and
        ``currents.png``); height limits from
        the 0.5th to 99.5th percentile over all topographies, nm.
    """
    results = list(results)
    if not results:
        return FigureScales()
    cur = scale_from_histogram(sum(pair_current_histogram(r) for r in results))
    return FigureScales(cur, height_limits(*[r.height for r in results]))


def nice_length(target_um: float) -> float:
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

    length = nice_length(width_um / 4)
    label = f"{length:g} µm" if length >= 1 else f"{length * 1e3:g} nm"
    bar = AnchoredSizeBar(ax.transData, length, label, loc, pad=0.25, borderpad=0.5, color=color,
                          frameon=True, size_vertical=width_um / 150, sep=2,
                          fontproperties=font_manager.FontProperties(size=fontsize))
    bar.patch.set_facecolor("black" if color == "white" else "white")
    bar.patch.set_alpha(0.35)
    bar.patch.set_edgecolor("none")
    ax.add_artist(bar)


RC = {"font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7,
       "ytick.labelsize": 7, "legend.fontsize": 7, "axes.linewidth": 0.6,
       "font.family": "DejaVu Sans", "svg.fonttype": "none", "pdf.fonttype": 42}


def cmap_with_bad(name: str):  # noqa: ANN202
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=BAD_COLOR)


def save_figure(fig: Figure, path: str | Path | None, format: str | None, dpi: int) -> Figure:
    """Write ``fig`` to ``path`` when one is given; return it."""
    if path is not None:
        fig.savefig(path, format=format, dpi=dpi)
        logger.info("figure written to %s", path)
    return fig
