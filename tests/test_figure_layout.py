"""Figures a referee accepts: drawn at the sizes they are written, every text inside the figure
and clear of colour bars and other texts; the class legend on every class map; one log current
scale per pair; colours readable in grayscale; bounds drawn as bounds; the set's summary figure
without error bars for a single map and with a message when nothing succeeded."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from figure_layout import class_legend_labels, drawn_texts, grayscale_distinct, layout_problems
from logamp_model import ad8304_table
from matplotlib.figure import Figure

from afmcurrent import analyze_pair
from afmcurrent.core.classes import CLASS_LABELS, CLASSES, ClassCode
from afmcurrent.outputs.figures import (
    CLASS_COLORS,
    FigureScales,
    plot_optical_classes,
    plot_pair,
    plot_paper,
    plot_profile,
)
from afmcurrent.outputs.figures.calibration import plot_calibration
from afmcurrent.outputs.figures.repeat import plot_repeat
from afmcurrent.outputs.figures.style import (
    BAD_COLOR,
    CURRENT_CMAP,
    FLOOR_COLOR,
    SATURATION_COLOR,
    lightness,
)
from afmcurrent.pair.logamp.linear_range import fit_linear_range
from afmcurrent.pair.repeat import compare_results
from afmcurrent.sets.summary_figure import summary_figure
from afmcurrent.sets.tables import BatchResult
from afmcurrent.sim import simulate_optical, simulate_pair

ALL_LABELS = [CLASS_LABELS[c] for c in ClassCode]


@pytest.fixture(scope="module")
def pairs():
    """A degraded pair with an optical image (floor-limited -V pixels), a pristine one without."""
    pair = simulate_pair("degraded", seed=31, shape=(64, 64))
    so = simulate_optical(pair, seed=31, pixel_size=0.25e-6, shape=(70, 80),
                          box_origin_px=(20.0, 15.0))
    a = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, optical=so.image,
                     optical_pixel_size=so.pixel_size, optical_box=so.box_px)
    p2 = simulate_pair("pristine", seed=32, shape=(64, 64))
    b = analyze_pair(p2.plus, p2.minus, logamp=p2.calibration)
    return a, b


@pytest.fixture(scope="module")
def figures(pairs):
    """Every figure of a pair, of a repeat scan and of a calibration, as written."""
    a, b = pairs
    i, v = ad8304_table(np.random.default_rng(5), 10 ** np.arange(-12, -1.4, 0.5))
    return {
        "figure.png": plot_pair(a),
        "figure_paper.png": plot_paper(a),
        "figure_paper.png without optical": plot_paper(b),
        "profile.png": plot_profile(a),
        "optical.png": plot_optical_classes(a),
        "repeat.png": plot_repeat(compare_results(b, b), b.plus.size),
        "calibration.png": plot_calibration(fit_linear_range(i, v)),
    }


@pytest.mark.slow
def test_texts_inside_the_figure_and_clear_of_colour_bars(figures):
    problems = {name: layout_problems(fig) for name, fig in figures.items()}
    assert problems == {name: [] for name in problems}


def test_the_layout_check_finds_clipped_and_covering_texts():
    """The check itself: a title running off the figure, a label over a colour bar and two
    labels on each other are each reported."""
    fig = Figure(figsize=(3, 2))
    ax = fig.add_axes((0.1, 0.1, 0.6, 0.8))
    im = ax.imshow(np.arange(16.0).reshape(4, 4))
    fig.colorbar(im, cax=fig.add_axes((0.75, 0.1, 0.05, 0.8)))
    ax.set_title("a title far too long to stay inside a figure this narrow " * 2)
    ax.text(1.12, 0.5, "over the bar", transform=ax.transAxes)
    ax.text(0.2, 0.2, "one", transform=ax.transAxes)
    ax.text(0.21, 0.21, "two", transform=ax.transAxes)
    problems = "\n".join(layout_problems(fig))
    assert "outside the figure: 'a title" in problems
    assert "over the colour bar" in problems and "'over the bar'" in problems
    assert "texts overlap: 'one' and 'two'" in problems


def test_class_legend_on_every_class_map(figures):
    figs = figures
    for name in ("figure.png", "figure_paper.png", "figure_paper.png without optical",
                 "profile.png"):
        legends = class_legend_labels(figs[name])
        assert any(all(lab in entries for lab in ALL_LABELS) for entries in legends), name
    # the optical overlay shows classes 1-4 only (0 is transparent)
    legends = class_legend_labels(figs["optical.png"])
    assert any(all(CLASS_LABELS[c] in e for c in CLASSES) for e in legends)


def _current_images(fig):
    return [im for ax in fig.axes for im in ax.get_images()
            if im.get_cmap().name.startswith(CURRENT_CMAP)]


def test_one_log_current_scale_per_pair_and_given_scales_applied(pairs):
    a, _ = pairs
    for plot in (plot_pair, plot_paper):
        ims = _current_images(plot(a))
        assert len(ims) == 2 and ims[0].get_clim() == ims[1].get_clim()
        ims = _current_images(plot(a, scales=FigureScales(current_log10=(-15.5, -8.0))))
        assert [im.get_clim() for im in ims] == [(-15.5, -8.0)] * 2
        # the colour bars show that scale
        cbs = [ax._colorbar for ax in plot(a).axes if getattr(ax, "_colorbar", None)]
        assert any("log" in cb.ax.get_ylabel() for cb in cbs)


def test_colours_read_in_grayscale_and_colour_blind_safe():
    # class colours: each at its own lightness (>= 15 L* apart), so grayscale and any colour
    # vision deficiency (which keeps lightness) still tell them apart
    assert grayscale_distinct(CLASS_COLORS, 15.0)
    # current and fraction maps: lightness strictly monotonic along the colour map
    for name in (CURRENT_CMAP, "viridis"):
        cmap = matplotlib.colormaps[name]
        L = lightness([cmap(x) for x in np.linspace(0, 1, 64)])
        assert np.all(np.diff(L) > 0), name
        lo, hi = L[0], L[-1]
        # the colours without a value (white) and of the floor (black) lie outside the map
        assert lightness([BAD_COLOR])[0] > hi + 5 and lightness([FLOOR_COLOR])[0] < lo - 5
    # saturation: a colour the current map does not have (sRGB distance to the nearest of
    # its colours)
    sat = np.array(matplotlib.colors.to_rgb(SATURATION_COLOR))
    ramp = matplotlib.colormaps[CURRENT_CMAP](np.linspace(0, 1, 256))[:, :3]
    assert np.min(np.linalg.norm(ramp - sat, axis=1)) > 0.25


def test_profile_fitted_to_data_and_floor_points_drawn_as_upper_bounds(pairs):
    a, _ = pairs
    prof = a.profile()
    bound = np.nan_to_num(prof.values["minus_bound"]).astype(int)
    assert (bound == 1).sum() >= 3, "the test pair should have floor-limited points on its line"
    fig = plot_profile(a)
    ax = fig.axes[0]
    vals = np.concatenate([prof.values[k] * 1e12 for k in
                           ("plus_current", "minus_current", "ionic_current")])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    lo, hi = ax.get_ylim()
    assert lo <= vals.min() and hi >= vals.max()
    # fitted: at most a decade of empty room either side (not the whole colour scale)
    assert np.log10(vals.min() / lo) < 1.0 and np.log10(hi / vals.max()) < 1.0
    # floor-limited points: open downward triangles at the bound, not on the measured line
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "v"]
    assert marks and all(ln.get_markerfacecolor() == "none" for ln in marks)
    minus_line = next(ln for ln in ax.get_lines() if ln.get_label() == "|I(-V)|")
    y = np.asarray(minus_line.get_ydata(), float)
    assert np.all(np.isnan(y[bound == 1]))
    # the paper figure's two profiles share one fitted axis
    paper = plot_paper(a)
    prof_axes = [ax for ax in paper.axes if ax.get_yscale() == "log"]
    assert len(prof_axes) == 2 and prof_axes[0].get_ylim() == prof_axes[1].get_ylim()


def _row(name, sample, fr, status="ok"):
    keys = ("ionic_conducting", "ionic_blocked_leaky", "electronic_shunt",
            "ionic_blocked_insulating")
    row = {"name": name, "sample": sample, "group": sample, "status": status, "error": "",
           "classified_area_um2": 100.0}
    row.update(dict(zip(keys, fr, strict=True)))
    return row


def _errorbars(fig):
    from matplotlib.collections import LineCollection

    ax = fig.axes[0]
    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


def test_summary_no_error_bars_for_one_map_and_a_message_when_nothing_succeeded():
    one = [_row("a", "s1", (0.5, 0.3, 0.1, 0.1))]
    fig = summary_figure(BatchResult(rows=one, outdir=Path(".")))
    assert _errorbars(fig) == 0 and layout_problems(fig) == []
    two = one + [_row("b", "s1", (0.4, 0.4, 0.1, 0.1))]
    fig = summary_figure(BatchResult(rows=two, outdir=Path(".")))
    assert _errorbars(fig) > 0 and layout_problems(fig) == []
    failed = [dict(_row(n, "s1", (np.nan,) * 4), status="failed",
                   error=f"{n}_minus.spm: not a Nanoscope file") for n in "abc"]
    fig = summary_figure(BatchResult(rows=failed, outdir=Path(".")))
    text = "\n".join(t.get_text() for t, _ in drawn_texts(fig)[0])
    assert "No pair succeeded: 3 of 3 failed" in text
    assert "b: b_minus.spm: not a Nanoscope file" in text
    assert layout_problems(fig) == []


def _maps(centre_log10, shape=(32, 32), floor_share=0.0, seed=0):
    rng = np.random.default_rng(seed)
    cur = 10 ** (centre_log10 + 0.3 * rng.standard_normal(shape))
    bound = np.zeros(shape)
    bound.ravel()[: int(floor_share * cur.size)] = 1
    return {"plus_current": cur, "minus_current": cur / 10, "plus_bound": bound,
            "minus_bound": bound.copy()}


def test_current_maps_of_a_set_share_one_log_scale():
    """Two pairs a few decades apart: one scale covers both (the measured pixels; those at the
    floor are bounds, drawn black, and do not stretch it), every map is drawn on it."""
    from afmcurrent.sets.currents_figure import currents_figure

    low, high = _maps(-14.0, floor_share=0.3, seed=1), _maps(-10.0, seed=2)
    low["plus_current"].ravel()[: int(0.3 * 32 * 32)] = 1e-17  # at the floor: not measured
    pairs = [("low", low, (5e-6, 5e-6)), ("high", high, (5e-6, 5e-6))]
    fig, (lo, hi) = currents_figure(pairs)
    measured = np.log10(np.concatenate([
        m[k][m[b] == 0] for _, m, _ in pairs
        for k, b in (("plus_current", "plus_bound"), ("minus_current", "minus_bound"))]))
    assert lo <= np.percentile(measured, 1) and hi >= np.percentile(measured, 99)
    assert lo > -16.5  # the floor-limited pixels at 1e-17 A did not set the scale
    ims = _current_images(fig)
    assert len(ims) == 4 and {im.get_clim() for im in ims} == {(lo, hi)}
    assert layout_problems(fig) == []


def test_summary_with_many_long_sample_names_stays_legible():
    """Fourteen samples of long names in five groups: the labels turn upright instead of
    running into each other, and nothing leaves the figure."""
    rng = np.random.default_rng(3)
    rows = [dict(_row(f"p{i}_{j}", f"LLZO_cycled_{i:02d}_long_sample_name",
                      tuple(rng.dirichlet(np.ones(4)))), group=f"group_{i % 5}_annealed")
            for i in range(14) for j in range(2)]
    samples = {r["name"]: np.c_[rng.normal(-12, 1, 50), rng.normal(-14, 1, 50)] for r in rows}
    fig = summary_figure(BatchResult(rows=rows, outdir=Path(".")), samples)
    assert layout_problems(fig) == []
