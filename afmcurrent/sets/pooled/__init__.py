"""One classification for a whole map set: a Gaussian mixture in (log I(+V), log I_e(+V)).

The per-pair rule (:mod:`afmcurrent.pair.classify`) classifies each map on its own. Across a
set, the same physical state should get the same class in every map, whatever the map's own
statistics: so pixels drawn from every pair are pooled and one Gaussian mixture is fitted in the
plane (log10 I(+V), log10 I_e(+V)), where I_e(+V) = |I(-V)| |V+/V-| is the electronic current
scaled to the +V bias (so pairs at +/-0.5 V and +/-1 V share the plane). The mixture is built
from the pooled pixels' rule classes (:func:`afmcurrent.pair.classify.rule_classes`: the rule
of the pixels, applied to points): one component per class that holds enough pixels, with that
class's mean, covariance and share, so that every class present, the insulating class 4
included, is represented, and the fit is deterministic (no random start, no choice of the number
of components by BIC, which depended on the seed). Each component is named by the rule class of
its centre; every pixel of every pair then takes the class of its most probable component. The
disagreement with the per-pair rule classes is reported, and :func:`missing_classes` names the
classes the per-pair rules found that have no pooled component.

Modules: :mod:`.sample` (features and the pixels drawn from each pair), :mod:`.model`
(:class:`PooledModel`, :func:`fit_pooled`), :mod:`.apply` (:func:`apply_pooled`).
"""

from ...pair.classify import rule_class, rule_classes
from .apply import apply_pooled
from .model import PooledModel, fit_pooled, missing_classes
from .sample import (
    POOLED_PIXELS,
    RESULT_CHANNELS,
    PooledSample,
    draw_sample,
    features,
    pair_features,
    pair_sample,
    sample_pixels,
)

__all__ = [
    "PooledModel",
    "rule_class",
    "rule_classes",
    "features",
    "draw_sample",
    "pair_sample",
    "sample_pixels",
    "fit_pooled",
    "missing_classes",
    "apply_pooled",
    "pair_features",
    "RESULT_CHANNELS",
    "POOLED_PIXELS",
    "PooledSample",
]
