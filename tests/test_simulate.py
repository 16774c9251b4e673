"""The virtual electrolyte and scan simulator against its own ground truth and the paper's
reference values (docs/science.md)."""

import dataclasses
import json
import time

import numpy as np
import pytest
from scipy import ndimage, optimize
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from afmcurrent.core.errors import ConfigError
from afmcurrent.pair.logamp import convert_channel, lagging_mask, load_calibration
from afmcurrent.sim import (
    PRESETS,
    SimulatedAmplifier,
    apply_bandwidth_lag,
    simulate_pair,
    write_pair,
)

PA = 1e-12


@pytest.fixture(scope="module")
def degraded():
    return simulate_pair("degraded", seed=11, shape=(256, 256))


@pytest.fixture(scope="module")
def still():
    """Degraded, no shift, no drift: the -V frame lies exactly on the +V frame."""
    return simulate_pair("degraded", seed=11, shape=(256, 256), shift_px=(0, 0),
                         drift_px_per_line=(0, 0))


def decoded(pair, which):
    scan = getattr(pair, which)
    return convert_channel(scan.channel("Input1"), pair.calibration)


def log_error(cmap, true_current):
    return np.log10(cmap.current / true_current)


def recent_peak(log_current, k=4):
    """Highest value among the k preceding pixels along the fast axis (-inf at line start)."""
    out = np.full(log_current.shape, -np.inf)
    for j in range(1, k + 1):
        out[:, j:] = np.maximum(out[:, j:], log_current[:, :-j])
    return out


# ---------------------------------------------------------------- contract
def test_scans_look_like_instrument_captures(degraded):
    for scan, sign in ((degraded.plus, 1), (degraded.minus, -1)):
        assert scan.format == "memory" and scan.shape == (256, 256)
        assert scan.bias == sign * 1.0
        h, v = scan.channel("Height"), scan.channel("Input1")
        assert (h.unit, h.direction, v.unit, v.direction, v.quantity) == (
            "m", "trace", "V", "trace", "Input1")
        assert scan.metadata["samples_per_line"] == 256 and scan.metadata["lines"] == 256
        assert scan.metadata["scan_rate_hz"] == 1.0
    from datetime import datetime
    t_plus = datetime.fromisoformat(degraded.plus.metadata["date"])
    t_minus = datetime.fromisoformat(degraded.minus.metadata["date"])
    # -V starts after the +V scan (256 lines at 1 line/s) plus a few minutes
    assert 256 < (t_minus - t_plus).total_seconds() < 256 + 600
    t = degraded.truth
    assert t.class_map.dtype == np.uint8 and t.class_map.shape == (256, 256)
    assert set(np.unique(t.class_map)) == {1, 2, 3, 4}


def test_deterministic_per_seed():
    a = simulate_pair("degraded", seed=3, shape=(64, 64))
    b = simulate_pair("degraded", seed=3, shape=(64, 64))
    c = simulate_pair("degraded", seed=4, shape=(64, 64))
    for x, y in ((a.plus, b.plus), (a.minus, b.minus)):
        for name in ("Height", "Input1"):
            np.testing.assert_array_equal(x.channel(name).data, y.channel(name).data)
    np.testing.assert_array_equal(a.truth.class_map, b.truth.class_map)
    assert not np.array_equal(a.plus.channel("Input1").data, c.plus.channel("Input1").data)


def test_material_does_not_depend_on_the_shift(degraded, still):
    np.testing.assert_array_equal(degraded.truth.class_map, still.truth.class_map)
    np.testing.assert_array_equal(degraded.truth.ionic_current, still.truth.ionic_current)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="pristine"):
        simulate_pair("no-such-sample")
    with pytest.raises(ConfigError, match="shape"):
        simulate_pair("pristine", shape=(4, 4))
    with pytest.raises(ConfigError, match="scan_rate_hz"):
        simulate_pair("pristine", shape=(16, 16), scan_rate_hz=0)


def test_generation_is_fast():
    t0 = time.perf_counter()
    simulate_pair("degraded", seed=0, shape=(512, 512))
    assert time.perf_counter() - t0 < 1.0


