"""Bad input to load_scan: always a ReadError naming the file and the problem, never a hang."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from afmcurrent.core.errors import ChannelNotFoundError, ReadError
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


# -- HDF5: links and storage out of the file are never followed ---------------------------------
def _h5_with(tmp_path, make):
    import h5py
    import numpy as np

    from afmcurrent.core.model import Channel, Scan
    from afmcurrent.io import write_hdf5

    scan = Scan([Channel("Height", np.zeros((4, 4)), "m", "trace")], size=(1e-6, 1e-6))
    p = write_hdf5(tmp_path / "r.h5", scan)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as o:
        o["x"] = np.full((4, 4), 7.0)
    with h5py.File(p, "a") as f:
        del f["maps/Height"]
        make(f["maps"], other)
    return p


def test_hdf5_external_link_refused(tmp_path):
    import h5py

    p = _h5_with(tmp_path, lambda g, o: g.__setitem__("Height", h5py.ExternalLink(str(o), "/x")))
    _fails(p, "external link")


def test_hdf5_external_raw_storage_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    p = _h5_with(tmp_path, lambda g, o: g.create_dataset(
        "Height", shape=(4, 4), dtype="u1", external=[(str(secret), 0, 16)]))
    _fails(p, "external file", "secret.txt")


def test_hdf5_virtual_dataset_refused(tmp_path):
    import h5py

    def make(g, o):
        layout = h5py.VirtualLayout(shape=(4, 4), dtype="f8")
        layout[:] = h5py.VirtualSource(str(o), "x", shape=(4, 4))
        g.create_virtual_dataset("Height", layout)

    _fails(_h5_with(tmp_path, make), "virtual")


def test_hdf5_huge_dataset_refused_before_allocation(tmp_path):
    p = _h5_with(tmp_path, lambda g, o: g.create_dataset("Height", shape=(100000, 100000),
                                                         dtype="f8", chunks=(64, 64)))
    t0 = time.perf_counter()
    _fails(p, "100000 x 100000")
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("value", [[1.0], [float("nan"), 1e-6], [-1e-6, 1e-6], "abc"])
def test_hdf5_bad_size_attribute(tmp_path, value):
    import h5py

    p = _h5_with(tmp_path, lambda g, o: g.create_dataset("Height", data=[[1.0, 2.0]]))
    with h5py.File(p, "a") as f:
        f.attrs["size_m"] = value
    _fails(p, "size|size_m")


# -- .gwy: a string without its NUL (gwyfile loops for ever on it) ------------------------------
def test_gwy_string_without_nul_refused_quickly(realdata_dir, tmp_path):
    data = bytearray((realdata_dir / "gwyfile_test.gwy").read_bytes())
    i = data.find(b"Test\x00")
    data[i + 4] = ord("X")
    p = tmp_path / "nonul.gwy"
    p.write_bytes(bytes(data[: i + 40]))
    t0 = time.perf_counter()
    _fails(p, "corrupt|truncated")
    assert time.perf_counter() - t0 < 2.0


def test_nanoscope_infinite_entries_refused(realdata_dir, tmp_path):
    data = (realdata_dir / "old_bruker.002").read_bytes()
    p = tmp_path / "inf.002"
    p.write_bytes(data.replace(b"\\Scan size: 15 15 ~m", b"\\Scan size: 1e400 15 ~m", 1))
    _fails(p, "scan size")
    # the scan list's entry is metadata only: the image's own entry sizes the image
    p.write_bytes(data.replace(b"\\Scan size: 15000 nm", b"\\Scan size: 1e400 nm", 1))
    scan = load_scan(p)
    assert scan.size == pytest.approx((15e-6, 15e-6))
    assert scan.metadata["scan_size_m"] == pytest.approx(15e-6)  # the width, not inf
    p.write_bytes(data.replace(b"\\Samps/line: 256", b"\\Samps/line: 1e400", 1))
    msg = _fails(p, "Samps/line")
    assert "OverflowError" not in msg
