"""Readers of other vendors' files, on real files, held to Gwyddion's reading of each.

Files (``data_samples/real/``, provenance in ``data_samples/README.md``): an NT-MDT spreading-
resistance current map (MDT), a Nanonis STM scan (SXM), a Park SmartScan TIFF, a Nanosurf NID
and an Asylum Research Cypher IBW. The ``gwyddion`` tests convert each file with
``gwyddion --convert-to-gwy`` at test time and compare every data field: values, units,
physical size, orientation and the order / direction of the channels.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import gwyfile
import numpy as np
import pytest

from afmcurrent.io import load_scan
from afmcurrent.io.registry import detect_format

MDT = "ntmdt_ssrm_GaAs_Iprobe_BV2V_256px_3um.mdt"
SXM = "nanonis_STM_Au111_Current_pySPM_test.sxm"
PARK = "park_NCM_topography_Park_20210916_034.tiff"
NID = "nanosurf_image_NSFopen.nid"
IBW = "scifi_P0089OP0027.ibw"

# file -> (format, [(name, unit, direction)], size (h, w) m, bias V)
EXPECTED = {
    MDT: ("ntmdt-mdt", [("Iprobe", "A", "trace"), ("Iprobe (retrace)", "A", "retrace")],
          (3.000833544e-6, 3.000833544e-6), 2.0000708),
    SXM: ("nanonis-sxm", [("Z", "m", "trace"), ("Z (retrace)", "m", "retrace"),
                          ("Current", "A", "trace"), ("Current (retrace)", "A", "retrace")],
          (5e-6, 5e-6), 0.2),
    PARK: ("park-tiff", [("Topography", "m", "trace")], (2.5e-6, 2.5e-6), 0.0),
    NID: ("nanosurf-nid", [("Z-Axis", "m", "trace"), ("Amplitude", "V", "trace"),
                           ("Phase", "deg", "trace"), ("Z-Axis (retrace)", "m", "retrace"),
                           ("Amplitude (retrace)", "V", "retrace"),
                           ("Phase (retrace)", "deg", "retrace")], (7.40729e-6, 7.40729e-6),
          0.0),
    IBW: ("asylum-ibw", [("HeightRetrace", "m", "retrace"), ("AmplitudeRetrace", "m", "retrace"),
                         ("DeflectionRetrace", "m", "retrace"), ("PhaseRetrace", "deg", "retrace"),
                         ("UserIn0Retrace", "V", "retrace")],
          (256 * 2e-6 / 255, 256 * 2e-6 / 255), -1.0),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_vendor_file_read(realdata_dir, name):
    fmt, chans, size, bias = EXPECTED[name]
    path = realdata_dir / name
    assert detect_format(path).name == fmt
    scan = load_scan(path)
    assert scan.format == fmt
    assert [(c.name, c.unit, c.direction) for c in scan.channel_list] == chans
    assert scan.shape == (256, 256)
    assert scan.size == pytest.approx(size, rel=1e-9)
    assert scan.bias == pytest.approx(bias, abs=1e-12)
    md = scan.metadata
    for key in ("vendor", "date", "bias_V", "scan_width_m", "scan_height_m", "samples_per_line",
                "lines", "scan_rate_hz", "scan_angle_deg", "x_offset_m", "y_offset_m"):
        assert key in md, (name, key)
    assert md["lines"] == 256 and md["samples_per_line"] == 256
    for c in scan.channel_list:
        assert np.all(np.isfinite(c.data))


def test_ntmdt_current_map_metadata(realdata_dir):
    scan = load_scan(realdata_dir / MDT)
    md = scan.metadata
    assert md["operating_mode"] == "Spreading Resistance"
    assert md["instrument"] == "NtegraEx"
    assert md["date"] == "2022-12-26T16:55:45"
    assert md["bias_source"].startswith("SchemeSW0/par12_pi_hvValueBV")
    cur = scan.channel("Iprobe").data
    # a sparse conductive-spot map: about -6e-11 .. 5.3e-8 A (see data_samples/README.md)
    assert 4e-8 < cur.max() < 6e-8 and -1e-10 < cur.min() < 0
    # the scan centre from the XML parameters (um)
    assert scan.offset == pytest.approx((62.5396504e-6, 54.0978348e-6))
    # ExecTime 0:08:37 for 256 lines: about 0.495 lines/s; from the tip speed: 0.4998
    assert md["scan_rate_hz"] == pytest.approx(256 / 517, rel=0.02)


def test_ntmdt_info_shows_current_and_bias(realdata_dir, capsys):
    from afmcurrent.cli import main

    assert main(["info", str(realdata_dir / MDT)]) == 0
    out = capsys.readouterr().out
    assert "+2.00007 V" in out
    assert re.search(r"Iprobe\s+\[A\] trace\s+current", out), out
    assert main(["info", "--json", str(realdata_dir / MDT)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["bias_V"] == pytest.approx(2.0000708)
    assert [c["unit"] for c in info["channels"]] == ["A", "A"]


def test_nanonis_metadata(realdata_dir):
    md = load_scan(realdata_dir / SXM).metadata
    assert md["date"] == "2016-03-10T09:36:05"
    assert md["scan_rate_hz"] == pytest.approx(1 / (2 * 0.4992))
    assert md["slow_scan_direction"] == "up" and md["setpoint"] == "2.000E-10 A"


def test_asylum_metadata(realdata_dir):
    scan = load_scan(realdata_dir / IBW)
    md = scan.metadata
    assert md["instrument"] == "Cypher" and md["operating_mode"] == "PFM Mode"
    assert md["bias_source"] == "-TipVoltage"  # TipVoltage 1 V, SurfaceVoltage 0 V
    assert md["scan_rate_hz"] == pytest.approx(1.0016)
    assert scan.pixel_size == pytest.approx((2e-6 / 255, 2e-6 / 255))


# -- held to Gwyddion ------------------------------------------------------------------------
def _gwyddion_fields(gwyddion: str, src: Path, dst: Path) -> list[dict]:
    res = subprocess.run([gwyddion, f"--convert-to-gwy={dst}", str(src)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and dst.exists(), res.stderr
    obj = gwyfile.load(str(dst))
    ids = sorted(int(k.split("/")[1]) for k in obj if re.fullmatch(r"/\d+/data", k))
    return [{"data": np.array(obj[f"/{n}/data"].data), "title": obj.get(f"/{n}/data/title"),
             "unit": obj[f"/{n}/data"]["si_unit_z"].get("unitstr", ""),
             "xreal": obj[f"/{n}/data"]["xreal"], "yreal": obj[f"/{n}/data"]["yreal"]}
            for n in ids]


def _compare(scan, fields) -> float:
    """Largest |ours - Gwyddion| / max|Gwyddion| over every channel; asserts the rest."""
    assert len(fields) == len(scan.channel_list)
    worst = 0.0
    for ch, f in zip(scan.channel_list, fields, strict=True):
        assert f["title"].startswith(ch.metadata["gwyddion_title"]), (ch.name, f["title"])
        assert f["unit"] == ch.unit, (ch.name, f["unit"], ch.unit)
        assert f["data"].shape == ch.data.shape
        scale = float(np.max(np.abs(f["data"])))
        worst = max(worst, float(np.max(np.abs(ch.data - f["data"]))) / scale)
        assert f["xreal"] == pytest.approx(scan.size[1], rel=1e-12)
        assert f["yreal"] == pytest.approx(scan.size[0], rel=1e-12)
    return worst


@pytest.mark.gwyddion
@pytest.mark.parametrize("name", list(EXPECTED))
def test_vendor_file_equals_gwyddion(gwyddion, realdata_dir, tmp_path, name):
    scan = load_scan(realdata_dir / name)
    worst = _compare(scan, _gwyddion_fields(gwyddion, realdata_dir / name, tmp_path / "g.gwy"))
    assert worst <= 1e-12, worst


@pytest.mark.gwyddion
def test_nanonis_scanned_down_equals_gwyddion(gwyddion, realdata_dir, tmp_path):
    # the same file with :SCAN_DIR: down: no vertical flip (backward still mirrored)
    p = tmp_path / "down.sxm"
    data = (realdata_dir / SXM).read_bytes()
    p.write_bytes(data.replace(b":SCAN_DIR:\nup\n", b":SCAN_DIR:\ndown\n", 1))
    down, up = load_scan(p), load_scan(realdata_dir / SXM)
    np.testing.assert_array_equal(down.channel("Z").data, up.channel("Z").data[::-1])
    assert _compare(down, _gwyddion_fields(gwyddion, p, tmp_path / "g.gwy")) <= 1e-12


@pytest.mark.gwyddion
def test_asylum_current_channel_named_like_gwyddion(gwyddion, realdata_dir, tmp_path):
    # relabel the layers (the labels block is outside the checksummed header): Gwyddion's and
    # our unit rules for Asylum channel names must agree, Current in A included
    raw = bytearray((realdata_dir / IBW).read_bytes())
    base = raw.find(b"HeightRetrace\x00")
    labels = ["CurrentRetrace", "Current2Trace", "BiasRetrace", "NapPhaseRetrace",
              "ZSensorTrace"]
    for k, lab in enumerate(labels):
        slot = base + 32 * k
        raw[slot:slot + 32] = lab.encode().ljust(32, b"\x00")
    p = tmp_path / "relabelled.ibw"
    p.write_bytes(bytes(raw))
    scan = load_scan(p)
    assert [(c.name, c.unit, c.direction) for c in scan.channel_list] == [
        ("CurrentRetrace", "A", "retrace"), ("Current2Trace", "A", "trace"),
        ("BiasRetrace", "V", "retrace"), ("NapPhaseRetrace", "deg", "retrace"),
        ("ZSensorTrace", "m", "trace")]
    assert scan.channel("CurrentRetrace").quantity == "Current"
    assert _compare(scan, _gwyddion_fields(gwyddion, p, tmp_path / "g.gwy")) <= 1e-12
