"""The pooled model's features of a pair and the pixels drawn from it for the fit.

Features are (log10 I(+V), log10 I_e(+V)) where both currents are finite and positive; a pair's
pixels are drawn uniformly without replacement, seeded by the pair's name and the batch seed, so
the draw depends on neither the order of the pairs nor the executor. Across the set, the pixels
drawn from every pair are thinned as they arrive to a fixed-size uniform sample of their union
(:class:`PooledSample`), so the calling process holds the same memory for 50 pairs or 10 000.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ...io.hdf5 import COMPACT_MANTISSA_BITS, read_hdf5, round_mantissa

__all__ = [
    "POOLED_PIXELS",
    "PooledSample",
    "RESULT_CHANNELS",
    "features",
    "pair_sample",
    "draw_sample",
    "pair_features",
    "sample_pixels",
]

logger = logging.getLogger(__name__)


#: Pixels of the pooled sample the model is fitted on (and the summary figure drawn from).
POOLED_PIXELS = 40_000

#: Channels of ``result.h5`` the pooled model reads.
RESULT_CHANNELS = ("plus_current", "electronic_current", "class")


def features(
    plus_current: np.ndarray, electronic_current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled-model features of one pair's maps.

    Parameters
    ----------
    plus_current, electronic_current : ndarray of float, shape (rows, cols)
        I(+V) and I_e(+V) in A (``TransportMaps`` or ``result.h5``); NaN where undefined.

    Returns
    -------
    features : ndarray, shape (n, 2)
        (log10 I(+V), log10 I_e(+V)) of the n pixels where both are defined and positive.
    index : ndarray of int, shape (n,)
        Their flat indices in the +V frame.

    Notes
    -----
    The currents are rounded to float32 and to :data:`afmcurrent.io.hdf5.COMPACT_MANTISSA_BITS`
    bits of mantissa first, as a batch's compact ``result.h5`` stores them, so features taken
    from a pair in memory equal those read back from its folder (a resumed batch draws the same
    pixels with the same values).
    """
    p32, e32, index = _usable(plus_current, electronic_current)
    return _log_features(p32, e32, index), index


def pair_sample(plus_current: np.ndarray, electronic_current: np.ndarray, name: str,
                samples_per_pair: int = 2000, seed: int = 0) -> np.ndarray:
    """``draw_sample(features(plus_current, electronic_current)[0], name, ...)``, cheaply.

    The logarithms are taken of the drawn pixels only.

    Parameters
    ----------
    plus_current, electronic_current : ndarray of float, shape (rows, cols)
        As for :func:`features`.
    name : str
    samples_per_pair : int, optional
    seed : int, optional
        As for :func:`draw_sample`.

    Returns
    -------
    ndarray, shape (min(n, samples_per_pair), 2)
    """
    p32, e32, index = _usable(plus_current, electronic_current)
    rows = _draw_rows(len(index), name, samples_per_pair, seed)
    return _log_features(p32, e32, index if rows is None else index[rows])


