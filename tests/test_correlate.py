"""Topography statistics, cross-talk, connectivity, representative area and profiles."""

from __future__ import annotations

import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.core.errors import ConfigError
from afmcurrent.outputs import summary
from afmcurrent.pair.correlate import (
    connectivity,
    crosstalk,
    fraction_convergence,
    line_profile,
    slope_map,
    spearman,
    topography_by_class,
)
from afmcurrent.sim import gaussian_field, simulate_pair

PS = (20e-9, 20e-9)


def test_fractions_converge_on_fine_random_field():
    rng = np.random.default_rng(0)
    cm = np.where(rng.random((256, 256)) < 0.3, 1, 2).astype(np.uint8)
    res = fraction_convergence(cm)
    assert res["converged"] and res["by_class"]["ionic_conducting"]
    assert res["growing"]["ionic_conducting"][-1] == pytest.approx(np.mean(cm == 1))


def test_fractions_do_not_converge_with_one_large_domain():
    # Left half class 1, right half class 2: centred windows always see 50/50, random
    # half-area windows do not -> not representative.
    cm = np.full((256, 256), 2, np.uint8)
    cm[:, :128] = 1
    res = fraction_convergence(cm)
    assert all(abs(f - 0.5) < 0.01 for f in res["growing"]["ionic_conducting"][6:])
    assert not res["converged"]
    # A disc off-centre: the centred windows disagree with the whole frame.
    yy, xx = np.indices((256, 256))
    cm2 = np.where((yy - 40) ** 2 + (xx - 40) ** 2 < 35**2, 3, 2).astype(np.uint8)
    assert not fraction_convergence(cm2)["by_class"]["electronic_shunt"]


def test_connectivity_spanning_and_shunt_spacing():
    cm = np.full((100, 100), 2, np.uint8)
    cm[40:45, :] = 1  # spans left to right: 500 px
    cm[5:10, 5:10] = 1  # isolated: 25 px
    cm[80:84, 10:14] = 3
    cm[80:84, 30:34] = 3  # 16 px gap between columns 13 and 30 -> centres 17 px apart
    cm[20:24, 70:74] = 3
    res = connectivity(cm, PS)
    assert res["ionic_spans"]
    assert res["ionic_spanning_share"] == pytest.approx(500 / 525)
    assert res["largest_domain_share"]["ionic_conducting"] == pytest.approx(500 / 525)
    assert res["shunt_domains"] == 3
    assert res["shunt_nearest_distance_um"]["min"] == pytest.approx(17 * 0.02, abs=0.021)
    assert res["largest_domain_share"]["ionic_blocked_insulating"] is None


def test_topography_by_class_known_roughness():
    rng = np.random.default_rng(1)
    cm = np.ones((128, 128), np.uint8)
    cm[:, 64:] = 2
    h = np.where(cm == 1, rng.normal(0, 2e-9, cm.shape), rng.normal(0, 10e-9, cm.shape))
    st = topography_by_class(h, cm, slope_map(h, PS))
    assert st["ionic_conducting"]["rq_nm"] == pytest.approx(2.0, rel=0.05)
    assert st["ionic_blocked_leaky"]["rq_nm"] == pytest.approx(10.0, rel=0.05)
    # Gaussian: Ra = sqrt(2/pi) Rq.
    assert st["ionic_blocked_leaky"]["ra_nm"] == pytest.approx(10 * np.sqrt(2 / np.pi), rel=0.05)
    assert st["electronic_shunt"]["pixels"] == 0


