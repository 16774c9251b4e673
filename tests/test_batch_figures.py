"""A batch with ``--figures``: every pair's figures on the set's one log current scale, the
scale of ``currents.png`` too, kept right when the batch is resumed or grows."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from afmcurrent.outputs import writers
from afmcurrent.sets import BatchOptions, discover_pairs, run_batch
from afmcurrent.sets import currents_figure as cf
from afmcurrent.sim import simulate_pair, write_pair


def _clims(fig):
    """The colour limits of every current map drawn in ``fig`` (cividis images)."""
    return {tuple(float(v) for v in im.get_clim()) for ax in fig.axes for im in ax.get_images()
            if im.get_cmap().name.startswith("cividis")}


def _spy(monkeypatch, drawn):
    """Record, per +V file, the colour limits of the current maps of each figure drawn."""
    def wrap(fn, stem):
        def plot(result, *args, **kw):
            fig = fn(result, *args, **kw)
            drawn.setdefault(result.plus.path.name, {})[stem] = _clims(fig)
            return fig
        return plot

    monkeypatch.setattr(writers, "plot_pair", wrap(writers.plot_pair, "figure"))
    monkeypatch.setattr(writers, "plot_paper", wrap(writers.plot_paper, "figure_paper"))
    real = cf.currents_figure

    def currents(*args, **kw):
        fig, scale = real(*args, **kw)
        drawn["currents.png"] = {"currents": _clims(fig)}
        return fig, scale

    monkeypatch.setattr(cf, "currents_figure", currents)


def _measured_log_current(pair_dir):
    """log10 I of the measured pixels of both maps, read with h5py (not the package reader)."""
    with h5py.File(pair_dir / "result.h5") as f:
        vals = [f[f"maps/{k}"][()][(f[f"maps/{b}"][()] == 0) & (f[f"maps/{k}"][()] > 0)]
                for k, b in (("plus_current", "plus_bound"), ("minus_current", "minus_bound"))]
    return np.log10(np.concatenate(vals).astype(float))


@pytest.mark.slow
def test_batch_figures_share_one_current_scale_over_the_set(tmp_path, monkeypatch):
    root = tmp_path / "in"
    for preset, seed in (("pristine", 1), ("coated", 3), ("degraded", 2)):  # pA .. nA
        write_pair(root / preset, simulate_pair(preset, seed=seed, shape=(48, 48)),
                   prefix=f"{preset}{seed}")
    specs = {s.plus.name: s for s in discover_pairs(root).pairs}
    assert len(specs) == 3
    out, src = tmp_path / "out", {"root": str(root)}
    drawn: dict = {}
    _spy(monkeypatch, drawn)

    def batch(names):
        drawn.clear()
        res = run_batch([specs[n] for n in names], out, BatchOptions(figures=True), workers=0,
                        progress=False, source=src)
        assert {r["status"] for r in res.rows} <= {"ok", "skipped"}
        return json.loads((out / "batch.json").read_text())["figure_scale"]["current_log10"]

    # two pairs first, then the set grows by a pair of higher currents: the scale moves and the
    # figures of the two earlier pairs (complete, not analysed again) are drawn again on it
    early = ["pristine1_plus.spm", "coated3_plus.spm"]
    first = batch(early)
    assert set(drawn) == {*early, "currents.png"}
    scale = batch(sorted(specs))
    assert scale != first
    assert set(drawn) == {*specs, "currents.png"}
    for name, figs in drawn.items():  # what was drawn: one scale, the recorded one
        assert set(figs) == ({"currents"} if name == "currents.png"
                             else {"figure", "figure_paper"}), name
        assert all(c == {tuple(scale)} for c in figs.values()), (name, figs)
    own = []
    for s in specs.values():
        d = out / "pairs" / s.name
        summary = json.loads((d / "summary.json").read_text())
        assert summary["figure_scale"] == {"current_log10": scale, "shared": True}
        assert {"figure.png", "figure_paper.png", "profile.png"} <= set(summary["files"])
        lg = _measured_log_current(d)
        own.append(tuple(np.percentile(lg, [0.5, 99.5])))
    # the pairs' own ranges differ by decades: one scale was needed ...
    assert max(o[1] for o in own) - min(o[1] for o in own) > 1.0
    # ... and it is the set's 0.5th..99.5th percentile of the measured pixels (pixels at the
    # floor, e.g. all of the pristine pair's -V map, left out), rounded out to half decades
    lg = np.concatenate([_measured_log_current(out / "pairs" / s.name) for s in specs.values()])
    p_lo, p_hi = np.percentile(lg, [0.5, 99.5])
    assert p_lo - 0.52 < scale[0] <= p_lo and p_hi <= scale[1] < p_hi + 0.52

    # resumed: nothing is drawn again but the pair whose figure went missing
    missing = specs["coated3_plus.spm"]
    (out / "pairs" / missing.name / "figure.png").unlink()
    assert batch(sorted(specs)) == scale
    assert set(drawn) == {"coated3_plus.spm", "currents.png"}
    assert (out / "pairs" / missing.name / "figure.png").is_file()
    assert drawn["coated3_plus.spm"]["figure"] == {tuple(scale)}


def test_scale_rule_leaves_bounds_out_and_covers_the_percentiles():
    """The one rule of a log current scale (a pair's, a set's, currents.png's): against
    np.percentile of the measured pixels; pixels at the floor do not stretch it; the
    histograms of two pairs add up to the histogram of both."""
    from afmcurrent.outputs.figures import current_histogram, current_norm

    rng = np.random.default_rng(7)
    a = 10 ** rng.normal(-12.0, 0.8, (40, 40))
    b = 10 ** rng.normal(-13.5, 0.5, (40, 40))
    code = np.zeros(b.shape)
    code[:16] = 1  # 40 % of b at the floor, reading 1e-16 A
    b[:16] = 1e-16
    lo, hi = current_norm(a, b, bounds=(None, code))
    lg = np.log10(np.concatenate([a.ravel(), b[code == 0]]))
    p_lo, p_hi = np.percentile(lg, [0.5, 99.5])
    assert p_lo - 0.52 < lo <= p_lo and p_hi <= hi < p_hi + 0.52
    assert lo > -15.5  # the floor at -16 is left out
    assert current_norm(a, b)[0] <= -16.0  # counted, it would set the scale
    both = current_histogram(a, b, bounds=(None, code))
    assert np.array_equal(current_histogram(a) + current_histogram(b, bounds=(code,)), both)
    assert both.sum() == a.size + (code == 0).sum()