# ------------------------------------------- the paper's statistics (docs/science.md)
def test_degraded_area_fractions(degraded):
    cls = degraded.truth.class_map
    assert np.mean(cls == 2) > 0.80          # type 2 > 80 % of the area
    assert 0 < np.mean(cls == 1) < 0.10      # type 1 < 10 %
    assert 0 < np.mean(cls == 4) < 0.06      # a few % type 4, so it is represented
    assert 0 < np.mean(cls == 3) < 0.10
    # type-3 shunts are small domains next to type 2: most of their border touches type 2
    t3 = cls == 3
    border = ndimage.binary_dilation(t3) & ~t3
    assert np.mean(cls[border] == 2) > 0.6


def test_degraded_currents(degraded):
    t = degraded.truth
    cls, ion, el = t.class_map, t.ionic_current, t.electronic_current
    plus = ion + el
    minus = el * abs(t.bias_minus / t.bias_plus)
    t2, t3 = cls == 2, cls == 3
    # type 2: I(+V) ~ I(-V) ~ 1e-3..1e-2 pA, electronic dominates both maps
    for img in (plus, minus):
        assert 1e-3 * PA < np.median(img[t2]) < 1e-2 * PA
    assert np.median(el[t2] / plus[t2]) > 0.5
    # type 3: 1e2..1e3 pA in both maps
    for img in (plus, minus):
        assert 1e2 * PA < np.median(img[t3]) < 1e3 * PA
    # type 1: ionic several times pristine (2.5 pA), electronic ~5 decades below that
    t1 = cls == 1
    assert 2.5 * PA < np.median(ion[t1]) < 10 * PA
    assert 2 * 2.5 * PA < ion[t1].mean() < 10 * 2.5 * PA
    assert 4 < np.median(np.log10(ion[t1] / el[t1])) < 6
    # type 4: neither conducts (below 0.1 pA in both maps)
    t4 = cls == 4
    assert np.median(plus[t4]) < 0.1 * PA and np.median(minus[t4]) < 0.1 * PA


def test_pristine_currents_and_roughness():
    p = simulate_pair("pristine", seed=5, shape=(256, 256))
    t = p.truth
    assert p.plus.bias == 0.5 and p.minus.bias == -0.5
    plus = t.ionic_current + t.electronic_current
    assert 2.5 * PA / 1.5 < plus.mean() < 2.5 * PA * 1.5
    # fluctuation comparable to the mean
    assert 0.5 < plus.std() / plus.mean() < 2
    # I(-V) about 5 orders of magnitude smaller
    minus = t.electronic_current * 1.0
    assert 4.5 < np.log10(plus.mean() / minus.mean()) < 5.5
    # flat: RMS roughness 1.2 nm (Jiang et al.), within 25 %
    assert 0.9e-9 < t.height.std() < 1.5e-9


def test_coated_currents():
    t = simulate_pair("coated", seed=5, shape=(256, 256)).truth
    assert 1.3 * PA / 1.5 < t.ionic_current.mean() < 1.3 * PA * 1.5
    gap = np.log10(t.ionic_current.mean() / t.electronic_current.mean())
    assert 1.5 < gap < 2.5  # electronic ~2 decades below ionic


def test_degraded_is_rougher_than_pristine(degraded):
    pristine = simulate_pair("pristine", seed=5, shape=(128, 128)).truth
    t2 = degraded.truth.class_map == 2
    assert degraded.truth.height[t2].std() > 5 * pristine.height.std()


# ---------------------------------------------------------------- log amplifier
def test_volts_decode_to_true_current(still):
    t = still.truth
    cal = still.calibration
    amp = SimulatedAmplifier()
    ratio = abs(t.bias_minus / t.bias_plus)
    for which, true in (("plus", t.ionic_current + t.electronic_current),
                        ("minus", t.electronic_current * ratio)):
        cmap = decoded(still, which)
        inside = (true > cal.floor_current * 10**0.2) & (true < cal.saturation_current / 10**0.2)
        lag = lagging_mask(true, t.pixel_rate_hz, hz_per_amp=t.hz_per_amp)
        ok = inside & ~lag & cmap.valid
        assert ok.mean() > 0.3, which
        err = log_error(cmap, true)[ok]
        assert np.max(np.abs(err)) < 5 * amp.noise_decades, which
        assert 0.8 * amp.noise_decades < err.std() < 1.2 * amp.noise_decades, which
        assert abs(err.mean()) < 0.005, which
        # where the truth is well below the floor, the decoded value is flagged as a bound
        # (and not still lagging behind a higher current earlier in the line)
        logt = np.log10(np.clip(true, cal.floor_current, None))
        deep = (true < cal.floor_current / 10**0.2) & (recent_peak(logt) - logt < 0.3)
        assert deep.any() == (which == "minus")  # types 1 and 4 at -V
        assert np.all(cmap.at_floor[deep] | (cmap.current[deep] < cal.floor_current * 10**0.1))


