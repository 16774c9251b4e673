"""Gwyddion .gwy reader and writer: real files, round trip, Gwyddion re-opens what we write."""

from __future__ import annotations

import subprocess

import gwyfile
import numpy as np
import pytest

from afmcurrent.core.errors import ReadError
from afmcurrent.core.model import Channel, Scan
from afmcurrent.io import load_scan, read_gwy, write_gwy


def test_gwyfile_test_file(realdata_dir):
    path = realdata_dir / "gwyfile_test.gwy"
    scan = load_scan(path)
    assert scan.format == "gwyddion"
    assert scan.channels == ["Test"]
    ch = scan.channel("Test")
    assert ch.shape == (128, 128) and ch.unit == "" and ch.direction is None
    raw = gwyfile.load(str(path))["/0/data"]
    np.testing.assert_array_equal(ch.data, raw.data)
    assert scan.size == (raw["yreal"], raw["xreal"])


def test_pto_file_retrace_channels(realdata_dir):
    path = realdata_dir / "scifi_PTO_110_Virgin0001.gwy"
    scan = load_scan(path)
    assert scan.channels == ["HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace",
                             "PhaseRetrace"]
    assert all(c.direction == "retrace" for c in scan.channel_list)
    assert [c.quantity for c in scan.channel_list] == ["Height", "Amplitude", "Deflection",
                                                       "Phase"]
    assert scan.channel("Height").name == "HeightRetrace"  # quantity lookup
    assert scan.channel("HeightRetrace").unit == "m"
    assert scan.shape == (256, 256)
    raw = gwyfile.load(str(path))
    for i, ch in enumerate(scan.channel_list):
        np.testing.assert_array_equal(ch.data, raw[f"/{i}/data"].data)
    h = scan.channel("HeightRetrace").data
    assert 1e-10 < np.ptp(h) < 1e-5  # an AFM height image, in metres
    assert 1e-6 < scan.size[1] < 1e-4
    assert scan.bias is None


def _scan():
    rng = np.random.default_rng(3)
    return Scan(
        [Channel("Height", rng.normal(0, 1e-8, (20, 30)), "m", "trace"),
         Channel("Current (retrace)", rng.uniform(0, 1e-12, (20, 30)), "A", "retrace",
                 quantity="Current", metadata={"note": "log-amp"}),
         Channel("Class", rng.integers(0, 5, (20, 30)).astype(float), "", None)],
        size=(2e-6, 3e-6), bias=0.5, offset=(1e-6, -1e-6),
        metadata={"Samps/line": "30", "scan_rate_hz": 1.0, "nested": {"a": 1}},
    )


def test_write_read_round_trip(tmp_path):
    scan = _scan()
    out = write_gwy(tmp_path / "result.gwy", scan)
    back = read_gwy(out)
    assert back.channels == scan.channels
    for c0, c1 in zip(scan.channel_list, back.channel_list, strict=True):
        np.testing.assert_array_equal(c1.data, c0.data)
        assert (c1.unit, c1.direction, c1.quantity) == (c0.unit, c0.direction, c0.quantity)
    assert back.size == scan.size and back.offset == scan.offset
    assert back.bias == 0.5
    assert back.metadata["Samps/line"] == "30"
    assert back.metadata["scan_rate_hz"] == "1.0"
    assert back.metadata["nested"] == '{"a": 1}'
    assert back.channel("Current").metadata["note"] == "log-amp"


def test_write_refuses_overwrite(tmp_path):
    out = write_gwy(tmp_path / "r.gwy", _scan())
    with pytest.raises(FileExistsError):
        write_gwy(out, _scan())
    write_gwy(out, _scan(), overwrite=True)


@pytest.mark.gwyddion
def test_gwyddion_opens_written_file(gwyddion, tmp_path):
    scan = _scan()
    out = write_gwy(tmp_path / "written.gwy", scan)
    copy = tmp_path / "copy.gwy"
    res = subprocess.run([gwyddion, f"--convert-to-gwy={copy}", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and copy.exists(), res.stderr
    back = read_gwy(copy)
    assert back.channels == scan.channels
    for c0, c1 in zip(scan.channel_list, back.channel_list, strict=True):
        np.testing.assert_array_equal(c1.data, c0.data)
        assert c1.unit == c0.unit
    assert back.size == pytest.approx(scan.size)
    assert back.bias == 0.5


def test_old_gwyo_refused(realdata_dir):
    with pytest.raises(ReadError, match="GWYO") as exc:
        read_gwy(realdata_dir / "scifi_bipm.gwy")
    assert "scifi_bipm.gwy" in str(exc.value) and "save it again" in str(exc.value)
