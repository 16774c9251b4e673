"""Tests of afmcurrent.pair.registration against known truth: synthetic shifts and drifts, creep
from an independent generator (``tests/regpairgen.py``), the old failure modes, and real pairs.

Convention under test: ``reference[r, c] = moving[r - dy(r), c - dx(r)]`` for every reference
row ``r`` (``Registration.row_displacement``); with a linear drift,
``dy(r) = shift + drift_per_line * (r - (rows - 1) / 2)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from regpairgen import make_pair
from scipy import ndimage as ndi

from afmcurrent.core.errors import RegistrationError
from afmcurrent.pair.level import level_topography
from afmcurrent.pair.registration import (
    Registration,
    apply_registration,
    apply_registration_mask,
    register,
)
from afmcurrent.pair.registration._resample import inside_mask

ROWS = COLS = 256
Y0, X0 = 40, 40  # origin of the reference window in the canvas


def _realdata() -> Path:
    root = Path(__file__).resolve().parents[1]
    local = root / "data_samples" / "real"
    return local if local.is_dir() else root.parent / "shared" / "realdata"


def _canvas(seed: int, sigma: float = 3.0, size: int = 360) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = ndi.gaussian_filter(rng.normal(size=(size, size)), sigma)
    return c / c.std()


def _windows(canvas, shift, drift=(0.0, 0.0), rows=ROWS, cols=COLS):
    """Reference window and a moving window displaced by shift + drift*(r - centre)."""
    ref = canvas[Y0:Y0 + rows, X0:X0 + cols].copy()
    m = np.arange(rows, dtype=float)[:, None]
    c = np.arange(cols, dtype=float)[None, :]
    centre = (rows - 1) / 2.0
    r = m.copy()  # reference row whose content lands on moving row m: r = m + dy(r)
    for _ in range(10):
        r = m + shift[0] + drift[0] * (r - centre)
    dx = shift[1] + drift[1] * (r - centre)
    coords = [np.broadcast_to(Y0 + r, (rows, cols)), np.broadcast_to(X0 + c + dx, (rows, cols))]
    mov = ndi.map_coordinates(canvas, coords, order=3)
    return ref, mov


def _tilt(img, scale=1e-9):
    """Height in m with a tilt and line offsets, as raw scans have."""
    rng = np.random.default_rng(99)
    y, x = np.mgrid[: img.shape[0], : img.shape[1]]
    return scale * (img + 0.02 * y - 0.01 * x + rng.normal(0, 3, img.shape[0])[:, None])


def test_subpixel_shift_and_drift_recovered():
    canvas = _canvas(1)
    shift, drift = (6.3, -4.7), (0.006, -0.004)
    ref, mov = _windows(canvas, shift, drift)
    reg = register(_tilt(ref), _tilt(mov))
    assert reg.trustworthy, reg.reason
    assert reg.method == "height"
    assert reg.shift == pytest.approx(shift, abs=0.1)
    assert reg.drift_per_line == pytest.approx(drift, abs=0.001)
    assert reg.confidence > 0.9
    assert reg.overlap == pytest.approx((1 - 6.3 / ROWS) * (1 - 4.7 / COLS), abs=0.02)


def test_pure_shift_reports_no_drift():
    canvas = _canvas(2)
    rng = np.random.default_rng(3)
    ref, mov = _windows(canvas, (-3.4, 9.25))
    ref = ref + rng.normal(0, 0.1, ref.shape)
    mov = mov + rng.normal(0, 0.1, mov.shape)
    reg = register(ref, mov)
    assert reg.trustworthy, reg.reason
    assert np.abs(reg.drift_per_line).max() < 2e-4  # no drift: a flat curve
    assert reg.shift == pytest.approx((-3.4, 9.25), abs=0.1)
    assert np.abs(reg.row_displacement - (-3.4, 9.25)).max() < 0.15


def test_shift_sign_convention_with_ndimage_shift():
    canvas = _canvas(4)
    ref = canvas[Y0:Y0 + ROWS, X0:X0 + COLS]
    # moving[m] = ref[m - 5]: the content sits 5 rows lower and 3 columns further left in the
    # moving frame, so it must be shifted up by 5 and right by 3: (dy, dx) = (-5, +3)
    mov = canvas[Y0 - 5:Y0 - 5 + ROWS, X0 + 3:X0 + 3 + COLS]
    reg = register(ref, mov, estimate_drift=False)
    assert reg.shift == pytest.approx((-5.0, 3.0), abs=0.05)
    back = ndi.shift(mov, reg.shift, order=1)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(back[inner] - ref[inner]).max() < 0.05
    # the opposite sign does not lie on the reference
    wrong = ndi.shift(mov, (-reg.shift[0], -reg.shift[1]), order=1)
    assert np.abs(wrong[inner] - ref[inner]).mean() > 0.3


def test_pure_noise_is_untrustworthy():
    rng = np.random.default_rng(5)
    reg = register(rng.normal(size=(ROWS, COLS)), rng.normal(size=(ROWS, COLS)))
    assert not reg.trustworthy
    assert reg.confidence < 0.1
    assert "confidence" in reg.reason
    with pytest.raises(RegistrationError, match="not trustworthy"):
        reg.require_trustworthy()


def test_flat_topography_uses_current_maps():
    rng = np.random.default_rng(6)
    canvas = _canvas(7, sigma=4.0)
    shift = (-7.6, 4.3)
    logref, logmov = _windows(canvas, shift)
    # currents over ~2 decades around 2.5 pA, with zeros (log-amp floor) and a NaN
    i_ref = 2.5e-12 * 10 ** (0.5 * logref)
    i_mov = 2.5e-12 * 10 ** (0.5 * logmov)
    i_ref[5, 5:20] = 0.0
    i_mov[100, 7] = np.nan
    # featureless electrolyte: 1.2 nm RMS noise, independent between the scans
    h_ref = rng.normal(0, 1.2e-9, (ROWS, COLS))
    h_mov = rng.normal(0, 1.2e-9, (ROWS, COLS))
    reg = register(h_ref, h_mov, i_ref, i_mov)
    assert reg.trustworthy, reg.reason
    assert reg.method == "current"
    assert reg.shift == pytest.approx(shift, abs=0.1)
    height_only = register(h_ref, h_mov)
    assert not height_only.trustworthy


def test_current_only_where_the_height_is_featureless():
    """Textured height everywhere: the current is not used. Height flat in the top half:
    those bands are matched on the current, the others on the height (never averaged)."""
    shift = (3.2, 2.6)
    h_ref, h_mov = _windows(_canvas(8), shift)
    c_ref, c_mov = _windows(_canvas(9, sigma=5.0), shift)
    i_ref, i_mov = 10 ** (c_ref - 12), 10 ** (c_mov - 12)
    reg = register(h_ref, h_mov, i_ref, i_mov)
    assert reg.method == "height"
    assert reg.shift == pytest.approx(shift, abs=0.1)
    rng = np.random.default_rng(3)
    h_ref[:140] = rng.normal(0, 0.02, (140, COLS))  # flat, polished: noise only
    h_mov[:136] = rng.normal(0, 0.02, (136, COLS))
    reg = register(h_ref, h_mov, i_ref, i_mov)
    assert reg.trustworthy, reg.reason
    assert reg.method == "height+current"
    assert np.abs(reg.row_displacement - shift)[inside_mask(reg.row_displacement,
                                                            h_ref.shape).any(1)].max() < 0.5


def _analytic_valid(reg: Registration, shape) -> np.ndarray:
    r = np.arange(shape[0])[:, None]
    c = np.arange(shape[1])[None, :]
    dy, dx = reg.displacement(np.arange(shape[0]))
    sy, sx = r - dy[:, None], c - dx[:, None]
    return (sy >= 0) & (sy <= shape[0] - 1) & (sx >= 0) & (sx <= shape[1] - 1)


def test_apply_registration_round_trip_and_valid_mask():
    canvas = _canvas(10, sigma=5.0)
    shift, drift = (4.4, -6.7), (0.004, 0.002)
    ref, mov = _windows(canvas, shift, drift)
    reg = Registration(shift, drift, 1.0, True, "height", 1.0, shape=ref.shape)
    out, valid = apply_registration(mov, reg)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(valid, _analytic_valid(reg, ref.shape))
    assert np.all(np.isnan(out[~valid]))
    # bilinear interpolation of a field with a 5-px correlation length: small error
    assert np.abs(out[valid] - ref[valid]).max() < 0.05 * np.ptp(ref)
    cubic, _ = apply_registration(mov, reg, order=3)
    assert np.abs(cubic[valid] - ref[valid]).max() < 0.01 * np.ptp(ref)


def test_apply_registration_log_space_for_currents():
    canvas = _canvas(11, sigma=5.0)
    shift = (2.5, -3.5)
    logref, logmov = _windows(canvas, shift)
    i_ref, i_mov = 1e-12 * 10 ** logref, 1e-12 * 10 ** logmov
    reg = Registration(shift, (0.0, 0.0), 1.0, True, "current", 1.0, shape=i_ref.shape)
    out, valid = apply_registration(i_mov, reg, log=True)
    ratio = np.log10(out[valid] / i_ref[valid])
    assert np.abs(ratio).max() < 0.05  # within 5 % of a decade everywhere
    lin, _ = apply_registration(i_mov, reg, log=False)
    # linear interpolation over decades overestimates (mean of values >= geometric mean)
    assert np.mean(np.log10(lin[valid] / i_ref[valid])) > np.mean(ratio)
    # zeros (floor) cannot be represented in log space: invalid, not a fake number
    i_mov[50, 50] = 0.0
    _, valid0 = apply_registration(i_mov, reg, log=True)
    assert not valid0[52:54, 46:48].any()


def test_apply_registration_mask_nearest():
    reg = Registration((3.0, -2.0), (0.0, 0.0), 1.0, True, "height", 1.0, shape=(40, 50))
    mask = np.ones((40, 50), bool)
    mask[10, 20] = False
    out = apply_registration_mask(mask, reg)
    assert out.dtype == bool
    assert not out[13, 18]  # moved with the shift
    assert out[12, 18] and out[13, 19]
    assert not out[:3].any() and not out[:, -2:].any()  # outside the overlap
    assert out[3:, :-2].sum() == 37 * 48 - 1


def test_to_dict_is_json_safe():
    rng = np.random.default_rng(12)
    reg = register(rng.normal(size=(64, 64)), rng.normal(size=(64, 64)))
    d = json.loads(json.dumps(reg.to_dict()))
    for key in ("shift_px", "drift_px_per_line", "confidence", "trustworthy", "method",
                "overlap_fraction", "reason", "row_displacement_px", "uncertainty_px"):
        assert key in d
    assert len(d["row_displacement_px"]) == 64
    assert 0.0 <= d["confidence"] <= 1.0


def test_bad_inputs_raise_clear_errors():
    a = np.zeros((64, 64))
    with pytest.raises(RegistrationError, match="differ in shape"):
        register(a, np.zeros((64, 60)))
    with pytest.raises(RegistrationError, match="both current maps"):
        register(a, a, ref_current=a)
    with pytest.raises(RegistrationError, match="2-D"):
        register(np.zeros(64), a)
    reg = register(a, a)  # constant images: nothing to register on
    assert not reg.trustworthy
    with pytest.raises(RegistrationError, match="differs from the registered frame"):
        apply_registration(np.zeros((10, 10)), Registration((0, 0), (0, 0), 1, True, "h", 1,
                                                            shape=(64, 64)))


# ---------------------------------------------------------------------------------------------
# real consecutive Bruker scans (TopoStats old_bruker.002 / .004)
# ---------------------------------------------------------------------------------------------
def _ncc(a, b, dy, dx):
    rows, cols = a.shape
    pa = a[max(0, dy):rows + min(0, dy), max(0, dx):cols + min(0, dx)]
    pb = b[max(0, -dy):rows + min(0, -dy), max(0, -dx):cols + min(0, -dx)]
    pa = pa - pa.mean()
    pb = pb - pb.mean()
    return float((pa * pb).sum() / np.sqrt((pa * pa).sum() * (pb * pb).sum()))


@pytest.fixture(scope="module")
def real_pair():
    io = pytest.importorskip("afmcurrent.io")
    d = _realdata()
    if not (d / "old_bruker.002").exists():
        pytest.skip(f"real data not found in {d}")
    a = io.load_scan(d / "old_bruker.002").channel("Height").data
    b = io.load_scan(d / "old_bruker.004").channel("Height").data
    return a, b


def _band_optima(a, b, reg, height=32, reach=4, two_way=False):
    """Independent reference: per band of rows, the integer shift maximising a row-centred
    NCC (with ``two_way``, also column-centred within the band) over a brute-force grid
    around the estimate, refined by a parabola per axis."""
    rows, cols = a.shape
    out = []
    for r0 in range(0, rows - height + 1, height // 2):
        est = reg.row_displacement[r0:r0 + height].mean(axis=0)
        cy, cx = (int(round(v)) for v in est)
        grid = {}
        for dy in range(cy - reach, cy + reach + 1):
            src = np.arange(r0, r0 + height) - dy
            if src.min() < 0 or src.max() >= rows:
                continue
            for dx in range(cx - reach, cx + reach + 1):
                x0, x1 = max(0, dx) + reach, min(cols, cols + dx) - reach
                p = a[r0:r0 + height, x0:x1]
                q = b[src][:, x0 - dx:x1 - dx]
                p = p - p.mean(axis=1, keepdims=True)
                q = q - q.mean(axis=1, keepdims=True)
                if two_way:
                    p, q = p - p.mean(axis=0), q - q.mean(axis=0)
                grid[dy, dx] = float((p * q).sum() / np.sqrt((p * p).sum() * (q * q).sum()))
        if not grid:
            continue
        (dy, dx), v = max(grid.items(), key=lambda kv: kv[1])
        if (dy - 1, dx) not in grid or (dy + 1, dx) not in grid:
            continue

        def vertex(m, c, p):
            return 0.5 * (m - p) / (m - 2 * c + p)

        out.append((dy + vertex(grid[dy - 1, dx], v, grid[dy + 1, dx]),
                    dx + vertex(grid[dy, dx - 1], v, grid[dy, dx + 1]), *est))
    return np.array(out)


def test_real_grating_is_ambiguous_without_a_prior(real_pair):
    """The sample is a periodic grating (~10 px pitch): the displacement is defined only
    modulo the lattice, so without a prior the result is flagged, and the ~28 px solution is
    among the listed candidates."""
    reg = register(*real_pair)
    assert not reg.trustworthy
    assert "periodic" in reg.reason
    assert reg.peak_ratio > 0.9
    assert any(abs(dy - 28) <= 1 and abs(dx) <= 1 for dy, dx, _ in reg.candidates)


def test_real_grating_with_prior_follows_its_creep(real_pair):
    """data_samples/README.md: the two scans, 11 min apart, are offset by about 28 px along the
    slow axis.
    With the prior (e.g. from the stage log, `--expect-shift 28,0`) the whole-frame offset is
    (28.3, -0.3) as before, and the per-row curve follows the band-wise NCC optima computed
    independently (the pair creeps: dy varies by ~0.7 px and dx by ~1.8 px over the frame)."""
    reg = register(*real_pair, expected_shift=(28.0, 0.0), search_radius=4)
    assert reg.trustworthy, reg.reason
    over = inside_mask(reg.row_displacement, real_pair[0].shape).any(axis=1)
    mean = reg.row_displacement[over].mean(axis=0)
    assert mean == pytest.approx((28.3, -0.3), abs=0.3)
    a, b = (level_topography(x) for x in real_pair)
    ref = _band_optima(a, b, reg)
    assert len(ref) >= 10
    rms = np.sqrt(np.mean(np.sum((ref[:, :2] - ref[:, 2:]) ** 2, axis=1)))
    assert rms < 0.15
    assert np.ptp(ref[:, 1]) > 1.0  # the creep is real, not an artefact of the model


@pytest.fixture(scope="module")
def pzt_pair(realdata_dir):
    io = pytest.importorskip("afmcurrent.io")
    return tuple(io.load_scan(realdata_dir / f"asylum_PFM_PZT_thick000{n}_height.gwy")
                 .channel("HeightRetrace").data for n in (4, 6))


def test_real_pzt_pair_registers_and_follows_band_optima(pzt_pair):
    """Two real consecutive scans of PZT grains (not periodic, smooth grains, line scars):
    registered, and the per-row displacement agrees with band-wise NCC optima computed
    independently within 0.5 px RMS (issue 9). The reference removes each band's row means
    (line offsets) and column means (tilt and bow along the fast axis that differ between the
    scans and change down the frame): the two-way centring that
    benchmarks/registration_real.py explains. This pair's displacement is not determined much
    better than that: references with other centrings differ from it by ~0.5 px, so the
    reported uncertainty is of the same size as the disagreement (honest), not 0.1 px."""
    reg = register(*pzt_pair)
    assert reg.trustworthy, reg.reason
    assert reg.method == "height"
    assert 0.05 < reg.uncertainty_px < 0.35
    a, b = (level_topography(x) for x in pzt_pair)
    ref = _band_optima(a, b, reg, two_way=True)
    assert len(ref) >= 10
    rms = np.sqrt(np.mean(np.sum((ref[:, :2] - ref[:, 2:]) ** 2, axis=1)))
    assert rms < 0.5
    assert rms < 2.5 * reg.uncertainty_px  # the disagreement is what the uncertainty says


def test_manual_registration():
    reg = Registration.manual((2.5, -1.0), (64, 64))
    assert reg.method == "manual" and reg.trustworthy
    assert reg.to_dict()["confidence"] is None
    img = np.random.default_rng(0).normal(size=(64, 64))
    moved, valid = apply_registration(img, reg)
    assert not valid[:2].any() and valid[3:, 2:-2].all()


def test_row_displacement_api_contract():
    """row_displacement (rows, 2) is the per-row curve; shift is its centre value, drift the
    slope of its least-squares line; the resampling follows it row by row."""
    rows, cols = 41, 30
    r = np.arange(rows, dtype=float)
    curve = np.column_stack([2.0 + 3.0 * np.exp(-r / 8.0), -1.0 + 0.05 * r])
    reg = Registration((0.0, 0.0), (0.0, 0.0), 1.0, True, "height", 1.0, shape=(rows, cols),
                       row_displacement=curve, uncertainty_px=0.1)
    dy, dx = reg.displacement(r)
    np.testing.assert_allclose(np.column_stack([dy, dx]), curve)
    img = np.random.default_rng(1).normal(size=(rows, cols))
    out, valid = apply_registration(img, reg, order=1)
    for k in (5, 20, 35):  # row k of the result is row k - dy(k) of the input, shifted by dx
        src = np.array([ndi.map_coordinates(img, [[k - curve[k, 0]], [c - curve[k, 1]]],
                                            order=1)[0] for c in range(cols)])
        np.testing.assert_allclose(out[k][valid[k]], src[valid[k]], atol=1e-12)
    d = json.loads(json.dumps(reg.to_dict()))
    assert np.array(d["row_displacement_px"]) == pytest.approx(curve, abs=1e-4)
    assert d["uncertainty_px"] == 0.1
    with pytest.raises(RegistrationError, match="shape"):
        Registration((0, 0), (0, 0), 1, True, "h", 1, shape=(rows, cols),
                     row_displacement=np.zeros((rows - 1, 2)))
    lin = Registration.manual((2.5, -1.0), (64, 64), (0.01, 0.0))
    assert lin.uncertainty_px == 0.0
    assert lin.row_displacement[[0, -1], 0] == pytest.approx([2.5 - 0.315, 2.5 + 0.315])


# ---------------------------------------------------------------------------------------------
# creep and the old failure modes, on pairs from the independent generator (tests/regpairgen.py:
# a continuous surface evaluated at every pixel's position, no interpolation shared with the
# analysis)
# ---------------------------------------------------------------------------------------------
def _errors(reg: Registration, pair) -> np.ndarray:
    rows_in = inside_mask(pair.displacement, pair.ref_height.shape).any(axis=1)
    return np.hypot(*(reg.row_displacement - pair.displacement).T)[rows_in]


@pytest.mark.parametrize(("seed", "kind"), [(20, "textured"), (22, "textured"), (33, "grains")])
def test_smooth_creep_followed_row_by_row(seed, kind):
    """Settling creep of several px (plus offset and drift): every row's displacement is
    recovered, with the linear drift model this pair would be several px off."""
    pair = make_pair(seed, 256, 256, kind=kind)
    assert np.ptp(pair.displacement[:, 0]) > 1.0
    reg = register(pair.ref_height, pair.mov_height, pair.ref_current, pair.mov_current)
    assert reg.trustworthy, reg.reason
    err = _errors(reg, pair)
    assert np.median(err) < 0.06
    assert err.max() < 0.3
    # the record is consistent: shift = curve at the centre row, drift = its linear part
    r = np.arange(256) - 127.5
    slope = (r @ reg.row_displacement) / (r @ r)
    assert reg.drift_per_line == pytest.approx(tuple(slope), abs=1e-9)
    assert reg.shift == pytest.approx(tuple(reg.row_displacement[127:129].mean(axis=0)))
    # the reported uncertainty is of the size of the actual error
    assert 0.3 < np.sqrt(np.mean(err**2)) / reg.uncertainty_px < 4


def test_large_offset_and_drift():
    """40 px offset on both axes and 0.02 px/line drift on both axes, plus creep."""
    pair = make_pair(51, 256, 256, offset=(40.0, -40.0), drift=(0.02, -0.02))
    reg = register(pair.ref_height, pair.mov_height)
    assert reg.trustworthy, reg.reason
    err = _errors(reg, pair)
    assert np.median(err) < 0.06 and err.max() < 0.3
    r = np.arange(256) - 127.5
    true_slope = (r @ pair.displacement) / (r @ r)  # drift plus the linear part of the creep
    assert reg.drift_per_line == pytest.approx(tuple(true_slope), abs=0.003)
    assert np.abs(pair.displacement).max() > 40


def test_featureless_topography_registers_from_the_current():
    """Height = noise, tilt and line offsets only. The -V current map is a different image
    (type-1 domains bright at +V and dark at -V, independent textures): its NCC with the +V
    map is negative, yet the domain boundaries register it. Honestly: every registered row's
    error is within ~3 of its own reported uncertainty, and rows the current cannot register
    (before the first domain boundary, where settling creep is steepest) are not registered
    and are masked in the resampled maps, rather than given a made-up displacement."""
    pair = make_pair(202, 512, 512, kind="featureless")
    a, b = np.log10(pair.ref_current), np.log10(pair.mov_current)
    back, _ = apply_registration(b, Registration.from_curve(
        pair.displacement, a.shape, confidence=1, trustworthy=True, method="truth",
        overlap=1))
    ok = np.isfinite(back)
    assert np.corrcoef(a[ok], back[ok])[0, 1] < 0  # the old failure: NCC of the maps < 0
    assert not register(pair.ref_height, pair.mov_height).trustworthy
    reg = register(pair.ref_height, pair.mov_height, pair.ref_current, pair.mov_current)
    assert reg.trustworthy, reg.reason
    assert reg.method == "current"
    rows_in = inside_mask(pair.displacement, a.shape).any(axis=1)
    known = rows_in & reg.row_registered
    err = np.hypot(*(reg.row_displacement - pair.displacement).T)
    assert known.sum() > 0.5 * rows_in.sum()
    assert np.median(err[known]) < 0.3
    assert np.max(err[known] / reg.row_uncertainty[known]) < 3.5
    assert reg.uncertainty_px > 0.05  # it says it is less precise than a height match
    # rows not registered are masked in every resampled map
    _, valid = apply_registration(b, reg)
    assert not valid[~reg.row_registered].any()
    assert reg.to_dict()["rows_not_registered"] == [list(r) for r in reg.rows_not_registered()]


def test_featureless_pair_refused_when_the_current_cannot_fix_most_rows():
    """A featureless topography whose current maps share too few sharp domain boundaries
    within a 256-row frame: the refusal says so, and it is right (the actual error exceeds
    0.4 px on most overlap rows), while the rows it does register are honest."""
    pair = make_pair(603, 256, 256, kind="featureless")
    reg = register(pair.ref_height, pair.mov_height, pair.ref_current, pair.mov_current)
    assert not reg.trustworthy
    assert reg.method == "current"
    assert "domain boundaries" in reg.reason and "featureless" in reg.reason
    rows_in = inside_mask(pair.displacement, pair.ref_height.shape).any(axis=1)
    err = np.hypot(*(reg.row_displacement - pair.displacement).T)
    assert np.mean(err[rows_in] > 0.4) > 0.5
    known = rows_in & reg.row_registered
    assert known.any()
    assert np.max(err[known] / reg.row_uncertainty[known]) < 3.5


def test_rows_not_registered_are_masked():
    """A row whose uncertainty is inf is not registered: masked by apply_registration and
    apply_registration_mask, out of the overlap, listed in to_dict."""
    rows, cols = 40, 30
    unc = np.full(rows, 0.1)
    unc[:5] = np.inf
    unc[20:22] = np.inf
    reg = Registration((1.0, 0.5), (0.0, 0.0), 0.8, True, "height", 1.0, shape=(rows, cols),
                       uncertainty_px=0.1, row_uncertainty=unc)
    assert reg.rows_not_registered() == [(0, 5), (20, 22)]
    assert reg.to_dict()["rows_not_registered"] == [[0, 5], [20, 22]]
    img = np.random.default_rng(2).normal(size=(rows, cols))
    _, valid = apply_registration(img, reg)
    assert not valid[:5].any() and not valid[20:22].any() and valid[6:19, 2:-2].all()
    m = apply_registration_mask(np.ones((rows, cols), bool), reg)
    assert not m[:5].any() and not m[20:22].any()
    full = Registration((1.0, 0.5), (0.0, 0.0), 0.8, True, "height", 1.0, shape=(rows, cols))
    assert reg.overlap_fraction() == pytest.approx(full.overlap_fraction() * (rows - 7) / 39,
                                                   rel=0.05)


def test_logarithmic_creep_at_the_frame_start():
    """Creep by the piezo creep law after the slow axis steps back to the frame start
    (steepest at the first rows): followed row by row, and the first rows are as honest as the
    rest (their error within ~3 of their uncertainty)."""
    pair = make_pair(31, 256, 256, creep="log")
    assert np.abs(np.diff(pair.displacement[:20, 0])).max() > 0.05  # steep at the start
    reg = register(pair.ref_height, pair.mov_height)
    assert reg.trustworthy, reg.reason
    rows_in = inside_mask(pair.displacement, pair.ref_height.shape).any(axis=1)
    known = rows_in & reg.row_registered
    err = np.hypot(*(reg.row_displacement - pair.displacement).T)
    assert known.sum() > 0.9 * rows_in.sum()
    assert np.median(err[known]) < 0.06
    assert np.max(err[known] / reg.row_uncertainty[known]) < 4


def test_steep_creep_at_the_moving_scan_start_is_not_under_reported():
    """Logarithmic creep steepest at the moving scan's first lines, which are the source of
    the first overlap rows (the data start mid-frame): the spline is too stiff to follow
    the first rows, and their own optima show it (``_flow.misfit_bias``). The uncertainty of
    those rows holds the misfit (before: error 5.2 x the reported uncertainty)."""
    pair = make_pair(6, 160, 160, creep="log", creep_range=(6.0, 10.0))
    reg = register(pair.ref_height, pair.mov_height)
    assert reg.trustworthy, reg.reason
    rows_in = inside_mask(pair.displacement, pair.ref_height.shape).any(axis=1)
    known = rows_in & reg.row_registered
    first = np.flatnonzero(known)[:16]
    assert first[0] > 0  # the overlap starts below the frame's first row
    err = np.hypot(*(reg.row_displacement - pair.displacement).T)
    assert np.max(err[first] / reg.row_uncertainty[first]) < 4
    assert np.max(err[known] / reg.row_uncertainty[known]) < 4
    # the bias term widens only where the curve does not follow: the typical row keeps a
    # height-match uncertainty
    assert np.median(reg.row_uncertainty[known]) < 0.08


def test_cross_validation_without_a_finite_score_takes_the_smoothest_curve(monkeypatch):
    """When every smoothing candidate has more degrees of freedom than the row blocks carry
    (the cross-validation weight of the degrees of freedom inflated by errors that
    neighbouring blocks share), the smoothest curve is taken. Before: the first candidate,
    the least smoothing, and a curve tens of px off in places."""
    from afmcurrent.pair.registration import _register

    monkeypatch.setitem(_register._GAMMA, "height", 1e3)
    pair = make_pair(24, 256, 256)
    reg = register(pair.ref_height, pair.mov_height)
    rows_in = inside_mask(pair.displacement, pair.ref_height.shape).any(axis=1)
    err = np.hypot(*(reg.row_displacement - pair.displacement).T)
    assert np.max(err[rows_in]) < 1.0  # before: 32 px
    assert np.median(err[rows_in]) < 0.1


def test_a_failed_current_match_is_not_averaged_into_the_height():
    """Issue 9, "What was seen" 2: with a textured height, an anti-correlated -V current (its
    NCC negative) must not pull the estimate: the result is the height-only result."""
    pair = make_pair(24, 256, 256)
    inverted = 1e-24 / pair.mov_current  # log I(-V) mirrored: NCC with I(+V) negative
    with_cur = register(pair.ref_height, pair.mov_height, pair.ref_current, inverted)
    alone = register(pair.ref_height, pair.mov_height)
    assert with_cur.method == "height"
    np.testing.assert_allclose(with_cur.row_displacement, alone.row_displacement, atol=1e-9)
    assert _errors(with_cur, pair).max() < 0.3


def test_outlying_bands_are_rejected_not_refused():
    """A band of rows where the -V scan shows something else (a tip change, a scar): those
    bands disagree with the smooth curve and are dropped; the pair still registers."""
    pair = make_pair(26, 256, 256)
    mov = pair.mov_height.copy()
    rng = np.random.default_rng(0)
    mov[150:166] = rng.normal(0, mov.std(), (16, 256))  # 16 lines of garbage
    reg = register(pair.ref_height, mov)
    assert reg.trustworthy, reg.reason
    err = _errors(reg, pair)
    assert np.median(err) < 0.06 and err.max() < 0.5


def test_known_shift_sets_the_centre_row():
    """`known_shift` (the CLI's --shift): the curve is estimated around it and moved so that
    its centre-row value is the given one; without drift estimation it is constant."""
    pair = make_pair(23, 256, 256)
    true_centre = pair.displacement[127:129].mean(axis=0)
    reg = register(pair.ref_height, pair.mov_height, known_shift=tuple(true_centre))
    assert reg.trustworthy and reg.method == "manual+height"
    assert reg.shift == pytest.approx(tuple(true_centre), abs=1e-9)
    assert _errors(reg, pair).max() < 0.3
    # a featureless pair: nothing to estimate the creep from -> the constant known shift
    flat = make_pair(23, 256, 256, kind="featureless")
    reg = register(flat.ref_height, flat.mov_height, known_shift=(1.5, -2.0))
    assert reg.method == "manual" and reg.trustworthy
    assert np.all(reg.row_displacement == (1.5, -2.0))