def test_crosstalk_detected_only_when_current_follows_topography():
    rng = np.random.default_rng(2)
    shape = (192, 192)
    h = gaussian_field(rng, shape, 4.0) * 5e-9
    cm = np.ones(shape, np.uint8)
    clean = -12 + 0.3 * gaussian_field(rng, shape, 3.0)
    ct = crosstalk(clean, h, cm, PS)
    assert ct.score < 0.15 and not ct.strong and ct.warning is None
    slope = slope_map(h, PS)
    dirty = clean + 3.0 * (slope - slope.mean()) / slope.std() * 0.3
    ct = crosstalk(dirty, h, cm, PS)
    assert ct.strong and ct.slope_rho > 0.5 and "cross-talk" in ct.warning
    # Trace / retrace: an artefact that follows dh/dx with opposite sign in the two directions.
    dhdx = np.gradient(h, axis=1)
    dhdx = dhdx / dhdx.std()
    ct = crosstalk(clean + 0.2 * dhdx, h, cm, PS, log_current_retrace=clean - 0.2 * dhdx)
    assert ct.trace_retrace_rho > 0.9 and ct.strong


def test_spearman_monotone():
    x = np.linspace(0, 1, 100)
    assert spearman(x, np.exp(5 * x)) == pytest.approx(1.0)
    assert spearman(x, -x**3) == pytest.approx(-1.0)
    assert np.isnan(spearman(x[:5], x[:5]))


def test_line_profile_interpolates_and_validates():
    yy, xx = np.indices((50, 80), dtype=float)
    ramp = xx * 2.0  # value = 2 * column index
    cur = 10.0 ** (-12 + xx / 79)  # one decade across
    prof = line_profile({"ramp": ramp, "cur": cur}, PS, (0.5 * 20e-9, 10e-9, 79.5 * 20e-9, 10e-9),
                        log=("cur",), n=11)
    assert np.allclose(prof.values["ramp"], np.linspace(0, 158, 11))
    assert np.allclose(np.log10(prof.values["cur"]), np.linspace(-12, -11, 11))
    assert prof.distance[-1] == pytest.approx(79 * 20e-9)
    with pytest.raises(ConfigError, match="outside"):
        line_profile({"ramp": ramp}, PS, (0, 0, 2e-6, 0))
    with pytest.raises(ConfigError, match="zero length"):
        line_profile({"ramp": ramp}, PS, (1e-7, 1e-7, 1e-7, 1e-7))


def test_pair_summary_keys_and_simulated_physics(tmp_path):
    pair = simulate_pair("degraded", seed=3, shape=(192, 192))
    r = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                     profile=(1e-6, 5e-6, 9e-6, 5e-6))
    s = summary(r)
    topo = s["topography"]["by_class"]
    # Preset: type 2 rough (12 nm), type 1 moderately roughened (4 nm).
    assert topo["ionic_blocked_leaky"]["rq_nm"] > 2 * topo["ionic_conducting"]["rq_nm"]
    assert not s["topography"]["crosstalk"]["strong"]  # simulator has no cross-talk
    assert isinstance(s["fractions_converged"], bool)
    assert s["connectivity"]["connectivity"] == 4
    assert s["optical"] is None and s["profile_line_m"] == pytest.approx([1e-6, 5e-6, 9e-6, 5e-6])
    assert "mean_slope_deg" in r.domains.columns
    prof = r.profile()
    assert prof.x[0] == pytest.approx(1e-6) and prof.y[-1] == pytest.approx(5e-6)
    with pytest.raises(ConfigError, match="outside"):
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                     profile=(0, 0, 20e-6, 0))


def test_average_ranks_equal_scipy_rankdata_with_ties():
    from scipy.stats import rankdata

    from afmcurrent.pair.correlate import average_ranks

    rng = np.random.default_rng(5)
    for x in (rng.normal(size=1000), rng.integers(0, 7, 500).astype(float),
              np.round(rng.normal(size=300), 1), np.array([2.0]), np.zeros(4)):
        np.testing.assert_array_equal(average_ranks(x), rankdata(x))


