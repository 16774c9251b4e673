"""Speed and memory of the main job (issue 2 targets on a 2-core machine).

Prints:
- the numerical pipeline, loaded scans -> classes and domains, on a 512 x 512 pair
  (median of N runs; target <= 120 ms);
- the whole `afmcurrent analyze` command with figures on 512 x 512 Nanoscope files
  (median wall time of a fresh process; target <= 4 s);
- peak memory of `afmcurrent analyze --no-figures` on a 2048 x 2048 pair (target <= 2 GB).

Usage: python benchmarks/bench_pipeline.py [--runs N] [--skip-large]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from afmcurrent import analyze_pair
from afmcurrent.sim import simulate_pair, write_pair


def _child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--skip-large", action="store_true", help="skip the 2048 x 2048 case")
    args = ap.parse_args()

    pair = simulate_pair("degraded", seed=0, shape=(512, 512))
    analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)  # warm-up (imports, FFT plans)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
        times.append(time.perf_counter() - t)
    print(f"pipeline 512x512 (loaded scans -> classes, domains): median "
          f"{statistics.median(times) * 1e3:.0f} ms, min {min(times) * 1e3:.0f} ms "
          f"over {args.runs} runs (target <= 120 ms)")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = write_pair(tmp / "pair", pair, prefix="bench")
        cmd_times = []
        for i in range(5):
            out = tmp / f"out{i}"
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "afmcurrent", "-q", "analyze", str(paths["plus"]),
                 str(paths["minus"]), "-o", str(out)], check=True, capture_output=True)
            cmd_times.append(time.perf_counter() - t)
        print(f"afmcurrent analyze 512x512 with figures: median "
              f"{statistics.median(cmd_times):.2f} s, min {min(cmd_times):.2f} s "
              f"(fresh process each, target <= 4 s)")

        if not args.skip_large:
            big = simulate_pair("degraded", seed=1, shape=(2048, 2048))
            bpaths = write_pair(tmp / "big", big, prefix="big")
            del big
            code = (
                "import resource, sys\n"
                "from afmcurrent.cli import main\n"
                f"rc = main(['-q', 'analyze', {str(bpaths['plus'])!r}, {str(bpaths['minus'])!r},"
                f" '-o', {str(tmp / 'bigout')!r}])\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)\n"
                "sys.exit(rc)\n"
            )
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                               text=True)
            peak = float(r.stdout.strip().splitlines()[-1])
            print(f"afmcurrent analyze 2048x2048 with figures: {time.perf_counter() - t:.1f} s, "
                  f"peak RSS {peak:.0f} MB (target <= 2048 MB)")


if __name__ == "__main__":
    main()
