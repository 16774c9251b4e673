"""The main job against simulator ground truth, and its contracts on bad input."""

import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.core.classes import CLASS_NAMES
from afmcurrent.core.errors import CalibrationError, ConfigError, RegistrationError
from afmcurrent.core.model import Channel
from afmcurrent.outputs import summary
from afmcurrent.sim import simulate_pair


@pytest.fixture(scope="module")
def degraded():
    pair = simulate_pair("degraded", seed=3, shape=(256, 256))
    return pair, analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)


def test_degraded_classes_match_truth(degraded):
    pair, res = degraded
    truth = pair.truth.class_map
    cls = res.class_map
    classified = cls > 0
    assert classified.mean() > 0.85
    accuracy = np.mean(cls[classified] == truth[classified])
    assert accuracy >= 0.995, accuracy
    # Area fractions within 3.5 percentage points of the truth over the same frame: pixels at
    # domain edges, whose resampled -V value is not known (transport.resampling_uncertainty),
    # and pixels at the amplifier floor are class 0, so small shunt and insulating domains lose
    # their rims and the type-2 matrix gains ~3 points among the classified pixels.
    t = truth[res.maps.valid]
    for code, name in CLASS_NAMES.items():
        assert abs(res.fractions[name] - np.mean(t == code)) < 0.035, name


def test_degraded_registration_recovers_shift(degraded):
    pair, res = degraded
    np.testing.assert_allclose(res.registration.shift, pair.truth.shift_px, atol=0.1)
    assert res.registration.trustworthy


def test_degraded_currents_in_paper_ranges(degraded):
    _, res = degraded
    med = res.median_currents()
    # Type 2 dominates: I(+V) ~ I(-V) ~ 1e-3..1e-2 pA (docs/science.md).
    assert 1e-15 <= med["plus_current"] <= 1e-14
    assert 1e-15 <= med["minus_current"] <= 1e-14
    shunt = res.class_map == 3
    assert np.median(res.maps.plus_current[shunt]) > 1e-10


@pytest.mark.parametrize("preset", ["pristine", "coated"])
def test_working_electrolytes_are_ionic(preset):
    pair = simulate_pair(preset, seed=1, shape=(128, 128))
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    assert res.fractions["ionic_conducting"] > 0.9
    assert np.nanmedian(res.maps.ionic_fraction) > 0.95
    if preset == "pristine":
        # ~2.5 pA at +0.5 V (Jiang et al.)
        assert 1e-12 < res.median_currents()["plus_current"] < 6e-12


def test_polarity_order_put_right():
    pair = simulate_pair("degraded", seed=2, shape=(96, 96))
    res = analyze_pair(pair.minus, pair.plus, logamp=pair.calibration)
    assert res.bias_plus > 0 > res.bias_minus
    assert any("polarity" in n for n in res.notes)


def test_missing_or_zero_bias_is_a_clear_error():
    pair = simulate_pair("degraded", seed=2, shape=(64, 64))
    pair.minus.bias = None
    with pytest.raises(ConfigError, match="--bias-minus"):
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, bias_minus=-1.0)
    assert res.bias_minus == -1.0
    with pytest.raises(ConfigError, match="0"):
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, bias_minus=0.0)


def test_volts_without_calibration_refused():
    pair = simulate_pair("degraded", seed=2, shape=(64, 64))
    with pytest.raises(CalibrationError, match="--logamp"):
        analyze_pair(pair.plus, pair.minus)


def test_untrustworthy_registration_is_not_used():
    pair = simulate_pair("degraded", seed=2, shape=(96, 96))
    rng = np.random.default_rng(0)
    noise = [
        Channel(c.name, rng.normal(size=c.shape) * np.std(c.data) + np.mean(c.data), c.unit,
                c.direction, c.quantity)
        for c in pair.minus.channel_list
    ]
    junk = pair.minus.with_channels(noise)
    with pytest.raises(RegistrationError, match="not trustworthy"):
        analyze_pair(pair.plus, junk, logamp=pair.calibration)
    res = analyze_pair(pair.plus, junk, logamp=pair.calibration, force_registration=True)
    assert not res.registration.trustworthy
    assert any("not trustworthy" in w for w in res.warnings)


