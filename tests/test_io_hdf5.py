"""afmcurrent HDF5 format: round trip, dtypes, attributes, foreign HDF5 refused."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from afmcurrent.core.errors import ReadError
from afmcurrent.core.model import Channel, Scan
from afmcurrent.io import load_scan, write_hdf5


def _scan(bias=-1.0):
    rng = np.random.default_rng(7)
    classes = rng.integers(0, 5, (16, 24)).astype(np.uint8)
    return Scan(
        [Channel("zeta", rng.normal(0, 1e-8, (16, 24)), "m", "trace"),
         Channel("I+ (retrace)", rng.uniform(1e-15, 1e-9, (16, 24)), "A", "retrace",
                 quantity="I+", metadata={"logamp": "LOG104"}),
         Channel("classes", classes, "", None),
         Channel("a/b", np.ones((16, 24)), "V", "trace")],
        size=(1.6e-6, 2.4e-6), bias=bias, offset=(0.0, 5e-7),
        metadata={"date": "2024-01-01T00:00:00", "scan_rate_hz": 0.5, "nan": float("nan")},
    )


def test_round_trip(tmp_path):
    scan = _scan()
    out = write_hdf5(tmp_path / "result.h5", scan, dtypes={"classes": np.uint8},
                     attrs={"pair_id": "A1", "shift_px": [1.5, -2.0],
                            "calibration": {"slope_V_per_decade": 0.5}})
    back = load_scan(out)
    assert back.format == "hdf5"
    assert back.channels == scan.channels  # file order, not alphabetical
    for c0, c1 in zip(scan.channel_list, back.channel_list, strict=True):
        assert (c1.unit, c1.direction, c1.quantity) == (c0.unit, c0.direction, c0.quantity)
        np.testing.assert_allclose(c1.data, c0.data, rtol=2**-23)  # float32 storage
    np.testing.assert_array_equal(back.channel("classes").data, scan.channel("classes").data)
    assert back.channel("I+").metadata == {"logamp": "LOG104"}
    assert back.size == scan.size and back.offset == scan.offset and back.bias == -1.0
    assert back.metadata["scan_rate_hz"] == 0.5
    assert back.metadata["pair_id"] == "A1"
    assert back.metadata["shift_px"] == [1.5, -2.0]
    assert json.loads(back.metadata["calibration"]) == {"slope_V_per_decade": 0.5}
    with h5py.File(out) as f:
        assert f.attrs["format"] == "afmcurrent" and f.attrs["format_version"] == 1
        assert f["maps/classes"].dtype == np.uint8
        assert f["maps/zeta"].dtype == np.float32
        assert f["maps/zeta"].attrs["units"] == "m"
        np.testing.assert_allclose(f.attrs["pixel_size_m"], [1e-7, 1e-7])


def test_bias_none_is_nan(tmp_path):
    out = write_hdf5(tmp_path / "r.h5", _scan(bias=None))
    with h5py.File(out) as f:
        assert np.isnan(f.attrs["bias_V"])
    assert load_scan(out).bias is None


def test_refuses_overwrite_and_reserved_attrs(tmp_path):
    out = write_hdf5(tmp_path / "r.h5", _scan())
    with pytest.raises(FileExistsError):
        write_hdf5(out, _scan())
    with pytest.raises(ValueError, match="reserved"):
        write_hdf5(tmp_path / "s.h5", _scan(), attrs={"bias_V": 1.0})
    with pytest.raises(ValueError, match="non-integral"):
        write_hdf5(tmp_path / "t.h5", _scan(), dtypes={"zeta": np.uint8})


def test_foreign_hdf5_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ReadError, match="not an afmcurrent result") as exc:
        load_scan(path)
    assert "other.h5" in str(exc.value)


def test_read_selected_channels(tmp_path):
    from afmcurrent.core.errors import ChannelNotFoundError
    from afmcurrent.io.hdf5 import read_hdf5

    scan = _scan()
    write_hdf5(tmp_path / "a.h5", scan)
    names = [c.name for c in scan.channel_list]
    got = read_hdf5(tmp_path / "a.h5", channels=names[::-1])
    assert [c.name for c in got.channel_list] == names[::-1]
    np.testing.assert_array_equal(got.channel_list[0].data, scan.channel_list[-1].data)
    with pytest.raises(ChannelNotFoundError, match="no channel 'nope'") as exc:
        read_hdf5(tmp_path / "a.h5", channels=["nope"])
    assert all(n in str(exc.value) for n in names) and "a.h5" in str(exc.value)


def test_round_mantissa_bound_and_specials():
    from afmcurrent.io.hdf5 import round_mantissa

    rng = np.random.default_rng(3)
    x = (rng.lognormal(-25, 4, 5000) * rng.choice([-1, 1], 5000)).astype(np.float32)
    x[:4] = [np.nan, np.inf, -np.inf, 0.0]
    x[4] = np.finfo(np.float32).max  # would round up to inf: kept as it is
    y = round_mantissa(x, 12)
    assert np.isnan(y[0]) and y[1] == np.inf and y[2] == -np.inf and y[3] == 0.0
    assert y[4] == x[4]
    fin = np.isfinite(x) & (x != 0)
    rel = np.abs(y[fin].astype(np.float64) / x[fin] - 1)
    assert rel.max() <= 2.0**-13 and rel.max() > 2.0**-15  # rounded, and no further
    assert not np.any(y[5:].view(np.uint32) & np.uint32((1 << 11) - 1))  # low bits are zero
    # ties go to the even neighbour: 1 + 2**-13 lies halfway between 1 and 1 + 2**-12
    tie = np.array([1 + 2.0**-13, 1 + 3 * 2.0**-13], np.float32)
    np.testing.assert_array_equal(round_mantissa(tie, 12), [1.0, 1 + 4 * 2.0**-13])


def test_compact_round_trip(tmp_path):
    scan = _scan()
    out = write_hdf5(tmp_path / "c.h5", scan, dtypes={"classes": np.uint8}, compact=True)
    with h5py.File(out) as f:
        ds = f["maps/zeta"]
        plist = ds.id.get_create_plist()
        assert plist.get_filter(0)[0] == 32001 and ds.chunks is not None  # Blosc
        assert ds.dtype == np.float32
    back = load_scan(out)
    np.testing.assert_array_equal(back.channel("classes").data, scan.channel("classes").data)
    for name in ("zeta", "I+ (retrace)", "a/b"):
        np.testing.assert_allclose(back.channel(name).data, scan.channel(name).data,
                                   rtol=2.0**-13 * 1.01, atol=0)
    assert back.channel("zeta").unit == "m" and back.size == scan.size
    # a fresh process that has not imported hdf5plugin reads it too (the reader loads it)
    code = ("import sys; from afmcurrent.io.hdf5 import read_hdf5; "
            "assert 'hdf5plugin' not in sys.modules; "
            f"print(read_hdf5({str(out)!r}).channel('zeta').data.shape)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "(16, 24)" in r.stdout, r.stderr
