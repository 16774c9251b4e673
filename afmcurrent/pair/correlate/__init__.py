"""What the electrical classes have to do with the topography, and how they are arranged.

The paper recognises degradation domains in the roughness of the topography and notes
topographic cross-talk in the current images of rough surfaces (``docs/science.md``); these
modules measure both, and how representative and connected the classes are. Pure functions over
``(rows, cols)`` arrays in the +V frame (SI units; class codes of :mod:`afmcurrent.core.classes`):

- :mod:`.topography`: slope and curvature maps, height statistics per class and per domain;
- :mod:`.ranks`: Spearman rank correlation on a regular sub-grid;
- :mod:`.crosstalk`: the topographic cross-talk indicator;
- :mod:`.connectivity`: percolation of class 1, largest domains, spacing of shunts;
- :mod:`.representative_area`: convergence of the area fractions with the window;
- :mod:`.profile`: maps sampled along a line;
- :mod:`.correlation`: all of it for one analysed pair.
"""

from .connectivity import connectivity
from .correlation import (
    PairCorrelation,
    correlate,
    correlate_pair,
    pair_correlation,
    retrace_log_current,
)
from .crosstalk import CROSSTALK_STRONG, CrossTalk, crosstalk
from .profile import Profile, default_profile_line, line_profile, pair_profile
from .ranks import average_ranks, rank_correlations, spearman, subgrid
from .representative_area import fraction_convergence
from .topography import curvature_map, slope_map, topography_by_class, topography_by_domain

__all__ = [
    "CROSSTALK_STRONG",
    "slope_map",
    "curvature_map",
    "spearman",
    "average_ranks",
    "subgrid",
    "topography_by_class",
    "topography_by_domain",
    "rank_correlations",
    "CrossTalk",
    "crosstalk",
    "connectivity",
    "fraction_convergence",
    "Profile",
    "line_profile",
    "default_profile_line",
    "PairCorrelation",
    "correlate",
    "correlate_pair",
    "retrace_log_current",
    "pair_correlation",
    "pair_profile",
]
