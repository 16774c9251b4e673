"""Bruker Nanoscope reader and writer: real files, pySPM and Gwyddion cross-checks, round trips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import gwyfile
import numpy as np
import pySPM
import pytest

from afmcurrent.core.model import Channel, Scan
from afmcurrent.io import load_scan, read_nanoscope_header, write_nanoscope

REAL_IMAGES = ["old_bruker.002", "old_bruker.004"]


# -- real files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", REAL_IMAGES)
def test_real_bruker_matches_pyspm_flipped_and_in_metres(realdata_dir, name):
    scan = load_scan(realdata_dir / name)
    assert scan.format == "nanoscope"
    assert scan.channels == ["Height"]
    h = scan.channel("Height")
    assert h.unit == "m" and h.direction == "trace" and h.quantity == "Height"
    # pySPM is an independent reader: it returns the image upside down and in nm
    ref = pySPM.Bruker(str(realdata_dir / name)).get_channel("Height")
    assert ref.zscale == "nm"
    np.testing.assert_allclose(h.data, np.flipud(ref.pixels) * 1e-9, rtol=1e-12, atol=0)
    # header says 15 um x 15 um, 256 x 256 pixels
    assert h.shape == (256, 256)
    assert scan.size == pytest.approx((15e-6, 15e-6))
    assert scan.pixel_size == pytest.approx((15e-6 / 256, 15e-6 / 256))


def test_real_bruker_metadata_normalised(realdata_dir):
    scan = load_scan(realdata_dir / "old_bruker.002")
    md = scan.metadata
    # raw entries are kept as strings, keys without the backslash
    assert md["Scan rate"] == "1.50498"
    assert md["@Sens. Zscan"].startswith("V 15.068")
    assert md["Scan size"] == "15000 nm"
    assert scan.channel("Height").metadata["Line direction"] == "Trace"
    assert md["scan_size_m"] == pytest.approx(15e-6)
    assert md["samples_per_line"] == 256 and md["lines"] == 256
    assert md["scan_rate_hz"] == pytest.approx(1.50498)
    assert md["date"] == "2019-07-30T12:34:38"
    assert md["scan_angle_deg"] == 0.0
    assert md["x_offset_m"] == 0.0 and md["y_offset_m"] == 0.0
    # "\@2:Bias: V (0.3051758 mV/LSB) 0 mV": the v5 bias entry, recorded as 0 mV
    assert md["bias_source"] == "@2:Bias" and md["bias_V"] == 0.0 and scan.bias == 0.0
    # "\@Sens. Current: V 10.00000 nA/V"
    assert md["current_sensitivity_A_per_V"] == pytest.approx(1e-8)


def test_two_scans_eleven_minutes_apart(realdata_dir):
    a = load_scan(realdata_dir / "old_bruker.002").metadata["date"]
    b = load_scan(realdata_dir / "old_bruker.004").metadata["date"]
    from datetime import datetime

    dt = datetime.fromisoformat(b) - datetime.fromisoformat(a)
    assert dt.total_seconds() == 10 * 60 + 39


@pytest.mark.parametrize(
    "idx, n_images, bias_key, sens",
    [(0, 2, "@2:Sample Bias", 1e-8), (1, 1, "@2:Bias", 1e-8),
     (2, 8, "@2:Sample Bias", -1e-8), (3, 6, "@2:Sample Bias", 1e-8)],
)
def test_pyspm_headers_parse(realdata_dir, idx, n_images, bias_key, sens):
    h = read_nanoscope_header(realdata_dir / f"pyspm_bruker_data_header.00{idx}")
    assert h["kind"] == "image"
    assert len(h["images"]) == n_images
    assert h["header_end"] <= h["file_size"]
    norm = h["normalised"]
    assert norm["bias_source"] == bias_key and norm["bias_V"] == 0.0
    assert norm["current_sensitivity_A_per_V"] == pytest.approx(sens)
    # every image carries its name and scale entries
    for img in h["images"]:
        assert '"' in img["@2:Image Data"]


def test_pyspm_header_details(realdata_dir):
    h = read_nanoscope_header(realdata_dir / "pyspm_bruker_data_header.002")
    norm = h["normalised"]
    assert norm["x_offset_m"] == pytest.approx(264.649e-9)
    assert norm["y_offset_m"] == pytest.approx(280.272e-9)
    assert norm["lines"] == 358 and norm["samples_per_line"] == 512  # a partial frame
    assert norm["scan_angle_deg"] == pytest.approx(90.0, abs=1e-3)  # 1.5708 rad
    assert norm["date"] == "2021-07-22T11:47:00"
    assert "@Sens. tunaSens" in h["globals"]
    names = [img["@2:Image Data"].split('"')[1] for img in h["images"]]
    assert names[0] == "Height Sensor" and names[-1] == "Height"


# -- writer ---------------------------------------------------------------------------------------
def _scan(rows=48, cols=64, seed=0, bias=-0.75):
    rng = np.random.default_rng(seed)
    h = rng.normal(0, 20e-9, (rows, cols)) + np.linspace(0, 50e-9, cols)  # tilt: orientation
    h[:5, :] += 100e-9  # a bright band at the top rows
    v = rng.uniform(-9.5, 9.5, (rows, cols))
    a = rng.uniform(0, 5e-9, (rows, cols))
    return Scan(
        [Channel("Height", h, "m", "trace"),
         Channel("Height (retrace)", h * 1.01, "m", "retrace", quantity="Height"),
         Channel("Input1", v, "V", "trace"),
         Channel("Current", a, "A", "trace")],
        size=(3e-6, 4e-6), bias=bias, offset=(1e-7, -2e-7),
        metadata={"date": "2024-03-01T10:11:12", "scan_rate_hz": 0.5, "scan_angle_deg": 30.0},
    )


def _assert_quantised_equal(got, want):
    step = np.max(np.abs(want)) / 2.0**31  # 4-byte integers over +/- max|value|
    assert np.max(np.abs(got - want)) <= step


def test_write_read_round_trip(tmp_path):
    scan = _scan()
    out = write_nanoscope(tmp_path / "capture.spm", scan)
    assert out.read_bytes().startswith(b"\\*File list\r\n")
    back = load_scan(out)
    assert back.channels == scan.channels
    for c0 in scan.channel_list:
        c1 = back.channel(c0.name)
        assert (c1.unit, c1.direction, c1.quantity) == (c0.unit, c0.direction, c0.quantity)
        _assert_quantised_equal(c1.data, c0.data)
    assert back.size == pytest.approx(scan.size, rel=1e-9)
    assert back.offset == pytest.approx(scan.offset, rel=1e-9)
    assert back.bias == pytest.approx(-0.75)
    md = back.metadata
    assert md["bias_source"] == "@2:Sample Bias"
    assert md["@2:Sample Bias"].endswith("-750 mV")
    assert md["scan_rate_hz"] == 0.5
    assert md["date"] == "2024-03-01T10:11:12"
    assert md["scan_angle_deg"] == pytest.approx(30.0)
    assert md["current_sensitivity_A_per_V"] > 0


def test_write_without_bias_reads_none(tmp_path):
    scan = _scan(bias=None)
    back = load_scan(write_nanoscope(tmp_path / "nobias.000", scan))
    assert back.bias is None and "bias_V" not in back.metadata


def test_written_file_read_by_pyspm(tmp_path):
    scan = _scan(rows=32, cols=32)  # pySPM mis-shapes non-square images: square here
    out = write_nanoscope(tmp_path / "square.spm", scan)
    b = pySPM.Bruker(str(out))
    height = b.get_channel("Height")
    assert height.zscale == "nm"
    _assert_quantised_equal(np.flipud(height.pixels) * 1e-9, scan.channel("Height").data)
    current = b.get_channel("Current")
    assert current.zscale == "nA"
    _assert_quantised_equal(np.flipud(current.pixels) * 1e-9, scan.channel("Current").data)
    retrace = b.get_channel("Height", backward=True)
    _assert_quantised_equal(np.flipud(retrace.pixels) * 1e-9,
                            scan.channel("Height (retrace)").data)


def test_writer_refuses_overwrite(tmp_path):
    out = write_nanoscope(tmp_path / "a.spm", _scan())
    before = out.read_bytes()
    with pytest.raises(FileExistsError):
        write_nanoscope(out, _scan(seed=1))
    assert out.read_bytes() == before
    write_nanoscope(out, _scan(seed=1), overwrite=True)
    assert out.read_bytes() != before


def test_writer_rejects_nan(tmp_path):
    scan = _scan()
    scan.channel_list[0].data[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_nanoscope(tmp_path / "nan.spm", scan)
    assert not (tmp_path / "nan.spm").exists()


# -- Gwyddion cross-checks ------------------------------------------------------------------------
def _gwyddion_convert(gwyddion: str, src: Path, dst: Path) -> dict:
    res = subprocess.run([gwyddion, f"--convert-to-gwy={dst}", str(src)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and dst.exists(), res.stderr
    obj = gwyfile.load(str(dst))
    fields = {}
    for key in obj:
        if key.endswith("/data") and key.count("/") == 2:
            fields[int(key.split("/")[1])] = obj[key]
    return fields


@pytest.mark.gwyddion
@pytest.mark.parametrize("name", REAL_IMAGES)
def test_real_bruker_equals_gwyddion(gwyddion, realdata_dir, tmp_path, name):
    scan = load_scan(realdata_dir / name)
    fields = _gwyddion_convert(gwyddion, realdata_dir / name, tmp_path / "g.gwy")
    assert len(fields) == len(scan.channel_list)
    for i, ch in enumerate(scan.channel_list):
        f = fields[i]
        np.testing.assert_allclose(ch.data, f.data, rtol=1e-6, atol=0)
        assert f["si_unit_z"]["unitstr"] == ch.unit
        assert (f["yreal"], f["xreal"]) == pytest.approx(scan.size, rel=1e-9)


@pytest.mark.gwyddion
def test_written_file_equals_gwyddion(gwyddion, tmp_path):
    scan = _scan()
    out = write_nanoscope(tmp_path / "w.spm", scan)
    ours = load_scan(out)
    fields = _gwyddion_convert(gwyddion, out, tmp_path / "w.gwy")
    assert len(fields) == 4
    for i, ch in enumerate(ours.channel_list):
        f = fields[i]
        assert f.data.shape == ch.shape == (48, 64)
        np.testing.assert_allclose(f.data, ch.data, rtol=1e-9, atol=0)
        _assert_quantised_equal(f.data, scan.channel_list[i].data)  # orientation too
        assert f["si_unit_z"]["unitstr"] == scan.channel_list[i].unit
        assert (f["yreal"], f["xreal"]) == pytest.approx(scan.size, rel=1e-9)


def test_writer_sanitises_names_that_would_break_the_header(tmp_path):
    rng = np.random.default_rng(5)
    scan = Scan([Channel('log "I": +V', rng.uniform(-5, 5, (8, 8)), "V", "trace")],
                size=(1e-6, 1e-6))
    back = load_scan(write_nanoscope(tmp_path / "odd.spm", scan))
    assert back.channels == ["log _I__ +V"]
    _assert_quantised_equal(back.channel_list[0].data, scan.channel_list[0].data)
