"""Tests of afmcurrent.pair.level against synthetic images with known ground truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from afmcurrent.pair.level import align_rows, detect_scars, level_topography, plane_level
from afmcurrent.pair.roughness import mean_roughness, rms_roughness, roughness_by_label


def _grid(rows=64, cols=80):
    return np.mgrid[:rows, :cols].astype(float)


def test_plane_level_removes_tilt_exactly():
    y, x = _grid()
    rng = np.random.default_rng(0)
    rough = rng.normal(0, 1e-9, y.shape)
    rough -= rough.mean()
    z = 5e-9 * y - 3e-9 * x + 2e-6 + rough
    out = plane_level(z)
    # residual = roughness minus its own best plane: close to the roughness
    assert np.abs(out - rough).max() < 0.2e-9
    assert abs(out.mean()) < 1e-15


def test_plane_level_mask_ignores_particle():
    y, x = _grid()
    z = 1e-9 * y + 2e-9 * x
    z_part = z.copy()
    z_part[10:20, 10:20] += 100e-9
    mask = np.ones(z.shape, bool)
    mask[10:20, 10:20] = False
    out = plane_level(z_part, mask)
    assert np.allclose(out[mask], 0.0, atol=1e-18)
    assert np.allclose(out[~mask], 100e-9)


def test_plane_level_nan_ignored_and_kept():
    y, x = _grid()
    z = 1e-9 * y + 0.5
    z[3, 4] = np.nan
    out = plane_level(z)
    assert np.isnan(out[3, 4])
    assert np.nanmax(np.abs(out)) < 1e-12


@pytest.mark.parametrize("method", ["median", "mean", "polynomial"])
def test_align_rows_removes_offsets(method):
    rng = np.random.default_rng(1)
    y, x = _grid()
    surface = 1e-9 * np.sin(x / 5.0) * np.cos(y / 7.0)
    offsets = rng.normal(0, 20e-9, y.shape[0])
    out = align_rows(surface + offsets[:, None], method=method, degree=0)
    expected = align_rows(surface, method=method, degree=0)
    assert np.allclose(out, expected, atol=1e-15)
    # the 20 nm line jumps are gone: rows agree to the surface's own amplitude
    assert np.ptp(np.median(out, axis=1)) < 2e-9


def test_align_rows_polynomial_removes_row_slopes():
    rng = np.random.default_rng(2)
    rows, cols = 30, 50
    x = np.arange(cols)
    z = rng.normal(0, 1e-9, (rows, 1)) + rng.normal(0, 1e-10, (rows, 1)) * x[None, :]
    out = align_rows(z, method="polynomial", degree=1)
    assert np.abs(out).max() < 1e-20


def test_align_rows_bad_method():
    with pytest.raises(ValueError, match="unknown method"):
        align_rows(np.zeros((4, 4)), method="spline")


def test_level_topography_tilt_plus_offsets():
    rng = np.random.default_rng(3)
    y, x = _grid(128, 128)
    bumps = 2e-9 * np.sin(x / 6.0) * np.sin(y / 9.0)
    z = bumps + 3e-9 * y + 1e-9 * x + rng.normal(0, 5e-9, 128)[:, None]
    out = level_topography(z)
    truth = bumps - np.median(bumps, axis=1, keepdims=True)
    assert np.abs(out - truth).max() < 0.3e-9


def test_roughness_known_values():
    # a square wave of +/-a has Rq = Ra = a; a sine of amplitude a has Rq = a/sqrt(2), Ra = 2a/pi
    a = 1.2e-9
    sq = np.where(np.arange(100) % 2 == 0, a, -a)[None, :].repeat(10, 0)
    assert rms_roughness(sq) == pytest.approx(a)
    assert mean_roughness(sq) == pytest.approx(a)
    t = np.linspace(0, 20 * np.pi, 4000, endpoint=False)
    sine = a * np.sin(t)[None, :] + 7e-6
    assert rms_roughness(sine) == pytest.approx(a / np.sqrt(2), rel=1e-6)
    assert mean_roughness(sine) == pytest.approx(2 * a / np.pi, rel=1e-4)


def test_roughness_gaussian_and_mask():
    rng = np.random.default_rng(4)
    z = rng.normal(0, 1.2e-9, (256, 256))
    assert rms_roughness(z) == pytest.approx(1.2e-9, rel=0.02)
    assert mean_roughness(z) == pytest.approx(1.2e-9 * np.sqrt(2 / np.pi), rel=0.02)
    z[:10] = 1e-6
    mask = np.ones(z.shape, bool)
    mask[:10] = False
    assert rms_roughness(z, mask) == pytest.approx(1.2e-9, rel=0.02)
    assert np.isnan(rms_roughness(z, np.zeros(z.shape, bool)))


def test_detect_scars_finds_streak_only():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1e-10, (64, 128))
    z[30, 20:70] += 5e-9
    scars = detect_scars(z, threshold=5.0, min_length=10)
    assert scars[30, 25:65].all()
    assert scars.sum() <= 52
    assert not scars[:29].any() and not scars[32:].any()


def test_masked_row_median_equals_nanmedian():
    from afmcurrent.pair.level import align_rows

    rng = np.random.default_rng(11)
    z = rng.normal(size=(40, 31))
    mask = rng.random(z.shape) > 0.3
    mask[3] = False  # a row without valid pixels stays as it is
    mask[5, :2] = True
    mask[5, 2:] = False  # even count: mean of the two middle values
    z[7, 4] = np.nan  # NaN pixels are never used
    got = align_rows(z, mask=mask)
    masked = np.where(mask & np.isfinite(z), z, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nan_to_num(np.nanmedian(masked, axis=1))
    np.testing.assert_array_equal(got, z - ref[:, None])
    clean = np.nan_to_num(z)
    np.testing.assert_array_equal(align_rows(clean), clean - np.median(clean, axis=1)[:, None])


def test_roughness_by_label_equals_the_roughness_of_each_region():
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 2e-9, (40, 50)) + 5e-9
    z[3, 4] = np.nan
    labels = np.zeros(z.shape, np.int64)
    labels[:20, :25] = 1
    labels[20:, 10:] = 2
    labels[0, 0] = 4  # label 3 has no pixel
    rq, ra = roughness_by_label(z, labels, 4)
    for k in (1, 2, 4):
        assert rq[k - 1] == pytest.approx(rms_roughness(z, labels == k), rel=1e-12, abs=1e-24)
        assert ra[k - 1] == pytest.approx(mean_roughness(z, labels == k), rel=1e-12, abs=1e-24)
    assert np.isnan(rq[2]) and np.isnan(ra[2])
    # a Gaussian surface: Ra ~ sqrt(2 / pi) Rq
    assert ra[1] / rq[1] == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)