def test_known_shift_and_reference_mode():
    pair = simulate_pair("degraded", seed=4, shape=(96, 96))
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                       shift=tuple(pair.truth.shift_px))
    assert res.registration.method.startswith("manual")  # "manual+height": creep estimated
    ref = simulate_pair("pristine", seed=4, shape=(96, 96))
    with pytest.raises(ConfigError, match="reference"):
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                     config={"classify": {"mode": "reference"}})
    rel = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                       config={"classify": {"mode": "reference"}},
                       reference=(ref.plus, ref.minus))
    assert "reference" in rel.thresholds.source
    # Thresholds sit at the reference median times 10**decades.
    ref_med = np.nanmedian(ref.truth.ionic_current)
    assert rel.thresholds.ionic_current_min == pytest.approx(ref_med * 10**-1.4, rel=0.3)


# ------------------------------------------------------------------ issue 9: honest numbers
def test_shunts_get_no_ionic_current_and_floor_pixels_are_bounds(degraded):
    """Against the simulator's truth: a true shunt (I(+V) ~ I(-V)) gets no ionic current, and
    true class-4 pixels whose -V reading sits within the noise of the floor are not called
    class 2 (before issue 9: 29-52 % and 13 %)."""
    pair, res = degraded
    truth = pair.truth.class_map
    resolved = np.isfinite(res.maps.ionic_current)
    assert resolved[truth == 3].mean() < 0.03
    assert (res.class_map[truth == 4] == 2).mean() < 0.06
    # every -V reading within the noise margin of the floor is flagged
    floor = pair.calibration.floor_current
    near = res.maps.valid & (res.maps.minus_current <= floor * 10 ** 0.05)
    assert res.maps.minus_at_floor[near].all()
    # the summary's medians are taken over the same pixels: ionic never above I(+V)
    med = res.median_currents()
    assert med["ionic_current"] <= med["plus_current"]
    s = summary(res)
    assert s["median_current_bounds"] == res.median_current_bounds()
    assert set(s["median_current_density_A_m2"]) == {"ionic_current", "electronic_current"}
    assert s["warnings"] == res.warnings
    assert s["lag"]["checked"] is False and s["bound_fractions"]["minus_at_floor"] > 0


def test_median_at_the_floor_is_an_upper_bound():
    pair = simulate_pair("pristine", seed=1, shape=(96, 96))
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    bounds = res.median_current_bounds()
    # pristine: every -V pixel at the 1 fA floor (electronic current 5 decades below the ionic)
    assert bounds == {"minus_current": "upper", "electronic_current": "upper"}
    assert res.median_currents()["minus_current"] < 1.2e-15
    assert any("-V pixels are at the amplifier floor" in w for w in res.warnings)
    # the current density is the current over pi r^2 with the settings' tip radius
    r = res.config.transport.tip_radius
    dens = res.current_density_maps()["current_density_ionic"]
    np.testing.assert_allclose(dens, res.maps.ionic_current / (np.pi * r**2))
    assert res.median_current_densities()["ionic_current"] == pytest.approx(
        res.median_currents()["ionic_current"] / (np.pi * r**2))
    col = res.domains.columns["median_ionic_current_density_mA_cm2"]
    np.testing.assert_allclose(
        col, res.domains.columns["median_ionic_current_pA"] * 1e-12 / (np.pi * r**2) * 0.1)


