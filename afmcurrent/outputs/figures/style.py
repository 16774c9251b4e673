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
        Current limits from :func:`current_norm` over all +V and -V maps; height limits from
        the 0.5th to 99.5th percentile over all topographies, nm.
    """
    results = list(results)
    if not results:
        return FigureScales()
    cur = current_norm(*[m for r in results for m in (r.maps.plus_current,
                                                       r.maps.minus_current)])
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
