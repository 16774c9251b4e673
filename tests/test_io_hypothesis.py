"""Property-based tests of the readers (hypothesis): any input gives a Scan or a ReadError.

In-process and small (the mutation fuzzer ``tests/fuzz/fuzz_readers.py``, run by CI, does
the thousands of mutants in children under memory and time limits). Formats read through
libhdf5 in SWMR mode are left to the fuzzer, which can survive a hang.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afmcurrent.core.errors import ReadError
from afmcurrent.io import load_scan
from afmcurrent.io.gwy import validate_gwy_structure
from afmcurrent.io.nanoscope import read_nanoscope_header
from afmcurrent.io.registry import FORMATS, SNIFF_BYTES, detect_format

SEEDS = ["old_bruker.002", "gwyfile_test.gwy", "park_NCM_topography_Park_20210916_034.tiff",
         "scifi_P0089OP0027.ibw", "ntmdt_ssrm_GaAs_Iprobe_BV2V_256px_3um.mdt",
         "nanonis_STM_Au111_Current_pySPM_test.sxm", "nanosurf_image_NSFopen.nid"]
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _check_outcome(path):
    try:
        scan = load_scan(path, gwyddion=False)
    except ReadError as exc:
        assert str(path) in str(exc)
        assert "internal error" not in str(exc), str(exc)
        return
    h, w = scan.size
    assert math.isfinite(h) and math.isfinite(w) and h > 0 and w > 0
    assert all(math.isfinite(v) for v in scan.offset)
    assert scan.bias is None or math.isfinite(scan.bias)
    assert min(scan.shape) >= 1


@pytest.mark.parametrize("seed", SEEDS)
@SETTINGS
@given(data=st.data())
def test_mutated_file_gives_scan_or_readerror(realdata_dir, tmp_path, seed, data):
    raw = bytearray((realdata_dir / seed).read_bytes())
    head = min(len(raw), 8192)
    edits = data.draw(st.lists(st.tuples(st.integers(0, head - 1), st.integers(0, 255)),
                               min_size=1, max_size=12))
    for pos, value in edits:
        raw[pos] = value
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    if cut is not None:
        raw = raw[:cut]
    p = tmp_path / f"m{len(edits)}_{seed}"
    p.write_bytes(bytes(raw))
    _check_outcome(p)


@SETTINGS
@given(blob=st.binary(max_size=600))
def test_sniffers_pure_and_detection_total(tmp_path, blob):
    for fmt in FORMATS:
        assert fmt.sniff(blob) in (True, False)
    p = tmp_path / "blob.bin"
    p.write_bytes(blob)
    got = detect_format(p)
    assert got is None or got.sniff(blob[:SNIFF_BYTES])


@SETTINGS
@given(blob=st.binary(max_size=2000))
def test_gwy_validator_total(blob):
    out = validate_gwy_structure(b"GWYP" + blob)
    assert out is None or isinstance(out, str)


_LINE = st.one_of(
    st.sampled_from(["\\*Ciao image list", "\\*Ciao scan list", "\\*Scanner list",
                     "\\Data offset: 40960", "\\Data length: 8", "\\Bytes/pixel: 4",
                     "\\Samps/line: 2", "\\Number of lines: 1", "\\Scan size: 1 1 nm",
                     "\\@2:Z scale: V [Sens. Zsens] (0.1 V/LSB) 1e400 V",
                     "\\@Sens. Zsens: V nan nm/V", "\\Version: 0x09300000"]),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=80).map(lambda t: "\\" + t))


@SETTINGS
@given(lines=st.lists(_LINE, max_size=60))
def test_nanoscope_header_parser_total(tmp_path, lines):
    body = "\r\n".join(["\\*File list", *lines, "\\*File list end"]).encode("latin-1")
    p = tmp_path / "h.spm"
    p.write_bytes(body + b"\x00" * 64)
    try:
        h = read_nanoscope_header(p)
    except ReadError:
        return
    for v in h["normalised"].values():
        if isinstance(v, float):
            assert math.isfinite(v)
    _check_outcome(p)


@SETTINGS
@given(rows=st.integers(1, 9), cols=st.integers(1, 9), bias=st.floats(-10, 10),
       scale=st.floats(1e-9, 1e-3), seed=st.integers(0, 2**16))
def test_nanoscope_write_read_round_trip(tmp_path, rows, cols, bias, scale, seed):
    from afmcurrent.core.model import Channel, Scan
    from afmcurrent.io import write_nanoscope

    rng = np.random.default_rng(seed)
    h = rng.normal(0, scale, (rows, cols))
    scan = Scan([Channel("Height", h, "m", "trace")], size=(rows * 1e-7, cols * 1e-7),
                bias=bias)
    back = load_scan(write_nanoscope(tmp_path / "w.spm", scan, overwrite=True))
    step = max(np.max(np.abs(h)), 1e-300) / 2.0**31
    assert np.max(np.abs(back.channel("Height").data - h)) <= 2 * step
    assert back.size == pytest.approx(scan.size, rel=1e-8)
    assert back.bias == pytest.approx(bias, abs=1e-6)
