"""Every pixel of a pair classified with the pooled model (``pooled_class.h5``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ...core.classes import CLASS_NAMES, class_counts
from ...core.model import Channel
from ...io._common import atomic_path
from ...io.hdf5 import read_hdf5, write_hdf5
from .model import PooledModel
from .sample import RESULT_CHANNELS, pair_features

__all__ = [
    "apply_pooled",
]

logger = logging.getLogger(__name__)


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

    pair_dir = Path(pair_dir)
    ref = read_hdf5(pair_dir / "result.h5", channels=RESULT_CHANNELS)
    feats, index, rule = pair_features(ref)
    pooled = np.zeros(rule.size, np.uint8)
    pooled[index] = model.predict(feats)
    pooled = pooled.reshape(rule.shape)
    counts = class_counts(pooled)
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
                   dtypes={"pooled_class": np.uint8}, overwrite=True, compact=True)
    return pair_dir.name, stats
