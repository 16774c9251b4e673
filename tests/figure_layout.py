"""Layout checks of a drawn figure: every text inside the figure, none over a colour bar or over
another text (what a referee sees as clipped or overlapping labels).

The texts are the ones the renderer actually draws (``Text.draw`` is recorded during one
draw), so tick labels outside the view and empty texts do not count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from matplotlib.transforms import Bbox


@contextlib.contextmanager
def _recording() -> Iterator[list[Text]]:
    drawn: list[Text] = []
    original = Text.draw

    def draw(self, renderer):  # noqa: ANN001, ANN202
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def drawn_texts(fig) -> tuple[list[tuple[Text, Bbox]], object]:  # noqa: ANN001
    """Draw ``fig`` once with Agg; the drawn texts with their extents (pixels), and the
    renderer."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    with _recording() as drawn:
        canvas.draw()
    renderer = canvas.get_renderer()
    seen, out = set(), []
    for t in drawn:
        if id(t) not in seen:
            seen.add(id(t))
            out.append((t, t.get_window_extent(renderer)))
    return out, renderer


def _overlap(a: Bbox, b: Bbox, tol: float) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tol) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tol)


def layout_problems(fig, tol: float = 1.0) -> list[str]:  # noqa: ANN001
    """What is wrong with the layout of ``fig``, as readable lines (empty: nothing).

    - a text (title, label, tick label, legend entry, annotation) reaching outside the figure;
    - a text overlapping a colour bar (the bar or its own labels) it does not belong to;
    - two texts overlapping each other.

    ``tol`` is the overlap in pixels that is tolerated (anti-aliasing, glyph padding).
    """
    texts, renderer = drawn_texts(fig)
    W, H = fig.bbox.width, fig.bbox.height
    problems = []
    for t, bb in texts:
        if bb.x0 < -tol or bb.y0 < -tol or bb.x1 > W + tol or bb.y1 > H + tol:
            problems.append(f"outside the figure: {t.get_text()!r} at ({bb.x0:.0f}, "
                            f"{bb.y0:.0f})-({bb.x1:.0f}, {bb.y1:.0f}) of {W:.0f}x{H:.0f}")
    for cax in (a for a in fig.axes if getattr(a, "_colorbar", None) is not None):
        own = {id(t) for t in cax.findobj(Text)}
        zones = [cax.get_window_extent(renderer)] + [bb for t, bb in texts if id(t) in own]
        for t, bb in texts:
            if id(t) in own:
                continue
            if any(_overlap(bb, z, tol) for z in zones):
                problems.append(f"over the colour bar {cax.get_ylabel() or cax.get_xlabel()!r}: "
                                f"{t.get_text()!r}")
    for i, (t, bb) in enumerate(texts):
        for u, cc in texts[i + 1:]:
            if _overlap(bb, cc, tol):
                problems.append(f"texts overlap: {t.get_text()!r} and {u.get_text()!r}")
    return problems


def class_legend_labels(fig) -> list[list[str]]:  # noqa: ANN001
    """The entries of every legend of ``fig`` (figure and axes legends)."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [[t.get_text() for t in lg.get_texts()] for lg in legends]


def grayscale_distinct(colors, min_delta: float) -> bool:  # noqa: ANN001
    """True when the CIE L* of every two colours differ by at least ``min_delta``."""
    from afmcurrent.outputs.figures.style import lightness

    L = np.sort(lightness(colors))
    return bool(np.all(np.diff(L) >= min_delta))
