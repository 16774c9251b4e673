"""Co-registration of the -V scan onto the +V scan: sub-pixel shift, slow-axis drift, confidence.

Convention (``docs/architecture.md``): the +V scan is the reference. A displacement
``(dy, dx)`` in pixels means ``scipy.ndimage.shift(moving, (dy, dx))`` lies on the reference,
i.e. ``reference[r, c] ~ moving[r - dy, c - dx]``. Because the sample drifts while the slow
axis advances, the displacement may change linearly with the reference row ``r``::

    d(r) = shift + drift_per_line * (r - (rows - 1) / 2)

Method
------
1. Both inputs are leveled (plane + median row alignment,
   :func:`afmcurrent.level.level_topography`); current maps are used as ``log10 |I|``
   (zeros, negatives and NaN masked).
2. A coarse search on block-averaged images computes the masked normalized cross-correlation
   (NCC) over the overlap for every integer shift within ``max_shift_fraction`` of the frame
   (Padfield, "Masked object registration in the Fourier domain", IEEE Trans. Image Process.
   21 (2012) 2706), so that the score is not biased towards large overlaps as plain
   cross-correlation is.
3. Full resolution: horizontal bands of reference rows are matched separately in the moving
   image within a few pixels of the coarse estimate (scikit-image ``match_template``, i.e.
   normalized cross-correlation, refined to sub-pixel with a 3-point parabola per axis).
   Phase correlation on windowed crops was tried and rejected: the window biases sub-pixel
   shifts towards the integer guess by up to ~0.4 px on 32-row bands.
4. Slow-axis drift: a straight line is fitted robustly to the band displacements and its slope
   is kept only when it is significant against the scatter of the band estimates; otherwise
   the shift is the mean of the bands.
5. Confidence = NCC of the overlap at the found shift times a peak-distinctness factor (how far
   the best competing peak of the NCC surface lies below the main peak). A periodic sample
   (calibration grating) therefore gets a low confidence: its shift is only defined modulo
   the lattice.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi
from skimage.transform import downscale_local_mean

from ._sat import summed_area_table
from .errors import RegistrationError
from .level import level_topography

__all__ = [
    "Registration",
    "register",
    "apply_registration",
    "apply_registration_mask",
    "masked_ncc_surface",
]

logger = logging.getLogger(__name__)

_COARSE_TARGET = 128  # pixels along the longer side for the coarse search
_DISTINCT_SPAN = 0.3  # 1 - (second peak / main peak) at which distinctness saturates


@dataclass
class Registration:
    """Result of registering a moving (-V) scan onto a reference (+V) scan.

    Parameters
    ----------
    shift : tuple of float
        ``(dy, dx)`` in px at the reference frame's centre row: ``scipy.ndimage.shift(moving,
        shift)`` lies on the reference (when ``drift_per_line`` is zero).
    drift_per_line : tuple of float
        ``(ddy, ddx)`` change of the displacement per reference row, px/row.
    confidence : float
        In [0, 1]: overlap NCC at the found shift times the peak distinctness.
    trustworthy : bool
        False when the confidence is below the threshold, the overlap is too small, or the
        band estimates disagree; ``reason`` says which.
    method : str
        Channel(s) used: ``"height"``, ``"current"`` or ``"height+current"``.
    overlap : float
        Fraction of the reference frame whose source pixel lies inside the moving frame.
    reason : str
        Why the registration is not trustworthy (empty when it is).
    shape : tuple of int
        Reference frame shape ``(rows, cols)`` the displacement model refers to.
    ncc : float
        Normalized cross-correlation of the leveled overlap at the found shift.
    peak_ratio : float
        Height of the best competing NCC peak relative to the main peak (above the median);
        near 1 for periodic or featureless images.
    strips : list of tuple
        Band estimates ``(centre_row, dy, dx, ncc)`` used for the drift fit.
    candidates : list of tuple
        The strongest local maxima of the coarse NCC surface, ``(dy, dx, ncc)`` with integer
        shifts in full-resolution px, best first (up to 8).
    row_displacement : ndarray of float64, shape (rows, 2)
        ``[dy(r), dx(r)]`` in px for every reference row ``r``:
        ``reference[r, c] ~ moving[r - dy(r), c - dx(r)]``. Default (None): the straight line
        ``shift + drift_per_line * (r - (rows - 1) / 2)``. ``shift`` is its value at the centre
        row and ``drift_per_line`` the slope of its least-squares line.
    uncertainty_px : float
        1-sigma estimate of the displacement error in px, typical over the rows (0.0 for a
        manual shift given without drift estimation; NaN when nothing was estimated).
    """

    shift: tuple[float, float]
    drift_per_line: tuple[float, float]
    confidence: float
    trustworthy: bool
    method: str
    overlap: float
    reason: str = ""
    shape: tuple[int, int] = (0, 0)
    ncc: float = float("nan")
    peak_ratio: float = float("nan")
    strips: list[tuple[float, float, float, float]] = field(default_factory=list)
    candidates: list[tuple[int, int, float]] = field(default_factory=list)
    row_displacement: np.ndarray | None = field(default=None, repr=False, compare=False)
    uncertainty_px: float = float("nan")

    def __post_init__(self) -> None:
        rows = int(self.shape[0])
        if self.row_displacement is None:
            r = np.arange(rows, dtype=np.float64) - (rows - 1) / 2.0
            d = np.empty((rows, 2))
            d[:, 0] = self.shift[0] + self.drift_per_line[0] * r
            d[:, 1] = self.shift[1] + self.drift_per_line[1] * r
            self.row_displacement = d
        else:
            d = np.array(self.row_displacement, dtype=np.float64)
            if d.shape != (rows, 2):
                raise RegistrationError(
                    f"row_displacement must have shape ({rows}, 2), got {d.shape}")
            self.row_displacement = d

    @classmethod
    def manual(
        cls,
        shift: tuple[float, float],
        shape: tuple[int, int],
        drift_per_line: tuple[float, float] = (0.0, 0.0),
    ) -> Registration:
        """A registration given by the user (a known shift), not estimated.

        Parameters
        ----------
        shift : tuple of float
            ``(dy, dx)`` in px at the centre row, in the module's convention.
        shape : tuple of int
            Reference frame shape ``(rows, cols)``.
        drift_per_line : tuple of float, optional
            ``(ddy, ddx)`` in px per reference row.

        Returns
        -------
        Registration
            ``method="manual"``, trustworthy, confidence NaN (nothing was measured).
        """
        shift = (float(shift[0]), float(shift[1]))
        drift = (float(drift_per_line[0]), float(drift_per_line[1]))
        shape = (int(shape[0]), int(shape[1]))
        reg = cls(shift, drift, float("nan"), True, "manual", 0.0, "", shape,
                  uncertainty_px=0.0)
        reg.overlap = _overlap_fraction(reg)
        return reg

    def displacement(self, rows: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Displacement ``(dy, dx)`` in px at reference row(s) ``rows``.

        Parameters
        ----------
        rows : float or ndarray
            Reference row index (or indices).

        Returns
        -------
        tuple of ndarray
            ``dy(rows), dx(rows)`` in px.
        """
        r = np.asarray(rows, dtype=np.float64)
        d = self.row_displacement
        n = d.shape[0]
        if n < 2:
            c = r - (self.shape[0] - 1) / 2.0
            return self.shift[0] + self.drift_per_line[0] * c, self.shift[1] + \
                self.drift_per_line[1] * c
        grid = np.arange(n, dtype=np.float64)
        out = []
        for k in (0, 1):
            v = np.interp(r, grid, d[:, k])
            # outside the frame: continue the end slopes (linear extrapolation)
            lo, hi = r < 0, r > n - 1
            v = np.where(lo, d[0, k] + (d[1, k] - d[0, k]) * r, v)
            v = np.where(hi, d[-1, k] + (d[-1, k] - d[-2, k]) * (r - (n - 1)), v)
            out.append(v)
        return out[0], out[1]

    def require_trustworthy(self) -> Registration:
        """Return ``self`` if trustworthy, else raise.

        Raises
        ------
        RegistrationError
            With the reason, when ``trustworthy`` is False.
        """
        if not self.trustworthy:
            raise RegistrationError(f"registration not trustworthy: {self.reason}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (plain floats, lists, str, bool).

        Returns
        -------
        dict
            Keys ``shift_px``, ``drift_px_per_line``, ``confidence``, ``trustworthy``,
            ``method``, ``overlap_fraction``, ``reason``, ``ncc``, ``peak_ratio``,
            ``reference_shape``, ``candidates`` (competing integer shifts with their NCC; for a
            periodic sample these are the lattice-equivalent solutions),
            ``row_displacement_px`` (one ``[dy, dx]`` per reference row) and
            ``uncertainty_px`` (1-sigma, px).
        """
        def f(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "shift_px": [float(self.shift[0]), float(self.shift[1])],
            "drift_px_per_line": [float(self.drift_per_line[0]), float(self.drift_per_line[1])],
            "confidence": f(self.confidence),
            "trustworthy": bool(self.trustworthy),
            "method": str(self.method),
            "overlap_fraction": float(self.overlap),
            "reason": str(self.reason),
            "ncc": f(self.ncc),
            "peak_ratio": f(self.peak_ratio),
            "reference_shape": [int(self.shape[0]), int(self.shape[1])],
            "candidates": [
                {"shift_px": [int(dy), int(dx)], "ncc": f(v)} for dy, dx, v in self.candidates
            ],
            "row_displacement_px": [[float(a), float(b)] for a, b in self.row_displacement],
            "uncertainty_px": f(self.uncertainty_px),
        }


# ---------------------------------------------------------------------------------------------
# preparation
# ---------------------------------------------------------------------------------------------
def _check_image(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise RegistrationError(f"{name}: expected a 2-D image, got shape {arr.shape}")
    if min(arr.shape) < 16:
        raise RegistrationError(f"{name}: image {arr.shape} too small to register (< 16 px)")
    return arr


def _prepare(img: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Leveled image with invalid pixels set to 0, and its validity mask."""
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.abs(img)
            img = np.where(np.isfinite(a) & (a > 0), np.log10(a), np.nan)
    valid = np.isfinite(img)
    if valid.sum() < 0.25 * img.size:
        return np.zeros_like(img), np.zeros(img.shape, bool)
    lev = level_topography(img, mask=valid)
    lev = np.where(valid, lev, 0.0)
    sd = lev[valid].std()
    if sd > 0:
        lev = lev / sd
    return lev, valid


def _decimate(img: np.ndarray, mask: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    if f <= 1:
        return img, mask
    r, c = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    if mask[:r, :c].all():  # the same as below with m = 1 everywhere
        s = downscale_local_mean(img[:r, :c], (f, f))
        return s, np.ones(s.shape, bool)
    m = downscale_local_mean(mask[:r, :c].astype(np.float64), (f, f))
    s = downscale_local_mean(np.where(mask, img, 0.0)[:r, :c], (f, f))
    ok = m > 0.5
    return np.where(ok, s / np.where(ok, m, 1.0), 0.0), ok


# ---------------------------------------------------------------------------------------------
# masked NCC surface (Padfield 2012)
# ---------------------------------------------------------------------------------------------
def masked_ncc_surface(
    ref: np.ndarray,
    moving: np.ndarray,
    ref_mask: np.ndarray | None = None,
    moving_mask: np.ndarray | None = None,
    max_shift: tuple[int, int] | None = None,
    min_overlap: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized cross-correlation over the overlap for every integer shift.

    Parameters
    ----------
    ref, moving : ndarray, shape (rows, cols)
        Images (same shape). Invalid pixels must be finite (their value is ignored).
    ref_mask, moving_mask : ndarray of bool, optional
        Valid pixels (True = use); default all.
    max_shift : tuple of int, optional
        ``(max_dy, max_dx)``: the surface covers ``-max_dy..max_dy`` x ``-max_dx..max_dx``.
        Default: half the frame.
    min_overlap : float, optional
        Shifts whose overlap holds fewer than this fraction of the reference's valid pixels
        get NCC = NaN.

    Returns
    -------
    ncc : ndarray, shape (2*max_dy + 1, 2*max_dx + 1)
        ``ncc[max_dy + dy, max_dx + dx]`` is the Pearson correlation of
        ``ref[r, c]`` and ``moving[r - dy, c - dx]`` over the pixels valid in both.
    overlap : ndarray, same shape
        Number of pixels in each overlap.

    Notes
    -----
    All sums over the overlap are obtained as zero-padded FFT correlations (Padfield, IEEE
    Trans. Image Process. 21 (2012) 2706, eqs. 15-18).
    """
    rows, cols = ref.shape
    if moving.shape != ref.shape:
        raise RegistrationError(f"images differ in shape: {ref.shape} vs {moving.shape}")
    mr = np.ones(ref.shape, bool) if ref_mask is None else np.asarray(ref_mask, bool)
    mm = np.ones(ref.shape, bool) if moving_mask is None else np.asarray(moving_mask, bool)
    if max_shift is None:
        max_shift = (rows // 2, cols // 2)
    mdy, mdx = int(max_shift[0]), int(max_shift[1])
    shape = (sfft.next_fast_len(rows + mdy + 1, real=True),
             sfft.next_fast_len(cols + mdx + 1, real=True))

    a = np.where(mr, ref, 0.0)
    b = np.where(mm, moving, 0.0)
    fa = [sfft.rfft2(x, shape) for x in (mr.astype(np.float64), a, a * a)]
    fb = [sfft.rfft2(x, shape) for x in (mm.astype(np.float64), b, b * b)]

    def corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        full = sfft.irfft2(x * np.conj(y), shape)
        # circular index d -> d mod shape; gather -mdy..mdy, -mdx..mdx
        iy = np.arange(-mdy, mdy + 1) % shape[0]
        ix = np.arange(-mdx, mdx + 1) % shape[1]
        return full[np.ix_(iy, ix)]

    n = np.round(corr(fa[0], fb[0]))
    sa = corr(fa[1], fb[0])
    sb = corr(fa[0], fb[1])
    saa = corr(fa[2], fb[0])
    sbb = corr(fa[0], fb[2])
    sab = corr(fa[1], fb[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = np.maximum(n, 1.0)
        num = sab - sa * sb / nn
        va = saa - sa * sa / nn
        vb = sbb - sb * sb / nn
        den = np.sqrt(np.clip(va, 0, None) * np.clip(vb, 0, None))
        ncc = num / den
    tiny = 1e-9 * max(float(np.max(va)), float(np.max(vb)), 1e-300)
    bad = (n < min_overlap * max(mr.sum(), 1)) | (va <= tiny) | (vb <= tiny) | ~np.isfinite(ncc)
    ncc = np.where(bad, np.nan, np.clip(ncc, -1.0, 1.0))
    return ncc, n


def _peak_stats(surf: np.ndarray) -> tuple[tuple[int, int], float, float, tuple[int, int]]:
    """Main peak index, its value, competing-peak ratio, and that peak's index."""
    s = np.where(np.isfinite(surf), surf, -np.inf)
    ip = np.unravel_index(int(np.argmax(s)), s.shape)
    peak = float(s[ip])
    fin = s[np.isfinite(s)]
    med = float(np.median(fin))
    if not np.isfinite(peak) or peak <= med:
        return (int(ip[0]), int(ip[1])), peak, 1.0, (int(ip[0]), int(ip[1]))
    half = med + 0.5 * (peak - med)
    lab, _ = ndi.label(s > half)
    lobe = ndi.binary_dilation(lab == lab[ip], iterations=2)
    rest = np.where(lobe, -np.inf, s)
    i2 = np.unravel_index(int(np.argmax(rest)), s.shape)
    second = float(rest[i2])
    ratio = 0.0 if not np.isfinite(second) else (second - med) / (peak - med)
    return (int(ip[0]), int(ip[1])), peak, float(np.clip(ratio, 0.0, 1.0)), (int(i2[0]), int(i2[1]))


def _parabolic(s: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """Sub-pixel vertex of a 3-point parabola through the peak along each axis."""
    def vertex(m1: float, c0: float, p1: float) -> float:
        d = m1 - 2 * c0 + p1
        if not (np.isfinite(d) and d < 0):
            return 0.0
        return float(np.clip(0.5 * (m1 - p1) / d, -0.5, 0.5))

    oy = vertex(s[i - 1, j], s[i, j], s[i + 1, j]) if 0 < i < s.shape[0] - 1 else 0.0
    ox = vertex(s[i, j - 1], s[i, j], s[i, j + 1]) if 0 < j < s.shape[1] - 1 else 0.0
    return oy, ox


# ---------------------------------------------------------------------------------------------
# sub-pixel refinement on the overlap
# ---------------------------------------------------------------------------------------------
def _overlap_slices(shape: tuple[int, int], dy: int, dx: int, rows: tuple[int, int] | None = None):
    """Slices (ref, moving) of the overlap for integer shift (dy, dx)."""
    R, C = shape
    r0, r1 = (0, R) if rows is None else rows
    y0 = max(r0, dy)
    y1 = min(r1, R + dy)
    x0 = max(0, dx)
    x1 = min(C, C + dx)
    if y1 - y0 < 1 or x1 - x0 < 1:
        return None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx))


def _ncc_direct(a: np.ndarray, b: np.ndarray, ma: np.ndarray, mb: np.ndarray) -> float:
    m = ma & mb
    if m.sum() < 16:
        return float("nan")
    x = a[m] - a[m].mean()
    y = b[m] - b[m].mean()
    d = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / d) if d > 0 else float("nan")


def _integral_images(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded integral images of ``img`` and ``img**2`` (window sums in O(1))."""
    img = np.asarray(img, np.float64)
    return summed_area_table(img), summed_area_table(img * img)


def _match_band(
    ref: np.ndarray, mov: np.ndarray, py: int, px: int, search: int,
    rows: tuple[int, int] | None = None,
    integrals: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, float, float, float] | None:
    """Sub-pixel displacement of a band of reference rows near the integer guess (py, px).

    The band (cropped so that every candidate source lies inside the moving frame) is
    correlated with the moving image at every integer offset within ``search`` px: the
    normalized cross-correlation (zero-mean template; window sums of the moving image from
    integral images, as in Lewis, "Fast normalized cross-correlation", Vision Interface 1995),
    computed directly because only a few offsets are needed. The NCC peak is refined with a
    3-point parabola per axis.

    Returns
    -------
    tuple or None
        ``(centre_row, dy, dx, ncc)``; None if the band leaves too little overlap.
    """
    R, C = ref.shape
    r0, r1 = (0, R) if rows is None else rows
    s = int(search)
    y0, y1 = max(r0, py + s), min(r1, R + py - s)
    x0, x1 = max(0, px + s), min(C, C + px - s)
    h, w = y1 - y0, x1 - x0
    if h < 8 or w < 16:
        return None
    tmpl = ref[y0:y1, x0:x1].astype(np.float32)
    tmpl = tmpl - tmpl.mean()
    tnorm = math.sqrt(float(np.vdot(tmpl, tmpl)))
    region = np.ascontiguousarray(mov[y0 - py - s: y1 - py + s, x0 - px - s: x1 - px + s],
                                  dtype=np.float64)
    if tnorm == 0:
        return None
    # window sums of the moving image and its square for every offset (integral images of
    # the whole moving image, shared by all bands)
    ii, ii2 = integrals if integrals is not None else _integral_images(mov)
    top, left = y0 - py - s, x0 - px - s
    n = 2 * s + 1

    def wsum(a: np.ndarray) -> np.ndarray:
        a = a[top:top + h + n, left:left + w + n]
        return a[h:h + n, w:w + n] - a[:n, w:w + n] - a[h:h + n, :n] + a[:n, :n]

    s1, s2 = wsum(ii), wsum(ii2)
    var = np.clip(s2 - s1 * s1 / (h * w), 0.0, None)
    num = np.empty((n, n))
    reg32 = region.astype(np.float32)
    for i in range(n):
        rows_i = reg32[i:i + h]
        for j in range(n):
            num[i, j] = np.einsum("ij,ij->", rows_i[:, j:j + w], tmpl)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = num / (tnorm * np.sqrt(var))
    res = np.where(np.isfinite(res), res, -1.0)
    i, j = np.unravel_index(int(np.argmax(res)), res.shape)
    oy, ox = _parabolic(res, int(i), int(j))
    return 0.5 * (y0 + y1 - 1), py + s - (i + oy), px + s - (j + ox), float(res[i, j])


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def register(
    ref_height: np.ndarray,
    moving_height: np.ndarray,
    ref_current: np.ndarray | None = None,
    moving_current: np.ndarray | None = None,
    *,
    estimate_drift: bool = True,
    min_confidence: float = 0.3,
    max_shift_fraction: float = 0.3,
    min_overlap: float = 0.4,
    n_strips: int = 8,
    max_strip_scatter: float = 1.0,
    expected_shift: tuple[float, float] | None = None,
    search_radius: float = 5.0,
) -> Registration:
    """Register the moving (-V) scan onto the reference (+V) scan.

    Parameters
    ----------
    ref_height, moving_height : ndarray, shape (rows, cols)
        Raw height images in m of the reference and moving scan (leveled inside).
    ref_current, moving_current : ndarray, shape (rows, cols), optional
        Current magnitudes in A; used as ``log10 |I|`` (zeros, negatives and NaN masked).
        They carry the structure where the topography is featureless.
    estimate_drift : bool, optional
        Estimate the slow-axis drift from horizontal bands of rows.
    min_confidence : float, optional
        Below this confidence the result is flagged untrustworthy.
    max_shift_fraction : float, optional
        Largest shift searched, as a fraction of the frame size along each axis.
    min_overlap : float, optional
        Smallest acceptable overlap (fraction of the reference frame).
    n_strips : int, optional
        Number of horizontal bands for the drift estimate.
    max_strip_scatter : float, optional
        Largest acceptable RMS (px) of the band estimates about the fitted drift line.
    expected_shift : tuple of float, optional
        Prior knowledge of the shift ``(dy, dx)`` in px (stage log, an earlier pair): only
        shifts within ``search_radius`` of it are considered. This is how the lattice
        ambiguity of a periodic sample (calibration grating) is resolved.
    search_radius : float, optional
        Radius in px of the search window around ``expected_shift``.

    Returns
    -------
    Registration

    Raises
    ------
    RegistrationError
        On inputs that cannot be registered (not 2-D, too small, shapes differ, only one of
        the two current maps given). An uncertain result is returned flagged, not raised;
        call :meth:`Registration.require_trustworthy` before using it.
    """
    ref_h = _check_image(ref_height, "reference height")
    mov_h = _check_image(moving_height, "moving height")
    if ref_h.shape != mov_h.shape:
        raise RegistrationError(
            f"reference and moving scans differ in shape: {ref_h.shape} vs {mov_h.shape}")
    if (ref_current is None) != (moving_current is None):
        raise RegistrationError("give both current maps (reference and moving) or neither")
    shape = ref_h.shape
    rows, cols = shape

    channels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    a, ma = _prepare(ref_h, log=False)
    b, mb = _prepare(mov_h, log=False)
    channels["height"] = (a, b, ma, mb)
    if ref_current is not None:
        rc = _check_image(ref_current, "reference current")
        mc = _check_image(moving_current, "moving current")
        if rc.shape != shape or mc.shape != shape:
            raise RegistrationError(
                f"current maps {rc.shape}/{mc.shape} differ from the height shape {shape}")
        a, ma = _prepare(rc, log=True)
        b, mb = _prepare(mc, log=True)
        channels["current"] = (a, b, ma, mb)

    # coarse masked-NCC search on decimated images
    f = max(1, int(round(max(shape) / _COARSE_TARGET)))
    mdy = max(1, int(max_shift_fraction * rows / f))
    mdx = max(1, int(max_shift_fraction * cols / f))
    window = None
    if expected_shift is not None:
        ey, ex = (float(v) / f for v in expected_shift)
        rad = max(float(search_radius) / f, 1.0)
        mdy = max(mdy, int(math.ceil(abs(ey) + rad)) + 1)
        mdx = max(mdx, int(math.ceil(abs(ex) + rad)) + 1)
        gy, gx = np.mgrid[-mdy:mdy + 1, -mdx:mdx + 1]
        window = (gy - ey) ** 2 + (gx - ex) ** 2 <= rad**2
    surfaces: dict[str, np.ndarray] = {}
    scores: dict[str, float] = {}
    for name, (a, b, ma, mb) in channels.items():
        if not (ma.any() and mb.any()):
            continue
        da, dma = _decimate(a, ma, f)
        db, dmb = _decimate(b, mb, f)
        surf, _ = masked_ncc_surface(da, db, dma, dmb, (mdy, mdx), min_overlap=0.3)
        if window is not None:
            surf = np.where(window, surf, np.nan)
        if not np.isfinite(surf).any():
            continue
        _, peak, ratio, _ = _peak_stats(surf)
        surfaces[name] = surf
        scores[name] = max(peak, 0.0) * _distinct(ratio)
    if not surfaces:
        return Registration((0.0, 0.0), (0.0, 0.0), 0.0, False, "none", 0.0,
                            "no channel has enough valid, non-constant pixels", shape)

    good = [n for n in surfaces if scores[n] >= min_confidence]
    if len(good) == 2:
        used = ["height", "current"]
        surf = np.nanmean(np.stack([surfaces[n] for n in used]), axis=0)
    else:
        used = [max(scores, key=scores.get)]  # type: ignore[arg-type]
        surf = surfaces[used[0]]
    method = "+".join(used)
    candidates = [((cy - mdy) * f, (cx - mdx) * f, v) for cy, cx, v in _local_maxima(surf)]
    (iy, ix), peak, ratio, (jy, jx) = _peak_stats(surf)
    cdy, cdx = iy - mdy, ix - mdx
    oy, ox = _parabolic(np.nan_to_num(surf, nan=-1.0), iy, ix)
    int_dy, int_dx = int(round((cdy + oy) * f)), int(round((cdx + ox) * f))
    alt = ((jy - mdy) * f, (jx - mdx) * f)

    # full-resolution sub-pixel estimates on bands of reference rows (or the whole frame)
    search = f // 2 + 2
    if estimate_drift and n_strips >= 3 and rows >= 3 * 16:
        edges = np.linspace(0, rows, min(n_strips, rows // 16) + 1).astype(int)
    else:
        edges = np.array([0, rows])
    per_channel = []
    for n in used:
        a, b, _, _ = channels[n]
        integrals = _integral_images(b)
        bands = [_match_band(a, b, int_dy, int_dx, search, (int(r0), int(r1)), integrals)
                 for r0, r1 in zip(edges[:-1], edges[1:], strict=True)]
        per_channel.append((scores[n], bands))
    strips: list[tuple[float, float, float, float]] = []
    for k in range(len(edges) - 1):
        got = [(w, bs[k]) for w, bs in per_channel if bs[k] is not None]
        if not got:
            continue
        wts = np.array([max(w, 1e-6) for w, _ in got])
        vals = np.array([v for _, v in got])
        strips.append(tuple(float(x) for x in np.average(vals, axis=0, weights=wts)))
    if not strips:
        return Registration((float(int_dy), float(int_dx)), (0.0, 0.0), 0.0, False, method,
                            0.0, "overlap too small to refine the shift", shape)
    sarr = np.asarray(strips)
    ncc = float(np.median(sarr[:, 3]))
    # bands far below the typical correlation (e.g. a scar-ridden band) are left out
    strips = [s for s in strips if s[3] >= 0.5 * ncc] or strips
    sarr = np.asarray(strips)
    gdy, gdx = float(np.mean(sarr[:, 1])), float(np.mean(sarr[:, 2]))
    drift, shift, scatter = (0.0, 0.0), (gdy, gdx), 0.0
    if len(strips) >= 3:
        drift, shift, scatter = _fit_drift(strips, rows, (gdy, gdx))

    overlap = _overlap_fraction(Registration(shift, drift, 0.0, False, "", 0.0, "", shape))
    distinct = _distinct(ratio)
    confidence = float(np.clip(ncc, 0.0, 1.0) * distinct)
    reasons = []
    if confidence < min_confidence:
        why = f"confidence {confidence:.2f} < {min_confidence:.2f} (overlap NCC {ncc:.2f}"
        if ratio > 1 - _DISTINCT_SPAN:
            why += (f"; a competing correlation peak near shift {alt} reaches "
                    f"{ratio:.0%} of the main peak: periodic or featureless images")
        reasons.append(why + ")")
    if overlap < min_overlap:
        reasons.append(f"overlap {overlap:.0%} < {min_overlap:.0%}")
    if scatter > max_strip_scatter:
        reasons.append(f"row bands disagree: {scatter:.2f} px RMS about the drift line "
                       f"(> {max_strip_scatter} px)")
    reg = Registration(
        shift=(float(shift[0]), float(shift[1])),
        drift_per_line=(float(drift[0]), float(drift[1])),
        confidence=confidence,
        trustworthy=not reasons,
        method=method,
        overlap=overlap,
        reason="; ".join(reasons),
        shape=(int(rows), int(cols)),
        ncc=ncc,
        peak_ratio=float(ratio),
        strips=strips,
        candidates=candidates,
        uncertainty_px=float(scatter) if math.isfinite(scatter) and scatter > 0 else 0.05,
    )
    logger.debug("registration: %s", reg.to_dict())
    return reg


def _local_maxima(surf: np.ndarray, n: int = 8) -> list[tuple[int, int, float]]:
    """The ``n`` highest local maxima (3 x 3 neighbourhood) of an NCC surface, best first."""
    s = np.where(np.isfinite(surf), surf, -np.inf)
    peaks = (s == ndi.maximum_filter(s, size=3, mode="constant", cval=-np.inf)) & np.isfinite(s)
    iy, ix = np.nonzero(peaks)
    order = np.argsort(s[iy, ix])[::-1][:n]
    return [(int(iy[k]), int(ix[k]), float(s[iy[k], ix[k]])) for k in order]


def _distinct(ratio: float) -> float:
    return float(np.clip((1.0 - ratio) / _DISTINCT_SPAN, 0.0, 1.0))


def _fit_drift(
    strips: list[tuple[float, float, float, float]], rows: int, glob: tuple[float, float],
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Robust straight-line fit of band displacements; returns drift, shift, RMS scatter."""
    if len(strips) < 3:
        return (0.0, 0.0), glob, 0.0
    s = np.asarray(strips, dtype=np.float64)
    t = s[:, 0] - (rows - 1) / 2.0
    keep = np.ones(len(s), bool)
    drift, shift, scatter = [0.0, 0.0], list(glob), 0.0
    for _ in range(3):  # iteratively drop outliers beyond 3 robust sigma
        if keep.sum() < 3:
            break
        design = np.column_stack([np.ones(keep.sum()), t[keep]])
        resid = np.zeros((len(s), 2))
        for k in (0, 1):
            coef, *_ = np.linalg.lstsq(design, s[keep, 1 + k], rcond=None)
            resid[:, k] = s[:, 1 + k] - (coef[0] + coef[1] * t)
        mad = 1.4826 * np.median(np.abs(resid[keep]), axis=0)
        new = np.all(np.abs(resid) <= np.maximum(3 * mad, 0.15), axis=1)
        if new.sum() < 3 or np.array_equal(new, keep):
            keep = new if new.sum() >= 3 else keep
            break
        keep = new
    design = np.column_stack([np.ones(keep.sum()), t[keep]])
    dof = max(int(keep.sum()) - 2, 1)
    scatters = []
    for k in (0, 1):
        y = s[keep, 1 + k]
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        res = y - design @ coef
        sigma2 = float(res @ res) / dof
        scatters.append(math.sqrt(sigma2))
        sxx = float(np.sum((t[keep] - t[keep].mean()) ** 2))
        se = math.sqrt(max(sigma2, (0.02) ** 2) / sxx) if sxx > 0 else float("inf")
        # significant: > 3 standard errors and > 0.25 px over the frame
        if abs(coef[1]) > 3 * se and abs(coef[1]) * rows > 0.25:
            drift[k] = float(coef[1])
            shift[k] = float(coef[0])
        else:
            drift[k] = 0.0
            shift[k] = glob[k]
    scatter = float(math.hypot(*scatters))
    # strips that were dropped as outliers also count as disagreement
    if keep.sum() < 0.6 * len(s):
        scatter = max(scatter, float("inf"))
    return (drift[0], drift[1]), (shift[0], shift[1]), scatter


def _source_coords(shape: tuple[int, int], reg: Registration) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = shape
    dy, dx = reg.displacement(np.arange(rows))
    sy = np.arange(rows, dtype=np.float64)[:, None] - dy[:, None]
    sx = np.arange(cols, dtype=np.float64)[None, :] - dx[:, None]
    return np.broadcast_to(sy, shape), np.broadcast_to(sx, shape)


def _inside(sy: np.ndarray, sx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    eps = 1e-6
    return (sy >= -eps) & (sy <= shape[0] - 1 + eps) & (sx >= -eps) & (sx <= shape[1] - 1 + eps)


def _overlap_fraction(reg: Registration) -> float:
    sy, sx = _source_coords(reg.shape, reg)
    return float(_inside(sy, sx, reg.shape).mean())


def _check_apply(image: Any, registration: Registration) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2:
        raise RegistrationError(f"apply_registration: expected a 2-D image, got {img.shape}")
    if registration.shape != (0, 0) and tuple(img.shape) != tuple(registration.shape):
        raise RegistrationError(
            f"apply_registration: image shape {img.shape} differs from the registered frame "
            f"{registration.shape}")
    return img


def apply_registration(
    image: np.ndarray,
    registration: Registration,
    *,
    log: bool = False,
    order: int = 1,
    cval: float = np.nan,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a moving-scan image into the reference frame.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
        Image of the moving scan (same shape as the reference frame).
    registration : Registration
        Result of :func:`register`; the per-row displacement is honoured.
    log : bool, optional
        Interpolate ``log10 |image|`` and return ``10**result`` (for current magnitudes in A,
        which span decades). Zeros/negatives become invalid.
    order : int, optional
        Spline order for :func:`scipy.ndimage.map_coordinates` (1 = bilinear).
    cval : float, optional
        Value written where the source lies outside the moving frame.

    Returns
    -------
    registered : ndarray of float64, shape (rows, cols)
        ``registered[r, c] = image[r - dy(r), c - dx(r)]``.
    valid : ndarray of bool, shape (rows, cols)
        False where the source falls outside the moving frame or the result is not finite.

    Raises
    ------
    RegistrationError
        If the image is not 2-D or its shape differs from the registered frame.
    """
    img = _check_apply(image, registration).astype(np.float64)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.abs(img)
            img = np.where(np.isfinite(a) & (a > 0), np.log10(a), np.nan)
    sy, sx = _source_coords(img.shape, registration)
    inside = _inside(sy, sx, img.shape)
    out = ndi.map_coordinates(img, [sy, sx], order=order, mode="nearest", prefilter=order > 1)
    if log:
        with np.errstate(over="ignore"):
            out = np.power(10.0, out)
    valid = inside & np.isfinite(out)
    return np.where(valid, out, cval), valid


def apply_registration_mask(mask: np.ndarray, registration: Registration) -> np.ndarray:
    """Resample a boolean mask of the moving scan into the reference frame (nearest neighbour).

    Parameters
    ----------
    mask : ndarray of bool, shape (rows, cols)
        Mask in the moving frame (True = valid), e.g. a log-amp floor/saturation mask.
    registration : Registration
        Result of :func:`register`.

    Returns
    -------
    ndarray of bool, shape (rows, cols)
        The mask in the reference frame; False outside the overlap.

    Raises
    ------
    RegistrationError
        If the mask is not 2-D or its shape differs from the registered frame.
    """
    m = _check_apply(mask, registration).astype(bool)
    if not m.any():  # e.g. no pixel at the log-amp floor: nothing to resample
        return np.zeros(m.shape, bool)
    sy, sx = _source_coords(m.shape, registration)
    inside = _inside(sy, sx, m.shape)
    iy = np.clip(np.rint(sy).astype(np.intp), 0, m.shape[0] - 1)
    ix = np.clip(np.rint(sx).astype(np.intp), 0, m.shape[1] - 1)
    return inside & m[iy, ix]
