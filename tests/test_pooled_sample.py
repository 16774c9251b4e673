"""The pooled sample of a batch: fixed size, uniform over the pairs' pixels, order-free."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from afmcurrent.core.model import Channel, Scan
from afmcurrent.io.hdf5 import read_hdf5, write_hdf5
from afmcurrent.sets.pooled import PooledSample, fit_pooled
from afmcurrent.sets.pooled.sample import features


def _pairs(n: int, rows: int = 2000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {f"pair{i:03d}": rng.normal(-11 + i * 0.01, 1.0, (rows, 2)) for i in range(n)}


def test_under_capacity_keeps_everything_in_order() -> None:
    pairs = _pairs(3, 100)
    s = PooledSample(capacity=1000, seed=1)
    for k, v in pairs.items():
        s.add(k, v)
    out = s.as_dict()
    assert out.keys() == pairs.keys()
    for k in pairs:
        np.testing.assert_array_equal(out[k], pairs[k])


def test_fixed_size_uniform_and_independent_of_arrival_order() -> None:
    pairs = _pairs(60)
    a, b = PooledSample(capacity=12_000, seed=5), PooledSample(capacity=12_000, seed=5)
    for k in pairs:
        a.add(k, pairs[k])
        assert len(a._keys) <= 2 * 12_000 + 2000  # bounded whatever the number of pairs
    for k in reversed(list(pairs)):
        b.add(k, pairs[k])
    da, db = a.as_dict(), b.as_dict()
    assert da.keys() == db.keys()
    for k in da:
        np.testing.assert_array_equal(da[k], db[k])
    assert sum(len(v) for v in da.values()) == 12_000
    # every pair holds 1/60 of the union: 200 expected, binomial sd ~13
    counts = np.array([len(da.get(k, ())) for k in pairs])
    assert counts.min() > 140 and counts.max() < 260
    # a kept pixel is one of its pair's rows
    for k, v in da.items():
        assert np.isin(v[:, 0], pairs[k][:, 0]).all()
    # the sample's mean is the union's within its standard error (~0.01)
    union = np.concatenate(list(pairs.values()))
    kept = np.concatenate(list(da.values()))
    assert abs(kept.mean(axis=0) - union.mean(axis=0)).max() < 0.04
    # another seed: another sample
    c = PooledSample(capacity=12_000, seed=6)
    for k in pairs:
        c.add(k, pairs[k])
    assert not np.array_equal(np.concatenate(list(c.as_dict().values())), kept)


def test_model_from_the_sample_matches_the_full_concatenation() -> None:
    pairs = _pairs(40)
    s = PooledSample(capacity=40_000, seed=0)
    for k, v in pairs.items():
        s.add(k, v)
    full = fit_pooled(pairs, seed=0, max_pixels=10**9)
    thin = fit_pooled(s.as_dict(), seed=0)
    assert thin.n_pixels == 40_000
    np.testing.assert_allclose(thin.means, full.means, atol=0.03)


def test_bad_capacity() -> None:
    with pytest.raises(ValueError):
        PooledSample(capacity=0)


def test_features_in_memory_equal_those_read_back_from_a_compact_result():
    """A batch's result.h5 rounds float maps to COMPACT_MANTISSA_BITS: a pair analysed now and
    a pair skipped as complete (its maps read back) give the pooled fit the same values."""
    rng = np.random.default_rng(3)
    plus = 10 ** rng.uniform(-15, -9, (40, 40))
    elec = 10 ** rng.uniform(-15, -9, (40, 40))
    elec[0, :5] = np.nan
    scan = Scan(channel_list=[Channel("plus_current", plus, "A"),
                              Channel("electronic_current", elec, "A")], size=(1e-6, 1e-6))
    with tempfile.TemporaryDirectory() as d:
        path = write_hdf5(Path(d) / "r.h5", scan, compact=True)
        back = read_hdf5(path)
        f_back, i_back = features(back.channel("plus_current").data,
                                  back.channel("electronic_current").data)
    f_mem, i_mem = features(plus, elec)
    np.testing.assert_array_equal(i_mem, i_back)
    np.testing.assert_array_equal(f_mem, f_back)
