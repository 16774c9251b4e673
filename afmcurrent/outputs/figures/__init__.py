"""Figures of a pair in the layout of Jiang et al. (NREL), extended by the derived maps.

One module per figure: :mod:`.overview` (``figure.png``, :func:`plot_pair`), :mod:`.paper`
(the paper's six panels, :func:`plot_paper`), :mod:`.profile` (:func:`plot_profile`),
:mod:`.optical` (classes over the optical patch, :func:`plot_optical_classes`); :mod:`.style`
holds the colours and the colour scales shared across a batch (:class:`FigureScales`,
:func:`shared_scales`). Matplotlib is imported when a figure is drawn, not before.
"""

from .optical import plot_optical_classes
from .overview import plot_pair
from .paper import plot_paper
from .profile import plot_profile
from .style import (
    CLASS_COLORS,
    FLOOR_COLOR,
    SATURATION_COLOR,
    FigureScales,
    add_scale_bar,
    current_histogram,
    current_norm,
    pair_current_histogram,
    scale_from_histogram,
    shared_scales,
)

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
    "current_histogram",
    "pair_current_histogram",
    "scale_from_histogram",
]
