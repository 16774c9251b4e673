"""Ionic / electronic separation: physics of the +/-V comparison and its uncertainty."""

import numpy as np
import pytest

from afmcurrent.core.config import TransportSettings
from afmcurrent.pair.transport import current_density, separate


def test_paper_current_density():
    # Jiang et al.: 2.5 pA through a 100 nm radius probe is ~8 mA/cm^2 (= 80 A/m^2).
    j = current_density(2.5e-12, 100e-9)
    assert j * 0.1 == pytest.approx(7.96, rel=0.01)  # A/m^2 -> mA/cm^2
    with pytest.raises(ValueError):
        current_density(1e-12, 0.0)


def test_ohmic_scaling_and_ionic_current():
    plus = np.full((4, 4), 3e-12)
    minus = np.full((4, 4), 0.5e-12)  # at -0.5 V
    m = separate(plus, minus, 1.0, -0.5)
    # Ohmic: I_e(+1 V) = |I(-0.5 V)| * 2
    np.testing.assert_allclose(m.electronic_current, 1e-12)
    np.testing.assert_allclose(m.ionic_current, 2e-12)
    np.testing.assert_allclose(m.ionic_fraction, 2 / 3)
    assert m.bias_ratio == pytest.approx(2.0)


def test_bias_exponent_configurable():
    plus = np.full((2, 2), 1e-11)
    minus = np.full((2, 2), 1e-13)
    m = separate(plus, minus, 1.0, -0.5, settings=TransportSettings(bias_exponent=2.0))
    np.testing.assert_allclose(m.electronic_current, 4e-13)


def test_unresolved_difference_is_indeterminate_not_negative():
    rng = np.random.default_rng(0)
    # Electronic-only pixels: I(+V) == I_e within noise -> no ionic number is made up.
    base = 1e-14 * 10 ** rng.normal(0, 0.02, (50, 50))
    plus = base * 10 ** rng.normal(0, 0.02, base.shape)
    m = separate(plus, base, 1.0, -1.0, settings=TransportSettings(noise_decades=0.03))
    assert np.all(np.isnan(m.ionic_current) | (m.ionic_current > 0))
    assert np.isnan(m.ionic_current).mean() > 0.95
    assert np.all(np.isnan(m.ionic_fraction) | ((m.ionic_fraction >= 0) & (m.ionic_fraction <= 1)))


def test_floor_and_saturation_bounds():
    plus = np.array([[2.5e-12, 1e-15, 1e-3]])
    minus = np.array([[1e-15, 1e-15, 1e-3]])
    floor = np.array([[True, True, False]])
    sat = np.array([[False, False, True]])
    m = separate(
        plus, minus, 1.0, -1.0,
        plus_at_floor=np.array([[False, True, False]]), plus_at_saturation=sat,
        minus_at_floor=floor, minus_at_saturation=sat,
    )
    # Pixel 0: -V at the floor (upper bound): ratio has a lower bound only.
    assert np.isfinite(m.log_ratio_bounds[0, 0, 0]) and np.isinf(m.log_ratio_bounds[1, 0, 0])
    assert m.ionic_fraction[0, 0] == pytest.approx(1.0, abs=1e-3)
    # Pixel 1: both at the floor: nothing known, no numbers.
    assert np.isnan(m.ionic_current[0, 1])
    assert m.log_ratio_bounds[0, 0, 1] == -np.inf and m.log_ratio_bounds[1, 0, 1] == np.inf
    # Pixel 2: both saturated: no ionic number.
    assert np.isnan(m.ionic_current[0, 2])


def test_invalid_pixels_and_bias_signs():
    plus = np.ones((3, 3)) * 1e-12
    valid = np.ones((3, 3), bool)
    valid[0] = False
    m = separate(plus, plus * 1e-3, 0.5, -0.5, valid=valid)
    assert np.all(np.isnan(m.plus_current[0])) and not m.valid[0].any()
    with pytest.raises(ValueError, match="positive"):
        separate(plus, plus, -0.5, 0.5)


