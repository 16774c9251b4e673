"""Bruker Nanoscope variants on real headers, each held to Gwyddion's reading of the same file.

The files are built at test time from real headers committed in ``data_samples/real/`` (the
header bytes kept, CR LF restored where the published copy lost it, a few entries edited as
named below) and random pixel data written at each image's ``Data offset``:

* ``pf970.spm``: NanoScope 9.70 PeakForce QNM (Dimension Icon) header, 8 images; a partial
  frame (358 of 512 lines, ``Aspect Ratio: 0.516184``), 4-byte samples everywhere although
  ``Peak Force Error`` says ``Bytes/pixel: 2``, the last image (Height) one line longer,
  ``@Sens. CurrentSens: V -10 nA/V``, scan angle 1.5708 rad; one image turned into a C-AFM
  current through ``[Sens. CurrentSens]``;
* ``tuna730.000``: NanoScope 7.30 Dimension V header, 5 images of 512 x 512 with 2-byte
  samples; images 3-5 turned into a TUNA current (``[Sens. tunaSens]`` pA/V), a C-AFM current
  (``[Sens. CurrentSens]`` nA/V) and an auxiliary input (``[Sens. Input1]``, V); the sample
  bias set to -750 mV and the scan angle to 30 deg.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import gwyfile
import numpy as np
import pytest

from afmcurrent.io import load_scan

HDR_970 = "pyspm_bruker_data_header.002"
HDR_730 = "bruker_v730_DimensionV_tapping_header.000"


def build(header: Path, out: Path, edits=(), seed=0) -> list[np.ndarray]:
    """Write ``out`` = header (CR LF, edited) + random samples at each image's data offset.

    The sample size of each image is its ``Data length`` / (lines x samples), as recorded.
    Returns the raw integer arrays in storage order (bottom row first).
    """
    raw = header.read_bytes()
    end = raw.index(b"\\*File list end") + len(b"\\*File list end")
    head = raw[:end]
    if b"\r\n" not in head[:64]:
        head = head.replace(b"\n", b"\r\n")
    for old, new in edits:
        assert head.count(old) >= 1, old
        head = head.replace(old, new, 1)
    text = head.decode("latin-1")
    images = text.split("\\*Ciao image list")[1:]
    rng = np.random.default_rng(seed)
    first = int(re.search(r"\\Data offset: (\d+)", images[0]).group(1))
    assert len(head) + 3 <= first
    buf = bytearray(head + b"\r\n\x1a")
    buf += bytes(first - len(buf))
    arrays = []
    for sec in images:
        off = int(re.search(r"\\Data offset: (\d+)", sec).group(1))
        length = int(re.search(r"\\Data length: (\d+)", sec).group(1))
        cols = int(re.search(r"\\Samps/line: (\d+)", sec).group(1))
        rows = int(re.search(r"\\Number of lines: (\d+)", sec).group(1))
        bps = length // (rows * cols)
        assert off == len(buf) and bps in (2, 4)
        lim = 2 ** (8 * bps - 1)
        a = rng.integers(-lim, lim, (rows, cols)).astype("<i4" if bps == 4 else "<i2")
        arrays.append(a)
        buf += a.tobytes()
    out.write_bytes(bytes(buf))
    return arrays


def gwyddion_fields(gwyddion: str, src: Path, dst: Path) -> list[dict]:
    res = subprocess.run([gwyddion, f"--convert-to-gwy={dst}", str(src)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and dst.exists(), res.stderr
    obj = gwyfile.load(str(dst))
    ids = sorted(int(k.split("/")[1]) for k in obj if re.fullmatch(r"/\d+/data", k))
    out = []
    for n in ids:
        f = obj[f"/{n}/data"]
        out.append({"data": np.array(f.data), "title": obj.get(f"/{n}/data/title"),
                    "unit": f["si_unit_z"].get("unitstr", ""), "xreal": f["xreal"],
                    "yreal": f["yreal"]})
    return out


def _edits_970():
    return [(b'\\@2:Image Data: S [Adhesion] "Adhesion"',
             b'\\@2:Image Data: S [Current] "C-AFM Current"'),
            (b"\\@2:Z scale: V [Sens. ForceSens] (0.0000009536743 Arb/LSB) 4096.000 Arb",
             b"\\@2:Z scale: V [Sens. CurrentSens] (0.0003750000 V/LSB) 24.57600 V")]


def _edits_730():
    return [(b'S [AmplitudeActual] "Amplitude"', b'S [TUNA] "TUNA Current"'),
            (b"\\@2:Z scale: V [Sens. Amplitude] (0.06103516 mV/LSB) 3999.939 mV",
             b"\\@2:Z scale: V [Sens. tunaSens] (0.0003750000 V/LSB) 24.57600 V"),
            (b'S [Phase] "Phase"', b'S [Current] "C-AFM Current"'),
            (b"\\@2:Z scale: V [Sens. Phase] (0.005493164 \xba/LSB) 359.9945 \xba",
             b"\\@2:Z scale: V [Sens. CurrentSens] (0.0003750000 V/LSB) 24.57600 V"),
            (b'S [AmplitudeError] "Amplitude Error"', b'S [Input1] "Input1"'),
            (b"\\@2:Z scale: V [Sens. Amplitude Error] (0.06103516 mV/LSB) 3999.939 mV",
             b"\\@2:Z scale: V [Sens. Input1] (0.0003051758 V/LSB) 20.00000 V"),
            (b"\\@2:Sample Bias: V (0.3051758 mV/LSB)       0 mV",
             b"\\@2:Sample Bias: V (0.3051758 mV/LSB) -750.0000 mV"),
            (b"\\Rotate Ang.: 0", b"\\Rotate Ang.: 0.5235988")]


def test_v970_four_byte_samples_and_partial_frame(realdata_dir, tmp_path):
    p = tmp_path / "pf970.spm"
    raw = build(realdata_dir / HDR_970, p, _edits_970())
    scan = load_scan(p)
    assert scan.format == "nanoscope" and scan.shape == (358, 512)
    assert len(scan.channel_list) == 7  # the 359-line Height is skipped, named in metadata
    assert scan.metadata["skipped_channels"] == ["Height (359x512)"]
    # Peak Force Error: header says 2 bytes/pixel, samples are 4 bytes (NanoScope >= 9.2);
    # value = raw / 2**16 * 4.096 V * 1 (unit-less ForceDeflSens): checked by hand here
    pfe = scan.channel("Peak Force Error", "retrace")
    np.testing.assert_allclose(pfe.data, raw[1][::-1] / 2.0 ** 16 * 4.096, rtol=1e-15)
    assert pfe.unit == "V" and pfe.metadata["sample_bytes"] == 4
    # C-AFM current through @Sens. CurrentSens: V -10 nA/V (sign kept): A
    cur = scan.channel("C-AFM Current")
    assert cur.unit == "A"
    np.testing.assert_allclose(cur.data, raw[4][::-1] / 2.0 ** 32 * 24.576 * -10e-9,
                               rtol=1e-14)
    # partial frame: 358 lines of a 300 nm scan with square pixels
    assert scan.size == pytest.approx((300e-9 * 358 / 512, 300e-9))
    md = scan.metadata
    assert md["scan_angle_deg"] == pytest.approx(90.0, abs=1e-3)
    assert md["current_sensitivity_A_per_V"] == pytest.approx(-1e-8)
    assert md["operating_mode"] == "PeakForce QNM" and md["instrument"] == "Dimension Icon"
    assert md["lines"] == 358 and md["samples_per_line"] == 512


def test_v730_current_channels_and_bias(realdata_dir, tmp_path):
    p = tmp_path / "tuna730.000"
    raw = build(realdata_dir / HDR_730, p, _edits_730())
    scan = load_scan(p)
    assert scan.shape == (512, 512) and scan.size == pytest.approx((5e-6, 5e-6))
    assert scan.bias == pytest.approx(-0.75) and scan.metadata["bias_source"] == "@2:Sample Bias"
    assert scan.metadata["scan_angle_deg"] == pytest.approx(30.0, abs=1e-5)
    assert scan.metadata["scan_rate_hz"] == pytest.approx(0.500801)
    assert scan.metadata["slow_scan_direction"] == "down"
    tuna = scan.channel("TUNA Current")
    assert tuna.unit == "A" and tuna.direction == "retrace"
    # @Sens. tunaSens: V 10 pA/V; 2-byte samples scaled by 2**16
    np.testing.assert_allclose(tuna.data, raw[2][::-1] / 2.0 ** 16 * 24.576 * 10e-12,
                               rtol=1e-14)
    cafm = scan.channel("C-AFM Current")
    np.testing.assert_allclose(cafm.data, raw[3][::-1] / 2.0 ** 16 * 24.576 * 10e-9,
                               rtol=1e-14)
    aux = scan.channel("Input1")
    assert aux.unit == "V" and aux.direction == "trace"
    np.testing.assert_allclose(aux.data, raw[4][::-1] / 2.0 ** 16 * 20.0, rtol=1e-14)
    assert scan.channel("Height", "retrace").unit == "m"
    assert [c.direction for c in scan.channel_list] == ["retrace"] * 3 + ["trace"] * 2


@pytest.mark.gwyddion
@pytest.mark.parametrize("name, header, edits", [
    ("pf970.spm", HDR_970, _edits_970()),
    ("tuna730.000", HDR_730, _edits_730()),
    ("tapping730.001", HDR_730, ()),
])
def test_variants_equal_gwyddion(gwyddion, realdata_dir, tmp_path, name, header, edits):
    p = tmp_path / name
    build(realdata_dir / header, p, edits, seed=3)
    scan = load_scan(p)
    fields = gwyddion_fields(gwyddion, p, tmp_path / "g.gwy")
    same = [f for f in fields if f["data"].shape == scan.shape]
    assert len(same) == len(scan.channel_list)
    for ch, f in zip(scan.channel_list, same, strict=True):
        assert ch.metadata["gwyddion_title"] == f["title"]
        scale = np.max(np.abs(f["data"]))
        # Gwyddion 2.62 ignores the prefix of the Z scale's unit for a unit-less sensitivity
        # (the Amplitude channels here: 3999.9 mV read as 3999.9 "V"); afmcurrent applies it
        ratio = 1e-3 if ch.metadata["@2:Z scale"].endswith(" mV") else 1.0
        assert np.max(np.abs(ch.data - ratio * f["data"])) <= 1e-12 * ratio * scale, ch.name
        if ch.unit in ("m", "A", "V", "deg"):
            assert f["unit"] == ch.unit, ch.name
        else:  # and says V whatever the Z scale's unit (Arb, log(Arb))
            assert f["unit"] == "V", (ch.name, ch.unit)
        assert f["xreal"] == pytest.approx(scan.size[1], rel=1e-12)
        assert f["yreal"] == pytest.approx(scan.size[0], rel=1e-12)
