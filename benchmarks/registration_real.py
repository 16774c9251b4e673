"""Registration on real consecutive scans against band-wise optima computed independently.

Pairs (``data_samples/real``): the PZT grains pair (Asylum Cypher, 256 x 256, not periodic)
and the Bruker grating pair (periodic; registered with the prior ``expected_shift=(28, 0)``).

For bands of 32 rows (every 16 rows), the displacement that maximises the NCC between the
reference band and the moving image is found independently of afmcurrent's code: the moving
image is resampled with cubic splines (``scipy.ndimage.map_coordinates``) on a 0.5 px grid,
then a 0.1 px grid around the best node, for three definitions of the band NCC:

* ``two-way``: every row mean and every column mean of both windows removed (as afmcurrent
  does, to be insensitive to line offsets, tilt and bow that differ between the scans);
* ``rows``: row means removed (line offsets only);
* ``plain``: the band mean removed;

and with ``skimage.registration.phase_cross_correlation`` (upsampling 20) on the band and the
moving band at the integer estimate. Printed: RMS (Euclidean) of the difference between the
band mean of ``Registration.row_displacement`` and each reference, and between the references.

Which reference is the right one. Two scans of a real instrument differ by more than the
displacement: every line has its own offset (the feedback's z at the line start), and the
tilt and bow along the fast axis differ between the scans and change down the frame (thermal
z drift, the scanner's bow with the slow-axis position). A band optimum that does not remove
them is pulled by them: with row means alone ("rows") or the band mean alone ("plain"), a
column profile that differs between the scans correlates with the texture and moves the
optimum (on the PZT pair the definitions differ by ~0.5 px, mostly in dx). The two-way
centring removes every row mean (line offsets) and every column mean of the band (the fast-
axis profile, allowed to change from band to band), which are the nuisances of a scan with
line offsets, and nothing that a displacement could produce (a displacement moves texture, not
a whole column or row by a constant), so it is the reference the target is held against.
Phase correlation whitens the spectrum and weights the noise-dominated high frequencies as
much as the texture: on these smooth, scarred images it is the least reliable reference.
The registration's own nuisances are the same in kind (per-row offset, tilt and contrast;
column profiles over blocks of 32 rows), estimated jointly with a smooth curve instead of a
constant per band, so it is not the reference's computation.

Run: ``python benchmarks/registration_real.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.registration import phase_cross_correlation

from afmcurrent.io import load_scan
from afmcurrent.pair.level import level_topography
from afmcurrent.pair.registration import register

DATA = Path(__file__).resolve().parents[1] / "data_samples" / "real"


def _ncc(x: np.ndarray, y: np.ndarray, mode: str) -> float:
    x, y = x - x.mean(), y - y.mean()
    if mode in ("rows", "two-way"):
        x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    if mode == "two-way":
        x, y = x - x.mean(axis=0, keepdims=True), y - y.mean(axis=0, keepdims=True)
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def _optimum(a, b, r0, h, est, mode, margin=12):
    rows, cols = a.shape
    rr = np.arange(r0, r0 + h, dtype=float)
    cc = np.arange(margin, cols - margin, dtype=float)
    tmpl = a[r0:r0 + h, margin:cols - margin]

    def score(dy, dx):
        yy, xx = np.meshgrid(rr - dy, cc - dx, indexing="ij")
        return _ncc(tmpl, ndi.map_coordinates(b, [yy, xx], order=3, mode="nearest"), mode)

    best = max(((score(dy, dx), dy, dx) for dy, dx in itertools.product(
        np.arange(est[0] - 2, est[0] + 2.01, 0.5), np.arange(est[1] - 2, est[1] + 2.01, 0.5))))
    _, by, bx = best
    best = max(((score(dy, dx), dy, dx) for dy, dx in itertools.product(
        np.arange(by - 0.5, by + 0.51, 0.1), np.arange(bx - 0.5, bx + 0.51, 0.1))))
    return best[1], best[2]


def compare(name: str, a: np.ndarray, b: np.ndarray, **kw) -> None:
    reg = register(a, b, **kw)
    la, lb = level_topography(a), level_topography(b)
    rows, cols = a.shape
    h = 32
    out = []
    for r0 in range(8, rows - h - 8, h // 2):
        est = reg.row_displacement[r0:r0 + h].mean(axis=0)
        cy, cx = (int(round(v)) for v in est)
        src = np.arange(r0, r0 + h) - cy
        if src.min() < 0 or src.max() >= rows:
            continue
        refs = {m: _optimum(la, lb, r0, h, est, m) for m in ("two-way", "rows", "plain")}
        x0, x1 = max(0, cx) + 8, min(cols, cols + cx) - 8
        sh, _, _ = phase_cross_correlation(la[r0:r0 + h, x0:x1], lb[src][:, x0 - cx:x1 - cx],
                                           upsample_factor=20, normalization=None)
        refs["phase correlation"] = (cy - sh[0], cx - sh[1])
        out.append((est, refs))
    print(f"\n== {name}: trustworthy={reg.trustworthy} method={reg.method} "
          f"confidence={reg.confidence:.2f} uncertainty={reg.uncertainty_px:.3f} px "
          f"(rows not registered: {reg.rows_not_registered()}), "
          f"shift {np.round(reg.shift, 2)}, curve range dy {np.ptp(reg.row_displacement[:, 0]):.2f}"
          f" px, dx {np.ptp(reg.row_displacement[:, 1]):.2f} px, {len(out)} bands")
    est = np.array([e for e, _ in out])
    names = list(out[0][1])
    refs = {m: np.array([r[m] for _, r in out]) for m in names}

    def rms(u, v):
        return float(np.sqrt(np.mean(np.sum((u - v) ** 2, axis=1))))

    for m in names:
        d = np.sqrt(np.mean((refs[m] - est) ** 2, axis=0))
        target = "; target <= 0.5 px" if m == "two-way" else ""
        print(f"  curve vs {m:18s}: RMS {rms(refs[m], est):.3f} px (dy {d[0]:.3f}, "
              f"dx {d[1]:.3f}{target}; references on a 0.1 px grid)")
    for m1, m2 in itertools.combinations(names, 2):
        print(f"  {m1} vs {m2}: RMS {rms(refs[m1], refs[m2]):.3f} px")


def main() -> None:
    pzt = [load_scan(DATA / f"asylum_PFM_PZT_thick000{n}_height.gwy").channel("HeightRetrace").data
           for n in (4, 6)]
    compare("PZT grains (asylum_PFM_PZT_thick0004/0006)", *pzt)
    grating = [load_scan(DATA / f"old_bruker.00{n}").channel("Height").data for n in (2, 4)]
    compare("grating (old_bruker.002/.004, expected_shift=(28, 0))", *grating,
            expected_shift=(28.0, 0.0), search_radius=4.0)


if __name__ == "__main__":
    main()