def test_resampling_uncertainty_terms():
    from afmcurrent.pair.transport import resampling_uncertainty

    flat = np.full((20, 20), -12.0)
    sigma, below, above = resampling_uncertainty(flat, 0.2, 0.03)
    assert not sigma.any() and not below.any() and not above.any()
    # a ramp of 0.1 decade/px along x: registration term u * |grad|, no fluctuation term
    ramp = -12.0 + 0.1 * np.arange(20)[None, :] + np.zeros((20, 1))
    sigma, below, above = resampling_uncertainty(ramp, 0.2, 0.03)
    np.testing.assert_allclose(sigma, 0.02, rtol=1e-5)  # float32
    assert not below.any() and not above.any()
    # a 4-decade step between columns 9 and 10: the interval reaches the other side
    step = np.where(np.arange(20)[None, :] < 10, -14.0, -10.0) + np.zeros((20, 1))
    sigma, below, above = resampling_uncertainty(step, 0.1, 0.03)
    allow = 2 * np.sqrt(2) * 0.03
    np.testing.assert_allclose(above[:, 9], 4.0 + allow, rtol=1e-5)
    np.testing.assert_allclose(below[:, 10], 4.0 + allow, rtol=1e-5)
    assert not above[:, 10].any() and not below[:, 9].any() and not above[:, :9].any()
    np.testing.assert_allclose(sigma[:, 9], 0.1 * 2.0, rtol=1e-5)  # central difference 4 / 2 px


def test_shunt_edges_get_no_ionic_current():
    """I(+V) = I_e everywhere (a shunt in a leaky matrix, no ionic current at all), the -V map
    resampled by a sub-pixel shift as the registration does: no pixel may get an ionic
    current (issue 9: 29-52 % of shunt pixels did, from edges and gradients)."""
    from scipy import ndimage

    from afmcurrent.pair.transport import resampling_uncertainty

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:96, 0:96]
    shunts = ((yy % 24 - 12) ** 2 + (xx % 24 - 12) ** 2) < 25  # discs ~10 px across
    log_true = np.where(shunts, -9.5, -14.2) + 0.3 * ndimage.gaussian_filter(
        rng.normal(size=(96, 96)), 3)
    noise = 0.02
    plus = 10 ** (log_true + rng.normal(0, noise, log_true.shape))
    # the -V scan sees the same currents 0.4 px away; resampled back in log space
    shifted = ndimage.shift(log_true, (0.4, -0.3), order=1, mode="nearest")
    moved = shifted + rng.normal(0, noise, log_true.shape)
    minus_log = ndimage.shift(moved, (-0.4, 0.3), order=3, mode="nearest")
    settings = TransportSettings(noise_decades=0.03)
    naive = separate(plus, 10 ** minus_log, 1.0, -1.0, settings=settings)
    assert np.isfinite(naive.ionic_current[shunts]).mean() > 0.05  # the defect, reproduced
    sigma, below, above = resampling_uncertainty(minus_log, 0.1, 0.03)
    m = separate(plus, 10 ** minus_log, 1.0, -1.0, settings=settings, electronic_sigma=sigma,
                 electronic_widening=(below, above))
    assert np.isfinite(m.ionic_current[shunts]).mean() < 0.01
    # the electronic current never exceeds I(+V) beyond its interval: I_e <= I(+V)
    assert np.all(m.log_electronic_bounds[1] <= m.log_plus_bounds[1] + 1e-12)


def test_ionic_current_still_resolved_where_real():
    from afmcurrent.pair.transport import resampling_uncertainty

    plus = np.full((16, 16), 1e-12)  # 1 pA at +V
    minus = np.full((16, 16), 1e-14)  # 10 fA electronic
    lg = np.log10(minus)
    sigma, below, above = resampling_uncertainty(lg, 0.2, 0.03)
    m = separate(plus, minus, 1.0, -1.0, electronic_sigma=sigma,
                 electronic_widening=(below, above))
    np.testing.assert_allclose(m.ionic_current, 0.99e-12)
