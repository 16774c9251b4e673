"""Optical placement, segmentation and association against the simulated microscope's truth."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.core.errors import ConfigError, ReadError
from afmcurrent.outputs import summary
from afmcurrent.pair.optical import (
    analyze_optical,
    contingency_table,
    cramers_v,
    initial_box,
    read_optical,
)
from afmcurrent.sim import simulate_optical, simulate_pair


@pytest.fixture(scope="module")
def scene():
    pair = simulate_pair("degraded", seed=1, shape=(192, 192))
    return pair, simulate_optical(pair, seed=2)


@pytest.mark.parametrize("offset", [(10, 0), (-7, 7), (0, -10)])
def test_refined_box_within_one_pixel_from_10px_off(scene, offset):
    pair, so = scene
    x0, y0, x1, y1 = so.box_px
    dx, dy = offset
    res = analyze_optical(so.image, pair.truth.class_map, pair.plus.size,
                          pixel_size=so.pixel_size, box=(x0 + dx, y0 + dy, x1 + dx, y1 + dy))
    err = np.abs(np.array(res.placement.box_px) - np.array(so.box_px))
    assert err.max() < 1.0
    assert res.placement.confidence > 0.5
    assert not res.placement.at_search_edge


def test_centre_placement_and_small_rotation(scene):
    pair, _ = scene
    so = simulate_optical(pair, seed=3, angle_deg=1.5)
    x0, y0, x1, y1 = so.box_px
    p = so.pixel_size
    centre = ((0.5 * (x0 + x1) + 6) * p, (0.5 * (y0 + y1) - 5) * p)  # 6, -5 px off
    res = analyze_optical(so.image, pair.truth.class_map, pair.plus.size, pixel_size=p,
                          center=centre, max_angle_deg=3.0)
    assert np.abs(np.array(res.placement.box_px) - np.array(so.box_px)).max() < 1.0
    assert abs(res.placement.angle_deg - 1.5) <= 0.5


def test_contingency_and_cramers_v_reflect_truth(scene):
    pair, so = scene
    cm = pair.truth.class_map
    res = analyze_optical(so.image, cm, pair.plus.size, pixel_size=so.pixel_size, box=so.box_px,
                          refine=False)
    t = res.contingency
    assert t.sum() == cm.size
    assert np.array_equal(t.sum(1), np.bincount(cm.ravel(), minlength=5)[1:])
    share_bright = t[:, 1] / np.maximum(t.sum(1), 1)
    assert share_bright[0] > 0.8  # type 1 bright
    assert share_bright[1] < 0.05  # type 2 dark
    assert share_bright[2] > share_bright[1] + 0.4  # type 3 bright (small domains, blurred)
    assert res.cramers_v > 0.7
    # Field-wide bright fraction over a field far larger than the scan: the truth within 2 pp.
    assert abs(res.field_bright_fraction - so.bright_fraction) < 0.02
    bc = res.brightness_by_class
    assert bc["ionic_conducting"]["median"] > bc["ionic_blocked_leaky"]["median"] + 0.2


def test_wrong_place_has_no_association(scene):
    pair, so = scene
    cm = pair.truth.class_map
    rng = np.random.default_rng(0)
    noise = (rng.random(so.image.shape) * 255).astype(np.uint8)
    res = analyze_optical(noise, cm, pair.plus.size, pixel_size=so.pixel_size, box=so.box_px,
                          refine=False)
    assert res.cramers_v < 0.1


def test_cramers_v_known_tables():
    assert cramers_v(np.array([[50, 0], [0, 50], [0, 0], [0, 0]])) == pytest.approx(1.0)
    assert cramers_v(np.array([[25, 25], [25, 25], [0, 0], [0, 0]])) == pytest.approx(0.0)
    assert np.isnan(cramers_v(np.array([[10, 5], [0, 0], [0, 0], [0, 0]])))
    cm = np.array([[1, 2], [3, 0]], np.uint8)
    bright = np.array([[True, False], [True, True]])
    assert contingency_table(cm, bright).tolist() == [[0, 1], [1, 0], [0, 1], [0, 0]]


@pytest.mark.parametrize("ext", ["png", "tif", "jpg"])
def test_read_formats(tmp_path, scene, ext):
    _, so = scene
    path = tmp_path / f"field.{ext}"
    iio.imwrite(path, so.image)
    img = read_optical(path)
    assert img.shape == so.image.shape
    tol = 0.05 if ext == "jpg" else 1e-9
    assert np.abs(img - so.image / 255.0).mean() < tol
    rgb = tmp_path / f"rgb.{ext}"
    iio.imwrite(rgb, np.repeat(so.image[..., None], 3, axis=2))
    assert np.abs(read_optical(rgb) - img).mean() < tol


def test_read_errors(tmp_path):
    with pytest.raises(ReadError, match="not found"):
        read_optical(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ReadError, match="bad.png"):
        read_optical(bad)


def test_initial_box_errors():
    with pytest.raises(ConfigError):
        initial_box((100, 100), (10e-6, 10e-6))
    with pytest.raises(ConfigError, match="pixel size"):
        initial_box((100, 100), (10e-6, 10e-6), center=(5e-6, 5e-6))
    with pytest.raises(ConfigError, match="aspect"):
        initial_box((100, 100), (10e-6, 10e-6), box=(0, 0, 50, 20))
    with pytest.raises(ConfigError, match="outside"):
        initial_box((100, 100), (10e-6, 10e-6), pixel_size=0.2e-6, center=(100e-6, 100e-6))
    box, p = initial_box((100, 100), (10e-6, 20e-6), box=(10, 20, 50, 40))
    assert p == pytest.approx(0.5e-6) and box == pytest.approx((10, 20, 50, 40))


def test_analyze_pair_with_optical_file(tmp_path, scene):
    pair, so = scene
    path = tmp_path / "field.png"
    iio.imwrite(path, so.image)
    x0, y0, x1, y1 = so.box_px
    r = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, optical=path,
                     optical_pixel_size=so.pixel_size,
                     optical_box=(x0 - 8, y0 + 6, x1 - 8, y1 + 6))
    s = summary(r)["optical"]
    assert np.abs(np.array(s["box_px"]) - np.array(so.box_px)).max() < 1.0
    assert s["confidence"] > 0.5 and s["cramers_v"] > 0.6
    assert s["contingency"]["ionic_blocked_leaky"]["dark"] > s["contingency"][
        "ionic_blocked_leaky"]["bright"]
    with pytest.raises(ConfigError, match="optical image"):
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, optical_box=so.box_px)


def test_cli_optical_centre_and_profile(tmp_path, scene):
    from afmcurrent.cli import main
    from afmcurrent.sim import write_pair

    pair, so = scene
    paths = write_pair(tmp_path / "pair", pair, prefix="p")
    img = tmp_path / "field.tif"
    iio.imwrite(img, so.image)
    x0, y0, x1, y1 = so.box_px
    cx, cy = (0.5 * (x0 + x1) + 5) * 0.2, (0.5 * (y0 + y1) - 4) * 0.2  # um, 5 / -4 px off
    out = tmp_path / "out"
    rc = main(["-q", "analyze", str(paths["plus"]), str(paths["minus"]), "-o", str(out),
               "--optical", str(img), "--optical-pixel-size", "0.2um",
               "--optical-center", f"{cx}um,{cy * 1000}nm", "--profile", "1um,1um,8e-6m,8um",
               "--no-figures"])
    assert rc == 0
    import json

    s = json.loads((out / "summary.json").read_text())
    assert np.abs(np.array(s["optical"]["box_px"]) - np.array(so.box_px)).max() < 1.0
    assert s["profile_line_m"] == pytest.approx([1e-6, 1e-6, 8e-6, 8e-6])
    header = (out / "profile.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["distance_um", "x_um", "y_um"] and "optical_brightness" in header
