"""Arrays for the Python user: ``afmcurrent.io.read_result`` gives back what ``write_result``
wrote (round trip against the PairResult), and ``to_xarray`` (PairResult and the stored
result) gives a Dataset with coordinates in m, units and the class codes."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from afmcurrent import analyze_pair, write_result
from afmcurrent.core.classes import CLASS_NAMES
from afmcurrent.core.errors import ReadError
from afmcurrent.io import read_result
from afmcurrent.outputs import summary
from afmcurrent.sim import simulate_pair


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    pair = simulate_pair("degraded", seed=41, shape=(64, 80))
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    out = tmp_path_factory.mktemp("read") / "out"
    write_result(res, out, figures=False)
    return res, out


def test_read_result_round_trip(written):
    res, out = written
    stored = read_result(out)
    maps, units = res.map_arrays()
    assert set(stored.maps) == set(maps)
    for k, m in maps.items():
        got = stored.maps[k]
        assert got.shape == (64, 80), k
        if k in ("class", "valid", "plus_bound", "minus_bound", "lagging"):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, m)
        else:  # float32 on disk
            np.testing.assert_allclose(got, np.asarray(m, np.float32), rtol=0, atol=0,
                                       equal_nan=True)
        assert stored.units[k] == units[k]
    assert stored.pixel_size == pytest.approx(res.pixel_size)
    assert stored.size == pytest.approx(res.plus.size)
    np.testing.assert_allclose(stored.row_displacement, res.registration.row_displacement)
    np.testing.assert_array_equal(stored.row_uncertainty, res.registration.row_uncertainty)
    # the summary as the contract builds it (JSON: NaN as None)
    s = summary(res)
    assert stored.fractions == pytest.approx(
        {k: (None if v is None or math.isnan(v) else v) for k, v in s["fractions"].items()})
    assert stored.summary["median_currents_A"] == pytest.approx(
        {k: v for k, v in res.median_currents().items()})
    assert stored.warnings == res.warnings
    # the domain table, to the six significant digits of the CSV
    assert len(stored.domains) == len(res.domains)
    for name, col in res.domains.columns.items():
        got = [row[name] for row in stored.domains]
        if np.asarray(col).dtype.kind in "iufb":
            np.testing.assert_allclose(np.array(got, float), np.asarray(col, float), rtol=1e-5,
                                       equal_nan=True)
        else:
            assert got == list(col), name
    assert len(stored.profile) > 0 and "plus_current_pA" in stored.profile[0]
    assert "[transport]" in stored.settings_toml
    assert stored.repeat_maps == {}


def test_read_result_refuses_an_incomplete_folder(written, tmp_path):
    with pytest.raises(ReadError, match="no such result folder"):
        read_result(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "result.h5").write_bytes(b"")
    with pytest.raises(ReadError, match="no summary.json"):
        read_result(tmp_path / "half")


def test_to_xarray_coordinates_units_and_codes(written):
    xr = pytest.importorskip("xarray")
    res, out = written
    ds = res.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds.sizes == {"y": 64, "x": 80}
    dy, dx = res.pixel_size
    np.testing.assert_allclose(np.diff(ds["x"].values), dx)
    np.testing.assert_allclose(np.diff(ds["y"].values), dy)
    assert ds["x"].values[0] == pytest.approx(res.plus.offset[1] + dx / 2)
    assert ds["x"].attrs["units"] == "m" and ds["y"].attrs["units"] == "m"
    assert ds["ionic_current"].attrs["units"] == "A"
    assert ds["height"].attrs["units"] == "m"
    assert ds["class"].dtype == np.uint8
    np.testing.assert_array_equal(ds["class"].values, res.class_map)
    meanings = ds["class"].attrs["flag_meanings"].split()
    assert meanings[1:] == list(CLASS_NAMES.values())
    assert list(ds["class"].attrs["flag_values"]) == [0, 1, 2, 3, 4]
    assert ds.attrs["bias_plus_V"] == res.bias_plus
    # selection in m works as a user would do it
    row = ds["plus_current"].sel(y=res.plus.size[0] / 2, method="nearest")
    assert row.sizes == {"x": 80}
    # the stored result gives the same Dataset (float32 on disk)
    st = read_result(out).to_xarray()
    np.testing.assert_allclose(st["ionic_current"].values,
                               ds["ionic_current"].values.astype(np.float32), equal_nan=True)
    np.testing.assert_array_equal(st["class"].values, ds["class"].values)


def test_to_xarray_without_xarray_says_how_to_install(written, monkeypatch):
    res, _ = written
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"afmcurrent\[xarray\]"):
        res.to_xarray()
