"""One classification for a whole map set: a Gaussian mixture in (log I(+V), log I_e(+V)).

The per-pair rules (:mod:`afmcurrent.domains`) classify each map on its own. Across a set, the
same physical state should get the same class in every map, whatever the map's own statistics:
so pixels drawn from every pair are pooled and one Gaussian mixture (scikit-learn) is fitted in
the plane (log10 I(+V), log10 I_e(+V)), where I_e(+V) = |I(-V)| |V+/V-| is the electronic
current scaled to the +V bias (so pairs at +/-0.5 V and +/-1 V share the plane). Each component
is named by the rule class of its centre; every pixel of every pair then takes the class of its
most probable component. The disagreement with the per-pair rule classes is reported.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import load_config
from .domains import (
    CLASS_NAMES,
    ELECTRONIC_SHUNT,
    IONIC_BLOCKED_INSULATING,
    IONIC_BLOCKED_LEAKY,
    IONIC_CONDUCTING,
    Thresholds,
)
from .errors import AfmcurrentError

__all__ = [
    "PooledModel", "rule_class", "sample_pixels", "fit_pooled", "apply_pooled", "pair_features",
]

logger = logging.getLogger(__name__)


def rule_class(log_plus: float, log_electronic: float, thresholds: Thresholds) -> int:
    """Class code of a point (log10 I(+V), log10 I_e(+V)) under the per-pair rules.

    Parameters
    ----------
    log_plus, log_electronic : float
        log10 of the currents in A.
    thresholds : Thresholds

    Returns
    -------
    int
        1, 2, 3 or 4 (a point has no uncertainty, so never 0).
    """
    if log_plus - log_electronic >= thresholds.log_ratio_min:
        ionic = 10.0**log_plus - 10.0**log_electronic
        return IONIC_CONDUCTING if ionic >= thresholds.ionic_current_min \
            else IONIC_BLOCKED_INSULATING
    if 10.0**log_electronic >= thresholds.shunt_current_min:
        return ELECTRONIC_SHUNT
    return IONIC_BLOCKED_LEAKY


@dataclass
class PooledModel:
    """A fitted pooled classification.

    Attributes
    ----------
    mixture : sklearn.mixture.GaussianMixture
        Fitted in (log10 I(+V) / A, log10 I_e(+V) / A).
    classes : ndarray of uint8, shape (n_components,)
        Rule class of each component's centre.
    thresholds : Thresholds
        Thresholds used to name the components.
    n_pixels : int
        Pixels the mixture was fitted on.
    """

    mixture: Any
    classes: np.ndarray
    thresholds: Thresholds
    n_pixels: int

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class codes of feature rows ``(n, 2)``; shape ``(n,)`` uint8."""
        if len(features) == 0:
            return np.zeros(0, np.uint8)
        return self.classes[self.mixture.predict(features)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (component centres in decades, weights, class names)."""
        m = self.mixture
        comps = []
        for k in np.argsort(m.means_[:, 0]):
            comps.append({
                "class": int(self.classes[k]),
                "class_name": CLASS_NAMES[int(self.classes[k])],
                "weight": float(m.weights_[k]),
                "mean_log10_plus_current_A": float(m.means_[k, 0]),
                "mean_log10_electronic_current_A": float(m.means_[k, 1]),
                "covariance_decades2": np.asarray(m.covariances_[k]).tolist(),
            })
        return {
            "model": "GaussianMixture (scikit-learn), full covariance",
            "features": ["log10 I(+V) / A", "log10 I_e(+V) / A, I_e = |I(-V)| |V+/V-|^n"],
            "n_components": int(m.n_components),
            "n_pixels": int(self.n_pixels),
            "thresholds": self.thresholds.to_dict(),
            "components": comps,
        }


def pair_features(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and rule classes of a pair's result.

    Parameters
    ----------
    result : Scan
        A pair's ``result.h5`` as read by :func:`afmcurrent.io.load_scan`.

    Returns
    -------
    features : ndarray, shape (n, 2)
        (log10 I(+V), log10 I_e(+V)) of the n usable pixels.
    index : ndarray of int, shape (n,)
        Their flat indices in the +V frame.
    rule : ndarray of uint8, shape (rows, cols)
        The per-pair rule class map.
    """
    scan = result
    plus = scan.channel("plus_current").data
    elec = scan.channel("electronic_current").data
    rule = scan.channel("class").data.astype(np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp, le = np.log10(plus).ravel(), np.log10(elec).ravel()
    index = np.flatnonzero(np.isfinite(lp) & np.isfinite(le))
    return np.column_stack([lp[index], le[index]]), index, rule


def sample_pixels(
    pair_dirs: list[Path], samples_per_pair: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Draw pixels from every pair's result for the pooled model.

    Parameters
    ----------
    pair_dirs : list of Path
        Pair result folders (with ``result.h5``).
    samples_per_pair : int, optional
        Pixels drawn from each pair, uniformly without replacement, so every map weighs the same.
    seed : int, optional
        Combined with each pair's name, so the draw does not depend on the order or executor.

    Returns
    -------
    dict of str to ndarray
        Pair name -> features ``(n, 2)``: (log10 I(+V), log10 I_e(+V)), A.
    """
    from .io import load_scan

    out = {}
    for d in pair_dirs:
        d = Path(d)
        feats, _, _ = pair_features(load_scan(d / "result.h5"))
        rng = np.random.default_rng([seed, zlib.crc32(d.name.encode())])
        if len(feats) > samples_per_pair:
            feats = feats[np.sort(rng.choice(len(feats), samples_per_pair, replace=False))]
        out[d.name] = feats
    return out


def fit_pooled(
    samples: dict[str, np.ndarray],
    thresholds: Thresholds | None = None,
    *,
    seed: int = 0,
    max_components: int = 6,
    max_pixels: int = 100_000,
) -> PooledModel:
    """Fit the pooled Gaussian mixture on pixels drawn from every pair.

    Parameters
    ----------
    samples : dict of str to ndarray
        From :func:`sample_pixels`.
    thresholds : Thresholds, optional
        Name the components (default: the ``[classify]`` defaults).
    seed : int, optional
        Random state of the mixture fit.
    max_components : int, optional
        The number of components is chosen by BIC from 1 to this.
    max_pixels : int, optional
        Larger pooled samples are thinned uniformly to this many pixels (the fit time grows
        linearly with it: ~1 s per 40 000 pixels for the BIC search on 2 cores).

    Returns
    -------
    PooledModel

    Raises
    ------
    AfmcurrentError
        If the set has too few usable pixels.
    """
    from sklearn.mixture import GaussianMixture

    if thresholds is None:
        thresholds = Thresholds.from_settings(load_config().classify)
    x = np.concatenate([samples[k] for k in sorted(samples)]) if samples else np.zeros((0, 2))
    if len(x) < 10:
        raise AfmcurrentError("pooled classification: too few usable pixels in the set")
    if len(x) > max_pixels:
        x = x[np.random.default_rng(seed).choice(len(x), max_pixels, replace=False)]
    best, best_bic = None, np.inf
    for k in range(1, min(max_components, len(x) // 10) + 1):
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed,
                             n_init=1, max_iter=200).fit(x)
        bic = gm.bic(x)
        if bic < best_bic:
            best, best_bic = gm, bic
    classes = np.array([rule_class(m[0], m[1], thresholds) for m in best.means_], np.uint8)
    logger.info("pooled mixture: %d components on %d pixels", best.n_components, len(x))
    return PooledModel(best, classes, thresholds, len(x))


def apply_pooled(pair_dir: str | Path, model: PooledModel) -> tuple[str, dict[str, Any]]:
    """Classify every pixel of one pair with the pooled model; write ``pooled_class.h5``.

    Parameters
    ----------
    pair_dir : str or Path
        Pair result folder.
    model : PooledModel

    Returns
    -------
    name : str
        The pair's name (its folder name).
    stats : dict
        ``pooled_<class>`` area fractions over the pooled-classified pixels and
        ``pooled_disagreement``: the share of pixels classified by both whose classes differ.
    """
    from .io import load_scan
    from .io.hdf5 import write_hdf5
    from .model import Channel
    from .output import atomic_path

    pair_dir = Path(pair_dir)
    ref = load_scan(pair_dir / "result.h5")
    feats, index, rule = pair_features(ref)
    pooled = np.zeros(rule.size, np.uint8)
    pooled[index] = model.predict(feats)
    pooled = pooled.reshape(rule.shape)
    counts = np.bincount(pooled.ravel(), minlength=5)[:5]
    total = counts[1:].sum()
    stats: dict[str, Any] = {
        f"pooled_{name}": (float(counts[code] / total) if total else None)
        for code, name in CLASS_NAMES.items()
    }
    both = (pooled > 0) & (rule > 0)
    stats["pooled_disagreement"] = float(np.mean(pooled[both] != rule[both])) if both.any() \
        else None
    scan = ref.with_channels([Channel("pooled_class", pooled.astype(float), "",
                                      quantity="pooled degradation class")])
    with atomic_path(pair_dir / "pooled_class.h5") as tmp:
        write_hdf5(tmp, scan, attrs={"pooled_model": model.to_dict()},
                   dtypes={"pooled_class": np.uint8}, overwrite=True)
    return pair_dir.name, stats
