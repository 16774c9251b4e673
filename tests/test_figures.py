"""Publication figures: files and formats, shared colour scales, scale bars, optical overlay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.core.errors import ConfigError
from afmcurrent.outputs import write_result
from afmcurrent.outputs.figures import (
    FigureScales,
    plot_optical_classes,
    plot_paper,
    shared_scales,
)
from afmcurrent.outputs.figures.style import nice_length
from afmcurrent.sim import simulate_optical, simulate_pair


@pytest.fixture(scope="module")
def results():
    out = []
    for seed in (4, 5):
        pair = simulate_pair("degraded", seed=seed, shape=(96, 96))
        so = simulate_optical(pair, seed=seed, pixel_size=0.25e-6, shape=(90, 110),
                              box_origin_px=(40.0, 30.0))
        out.append(analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                                optical=so.image, optical_pixel_size=so.pixel_size,
                                optical_box=so.box_px))
    return out


def _current_images(fig):
    return [im for ax in fig.axes for im in ax.get_images()
            if im.get_cmap().name.startswith("cividis")]


def test_shared_scales_cover_both_and_are_applied(results):
    sc = shared_scales(results)
    for r in results:
        for m in (r.maps.plus_current, r.maps.minus_current):
            lg = np.log10(m[np.isfinite(m) & (m > 0)])
            assert sc.current_log10[0] <= np.percentile(lg, 1)
            assert sc.current_log10[1] >= np.percentile(lg, 99)
    fixed = FigureScales(current_log10=(-16.0, -8.0), height_nm=(-50.0, 50.0))
    fig = plot_paper(results[0], scales=fixed)
    ims = _current_images(fig)
    assert len(ims) == 2 and all(im.get_clim() == (-16.0, -8.0) for im in ims)
    # Default: the pair's own scale, both maps on the same one.
    ims = _current_images(plot_paper(results[1]))
    assert ims[0].get_clim() == ims[1].get_clim()


def test_nice_scale_bar_lengths():
    assert nice_length(2.6) == 2
    assert nice_length(0.7) == pytest.approx(0.5)
    assert nice_length(13) == 10


def test_vector_formats_of_a_small_figure(tmp_path, results):
    """PDF and SVG of one small figure (the renderer's cost is per figure, not per pixel); the
    figure format is checked before anything is written."""
    from afmcurrent.outputs.figures import plot_profile

    fig = plot_profile(results[0])
    fig.savefig(tmp_path / "p.pdf", format="pdf")
    fig.savefig(tmp_path / "p.svg", format="svg")
    assert (tmp_path / "p.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in (tmp_path / "p.svg").read_text()[:500]
    with pytest.raises(ConfigError, match="png, pdf or svg"):
        write_result(results[0], tmp_path / "bad", figure_format="tiff")
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_write_vector_formats(tmp_path, results):
    out = tmp_path / "pdf"
    written = write_result(results[0], out, figure_format="pdf")
    for stem in ("figure", "figure_paper", "profile", "optical"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    assert "profile.csv" in written
    s = json.loads((out / "summary.json").read_text())
    assert "figure_paper.pdf" in s["files"] and len(s["optical"]["box_px"]) == 4
    svg = tmp_path / "svg"
    write_result(results[1], svg, figure_format="svg", scales=shared_scales(results))
    assert "<svg" in (svg / "figure_paper.svg").read_text()[:500]
    with pytest.raises(ConfigError, match="png, pdf or svg"):
        write_result(results[0], tmp_path / "bad", figure_format="tiff")


def test_optical_overlay_needs_optical(results):
    pair = simulate_pair("pristine", seed=1, shape=(64, 64))
    r = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    with pytest.raises(ValueError, match="no optical"):
        plot_optical_classes(r)
    fig = plot_optical_classes(results[0])
    assert "V = " in fig.axes[2].get_title()
    fig = plot_paper(r)  # without an optical image panel (a) shows the classes
    assert "no optical" in fig.axes[0].get_title()


def test_single_class_scan_keeps_given_placement():
    pair = simulate_pair("pristine", seed=2, shape=(64, 64))
    so = simulate_optical(pair, seed=2, shape=(80, 80), box_origin_px=(20.0, 20.0))
    r = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, optical=so.image,
                     optical_pixel_size=so.pixel_size, optical_box=so.box_px)
    assert r.optical.placement.box_px == pytest.approx(so.box_px)
    assert np.isnan(r.optical.placement.confidence)