def test_other_calibration_is_used_and_returned():
    # LOG104 slope and reference, with the fA floor of the paper's amplifier (the data sheet's
    # specified range starts at 100 pA, which would put every pA pixel at the floor)
    cal = dataclasses.replace(load_calibration("log104"), floor_current=1e-15)
    p = simulate_pair("coated", seed=2, shape=(64, 64), calibration=cal)
    assert p.calibration is cal
    v = p.plus.channel("Input1").data
    # 0.5 V/decade with 0 V at 100 nA: ~1 pA reads near -2.5 V (5 decades below)
    assert -3.0 < np.median(v) < -2.3


def test_lag_only_along_the_fast_axis_and_after_drops_to_low_current():
    dt = 1 / (2 * 256 * 1.0)
    hz = SimulatedAmplifier().hz_per_amp
    cur = np.full((4, 40), 1e-10)
    cur[:, 20:] = 1e-15                     # a drop to the floor along the fast axis
    cur[:, 30:] = 1e-10                     # and back up
    from afmcurrent.sim import default_calibration
    cal = default_calibration()
    v = cal.to_voltage(cur)
    lagged = apply_bandwidth_lag(v, cur, dt, hz)
    err = (lagged - v) / cal.volts_per_decade  # decades, positive = reads too high
    assert err[0, 20] > 0.3                  # the first low pixel still remembers the high one
    assert err[0, 22] > 0                   # decays over a few pixels ...
    assert err[0, 25] < 0.01                # ... and is gone after a handful
    np.testing.assert_allclose(err[:, :20], 0, atol=1e-12)
    assert np.all(np.abs(err[:, 30:]) < 1e-3)  # steps up are fast (high current, wide band)
    # the same step along the slow axis (down the rows) does not lag at all
    lagged_t = apply_bandwidth_lag(v.T.copy(), cur.T.copy(), dt, hz)
    np.testing.assert_allclose(lagged_t, v.T, atol=1e-12)


def test_lag_in_a_fast_scan_follows_the_fast_axis():
    # At 4 lines/s the type-2 leakage (~5 fA at -V) is slower than the pixel rate.
    p = simulate_pair("degraded", seed=11, shape=(256, 256), shift_px=(0, 0),
                      drift_px_per_line=(0, 0), scan_rate_hz=4.0)
    t = p.truth
    true = t.electronic_current * abs(t.bias_minus / t.bias_plus)
    true = np.clip(true, p.calibration.floor_current, None)
    err = log_error(decoded(p, "minus"), true)
    logt = np.log10(true)
    drop_left = np.zeros_like(logt)
    drop_left[:, 1:] = logt[:, :-1] - logt[:, 1:]
    drop_up = np.zeros_like(logt)
    drop_up[1:, :] = logt[:-1, :] - logt[1:, :]
    lag = lagging_mask(true, t.pixel_rate_hz, hz_per_amp=t.hz_per_amp)
    after_fast_drop = lag & (drop_left > 2)
    after_slow_drop = lag & (drop_up > 2) & (recent_peak(logt) - logt < 0.1)
    assert after_fast_drop.sum() > 20 and after_slow_drop.sum() > 5
    assert err[after_fast_drop].mean() > 0.3
    assert abs(err[after_slow_drop].mean()) < 0.03
    fast = ~lag & (true > 1e-14)
    assert np.max(np.abs(err[fast])) < 0.1


