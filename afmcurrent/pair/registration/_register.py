"""register(): the per-row displacement of the moving (-V) scan onto the reference (+V) scan."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import RegistrationError
from ._bands import BandResult, band_layout, rematch_bands, search_bands
from ._curve import CurveFit, fit_curve
from ._model import Registration, centre_value
from ._ncc import distinctness, local_maxima, masked_ncc_surface, parabolic_peak, peak_stats
from ._prepare import check_image, decimate, edge_strength, prepare
from ._resample import inside_counts, warp_rows

logger = logging.getLogger(__name__)

_COARSE_TARGET = 128  # px along the longer side for the whole-frame search
_BAND_TARGET = 256  # px along the longer side for the wide band search
_GOOD_HEIGHT = 0.5  # whole-frame score above which the current is not needed
_BAND_QUALITY = 0.3  # band NCC x distinctness below which a band's channel is featureless
_FULL_RES_ITERATIONS = 2
_SIGMA_CAL = 2.0  # calibration of the curve uncertainty against independent truth
_FINE_BAND_PIXELS = 4000  # least pixels in a band finer than the base bands
_SIGMA_CAL_CURRENT = 1.5  # further factor when only the current's edges were matched
_SIGMA_FLOOR = 0.01  # px: resampling (bilinear) error not in the band statistics
_SIGMA_REF = 0.5  # px: 90th-percentile row uncertainty at which the confidence halves
_WEAK_SHARE = 0.15  # share of featureless height bands above which the current is matched


@dataclass
class _Channel:
    name: str
    ref: np.ndarray
    mov: np.ndarray
    ref_mask: np.ndarray
    mov_mask: np.ndarray
    _levels: dict = field(default_factory=dict)

    def level(self, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Reference, moving and their masks at pyramid level f (block means, cached)."""
        if f <= 1:
            return self.ref, self.mov, self.ref_mask, self.mov_mask
        if f not in self._levels:
            # from the next finer level when f is even (2 x 2 block means of block means)
            g = f // 2 if f % 2 == 0 else 1
            ra, rb, rma, rmb = self.level(g)
            a, ma = decimate(ra, rma, f // g)
            b, mb = decimate(rb, rmb, f // g)
            self._levels[f] = (a, b, ma, mb)
        return self._levels[f]


def _channels(ref_height, moving_height, ref_current, moving_current):
    chans: dict[str, _Channel] = {}
    shape = None
    if ref_height is not None or moving_height is not None:
        if ref_height is None or moving_height is None:
            raise RegistrationError("give both height images (reference and moving) or neither")
        rh = check_image(ref_height, "reference height")
        mh = check_image(moving_height, "moving height")
        if rh.shape != mh.shape:
            raise RegistrationError(
                f"reference and moving scans differ in shape: {rh.shape} vs {mh.shape}")
        shape = rh.shape
        a, ma = prepare(rh, log=False)
        b, mb = prepare(mh, log=False)
        if ma.any() and mb.any():
            chans["height"] = _Channel("height", a, b, ma, mb)
    if (ref_current is None) != (moving_current is None):
        raise RegistrationError("give both current maps (reference and moving) or neither")
    if ref_current is not None:
        rc = check_image(ref_current, "reference current")
        mc = check_image(moving_current, "moving current")
        if rc.shape != mc.shape or (shape is not None and rc.shape != shape):
            raise RegistrationError(
                f"current maps {rc.shape}/{mc.shape} differ from the height shape {shape}")
        shape = rc.shape
        chans["current"] = _Channel("current", rc, mc, np.ones(rc.shape, bool),
                                    np.ones(rc.shape, bool))  # prepared lazily
    if shape is None:
        raise RegistrationError("nothing to register: no height and no current images")
    return chans, shape


def _prepare_current(ch: _Channel) -> None:
    """Log current -> edge strength (the domain boundaries, whatever their contrast sign)."""
    if ch.ref.dtype == np.float32:
        return
    a, ma = prepare(ch.ref, log=True)
    b, mb = prepare(ch.mov, log=True)
    ch.ref, ch.ref_mask = edge_strength(a, ma), ma
    ch.mov, ch.mov_mask = edge_strength(b, mb), mb
    ch._levels.clear()


def _coarse(ch: _Channel, f: int, mdy: int, mdx: int, window):
    da, db, dma, dmb = ch.level(f)
    surf, _ = masked_ncc_surface(da, db, dma, dmb, (mdy, mdx), min_overlap=0.3)
    full = surf
    if window is not None:
        surf = np.where(window, surf, np.nan)
    return surf, full


def _lattice_distance(full: np.ndarray, ip: tuple[int, int], f: int) -> float:
    """Distance (full-res px) from the main peak to the nearest strong competing maximum."""
    s = np.where(np.isfinite(full), full, -np.inf)
    fin = s[np.isfinite(s)]
    if fin.size == 0:
        return math.inf
    med = float(np.median(fin))
    peak = float(s[ip])
    best = math.inf
    for iy, ix, v in local_maxima(full, n=16):
        if (iy, ix) == tuple(ip) or v < med + 0.5 * (peak - med):
            continue
        dist = math.hypot(iy - ip[0], ix - ip[1]) * f
        if dist > 1.5 * f:
            best = min(best, dist)
    return best


def _running_median(v: np.ndarray, ok: np.ndarray, half: int = 2) -> np.ndarray:
    """Median of the 2*half+1 usable bands nearest to each band (robust first guess)."""
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return np.full_like(v, np.nan)
    k = min(2 * half + 1, len(idx))
    near = np.argsort(np.abs(idx[None, :] - np.arange(len(v))[:, None]), axis=1,
                      kind="stable")[:, :k]
    return np.median(v[idx[near]], axis=1)


def _choose(results: dict[str, BandResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Per band: height if it has texture, else current; never an average of the two.

    Returns the displacement, prior weights (precision), NCC and the channel index
    (0 height, 1 current, -1 none) of each band.
    """
    names = [n for n in ("height", "current") if n in results]
    first = results[names[0]]
    nb = len(first.bands)
    d = np.full((nb, 2), np.nan)
    w = np.zeros(nb)
    ncc = np.full(nb, np.nan)
    which = np.full(nb, -1)
    for code, n in ((0, "height"), (1, "current")):
        r = results.get(n)
        if r is None:
            continue
        p = r.precision()
        q = np.clip(r.ncc, 0, 1) * r.distinct
        take = (which < 0) & (p > 0) & (q >= _BAND_QUALITY)
        d[take], w[take], ncc[take], which[take] = r.d[take], p[take], r.ncc[take], code
    return d, w, ncc, which


def _constant_fit(values: np.ndarray, weights: np.ndarray, rows: int) -> CurveFit:
    """Robust weighted mean of the bands (no drift, no creep)."""
    ok = weights > 0
    if not ok.any():
        return CurveFit(np.full((rows, 2), np.nan), np.full(rows, np.inf), weights,
                        np.full_like(values, np.nan), math.inf, 0.0)
    med = np.median(values[ok], axis=0)
    r = np.hypot(*(values - med).T)
    s = max(1.4826 * float(np.median(r[ok])), 0.05)
    rw = np.where(ok & (r < 4 * s), 1.0, 0.0)
    w = weights * rw
    if w.sum() <= 0:
        w = weights
    mean = (w[:, None] * values).sum(axis=0) / w.sum()
    res = values - mean
    n = max(int(np.count_nonzero(w > 0)), 1)
    sd = math.sqrt(float((w[:, None] * res**2).sum() / w.sum()) / max(n - 1, 1) * 2)
    return CurveFit(np.tile(mean, (rows, 1)), np.full(rows, sd), rw * ok, res,
                    math.sqrt(float(np.median(np.sum(res[w > 0] ** 2, axis=1)))), 1.0)


def register(
    ref_height: np.ndarray | None,
    moving_height: np.ndarray | None,
    ref_current: np.ndarray | None = None,
    moving_current: np.ndarray | None = None,
    *,
    estimate_drift: bool = True,
    min_confidence: float = 0.3,
    max_shift_fraction: float = 0.3,
    min_overlap: float = 0.4,
    expected_shift: tuple[float, float] | None = None,
    search_radius: float = 5.0,
    known_shift: tuple[float, float] | None = None,
    band_rows: int | None = None,
    max_creep: float | None = None,
    _trace: list | None = None,
) -> Registration:
    """Register the moving (-V) scan onto the reference (+V) scan, row by row.

    Parameters
    ----------
    ref_height, moving_height : ndarray, shape (rows, cols), or None
        Raw height images in m of the reference and moving scan (leveled inside).
    ref_current, moving_current : ndarray, shape (rows, cols), optional
        Current magnitudes in A. Matched on the edge strength of ``log10 |I|`` (domain
        boundaries, whose contrast may invert between +V and -V), only in bands where the
        height is featureless (or everywhere when no height is given).
    estimate_drift : bool, optional
        Estimate how the displacement changes from row to row (creep and drift). False: one
        constant displacement.
    min_confidence : float, optional
        Below this confidence the result is flagged untrustworthy.
    max_shift_fraction : float, optional
        Largest displacement searched, as a fraction of the frame size along each axis.
    min_overlap : float, optional
        Smallest acceptable overlap (fraction of the reference frame).
    expected_shift : tuple of float, optional
        Prior knowledge of the displacement ``(dy, dx)`` in px at the centre row (stage log,
        an earlier pair): only shifts within ``search_radius`` of it are considered. This is
        how the lattice ambiguity of a periodic sample (calibration grating) is resolved.
    search_radius : float, optional
        Radius in px of the search window around ``expected_shift`` or ``known_shift``.
    known_shift : tuple of float, optional
        The displacement ``(dy, dx)`` at the centre row is known (``--shift``): the curve is
        estimated around it and then moved so that its centre-row value is exactly this.
    band_rows : int, optional
        Rows per band (default: rows / 16, within 16..64); bands overlap by half.
    max_creep : float, optional
        How far (px) a band's displacement may lie from the whole-frame estimate (default:
        4 % of the rows plus the coarse pyramid factor, at least 8 px); limited to 0.45 of
        the lattice period of a periodic sample.

    Returns
    -------
    Registration
        With ``row_displacement`` (rows, 2), ``shift`` (centre row), ``drift_per_line``
        (linear part), ``uncertainty_px`` and ``confidence``.

    Raises
    ------
    RegistrationError
        On inputs that cannot be registered (not 2-D, too small, shapes differ, only one of
        a pair given). An uncertain result is returned flagged, not raised; call
        :meth:`Registration.require_trustworthy` before using it.

    Notes
    -----
    Method (see the package docstring): whole-frame masked NCC on a decimated pyramid level
    (Padfield 2012) gives the starting displacement and the lattice ambiguity; overlapping
    bands of reference rows are searched around it (batched FFT NCC); a robust penalized
    spline through the band estimates, weighted by each band's peak precision, gives the
    curve; the moving image is then resampled with the curve and every band re-matched at
    the finer levels, the residuals smoothed and added (twice at full resolution).
    """
    chans, shape = _channels(ref_height, moving_height, ref_current, moving_current)
    rows, cols = shape
    if "height" not in chans and "current" in chans:
        _prepare_current(chans["current"])

    # ---- whole-frame search on the coarse pyramid level --------------------------------
    f = max(1, int(round(max(shape) / _COARSE_TARGET)))
    mdy = max(1, int(max_shift_fraction * rows / f))
    mdx = max(1, int(max_shift_fraction * cols / f))
    prior = known_shift if known_shift is not None else expected_shift
    window = None
    if prior is not None:
        ey, ex = (float(v) / f for v in prior)
        rad = max(float(search_radius) / f, 1.0)
        mdy = max(mdy, int(math.ceil(abs(ey) + rad)) + 1)
        mdx = max(mdx, int(math.ceil(abs(ex) + rad)) + 1)
        gy, gx = np.mgrid[-mdy:mdy + 1, -mdx:mdx + 1]
        window = (gy - ey) ** 2 + (gx - ex) ** 2 <= rad**2

    coarse: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}

    def run_coarse(name: str) -> None:
        ch = chans[name]
        if not (ch.ref_mask.any() and ch.mov_mask.any()):
            return
        surf, full = _coarse(ch, f, mdy, mdx, window)
        if not np.isfinite(surf).any():
            return
        _, peak, ratio, _ = peak_stats(surf)
        coarse[name] = (surf, full, max(peak, 0.0) * float(distinctness(ratio)))

    if "height" in chans:
        run_coarse("height")
    if "current" in chans and ("height" not in coarse or coarse["height"][2] < _GOOD_HEIGHT):
        _prepare_current(chans["current"])
        run_coarse("current")
    if not coarse:
        return Registration((0.0, 0.0), (0.0, 0.0), 0.0, False, "none", 0.0,
                            "no channel has enough valid, non-constant pixels", shape)
    primary = max(coarse, key=lambda n: coarse[n][2] + (0.2 if n == "height" else 0.0))
    surf, full, _ = coarse[primary]
    candidates = [((cy - mdy) * f, (cx - mdx) * f, v) for cy, cx, v in local_maxima(surf)]
    (iy, ix), peak, ratio, (jy, jx) = peak_stats(surf)
    oy, ox = parabolic_peak(np.nan_to_num(surf, nan=-1.0), iy, ix)
    centre = ((iy - mdy + oy) * f, (ix - mdx + ox) * f)
    alt = ((jy - mdy) * f, (jx - mdx) * f)
    lattice = _lattice_distance(full, (iy, ix), f)
    distinct = float(distinctness(ratio))

    # ---- band search on the coarse pyramid level ----------------------------------------
    hb = int(band_rows) if band_rows else int(np.clip(rows // 16, 16, 64))
    if not estimate_drift:
        hb = max(hb, rows // 4)
    reach = float(max_creep) if max_creep is not None else max(8.0, 0.04 * rows + f)
    reach = min(reach, max(2.0, 0.45 * lattice))
    need: list[str] = []
    results: dict[str, BandResult] = {}
    for name in ("height", "current"):
        if name not in chans:
            continue
        if name == "current":
            h = results.get("height")
            weak = 1.0 if h is None else float(np.mean(
                (np.clip(h.ncc, 0, 1) * h.distinct < _BAND_QUALITY) | (h.precision() <= 0)))
            if weak <= _WEAK_SHARE and primary == "height":
                continue
            _prepare_current(chans[name])
        da, db, _, _ = chans[name].level(f)
        r = search_bands(da, db, max(4, hb // f), max(2, hb // (2 * f)),
                         (int(round(centre[0] / f)), int(round(centre[1] / f))),
                         max(2, int(math.ceil(reach / f))))
        results[name] = _to_full(r, f)
        need.append(name)
    d, w, ncc, which = _choose(results)
    # refine only on the channels some band was matched on (a featureless height is dropped)
    need = [n for code, n in ((0, "height"), (1, "current"))
            if n in results and np.any(which == code)] or need
    spacing = max(4.0, hb / 2.0)

    def smooth(bands, values, weights, start=None, floor=0.05, ridge=0.0,
               info=None) -> CurveFit:
        if not estimate_drift:
            return _constant_fit(values, weights, rows)
        step = float(np.median(np.diff(np.unique(bands[:, 0])))) if len(bands) > 1 else hb
        return fit_curve(bands, values, weights, rows, max(spacing, step), start=start,
                         scale_floor=floor, ridge=ridge, row_info=info, edge_scale=hb)

    ok = w > 0
    fit: CurveFit | None = None
    curve = np.tile(np.asarray(centre, float), (rows, 1))
    if np.count_nonzero(ok) >= 3:
        cand = smooth(next(iter(results.values())).bands, d, w, _running_median(d, ok),
                      floor=0.25 * f)
        if np.all(np.isfinite(cand.curve)):
            fit, curve = cand, cand.curve
    if _trace is not None:
        _trace.append(("coarse", curve.copy(), next(iter(results.values())).bands, d, w,
                       None if fit is None else fit.weights))

    # ---- refinement: resample, re-match every band, smooth the residuals, finer levels ----
    chan_of_band = which
    final: BandResult | None = None
    levels = []
    g = f // 2
    while g >= 1:
        levels.append(g)
        g //= 2
    levels += [1] * (_FULL_RES_ITERATIONS - (1 if levels and levels[-1] == 1 else 0))
    # the current's edge strength is noisy at full resolution (independent textures at the
    # two biases): it is re-matched down to the level of half resolution only
    cur_finest = 2 if min(shape) >= 128 else 1
    if "height" not in need:
        levels = [lev for lev in levels if lev >= cur_finest] or [cur_finest]
        levels += [levels[-1]] * 2
    elif "current" in need and cur_finest not in levels and cur_finest < f:
        levels.insert(0, cur_finest)
    first_at = set()
    used_codes = {int(c) for c in np.unique(which[w > 0])}
    for lev in levels:
        names = [n for n in need if n == "height" or lev >= cur_finest]
        if not names:
            continue
        # wide reach at the first step of a level (and for the current's noisier edges)
        q = 2 if lev > 1 and (lev not in first_at or "height" not in names) else 1
        first_at.add(lev)
        got = _refine_step(chans, names, curve, lev, hb, q, estimate_drift)
        if got is None:
            break
        bands_now, per, info = got
        dd, ww, nn, chan_of_band = _choose_refined(per)
        used_codes.update(int(c) for c in np.unique(chan_of_band[ww > 0]))
        if np.count_nonzero(ww > 0) < 3:
            break
        inc = smooth(bands_now, dd, ww, start=np.zeros_like(dd), floor=0.25 * lev, ridge=1e-5,
                     info=info)
        if not np.all(np.isfinite(inc.curve)):
            break
        curve = curve + inc.curve
        fit = inc
        final = BandResult(bands_now, dd, nn, np.ones(len(dd)), np.zeros(len(dd)),
                           np.zeros(len(dd)), ww <= 0)
        if _trace is not None:
            _trace.append((f"f{lev}q{q}", curve.copy(), bands_now, dd, ww, inc.weights))
        if lev == 1 and np.max(np.abs(inc.curve)) < 0.001:
            break

    # ---- confidence and verdict --------------------------------------------------------
    reasons = []
    method = "+".join(n for code, n in ((0, "height"), (1, "current"))
                      if code in used_codes) or primary
    if known_shift is not None:
        agree_ok = fit is not None and final is not None and np.count_nonzero(
            fit.weights > 0.5) >= max(3, int(0.3 * len(final.bands)))
        if not agree_ok:
            logger.warning("a known shift was given, but the creep around it could not be "
                           "estimated (too few row bands agree): one constant displacement "
                           "is used")
            reg = Registration.manual(known_shift, shape)
            reg.peak_ratio, reg.candidates = float(ratio), candidates
            if reg.overlap < min_overlap:
                reg.trustworthy = False
                reg.reason = f"overlap {reg.overlap:.0%} < {min_overlap:.0%}"
            return reg
        c0 = centre_value(curve)
        curve = curve + (np.asarray(known_shift, float) - np.asarray(c0))[None, :]
        method = "manual+" + method
    over = inside_counts(curve, shape) > 0
    if fit is None or final is None:
        row_sigma = np.full(rows, np.inf)
        agree = 0
        nbands = len(d)
        ncc_med = float(np.nanmedian(ncc)) if np.isfinite(ncc).any() else 0.0
        rejected = 0
    else:
        inl = fit.weights > 0.5
        agree = int(np.count_nonzero(inl))
        nbands = len(final.bands)
        rejected = int(np.count_nonzero((fit.weights <= 0.5) & (~final.edge)))
        ncc_med = float(np.median(final.ncc[inl])) if agree else 0.0
        row_sigma = _row_uncertainty(fit, final, rows)
        if used_codes == {1}:  # the current's edges: calibrated separately (tuning seeds)
            row_sigma = row_sigma * _SIGMA_CAL_CURRENT
    sig = row_sigma[over] if over.any() else row_sigma
    if np.all(np.isfinite(sig)):
        reg_unc, sig_hi = float(np.median(sig)), float(np.percentile(sig, 90))
    else:
        reg_unc = sig_hi = math.inf
    share = agree / max(nbands, 1)
    confidence = float(distinct * min(1.0, share / 0.6) / (1.0 + (sig_hi / _SIGMA_REF) ** 2)) \
        if math.isfinite(sig_hi) else 0.0
    if _trace is not None:
        _trace.append(("sigma", row_sigma))
    if known_shift is None and confidence < min_confidence:
        why = f"confidence {confidence:.2f} < {min_confidence:.2f} (band NCC {ncc_med:.2f}"
        if ratio > 1 - 0.3:
            why += (f"; a competing correlation peak near shift {alt} reaches "
                    f"{ratio:.0%} of the main peak: periodic or featureless images")
        if math.isfinite(reg_unc):
            why += f"; displacement uncertainty {reg_unc:.2f} px"
        reasons.append(why + ")")
    if known_shift is None and agree < max(3, int(0.3 * nbands)):
        reasons.append(f"too few row bands agree on a smooth displacement ({agree} of "
                       f"{nbands})")
    reg = Registration.from_curve(
        curve, shape,
        row_uncertainty=row_sigma,
        confidence=confidence,
        trustworthy=False, method=method, overlap=0.0,
        ncc=ncc_med, peak_ratio=float(ratio), candidates=candidates,
        uncertainty_px=reg_unc, rejected_bands=rejected,
        strips=[] if final is None else _strips(curve, final, fit.weights),
    )
    reg.overlap = reg.overlap_fraction()
    if reg.overlap < min_overlap:
        reasons.append(f"overlap {reg.overlap:.0%} < {min_overlap:.0%}")
    reg.reason = "; ".join(reasons)
    reg.trustworthy = not reasons
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("registration: %s", {k: v for k, v in reg.to_dict().items()
                                           if k != "row_displacement_px"})
    return reg


def _row_uncertainty(fit: CurveFit, final: BandResult, rows: int) -> np.ndarray:
    """1-sigma error of the curve at every row, px.

    The spline fit's covariance treats the band estimates as independent; overlapping bands
    share rows (and their errors), so the variance is scaled by the mean number of bands that
    cover a row, then by a calibration factor measured against independent truth
    (``benchmarks/registration_accuracy.py``, tuning seeds), with a floor for the
    interpolation error of the resampling.
    """
    used = fit.weights > 0
    b = final.bands[used]
    cover = np.zeros(rows + 1)
    np.add.at(cover, b[:, 0], 1.0)
    np.add.at(cover, b[:, 1], -1.0)
    cover = np.cumsum(cover)[:rows]
    mean_cover = float(np.mean(cover[cover > 0])) if np.any(cover > 0) else 1.0
    sig = fit.sigma_rows * math.sqrt(max(mean_cover, 1.0)) * _SIGMA_CAL
    return np.sqrt(sig**2 + _SIGMA_FLOOR**2)


def _strips(curve: np.ndarray, final: BandResult, weights: np.ndarray) -> list:
    """(centre row, mean dy, mean dx, NCC) of the bands that agree with the curve."""
    cs = np.vstack([np.zeros((1, 2)), np.cumsum(curve, axis=0)])
    b0, b1 = final.bands[:, 0], final.bands[:, 1]
    mean = (cs[b1] - cs[b0]) / np.maximum(b1 - b0, 1)[:, None]
    keep = np.flatnonzero(weights > 0.5)
    return [(0.5 * (b0[k] + b1[k] - 1), float(mean[k, 0]), float(mean[k, 1]),
             float(final.ncc[k])) for k in keep[np.argsort(b0[keep], kind="stable")]]


def _to_full(r: BandResult, f: int) -> BandResult:
    """Band measurements of pyramid level f in full-resolution rows and px."""
    return BandResult(r.bands * f, r.d * f, r.ncc, r.distinct, r.curvature / f**2,
                      r.npix * f**2, r.edge)


def _level_curve(curve: np.ndarray, f: int, rows_f: int) -> np.ndarray:
    """The curve at the rows of pyramid level f (block centres), in that level's px."""
    if f == 1:
        return curve
    centres = np.arange(rows_f) * f + (f - 1) / 2.0
    full = np.arange(curve.shape[0], dtype=np.float64)
    return np.column_stack([np.interp(centres, full, curve[:, k]) for k in (0, 1)]) / f


def _refine_step(chans, need, curve, f, hb, q, estimate_drift):
    """Re-match bands of level f after resampling with the curve; results in full units."""
    per: dict[str, BandResult] = {}
    bands_f = None
    info = None
    for name in need:
        ref, mov, rm, mm = chans[name].level(f)
        rows_f, cols_f = ref.shape
        cf = _level_curve(curve, f, rows_f)
        sy = np.arange(rows_f) - cf[:, 0]
        row_ok = (sy >= 0) & (sy <= rows_f - 1)
        if not row_ok.any():
            return None
        # columns whose source lies inside the moving frame on every used row, q px margin
        x0 = int(math.ceil(max(0.0, float(np.max(cf[row_ok, 1]))))) + q
        x1 = int(math.floor(min(cols_f - 1.0, cols_f - 1 + float(np.min(cf[row_ok, 1]))))) \
            + 1 - q
        if x1 - x0 < 16:
            return None
        warped = warp_rows(mov, cf, nan_safe=False)
        if not (rm.all() and mm.all()):
            wm = warp_rows(mm.astype(np.float32), cf) > 0.999
            row_ok &= (wm & rm)[:, x0:x1].all(axis=1)
        row_ok &= _rows_that_match(ref[:, x0:x1], warped[:, x0:x1], row_ok)
        if bands_f is None:
            # rows whose shifted neighbours (reach q) are all valid: bands use only these
            okq = np.convolve(~row_ok, np.ones(2 * q + 1), mode="same") == 0
            good = np.flatnonzero(okq)
            if len(good) < 8:
                return None
            h = max(4, hb // f)
            bands_f = band_layout(int(good[0]), int(good[-1]) + 1, h, max(2, h // 2))
            # finer bands at full resolution, as far as each keeps ~4000 pixels of texture
            least = max(8, int(math.ceil(_FINE_BAND_PIXELS / max(x1 - x0, 1))))
            if f == 1 and estimate_drift and h // 2 >= least:
                g0, g1 = int(good[0]), int(good[-1]) + 1
                fine = [band_layout(g0, g1, h // 2, max(2, h // 4))]
                # and finer still near the frame ends, where settling creep is steepest
                for e in sorted({max(least, h // 4), max(least, h // 8)}):
                    fine.append(band_layout(g0, min(g1, g0 + 3 * h // 2), e, max(2, e // 2)))
                    fine.append(band_layout(max(g0, g1 - 3 * h // 2), g1, e, max(2, e // 2)))
                bands_f = np.vstack([bands_f, *fine])
            bad = np.concatenate([[0], np.cumsum(~okq)])
            bands_f = bands_f[bad[bands_f[:, 1]] == bad[bands_f[:, 0]]]  # no invalid row inside
            if len(bands_f) < 3:
                return None
        per[name] = _to_full(rematch_bands(ref, warped, row_ok, (x0, x1), bands_f, reach=q), f)
        if info is None:
            key = ("info", f, x0, x1)
            if key not in chans[name]._levels:
                chans[name]._levels[key] = _row_info(ref, (x0, x1), f, curve.shape[0])
            info = chans[name]._levels[key]
    if bands_f is None:
        return None
    return bands_f * f, per, info


def _row_info(ref: np.ndarray, cols: tuple[int, int], f: int, rows: int) -> np.ndarray:
    """Per full-resolution row: sums of the squared gradient along y and x (the information
    a row carries about dy and dx), from the reference image of pyramid level f."""
    a = ref[:, cols[0]:cols[1]]
    gy = np.zeros(a.shape[0])
    d = a[2:] - a[:-2]
    gy[1:-1] = np.einsum("ij,ij->i", d, d, dtype=np.float64)
    gy[0], gy[-1] = gy[1], gy[-2]
    dx = a[:, 2:] - a[:, :-2]
    gx = np.einsum("ij,ij->i", dx, dx, dtype=np.float64)
    info = np.column_stack([gy, gx]) + 1e-12
    if f > 1:
        info = np.repeat(info, f, axis=0)
        if len(info) < rows:
            info = np.vstack([info, np.repeat(info[-1:], rows - len(info), axis=0)])
    return info[:rows]


def _rows_that_match(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """False for rows whose correlation with the resampled moving row is less than half the
    typical one: scars, a tip change, lines the other scan does not share. Such rows are left
    out of every band instead of biasing them."""
    if np.count_nonzero(ok) < 8:
        return ok
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.einsum("ij,ij->i", ac, bc) / np.sqrt(
            np.einsum("ij,ij->i", ac, ac) * np.einsum("ij,ij->i", bc, bc))
    rho = np.where(np.isfinite(rho), rho, -1.0)
    med = float(np.median(rho[ok]))
    # only rows that hardly correlate at all: a row still misaligned by a pixel or two (steep
    # creep not yet followed) correlates less but must stay, or it is never corrected
    return rho >= 0.5 * med if med > 0 else ok


def _typical_ncc_ok(ncc: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Bands whose NCC is not far below that of the other bands of the same channel (a band
    partly over a scar or a tip change correlates visibly worse and would pull the curve)."""
    if np.count_nonzero(usable) < 4:
        return usable
    v = ncc[usable]
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - med)))
    return usable & (ncc >= med - max(0.05, 4.0 * mad))


def _choose_refined(per: dict[str, BandResult]):
    names = [n for n in ("height", "current") if n in per]
    nb = len(per[names[0]].bands)
    d = np.full((nb, 2), np.nan)
    w = np.zeros(nb)
    ncc = np.full(nb, np.nan)
    which = np.full(nb, -1)
    for code, n in ((0, "height"), (1, "current")):
        r = per.get(n)
        if r is None:
            continue
        p = r.precision()
        usable = _typical_ncc_ok(r.ncc, (p > 0) & (np.clip(r.ncc, 0, 1) >= _BAND_QUALITY))
        take = (which < 0) & usable
        d[take], w[take], ncc[take], which[take] = r.d[take], p[take], r.ncc[take], code
    return d, w, ncc, which
