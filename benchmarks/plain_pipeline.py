"""The yardstick of issue 12: the plain pipeline a student would write with scikit-image.

Exactly the steps the issue lists, nothing more:

1. load both ``.gwy`` files with ``gwyfile`` (height and log-amp channel of each);
2. plane leveling (least-squares plane) and row leveling (each row less its median) of both
   heights;
3. ``skimage.registration.phase_cross_correlation`` of the leveled heights with upsampling
   (``upsample_factor=20``: 0.05 px);
4. cubic ``scipy.ndimage.shift`` of the -V log-amp map into the +V frame;
5. per-pixel threshold rules: log-amp volts to amps, electronic current at +V from the -V current
   (ohmic), ionic current and fraction, the four classes with the thresholds of
   ``[classify]``;
6. ``skimage.measure.label`` + ``regionprops`` (area, centroid, mean ionic and electronic
   current of every domain of at least ``min_area_px`` pixels).

No uncertainty, no creep, no bounds: this is what afmcurrent's per-pair time is compared with
(``benchmarks/bench_speed.py``). ``plain_pair(..., timings=dict)`` records the time of each
step. Run it on its own to time it: ``python benchmarks/plain_pipeline.py PLUS.gwy MINUS.gwy``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import gwyfile
import gwyfile.util
import numpy as np
from scipy import ndimage
from skimage.measure import label, regionprops
from skimage.registration import phase_cross_correlation

# the defaults of afmcurrent's [logamp] preset "AD8304" and [classify] (absolute mode)
VOLTS_PER_DECADE = 0.2
REFERENCE_CURRENT = 1e-7
REFERENCE_VOLTAGE = 0.0
IONIC_FRACTION_MIN = 0.9
IONIC_CURRENT_MIN = 1e-13
SHUNT_CURRENT_MIN = 1e-12
UPSAMPLE = 20


def _fields(path: str) -> tuple[np.ndarray, np.ndarray]:
    fields = gwyfile.util.get_datafields(gwyfile.load(path))
    return fields["Height"].data, fields["Input1"].data


def _level(z: np.ndarray) -> np.ndarray:
    rows, cols = z.shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    a = np.column_stack([np.ones(z.size), xx.ravel(), yy.ravel()])
    coef = np.linalg.lstsq(a, z.ravel(), rcond=None)[0]
    z = z - (a @ coef).reshape(z.shape)
    return z - np.median(z, axis=1, keepdims=True)


def _amps(volts: np.ndarray) -> np.ndarray:
    return REFERENCE_CURRENT * 10.0 ** ((volts - REFERENCE_VOLTAGE) / VOLTS_PER_DECADE)


def plain_pair(plus: str, minus: str, bias_plus: float = 1.0, bias_minus: float = -1.0,
               min_area_px: int = 2, timings: dict[str, float] | None = None) -> dict[str, Any]:
    """The plain pipeline on one pair of ``.gwy`` files; returns the class map and regions."""
    t = [time.perf_counter()]
    hp, vp = _fields(plus)
    hm, vm = _fields(minus)
    t.append(time.perf_counter())
    lp, lm = _level(hp), _level(hm)
    t.append(time.perf_counter())
    shift, _, _ = phase_cross_correlation(lp, lm, upsample_factor=UPSAMPLE)
    t.append(time.perf_counter())
    vm_reg = ndimage.shift(vm, shift, order=3, mode="constant", cval=np.nan)
    t.append(time.perf_counter())
    ip = _amps(vp)
    ie = _amps(vm_reg) * abs(bias_plus / bias_minus)
    ion = np.clip(ip - ie, 0.0, None)
    frac = ion / ip
    ionic = frac >= IONIC_FRACTION_MIN
    cls = np.zeros(ip.shape, np.uint8)
    cls[ionic & (ion >= IONIC_CURRENT_MIN)] = 1
    cls[ionic & (ion < IONIC_CURRENT_MIN)] = 4
    cls[~ionic & (ie >= SHUNT_CURRENT_MIN)] = 3
    cls[~ionic & (ie < SHUNT_CURRENT_MIN)] = 2
    cls[~np.isfinite(ie)] = 0
    t.append(time.perf_counter())
    lab = label(cls, background=0, connectivity=1)
    regions = [
        {"class": int(cls[r.coords[0, 0], r.coords[0, 1]]), "area_px": r.area,
         "centroid": r.centroid, "mean_ionic_A": r.intensity_mean[0],
         "mean_electronic_A": r.intensity_mean[1]}
        for r in regionprops(lab, intensity_image=np.dstack([ion, ie]))
        if r.area >= min_area_px
    ]
    t.append(time.perf_counter())
    if timings is not None:
        for name, a, b in zip(("load", "level", "register", "shift", "classify", "domains"),
                              t[:-1], t[1:], strict=True):
            timings[name] = timings.get(name, 0.0) + (b - a)
    return {"shift": shift, "class_map": cls, "regions": regions}


if __name__ == "__main__":
    plus_path, minus_path = sys.argv[1:3]
    plain_pair(plus_path, minus_path)
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        plain_pair(plus_path, minus_path)
        times.append(time.perf_counter() - t0)
    print(f"plain pipeline: min {min(times) * 1e3:.1f} ms, median "
          f"{float(np.median(times)) * 1e3:.1f} ms")
