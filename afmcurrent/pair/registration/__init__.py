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
1. Both heights are leveled (line offsets, tilt and bow along the fast axis); current maps are
   used as the edge strength of ``log10 |I|`` (domain boundaries: type-1 domains are bright at
   +V and dark at -V, so the current maps themselves may be anti-correlated).
2. Whole frame, coarse pyramid level (~128 px): the masked normalized cross-correlation (NCC)
   over the overlap for every integer shift within ``max_shift_fraction`` of the frame
   (Padfield, IEEE Trans. Image Process. 21 (2012) 2706). Its peak is the starting
   displacement; a competing peak of similar height (a periodic lattice, a featureless image)
   makes the result ambiguous, and the distance to the nearest strong competitor bounds how
   far the bands may wander.
3. Overlapping bands of reference rows (rows / 16 high, half overlapping), same level: each
   band's NCC for every displacement within the creep range at once (batched FFT). Every row
   mean and every column mean of both windows is removed first (two-way centring), so line
   offsets, tilt and bow, which differ between two scans, do not bias the peak. Each band is
   weighted by its precision, ``rho n kappa / (1 - rho)`` (peak NCC, pixels, peak curvature:
   the Cramer-Rao form of a correlation shift estimate) times how distinct its peak is. The
   height is used first; a band whose height is featureless uses the current instead; the two
   are never averaged.
4. A robust penalized cubic spline (P-spline, Eilers & Marx 1996; smoothing chosen by
   generalized cross-validation; Tukey biweight) through the band estimates gives the curve;
   a band measures the information-weighted mean of the curve over its rows; bands that
   disagree with the curve are rejected as outliers, not a reason to refuse.
5. Finer levels down to full resolution: the moving image is resampled row by row with the
   curve, every band re-matched at the integer offsets around zero (NCC from per-row sums,
   sub-pixel vertex of a 2-D quadratic; bands of 32, 16 and, near the frame ends, 8 rows),
   rows that do not correlate at all (scars, a tip change) left out, and the smoothed
   residuals added; twice at full resolution. The current's edges, noisier at full
   resolution, are re-matched down to half resolution only.
6. Uncertainty per row from the spline's covariance, scaled for the overlap of the bands and
   calibrated against independent truth (``benchmarks/registration_accuracy.py``, tuning
   seeds); ``uncertainty_px`` is its median over the overlap rows. Confidence = whole-frame
   peak distinctness x share of agreeing bands x ``1 / (1 + (sigma_90 / 0.5 px)^2)`` with
   ``sigma_90`` the 90th percentile of the row uncertainty. Not trustworthy: confidence below
   ``min_confidence``, too few bands agreeing with a smooth curve, or too small an overlap.
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
