"""The streamed .gwy writer: byte for byte gwyfile's file, read back by gwyfile and Gwyddion."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from afmcurrent.core.model import Channel, Scan
from afmcurrent.io.gwy import _DIV_SLASH, _str, read_gwy, write_gwy


def _scan() -> tuple[Scan, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    chans = [Channel("height", rng.normal(0, 1e-9, (12, 20)), "m", metadata={"a/b": 1}),
             Channel("plus_current", 10 ** rng.uniform(-13, -9, (12, 20)), "A"),
             Channel("class", rng.integers(0, 5, (12, 20)).astype(float), "")]
    scan = Scan(chans, size=(3e-6, 5e-6), bias=0.5, offset=(1e-7, -2e-7), path=None,
                format="afmcurrent", metadata={"software": "afmcurrent", "x": [1, 2]})
    return scan, {"plus_current": rng.random((12, 20)) < 0.2}


def _gwyfile_container(scan: Scan, masks: dict[str, np.ndarray]) -> bytes:
    """The container built whole by gwyfile (the writer before streaming), as bytes."""
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    (h, w), (y0, x0) = scan.size, scan.offset
    geo = {"xreal": w, "yreal": h, "xoff": x0, "yoff": y0}
    obj = GwyContainer()
    for n, ch in enumerate(scan.channel_list):
        obj[f"/{n}/data"] = GwyDataField(ch.data.copy(), si_unit_xy=GwySIUnit(unitstr="m"),
                                         si_unit_z=GwySIUnit(unitstr=ch.unit), **geo)
        obj[f"/{n}/data/title"] = ch.name
        if ch.name in masks:
            obj[f"/{n}/mask"] = GwyDataField(masks[ch.name].astype(float),
                                             si_unit_xy=GwySIUnit(unitstr="m"),
                                             si_unit_z=GwySIUnit(unitstr=""), **geo)
        meta = {str(k).replace("/", _DIV_SLASH): _str(v)
                for src in (scan.metadata, ch.metadata) for k, v in src.items()}
        meta.update({"afmcurrent.direction": str(ch.direction),
                     "afmcurrent.quantity": ch.quantity,
                     "afmcurrent.bias_V": repr(scan.bias), "afmcurrent.format": scan.format})
        obj[f"/{n}/meta"] = GwyContainer(meta)
    return b"GWYP" + obj.serialize()


def test_streamed_file_is_gwyfiles_file_byte_for_byte(tmp_path) -> None:  # noqa: ANN001
    from gwyfile import load as gwy_load

    scan, masks = _scan()
    path = write_gwy(tmp_path / "s.gwy", scan, masks=masks)
    assert path.read_bytes() == _gwyfile_container(scan, masks)
    obj = gwy_load(str(path))  # gwyfile reads it back
    np.testing.assert_array_equal(obj["/1/data"].data, scan.channel("plus_current").data)
    np.testing.assert_array_equal(obj["/1/mask"].data, masks["plus_current"].astype(float))
    back = read_gwy(path)  # and our own checked parser
    assert back.channels == scan.channels
    np.testing.assert_array_equal(back.channel("height").data, scan.channel("height").data)


def test_bad_mask_shape(tmp_path) -> None:  # noqa: ANN001
    scan, _ = _scan()
    with pytest.raises(ValueError, match="mask of 'height'"):
        write_gwy(tmp_path / "s.gwy", scan, masks={"height": np.zeros((2, 2), bool)})
    assert not (tmp_path / "s.gwy").exists()


@pytest.mark.skipif(shutil.which("gwyddion") is None, reason="Gwyddion not installed")
def test_gwyddion_reads_the_streamed_file(tmp_path) -> None:  # noqa: ANN001
    scan, masks = _scan()
    src = write_gwy(tmp_path / "s.gwy", scan, masks=masks)
    out = tmp_path / "g.gwy"
    subprocess.run(["gwyddion", "--convert-to-gwy=" + str(out), str(src)], check=True,
                   capture_output=True, timeout=120, env={"DISPLAY": "", "PATH": "/usr/bin:/bin"})
    back = read_gwy(out)
    for name in ("height", "plus_current", "class"):
        np.testing.assert_array_equal(back.channel(name).data, scan.channel(name).data)
