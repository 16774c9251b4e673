"""The format registry: one entry per format, detection by content, suffix pre-filter."""

from __future__ import annotations

import pytest

from afmcurrent.errors import ReadError
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
