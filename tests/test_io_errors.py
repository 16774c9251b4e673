"""Bad input to load_scan: always a ReadError naming the file and the problem, never a hang."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from afmcurrent.errors import ChannelNotFoundError, ReadError
from afmcurrent.io import load_scan, read_nanoscope_header


def _fails(path, *patterns):
    with pytest.raises(ReadError) as exc:
        load_scan(path)
    msg = str(exc.value)
    assert str(path) in msg
    for pat in patterns:
        assert re.search(pat, msg, re.IGNORECASE), msg
    return msg


def test_missing_file(tmp_path):
    _fails(tmp_path / "nope.spm", "no such file")


def test_directory(tmp_path):
    _fails(tmp_path, "directory")


def test_unknown_text_file(tmp_path):
    p = tmp_path / "notes.spm"  # the extension alone does not make it a Nanoscope file
    p.write_text("just some text\n")
    msg = _fails(p, "unknown file format")
    assert "Nanoscope" in msg and "Gwyddion" in msg and "HDF5" in msg


def test_unknown_png_bytes(tmp_path):
    p = tmp_path / "image.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    _fails(p, "unknown file format")


def test_force_curve_refused(realdata_dir):
    _fails(realdata_dir / "scifi_force_bruker.001", "force")


@pytest.mark.parametrize("idx", range(4))
def test_header_only_files(realdata_dir, idx):
    path = realdata_dir / f"pyspm_bruker_data_header.00{idx}"
    header = read_nanoscope_header(path)  # the header itself is fine
    assert header["images"]
    _fails(path, "without pixel data")


def test_truncated_file(realdata_dir, tmp_path):
    src = realdata_dir / "old_bruker.002"
    p = tmp_path / "cut.002"
    p.write_bytes(src.read_bytes()[:100_000])  # header complete, pixel data cut
    _fails(p, "truncated", "100000")


def test_truncated_inside_header_returns_quickly(realdata_dir, tmp_path):
    # No "\*File list end": pySPM.Bruker would loop forever; our parser stops at EOF.
    p = tmp_path / "cut_header.002"
    p.write_bytes((realdata_dir / "old_bruker.002").read_bytes()[:5000])
    t0 = time.perf_counter()
    _fails(p, "File list end")
    with pytest.raises(ReadError):
        read_nanoscope_header(p)
    assert time.perf_counter() - t0 < 2.0


def test_claimed_size_larger_than_file(realdata_dir, tmp_path):
    # both the scan list and the image claim it (with only the image's entry bogus, the scan
    # list's pixel counts fit the data length and win, as in Gwyddion)
    data = (realdata_dir / "old_bruker.002").read_bytes()
    p = tmp_path / "huge.002"
    p.write_bytes(data.replace(b"\\Samps/line: 256", b"\\Samps/line: 999999999"))
    t0 = time.perf_counter()
    _fails(p, "999999999")
    assert time.perf_counter() - t0 < 2.0  # refused before any allocation


def test_data_length_inconsistent(realdata_dir, tmp_path):
    data = (realdata_dir / "old_bruker.002").read_bytes()
    p = tmp_path / "len.002"
    p.write_bytes(data.replace(b"\\Data length: 131072", b"\\Data length: 131070", 1))
    _fails(p, "Data length 131070")


def test_old_gwyo_refused(realdata_dir):
    _fails(realdata_dir / "scifi_bipm.gwy", "GWYO", "re-?save|save it again")


def test_corrupt_gwy(realdata_dir, tmp_path):
    p = tmp_path / "cut.gwy"
    p.write_bytes((realdata_dir / "scifi_PTO_110_Virgin0001.gwy").read_bytes()[:50_000])
    _fails(p, "corrupt|truncated")


def test_corrupt_hdf5(tmp_path):
    p = tmp_path / "cut.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    _fails(p, "HDF5")


def test_channel_not_found_lists_channels(realdata_dir):
    scan = load_scan(realdata_dir / "old_bruker.002")
    with pytest.raises(ChannelNotFoundError) as exc:
        scan.channel("Current")
    msg = str(exc.value)
    assert "old_bruker.002" in msg and "'Current'" in msg and "'Height'" in msg
    assert isinstance(exc.value, ReadError)


def test_renamed_extension_still_read_by_content(realdata_dir, tmp_path):
    p = tmp_path / "scan.h5"  # wrong extension: content decides
    shutil.copy(realdata_dir / "old_bruker.004", p)
    assert load_scan(p).format == "nanoscope"
