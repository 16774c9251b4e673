"""The main job against simulator ground truth, and its contracts on bad input."""

import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.domains import CLASS_NAMES
from afmcurrent.errors import CalibrationError, ConfigError, RegistrationError
from afmcurrent.model import Channel
from afmcurrent.simulate import simulate_pair


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
    # Type 2 dominates: I(+V) ~ I(-V) ~ 1e-3..1e-2 pA (SCIENCE.md).
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
    assert res.registration.method == "manual"
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
