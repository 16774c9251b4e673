"""register(): the per-row displacement of the moving (-V) scan onto the reference (+V) scan."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from ...core.errors import RegistrationError
from ._flow import FlowChannel, FlowResult, gradient_y, refine
from ._model import Registration, centre_value
from ._ncc import distinctness, local_maxima, masked_ncc_surface, parabolic_peak, peak_stats
from ._prepare import check_image, decimate, edge_strength, prepare
from ._resample import inside_counts

logger = logging.getLogger(__name__)

_COARSE_TARGET = 128  # px along the longer side for the whole-frame search
_GOOD_HEIGHT = 0.5  # whole-frame score above which the current is not needed
_ROW_QUALITY = 0.3  # running-mean row correlation below which the height is featureless
_WEAK_SHARE = 0.15  # share of featureless height rows above which the current is matched
# Gauss-Newton steps per pyramid level (coarse levels not listed: 2)
_ITER_COARSE = {8: 1, 4: 2, 2: 1}
_ITER_FINE = 1

_KNOT_SPACING = 16.0  # rows between the spline's knots (at 512 rows; scaled with the rows)
_GAMMA = {"height": 1.0, "current": 3.0}  # GCV weight of the degrees of freedom
_ROW_GAIN = {"height": True, "current": True}  # contrast of each row a nuisance
# calibration of the posterior uncertainty against independent truth (tuning seeds of
# benchmarks/registration_accuracy.py)
_SIGMA_CAL = {"height": (1.3, 0.3), "current": (1.1, 1.0)}  # (c, b), see _row_uncertainty
_BIAS_GAIN = 1.5  # local misfit of the row blocks to the curve -> its bias, see _flow.misfit_bias
_SIGMA_FLOOR = 0.01  # px: resampling (bilinear) error not in the row statistics
_SIGMA_REF = 0.5  # px: 90th-percentile row uncertainty at which the confidence halves
_COVERAGE_FULL = 0.9  # share of the overlap rows registered below which confidence falls


@dataclass
class _Channel:
    """One channel's images: the refinement's at full resolution, prepared pyramid levels
    for the coarse search (cached).

    For the height, ``ref``/``mov`` are rows-centred (:func:`_rows_centred`) and each coarse
    level is prepared (leveled, normalized) from their block means; for the current they are
    the edge strength of the log current (:func:`_prepare_current`).
    """

    name: str
    ref: np.ndarray
    mov: np.ndarray
    ref_mask: np.ndarray
    mov_mask: np.ndarray
    _levels: dict = field(default_factory=dict)
    prepared: bool = False  # ref/mov are already prepared (no leveling per level)

    def level(self, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Prepared reference, moving and their masks at pyramid level f (cached)."""
        if f not in self._levels:
            a, ma, b, mb = self._decimated(f)
            if not self.prepared:
                a, ma = prepare(np.where(ma, a, np.nan), log=False)
                b, mb = prepare(np.where(mb, b, np.nan), log=False)
            self._levels[f] = (a, b, ma, mb)
        return self._levels[f]

    def _decimated(self, f: int):
        key = ("block", f)
        if key not in self._levels:
            if f > 1:
                # block means of block means where f is even (cheaper than from full size)
                g = f // 2 if f % 2 == 0 else 1
                ra, rma, rb, rmb = self._decimated(g)
                a, ma = decimate(ra, rma, f // g)
                b, mb = decimate(rb, rmb, f // g)
            else:
                a, ma, b, mb = self.ref, self.ref_mask, self.mov, self.mov_mask
            self._levels[key] = (a, ma, b, mb)
        return self._levels[key]

    def gn_level(self, f: int):
        """Refinement images at pyramid level f: reference, moving, their masks (None when
        all valid; shrunk by a pixel so that every gradient is valid) and the reference's
        gradient along y (cached)."""
        key = ("gn", f)
        if key not in self._levels:
            a, ma, b, mb = self._decimated(f)
            ma = None if ma.all() else ndi.binary_erosion(ma, _CROSS, border_value=1)
            mb = None if mb.all() else ndi.binary_erosion(mb, _CROSS, border_value=1)
            a = np.ascontiguousarray(a, np.float32)
            b = np.ascontiguousarray(b, np.float32)
            if f in _SMOOTH_LEVELS:
                a, b = _binomial(a), _binomial(b)
            self._levels[key] = (a, b, ma, mb, gradient_y(a))
        return self._levels[key]


_CROSS = ndi.generate_binary_structure(2, 1)
_SMOOTH_LEVELS = (1,)


def _binomial(x: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 along both axes (edges kept): a light low-pass that band-limits sharp
    edges, whose bilinear interpolation would otherwise pull sub-pixel shifts towards whole
    pixels."""
    y = np.empty_like(x)
    np.add(x[:-2], x[2:], out=y[1:-1])
    y[1:-1] += x[1:-1]
    y[1:-1] += x[1:-1]
    y[1:-1] *= np.float32(0.25)
    y[0], y[-1] = x[0], x[-1]
    z = np.empty_like(y)
    np.add(y[:, :-2], y[:, 2:], out=z[:, 1:-1])
    z[:, 1:-1] += y[:, 1:-1]
    z[:, 1:-1] += y[:, 1:-1]
    z[:, 1:-1] *= np.float32(0.25)
    z[:, 0], z[:, -1] = y[:, 0], y[:, -1]
    return z


def _rows_centred(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Height for the refinement: each row's mean removed, normalized, spikes clipped
    (float32; invalid pixels 0), the validity mask, and whether the image is usable (a
    quarter of the pixels valid and not all equal).

    Unlike :func:`prepare`, no column profile is removed: a column profile subtracted from
    each scan on its own would move with the fast-axis displacement of every row and read as
    a displacement. Line offsets, tilt and bow are nuisance parameters of the refinement.
    """
    valid = np.isfinite(img)
    if valid.all():
        z = img.astype(np.float32)
        z -= z.mean(axis=1, keepdims=True)
        sd = float(np.sqrt(np.einsum("ij,ij->", z, z) / z.size))
    else:
        z = np.where(valid, img, 0.0)
        n = valid.sum(axis=1)
        z = (z - (z.sum(axis=1) / np.maximum(n, 1))[:, None]).astype(np.float32)
        z[~valid] = 0.0
        sd = float(np.sqrt(np.mean(np.square(z[valid], dtype=np.float64)))) \
            if valid.any() else 0.0
    if sd > 0:
        z *= np.float32(1.0 / sd)
    np.clip(z, -8.0, 8.0, out=z)
    return z, valid, sd > 0 and valid.sum() >= 0.25 * valid.size


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
        ga, gma, oka = _rows_centred(rh)
        gb, gmb, okb = _rows_centred(mh)
        if oka and okb:
            chans["height"] = _Channel("height", ga, gb, gma, gmb)
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
                                    np.ones(rc.shape, bool), prepared=True)  # prepared lazily
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
    max_row_uncertainty: float = 0.4,
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
        Rows over which the smoothing penalty relaxes towards either end of the data (default:
        rows / 16, within 16..64), also the band height of ``Registration.strips``.
    max_creep : float, optional
        How far (px) the displacement of any row may lie from the whole-frame estimate
        (default: 4 % of the rows plus the coarse pyramid factor, at least 8 px), limited to
        0.45 of the lattice period of a periodic sample; rows beyond are not registered.
    max_row_uncertainty : float, optional
        Rows whose 1-sigma displacement error exceeds this (px) are not registered: their
        ``row_uncertainty`` is ``inf`` and resampled maps are masked there (e.g. the first
        rows of a current-only registration before the first domain boundary).

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
    Method (see the package docstring): whole-frame NCC on a decimated pyramid level
    (Padfield 2012) gives the starting displacement and the lattice ambiguity; from there a
    cubic-spline curve is refined coarse to fine by penalized Gauss-Newton steps on the whole
    images (row-wise normal equations, nuisances per row and per block of rows projected out,
    smoothing by cross-validation), with a calibrated posterior uncertainty per row.
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

    # ---- refinement: Gauss-Newton on whole images, coarse to fine --------------------------
    hb = int(band_rows) if band_rows else int(np.clip(rows // 16, 16, 64))
    reach = float(max_creep) if max_creep is not None else max(8.0, 0.04 * rows + f)
    reach = min(reach, max(2.0, 0.45 * lattice))
    need = [n for n in ("height", "current") if n in chans]
    if primary == "current" and "height" in need and coarse.get("height", (0, 0, 0.0))[2] < 0.1:
        need = ["current"]  # the height does not correlate anywhere

    def level_of(name: str):
        def level(f_: int):
            if name == "current":
                _prepare_current(chans[name])
            return chans[name].gn_level(f_)
        return level

    # from the whole-frame shift, starting one level coarser than the whole-frame search
    levels = [2 * f] if min(rows, cols) // (2 * f) >= 32 else []
    g = f
    while g > 1:
        levels.append(g)
        g //= 2
    schedule = [(lev, _ITER_COARSE.get(lev, 2)) for lev in levels] + [(1, _ITER_FINE)]
    flow_chans = [FlowChannel(n, level_of(n), _GAMMA[n], gain=_ROW_GAIN[n]) for n in need]
    spacing = _KNOT_SPACING * max(rows / 512.0, 0.25)
    curve = np.tile(np.asarray(centre, float), (rows, 1))
    res = refine(flow_chans, curve, schedule, spacing, edge_scale=float(hb),
                 constant=not estimate_drift, quality=_ROW_QUALITY,
                 fallback_share=_WEAK_SHARE, trace=_trace)
    used = None if res is None else (res.weight > 0)
    if res is not None:
        curve = res.curve
    # rows beyond the creep range (a neighbouring lattice cell of a periodic sample, a curve
    # that wandered where nothing constrains it) are not registered
    wander = np.hypot(*(curve - np.asarray(centre)[None, :]).T) > reach

    # ---- confidence and verdict --------------------------------------------------------
    reasons = []
    names = [n for i, n in enumerate(need) if used is not None and np.any(used
                                                                            & (res.channel == i))]
    method = "+".join(names) or primary
    over = inside_counts(curve, shape) > 0
    n_over = max(int(np.count_nonzero(over)), 1)
    agree = 0 if used is None else int(np.count_nonzero(used & over))
    enough = agree >= max(8, int(0.3 * n_over))
    if known_shift is not None:
        if not enough:
            logger.warning("a known shift was given, but the creep around it could not be "
                           "estimated (too few rows correlate): one constant displacement "
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
    if res is None:
        row_sigma = np.full(rows, np.inf)
        ncc_med = max(float(peak), 0.0)
    else:
        row_sigma = _row_uncertainty(res, need, over)
        ncc_med = float(np.median(res.rho[used])) if used.any() else 0.0
    rejected = 0 if res is None else int(round(res.rejected / max(hb, 1)))
    # rows whose displacement is not known to max_row_uncertainty are not registered: their
    # uncertainty is inf and every resampled map is masked there
    known = np.isfinite(row_sigma) & (row_sigma <= max_row_uncertainty) & ~wander
    if used is not None and used.any() and estimate_drift:
        # rows beyond the first and last row that was matched (the overlap's first rows,
        # whose source rows lie at the moving frame's edge) only continue the curve: where
        # creep is steepest, that is not a measurement
        r_used = np.flatnonzero(used)
        span = np.zeros(rows, bool)
        span[r_used[0]:r_used[-1] + 1] = True
        known &= span
    sig_all = row_sigma[over] if over.any() else row_sigma
    row_sigma = np.where(known, row_sigma, np.inf)
    registered = over & known
    if registered.any():
        sig = row_sigma[registered]
        reg_unc, sig_hi = float(np.median(sig)), float(np.percentile(sig, 90))
    else:
        fin = sig_all[np.isfinite(sig_all)]
        reg_unc = float(np.median(fin)) if fin.size else math.inf
        sig_hi = math.inf
    coverage = float(np.count_nonzero(registered)) / n_over
    confidence = float(distinct * min(1.0, coverage / _COVERAGE_FULL)
                       / (1.0 + (sig_hi / _SIGMA_REF) ** 2)) if math.isfinite(sig_hi) else 0.0
    if _trace is not None:
        _trace.append(("sigma", row_sigma))
    if known_shift is None and confidence < min_confidence:
        why = f"confidence {confidence:.2f} < {min_confidence:.2f} (row NCC {ncc_med:.2f}"
        if ratio > 1 - 0.3:
            why += (f"; a competing correlation peak near shift {alt} reaches "
                    f"{ratio:.0%} of the main peak: periodic or featureless images")
        if math.isfinite(reg_unc):
            why += f"; displacement uncertainty {reg_unc:.2f} px"
        if coverage < _COVERAGE_FULL:
            why += (f"; {coverage:.0%} of the overlap rows registered to "
                    f"{max_row_uncertainty:g} px")
            if method == "current":
                # say where the limit comes from: the -V map is a different image, and
                # only the domain boundaries are common to both maps
                why += (": the height is featureless, and the domain boundaries, the only "
                        "structure the +V and -V current maps share, are too few or too "
                        "smooth to fix the displacement of the other rows")
        reasons.append(why + ")")
    if known_shift is None and not enough:
        reasons.append(f"too few rows correlate to follow the displacement ({agree} of "
                       f"{n_over})")
    reg = Registration.from_curve(
        curve, shape,
        row_uncertainty=row_sigma,
        confidence=confidence,
        trustworthy=False, method=method, overlap=0.0,
        ncc=ncc_med, peak_ratio=float(ratio), candidates=candidates,
        uncertainty_px=reg_unc, rejected_bands=rejected,
        strips=[] if res is None else _strips(curve, res, hb),
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


def _row_uncertainty(res: FlowResult, need: list[str], over: np.ndarray) -> np.ndarray:
    """1-sigma error of the curve at every row, px (Euclidean over dy and dx).

    The posterior standard deviation ``s`` of the spline (in units of the scatter of the row
    blocks' own optima about the curve), calibrated against independent truth
    (``benchmarks/registration_accuracy.py``, tuning seeds) per channel as
    ``c * s * (s / median(s))^b``: rows of one scan share errors, which the posterior does not
    know, and where it is large (the frame ends, rows with little texture) the actual error
    grows faster than it, most for the current's edges (b = 1) whose errors come from
    contrast that differs between the two biases rather than from noise. A floor holds the
    interpolation error of the resampling.
    """
    ch = res.channel.copy()
    if np.any(ch >= 0):  # rows without data take the channel of the nearest row with data
        idx = np.flatnonzero(ch >= 0)
        near = idx[np.clip(np.searchsorted(idx, np.arange(len(ch))), 0, len(idx) - 1)]
        ch = np.where(ch >= 0, ch, ch[near])
    ch = np.clip(ch, 0, len(need) - 1)
    post = np.sqrt(np.maximum(res.var.sum(axis=1), 0.0))
    ref = post[over & (res.weight > 0)] if np.any(over & (res.weight > 0)) else post
    med = max(float(np.median(ref)), 1e-12)
    c = np.array([_SIGMA_CAL[n][0] for n in need])[ch]
    b = np.array([_SIGMA_CAL[n][1] for n in need])[ch]
    sig = c * post * (post / med) ** b
    bias2 = 0.0 if res.bias2 is None else _BIAS_GAIN**2 * res.bias2
    return np.sqrt(sig**2 + bias2 + _SIGMA_FLOOR**2)


def _strips(curve: np.ndarray, res: FlowResult, hb: int) -> list:
    """(centre row, mean dy, mean dx, mean row NCC) of bands of rows that were matched."""
    rows = curve.shape[0]
    step = max(hb // 2, 1)
    r0 = np.arange(0, max(rows - hb, 0) + 1, step)
    cs = np.vstack([np.zeros((1, 2)), np.cumsum(curve, axis=0)])
    r1 = np.minimum(r0 + hb, rows)
    mean = (cs[r1] - cs[r0]) / (r1 - r0)[:, None]
    used = res.weight > 0
    cu = np.concatenate([[0], np.cumsum(used)])
    keep = (cu[r1] - cu[r0]) >= hb // 2
    cr = np.concatenate([[0.0], np.cumsum(np.where(used, res.rho, 0.0))])
    rho = (cr[r1] - cr[r0]) / np.maximum(cu[r1] - cu[r0], 1)
    return [(float(r0[k] + 0.5 * (r1[k] - r0[k] - 1)), float(mean[k, 0]), float(mean[k, 1]),
             float(rho[k])) for k in np.flatnonzero(keep)]