# ---------------------------------------------------------------- geometry
def test_integer_shift_puts_minus_where_requested():
    p = simulate_pair("degraded", seed=11, shape=(128, 128), shift_px=(2, -3),
                      drift_px_per_line=(0, 0))
    t = p.truth
    true_plus_frame = t.electronic_current * abs(t.bias_minus / t.bias_plus)
    logt_plus_frame = np.log10(np.clip(true_plus_frame, p.calibration.floor_current, None))
    # ndimage.shift(minus, (2, -3)) lies on +V, so minus[r, c] = truth[r + 2, c - 3]:
    logt = ndimage.shift(logt_plus_frame, (-2, 3), order=0)
    err = np.log10(decoded(p, "minus").current) - logt
    ok = np.zeros(logt.shape, bool)
    ok[4:-4, 5:-5] = True
    # above the floor and settled (no higher current in the preceding pixels of the line)
    ok &= (logt > np.log10(2e-15)) & (recent_peak(logt) - logt < 0.3)
    assert ok.sum() > 5000
    assert np.max(np.abs(err[ok])) < 0.1
    # the wrong sign of the shift does not fit
    wrong = np.log10(decoded(p, "minus").current) - ndimage.shift(logt_plus_frame, (2, -3), order=0)
    assert np.mean(np.abs(wrong[ok]) > 0.1) > 0.5


def _fit_shift(plus, minus, rows=slice(None), m=10):
    """Least-squares sub-pixel shift s with ndimage.shift(minus, s) ~ plus (independent check)."""
    w = window("hann", plus.shape)
    start = phase_cross_correlation((plus - plus.mean()) * w, (minus - minus.mean()) * w,
                                    normalization=None)[0]

    def cost(s):
        d = ndimage.shift(minus, s, order=3)[rows][m:-m, m:-m] - plus[rows][m:-m, m:-m]
        return float(np.mean(d**2))

    res = optimize.minimize(cost, start, method="Nelder-Mead",
                            options={"xatol": 1e-3, "fatol": 1e-40})
    return res.x


def test_subpixel_shift_and_drift_of_the_minus_frame():
    shift = (2.3, -1.6)
    p = simulate_pair("degraded", seed=6, shape=(128, 128), shift_px=shift,
                      drift_px_per_line=(0, 0))
    hp, hm = p.plus.channel("Height").data, p.minus.channel("Height").data
    np.testing.assert_allclose(_fit_shift(hp, hm), shift, atol=0.03)
    # a linear drift: strips at the top and bottom see the shift of their centre line
    drift = (0.03, -0.02)
    p = simulate_pair("degraded", seed=6, shape=(128, 128), shift_px=shift,
                      drift_px_per_line=drift)
    hp, hm = p.plus.channel("Height").data, p.minus.channel("Height").data
    for a, b in ((0, 48), (80, 128)):
        centre = (a + b - 1) / 2 - 63.5
        expected = np.array(shift) + np.array(drift) * centre
        np.testing.assert_allclose(_fit_shift(hp, hm, rows=slice(a, b)), expected, atol=0.15)


# ---------------------------------------------------------------- files
def test_write_pair_round_trip(tmp_path):
    from afmcurrent import load_scan

    p = simulate_pair("degraded", seed=8, shape=(64, 64))
    paths = write_pair(tmp_path / "sim", p)
    assert set(paths) == {"plus", "minus", "logamp", "truth", "truth_json"}
    assert paths["plus"].name == "degraded_seed8_plus.spm"
    for key, scan in (("plus", p.plus), ("minus", p.minus)):
        back = load_scan(paths[key])
        assert back.bias == pytest.approx(scan.bias, abs=1e-3)
        for name in ("Height", "Input1"):
            a, b = scan.channel(name).data, back.channel(name).data
            assert back.channel(name).unit == scan.channel(name).unit
            step = np.max(np.abs(a)) / 2**30
            np.testing.assert_allclose(b, a, rtol=0, atol=step)
    assert load_calibration(paths["logamp"]).to_dict() == p.calibration.to_dict()
    with np.load(paths["truth"]) as z:
        np.testing.assert_array_equal(z["class_map"], p.truth.class_map)
        np.testing.assert_allclose(z["ionic_current"], p.truth.ionic_current, rtol=1e-6)
    meta = json.loads(paths["truth_json"].read_text())
    assert meta["shift_px"] == list(p.truth.shift_px) and meta["seed"] == 8
    # no silent overwrite
    with pytest.raises(FileExistsError, match="overwrite"):
        write_pair(tmp_path / "sim", p)
    write_pair(tmp_path / "sim", p, overwrite=True)


def test_presets_are_documented():
    for name, preset in PRESETS.items():
        assert preset.name == name and preset.description
        assert preset.bias_plus > 0 > preset.bias_minus
        assert sum(preset.fractions.values()) == pytest.approx(1.0)
        assert set(preset.fractions) <= set(preset.classes)