def test_calibration_that_does_not_fit_is_said():
    import dataclasses

    pair = simulate_pair("degraded", seed=2, shape=(96, 96))
    # the README's old example: the AD8304 preset (100 pA floor) on fA-pA data
    res = analyze_pair(pair.plus, pair.minus, logamp="AD8304")
    assert sum("at the amplifier floor (1e-10 A)" in w for w in res.warnings) == 2
    # the sign of the slope wrong: everything saturates
    wrong = dataclasses.replace(pair.calibration, volts_per_decade=-0.2, name="wrong sign")
    res = analyze_pair(pair.plus, pair.minus, logamp=wrong)
    assert sum("at saturation" in w for w in res.warnings) == 2
    assert res.median_current_bounds()["plus_current"] == "lower"
    # a calibration record with large fit residuals, fitted over a narrow range
    rec = dataclasses.replace(pair.calibration, fit_rms_decades=0.2, fit_min_current=1e-12,
                              fit_max_current=1e-9)
    res = analyze_pair(pair.plus, pair.minus, logamp=rec)
    assert any("fit residuals are 0.2 decades" in w for w in res.warnings)
    assert any("extrapolated" in w for w in res.warnings)
    # the right calibration: no warning
    assert analyze_pair(pair.plus, pair.minus, logamp=pair.calibration).warnings == []


def test_biases_given_by_hand():
    pair = simulate_pair("degraded", seed=2, shape=(64, 64))
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, bias_plus=2.0)
    assert res.bias_plus == 2.0
    assert any("--bias-plus +2 V overrides the +1 V recorded" in w for w in res.warnings)
    # swapped files with biases that contradict the headers: refused, not silently wrong
    with pytest.raises(ConfigError, match="swapped"):
        analyze_pair(pair.minus, pair.plus, logamp=pair.calibration, bias_plus=1.0,
                     bias_minus=-1.0)
    res = analyze_pair(pair.minus, pair.plus, logamp=pair.calibration, bias_plus=1.0,
                       bias_minus=-1.0, force_bias=True)
    assert sum("contradicts" in w for w in res.warnings) == 2
    with pytest.raises(ConfigError, match="both the"):
        analyze_pair(pair.plus, pair.plus, logamp=pair.calibration)


def test_same_file_twice_refused(tmp_path):
    from afmcurrent.sim import write_pair

    pair = simulate_pair("degraded", seed=2, shape=(48, 48))
    paths = write_pair(tmp_path, pair, prefix="p")
    with pytest.raises(ConfigError, match="both the"):
        analyze_pair(paths["plus"], tmp_path / "." / paths["plus"].name)


def test_lag_widens_intervals_where_bandwidth_is_short():
    """A slow amplifier (1e16 Hz/A: 50 Hz at 5 fA against 512 px/s): with the bandwidth model
    the lagging pixels are reported and classified only where certain anyway."""
    from afmcurrent.sim import SimulatedAmplifier

    pair = simulate_pair("degraded", seed=7, shape=(96, 96),
                         amplifier=SimulatedAmplifier(hz_per_amp=1e16))
    truth = pair.truth.class_map

    def accuracy(res):
        c = res.class_map
        return np.mean(c[c > 0] == truth[c > 0])

    blind = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    assert any("lag not checked" in n for n in blind.notes)
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                       config={"transport": {"bandwidth_hz_per_amp": 1e16}})
    assert res.lag["checked"] and res.lag["pixel_rate_hz"] == [192.0, 192.0]
    assert res.lag["lagging_fraction"] > 0.5
    assert any("lag" in w for w in res.warnings)
    assert res.maps.lagging.any()
    assert accuracy(res) > accuracy(blind)
    assert summary(res)["lag"]["lagging_fraction"] == res.lag["lagging_fraction"]
    # switched off by the setting
    off = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                       config={"transport": {"bandwidth_hz_per_amp": 1e16,
                                             "check_lag": False}})
    assert not off.lag["checked"] and off.warnings == []


def test_expected_shift_leaks_no_runtime_warning():
    import warnings

    pair = simulate_pair("degraded", seed=1, shape=(128, 128))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                     expect_shift=tuple(pair.truth.shift_px))