def test_gradient_at_subgrid_equals_numpy_gradient():
    from afmcurrent.pair.correlate.crosstalk import _gradient_at
    from afmcurrent.pair.correlate.ranks import subgrid

    a = np.random.default_rng(2).normal(size=(61, 47))
    g = subgrid(a.shape, 300)
    gy, gx = np.gradient(a, 0.5, 2.0)
    got = _gradient_at(a, g, (0.5, 2.0))
    np.testing.assert_array_equal(got[0], gy[g])
    np.testing.assert_array_equal(got[1], gx[g])


def test_summed_area_table_window_sums():
    from afmcurrent.core.arrays import summed_area_table

    rng = np.random.default_rng(4)
    a = rng.normal(size=(2, 23, 31))
    sat = summed_area_table(a)
    assert sat.shape == (2, 24, 32) and sat.dtype == np.float64
    r0, r1, c0, c1 = 3, 17, 5, 30
    win = sat[:, r1, c1] - sat[:, r0, c1] - sat[:, r1, c0] + sat[:, r0, c0]
    np.testing.assert_allclose(win, a[:, r0:r1, c0:c1].sum(axis=(1, 2)), rtol=1e-12)
    m = rng.integers(0, 2, (40, 50)).astype(bool)
    s = summed_area_table(m, np.int32)
    assert s.dtype == np.int32 and s[-1, -1] == m.sum() and s[10, 20] == m[:10, :20].sum()


def test_curvature_on_subgrid_equals_full_map():
    from afmcurrent.pair.correlate import curvature_map, rank_correlations, subgrid

    h = gaussian_field(np.random.default_rng(8), (90, 70), 4.0) * 1e-8
    h[10, 20] = np.nan
    g = subgrid(h.shape, 500)
    full = curvature_map(h, (1e-7, 1e-7))
    sub = curvature_map(h, (1e-7, 1e-7), subgrid=g)
    np.testing.assert_allclose(sub, full[g], rtol=1e-12, atol=1e-6 * np.nanmax(np.abs(full)))
    assert np.array_equal(np.isnan(sub), np.isnan(full[g]))
    lc = np.log10(1e-12 + 1e-13 * np.abs(h / 1e-8))
    slope = np.hypot(*np.gradient(np.nan_to_num(h)))
    a = rank_correlations(lc, h, slope, full, max_samples=500)
    b = rank_correlations(lc, h, slope, sub, max_samples=500)
    assert np.isfinite(a["curvature"]) and a == pytest.approx(b, rel=1e-12)
    with pytest.raises(ValueError, match="sub-grid"):
        rank_correlations(lc, h, slope, sub[:-1], max_samples=500)


def test_connectivity_equals_per_class_labelling():
    """One labelling pass for all classes gives what one scipy.ndimage.label per class gave."""
    from scipy import ndimage

    from afmcurrent.core.classes import CLASS_NAMES
    from afmcurrent.pair.correlate import connectivity

    four = ndimage.generate_binary_structure(2, 1)
    rng = np.random.default_rng(12)
    for k in range(4):
        cm = ndimage.median_filter(rng.integers(0, 5, (64, 80)), 3 + 2 * (k % 2)).astype(np.uint8)
        got = connectivity(cm, (1e-7, 1e-7), min_area_px=3)
        ref_largest = {}
        for code, name in CLASS_NAMES.items():
            lab, n = ndimage.label(cm == code, structure=four)
            sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
            ref_largest[name] = float(sizes.max() / sizes.sum()) if n else None
            if code == 1 and n:
                r = np.flatnonzero((cm > 0).any(axis=1))
                c = np.flatnonzero((cm > 0).any(axis=0))
                span = (set(lab[r[0]]) & set(lab[r[-1]])) | (set(lab[:, c[0]]) & set(lab[:, c[-1]]))
                span -= {0}
                assert got["ionic_spanning_share"] == pytest.approx(
                    sum(sizes[i - 1] for i in span) / sizes.sum())
        assert got["largest_domain_share"] == ref_largest
        lab, n = ndimage.label(cm == 3, structure=four)
        assert got["shunt_domains"] == int(np.sum(np.bincount(lab.ravel())[1:] >= 3))
