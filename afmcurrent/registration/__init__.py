"""Co-registration of the -V scan onto the +V scan, row by row (creep and drift).

Convention (``docs/architecture.md``): the +V scan is the reference. The displacement of the
moving (-V) scan at reference row ``r`` is ``(dy(r), dx(r))`` in px:
``reference[r, c] ~ moving[r - dy(r), c - dx(r)]``; for a constant displacement this is
``scipy.ndimage.shift(moving, (dy, dx))``. Real consecutive scans displace by a different
amount from one row band to the next (piezo creep that settles after the frame start, thermal
drift), so the displacement is a smooth curve over the rows; a linear drift is the special
case ``d(r) = shift + drift_per_line * (r - (rows - 1) / 2)``.

Method
------
1. Both heights are leveled (plane, median line offsets, bow along the fast axis); current
   maps are used as the edge strength of ``log10 |I|`` (domain boundaries: type-1 domains are
   bright at +V and dark at -V, so the current maps themselves may be anti-correlated).
2. Whole frame, coarse pyramid level (~128 px): the masked normalized cross-correlation
   (NCC) over the overlap for every integer shift within ``max_shift_fraction`` of the frame
   (Padfield, IEEE Trans. Image Process. 21 (2012) 2706). Its peak is the starting
   displacement; a competing peak of similar height (a periodic lattice, a featureless image)
   makes the result ambiguous, and the distance to the nearest strong competitor bounds how
   far the bands may wander.
3. Overlapping bands of reference rows (rows / 16 high, half overlapping), intermediate
   pyramid level (~256 px): each band's NCC is computed for every displacement within the
   creep range at once (batched FFT). Each band's estimate is weighted by its precision: the
   Cramer-Rao form ``rho n kappa / (1 - rho)`` (peak NCC, pixels, peak curvature) times how
   distinct its peak is. The height is used first; a band whose height is featureless uses
   the current instead; the two are never averaged.
4. A robust penalized cubic spline (P-spline, smoothing chosen by generalized
   cross-validation, Tukey biweight) through the band estimates gives the curve; bands that
   disagree with it are rejected as outliers.
5. Full resolution: the moving image is resampled with the curve, every band re-matched at
   the integer offsets around zero (NCC from per-row sums, sub-pixel vertex of a 2-D
   quadratic), and the smoothed residuals added; three times.
6. Confidence = median band NCC x peak distinctness x ``1 / (1 + (sigma / 0.2 px)^2)`` with
   ``sigma`` the curve's 1-sigma uncertainty (from the spline fit's covariance and the
   scatter of the band residuals). Not trustworthy: confidence below ``min_confidence``, too
   few bands agreeing with a smooth curve, or too small an overlap.
"""

from ._model import Registration
from ._ncc import masked_ncc_surface
from ._register import register
from ._resample import apply_registration, apply_registration_mask

__all__ = [
    "Registration",
    "register",
    "apply_registration",
    "apply_registration_mask",
    "masked_ncc_surface",
]