def _usable(
    plus_current: np.ndarray, electronic_current: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 copies (flat) and the flat indices where both are finite and positive."""
    p32 = np.asarray(plus_current, np.float32).ravel()
    e32 = np.asarray(electronic_current, np.float32).ravel()
    with np.errstate(invalid="ignore"):
        ok = (p32 > 0) & (p32 < np.inf) & (e32 > 0) & (e32 < np.inf)  # NaN: False
    return p32, e32, np.flatnonzero(ok)


def _log_features(p32: np.ndarray, e32: np.ndarray, index: np.ndarray) -> np.ndarray:
    # rounded as a batch's compact result.h5 stores them (idempotent on values read back)
    return np.column_stack([
        np.log10(round_mantissa(p32[index], COMPACT_MANTISSA_BITS).astype(np.float64)),
        np.log10(round_mantissa(e32[index], COMPACT_MANTISSA_BITS).astype(np.float64))])


def _draw_rows(n: int, name: str, samples_per_pair: int, seed: int) -> np.ndarray | None:
    """Sorted positions of the drawn rows among n (None: all rows)."""
    if n <= samples_per_pair:
        return None
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return np.sort(rng.choice(n, samples_per_pair, replace=False))


def pair_features(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and rule classes of a pair's result.

    Parameters
    ----------
    result : Scan
        A pair's ``result.h5`` as read by :func:`afmcurrent.io.load_scan` (at least the
        channels ``plus_current``, ``electronic_current`` and ``class``).

    Returns
    -------
    features : ndarray, shape (n, 2)
        (log10 I(+V), log10 I_e(+V)) of the n usable pixels.
    index : ndarray of int, shape (n,)
        Their flat indices in the +V frame.
    rule : ndarray of uint8, shape (rows, cols)
        The per-pair rule class map.
    """
    feats, index = features(result.channel("plus_current").data,
                            result.channel("electronic_current").data)
    return feats, index, result.channel("class").data.astype(np.uint8)



def draw_sample(feats: np.ndarray, name: str, samples_per_pair: int = 2000,
                seed: int = 0) -> np.ndarray:
    """Pixels of one pair for the pooled fit, drawn uniformly without replacement.

    Parameters
    ----------
    feats : ndarray, shape (n, 2)
        From :func:`features`.
    name : str
        The pair's name: combined with ``seed``, so the draw depends on neither the order of
        the pairs nor the executor.
    samples_per_pair : int, optional
        At most this many rows (every map weighs the same in the pooled fit).
    seed : int, optional

    Returns
    -------
    ndarray, shape (min(n, samples_per_pair), 2)
    """
    rows = _draw_rows(len(feats), name, samples_per_pair, seed)
    return feats if rows is None else feats[rows]


def sample_pixels(
    pair_dirs: list[Path], samples_per_pair: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Draw pixels from every pair's ``result.h5`` for the pooled model.

    Parameters
    ----------
    pair_dirs : list of Path
        Pair result folders (with ``result.h5``).
    samples_per_pair : int, optional
        Pixels drawn from each pair (:func:`draw_sample`).
    seed : int, optional

    Returns
    -------
    dict of str to ndarray
        Pair name -> features ``(n, 2)``: (log10 I(+V), log10 I_e(+V)), A.
    """

    out = {}
    for d in pair_dirs:
        d = Path(d)
        feats, _, _ = pair_features(read_hdf5(d / "result.h5", channels=RESULT_CHANNELS))
        out[d.name] = draw_sample(feats, d.name, samples_per_pair, seed)
    return out




class PooledSample:
    """A fixed-size uniform sample, without replacement, of the pixels drawn from every pair.

    Each pixel offered by :meth:`add` gets a key uniform in [0, 1) from a generator seeded by
    the batch seed and the pair's name; the sample is the ``capacity`` pixels of smallest key
    among all offered (a bottom-k sample: every subset of ``capacity`` pixels of the union is
    equally likely, as with a uniform draw from the concatenation). The keys depend on neither
    the order in which the pairs arrive nor the executor, so neither does the sample. Memory is
    bounded: at most ``2 capacity`` pixels plus one pair's are held (32 bytes each) before the
    largest keys are dropped.

    Parameters
    ----------
    capacity : int, optional
        Pixels kept (default :data:`POOLED_PIXELS`).
    seed : int, optional
        The batch seed.
    """

    def __init__(self, capacity: int = POOLED_PIXELS, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.seed = int(seed)
        self._names: list[str] = []
        self._keys = np.zeros(0)
        self._feats = np.zeros((0, 2))
        self._pair = np.zeros(0, np.int32)  # index into _names
        self._row = np.zeros(0, np.int32)  # row of the pixel in its pair's sample
        self.n_offered = 0

    def add(self, name: str, sample: np.ndarray) -> None:
        """Offer one pair's drawn pixels.

        Parameters
        ----------
        name : str
            The pair's name (unique in the set; seeds the keys).
        sample : ndarray, shape (n, 2)
            From :func:`pair_sample` or :func:`draw_sample`.
        """
        sample = np.asarray(sample, np.float64).reshape(-1, 2)
        n = len(sample)
        if n == 0:
            return
        keys = np.random.default_rng([self.seed, zlib.crc32(name.encode()), 1]).random(n)
        self._names.append(name)
        self._keys = np.concatenate([self._keys, keys])
        self._feats = np.concatenate([self._feats, sample])
        self._pair = np.concatenate([self._pair, np.full(n, len(self._names) - 1, np.int32)])
        self._row = np.concatenate([self._row, np.arange(n, dtype=np.int32)])
        self.n_offered += n
        if len(self._keys) > 2 * self.capacity:
            self._trim()

    def _trim(self) -> None:
        if len(self._keys) <= self.capacity:
            return
        keep = np.argpartition(self._keys, self.capacity - 1)[:self.capacity]
        self._keys, self._feats = self._keys[keep], self._feats[keep]
        self._pair, self._row = self._pair[keep], self._row[keep]

    def as_dict(self) -> dict[str, np.ndarray]:
        """The sample by pair name: each pair's kept pixels in their order in its sample.

        Returns
        -------
        dict of str to ndarray, shape (k, 2)
            Only pairs with at least one kept pixel; at most ``capacity`` pixels in all.
        """
        self._trim()
        order = np.lexsort((self._row, self._pair))
        pair, feats = self._pair[order], self._feats[order]
        cuts = np.flatnonzero(np.diff(pair)) + 1
        return {self._names[int(p[0])]: f
                for p, f in zip(np.split(pair, cuts), np.split(feats, cuts), strict=True)
                if len(p)}
