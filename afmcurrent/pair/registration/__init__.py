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
1. Heights are used with each row's mean removed (line offsets) and a common scale; currents
   as the edge strength of ``log10 |I|`` (domain boundaries: type-1 domains are bright at +V
   and dark at -V, so the current maps themselves may be anti-correlated).
2. Whole frame, coarse pyramid level (~128 px, each level leveled): the normalized
   cross-correlation (NCC) for every integer shift within ``max_shift_fraction`` of the frame
   (Padfield, IEEE Trans. Image Process. 21 (2012) 2706). Its peak is the starting
   displacement; a competing peak of similar height (a periodic lattice, a featureless image)
   makes the result ambiguous, and the distance to the nearest strong competitor bounds how
   far the rows may wander from it.
3. From there, coarse to fine (pyramid levels 8, 4, 2, 1 at 512 px), the displacement curve,
   a cubic B-spline of the reference row (knots every 16 rows), is refined by penalized
   Gauss-Newton steps on the whole images (``_flow``): the moving image is resampled row by
   row, and every reference row gives a 2 x 2 normal matrix for the increment of its
   displacement from sums over its pixels. Per row, the line offset, the tilt along the fast
   axis and the contrast are nuisance parameters projected out; the column profiles of the
   residual and the gradients over blocks of 32 rows are removed as well (the two-way
   centring of a band: bow and tilt that differ between the scans). The normal matrix is
   formed from the gradients of both images (instrumental variables), whose noises are
   independent, so image noise does not shrink the steps, and rows are weighted by their
   information ``H V^-1 H``. The smoothing parameter of the second-difference penalty (relaxed
   towards the ends of the data, where creep settles) is chosen by generalized cross-
   validation over blocks of 8 rows. Rows that correlate far less than the others (scars, a
   tip change) and their neighbours are left out. The height is used first; where its rows
   are featureless, the current's edges, never an average of the two.
4. Uncertainty per row: the Bayesian posterior of the spline (Wahba 1983) scaled by the
   scatter of the row blocks about the curve, calibrated against independent truth per
   channel (``benchmarks/registration_accuracy.py``, tuning seeds). Near the ends of the
   data, where creep is steepest (the moving scan's first lines after the slow axis steps
   back) and the spline may be too stiff to follow, the rows' own optima are compared with
   the curve: a misfit beyond their noise is a bias the posterior does not hold and is added
   to the uncertainty (``_flow.misfit_bias``). Rows whose 1-sigma error
   exceeds ``max_row_uncertainty`` (0.4 px) are not registered: ``row_uncertainty`` is
   ``inf`` there and every resampled map is masked. ``uncertainty_px`` is the median over
   the registered overlap rows. Confidence = whole-frame peak distinctness x share of the
   overlap rows registered (full at 90 %) x ``1 / (1 + (sigma_90 / 0.5 px)^2)``. Not
   trustworthy: confidence below ``min_confidence``, too few rows that correlate, or too
   small a (registered) overlap.

Limits. Where the height is featureless, only the domain boundaries are common to the two
current maps (each map also has a texture of its own, and a boundary's contrast differs
between the biases), and smooth boundaries fix the displacement to a few tenths of a px at
best (the benchmark's simulated featureless pairs, tuning seeds: the refinement started at the
truth ends with a median row error of 0.07-0.37 px per pair; 0.06-0.17 px after a registration
of the same pairs without the maps' own textures). Rows not fixed to
``max_row_uncertainty`` are masked; when they are most of the overlap the pair is refused
with that reason (``--force-registration`` keeps the registered rows, ``--shift`` gives the
centre-row displacement).
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
