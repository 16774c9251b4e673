"""The format registry: one entry per format, detection by content, suffix pre-filter."""

from __future__ import annotations

import pytest

from afmcurrent.core.errors import ReadError
from afmcurrent.io import load_scan
from afmcurrent.io.registry import FORMATS, SNIFF_BYTES, detect_format, matches_suffix


def test_names_unique_and_fields_sane():
    names = [f.name for f in FORMATS]
    assert len(set(names)) == len(names)
    for f in FORMATS:
        assert f.suffixes and all(s.startswith(".") and s == s.lower() for s in f.suffixes)
        assert callable(f.sniff) and callable(f.read)
        assert f.description and f.vendor


@pytest.mark.parametrize("blob", [b"", b"\x00" * SNIFF_BYTES, bytes(range(256)) * 16,
                                  b"\\*File list", b"GWY", b"\x89HDF"])
def test_sniffers_never_raise(blob):
    for f in FORMATS:
        assert f.sniff(blob) in (True, False)


def test_detect_by_content_not_extension(realdata_dir, tmp_path):
    src = realdata_dir / "old_bruker.002"
    assert detect_format(src).name == "nanoscope"
    p = tmp_path / "renamed.gwy"
    p.write_bytes(src.read_bytes())
    assert detect_format(p).name == "nanoscope"  # content wins over the extension
    assert load_scan(p).format == "nanoscope"
    assert detect_format(realdata_dir / "scifi_force_bruker.001").name == "nanoscope-force"
    assert detect_format(realdata_dir / "scifi_bipm.gwy").name == "gwyddion-old"
    assert detect_format(realdata_dir / "gwyfile_test.gwy").name == "gwyddion"
    t = tmp_path / "x.spm"
    t.write_text("not a scan")
    assert detect_format(t) is None


def test_refused_kinds_carry_reason(realdata_dir):
    refused = {f.name: f for f in FORMATS if f.refused_reason}
    assert {"nanoscope-force", "gwyddion-old"} <= set(refused)
    with pytest.raises(ReadError, match="force"):
        load_scan(realdata_dir / "scifi_force_bruker.001")


def test_detect_missing_file(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        detect_format(tmp_path / "nope.spm")


@pytest.mark.parametrize("name, ok", [("a.spm", True), ("A.SPM", True), ("scan.000", True),
                                      ("scan.999", True), ("x.gwy", True), ("r.h5", True),
                                      ("r.HDF5", True), ("notes.txt", False), ("x.12", False),
                                      ("x.1234", False), ("spm", False)])
def test_matches_suffix(name, ok):
    assert matches_suffix(name) is ok


def test_info_formats_lists_registry(capsys):
    from afmcurrent.cli import main

    assert main(["info", "--formats"]) == 0
    out = capsys.readouterr().out
    for f in FORMATS:
        assert f.name in out


# -- the Gwyddion route for every other format --------------------------------------------------
def _gsf(path, data, xreal=2e-6, yreal=1.5e-6):
    """A Gwyddion Simple Field file (a format afmcurrent does not read natively)."""
    import numpy as np

    rows, cols = data.shape
    head = (f"Gwyddion Simple Field 1.0\nXRes = {cols}\nYRes = {rows}\nXReal = {xreal}\n"
            f"YReal = {yreal}\nXYUnits = m\nZUnits = A\nTitle = Current\n").encode()
    head += b"\x00" * (4 - len(head) % 4)
    path.write_bytes(head + np.asarray(data, "<f4").tobytes())
    return path


@pytest.mark.gwyddion
def test_unknown_format_read_through_gwyddion(gwyddion, tmp_path, caplog, monkeypatch):
    import logging
    import tempfile

    import numpy as np

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = np.arange(12, dtype=float).reshape(3, 4) * 1e-9
    p = _gsf(tmp_path / "map.gsf", data)
    assert detect_format(p) is None
    with caplog.at_level(logging.INFO, logger="afmcurrent.io.gwyddion_route"):
        scan = load_scan(p)
    assert "converting it with Gwyddion" in caplog.text
    assert scan.format == "gwyddion-converted" and scan.path == p
    assert "gwyddion --convert-to-gwy" in scan.metadata["read_route"]
    ch = scan.channel_list[0]
    assert ch.unit == "A" and ch.name == "Current"
    np.testing.assert_allclose(ch.data, data, rtol=1e-6)  # float32 in the file
    assert scan.size == pytest.approx((1.5e-6, 2e-6))
    assert not list(tmp_path.glob("afmcurrent-gwy-*"))  # temporary folder removed


def test_unknown_format_without_gwyddion_names_the_route(tmp_path, monkeypatch):
    monkeypatch.setenv("AFMCURRENT_GWYDDION", str(tmp_path / "no-such-gwyddion"))
    import numpy as np

    p = _gsf(tmp_path / "map.gsf", np.ones((2, 2)))
    with pytest.raises(ReadError) as exc:
        load_scan(p)
    msg = str(exc.value)
    assert str(p) in msg and "unknown file format" in msg
    for word in ("Bruker", "Park", "Asylum", "NT-MDT", "Nanonis", "Nanosurf", "Gwyddion"):
        assert word in msg
    assert "Installing Gwyddion" in msg


def test_gwyddion_route_time_limit_and_failure(tmp_path, monkeypatch):
    import tempfile

    from afmcurrent.io.gwyddion_route import read_via_gwyddion

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    slow = tmp_path / "slow-gwyddion"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setenv("AFMCURRENT_GWYDDION", str(slow))
    p = tmp_path / "x.dat"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(ReadError, match="within 0.5 s"):
        read_via_gwyddion(p, timeout=0.5)
    bad = tmp_path / "bad-gwyddion"
    bad.write_text("#!/bin/sh\necho 'No data.' >&2\nexit 1\n")
    bad.chmod(0o755)
    monkeypatch.setenv("AFMCURRENT_GWYDDION", str(bad))
    with pytest.raises(ReadError, match="No data"):
        load_scan(p)
    assert not list(tmp_path.glob("afmcurrent-gwy-*"))
