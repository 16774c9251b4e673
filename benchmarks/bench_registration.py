"""Benchmark of afmcurrent.pair.registration.register on a 512 x 512 pair (median wall time).

Run: ``python benchmarks/bench_registration.py [--size 512] [--repeat 30] [--current]``.
The pair is a smooth random surface cut twice with a sub-pixel shift and a slow-axis drift.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage as ndi

from afmcurrent.pair.registration import apply_registration, register


def make_pair(size: int, seed: int = 0):
    """Reference and moving height images (m) with shift (7.3, -4.6) px, drift 0.003 px/row."""
    rng = np.random.default_rng(seed)
    canvas = ndi.gaussian_filter(rng.normal(size=(size + 80, size + 80)), 4.0) * 1e-9
    r = np.arange(size, dtype=float)[:, None]
    c = np.arange(size, dtype=float)[None, :]
    dy = 7.3 + 0.003 * (r - (size - 1) / 2)
    shape = (size, size)
    coords = [np.broadcast_to(40 + r + dy, shape), np.broadcast_to(40 + c - 4.6, shape)]
    return canvas[40:40 + size, 40:40 + size], ndi.map_coordinates(canvas, coords, order=3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--current", action="store_true", help="also pass current maps")
    args = ap.parse_args()
    ref, mov = make_pair(args.size)
    cur = (10 ** (ref * 1e9 - 12), 10 ** (mov * 1e9 - 12)) if args.current else (None, None)
    register(ref, mov, *cur)  # warm-up
    times, times_apply = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        reg = register(ref, mov, *cur)
        t1 = time.perf_counter()
        apply_registration(mov, reg)
        times.append((t1 - t0) * 1e3)
        times_apply.append((time.perf_counter() - t1) * 1e3)
    print(f"register {args.size}x{args.size}{' +current' if args.current else ''}: "
          f"median {statistics.median(times):.1f} ms (min {min(times):.1f}, n={args.repeat}); "
          f"apply_registration median {statistics.median(times_apply):.1f} ms")
    print("result:", reg.to_dict())


if __name__ == "__main__":
    main()
