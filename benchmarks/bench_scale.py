"""Peak memory and time of one large pair (issue 12, item 4: 2048 x 2048 within 1 GB).

A simulated degraded pair of ``--size`` (default 2048) is written as two ``.gwy`` files; a fresh
child process then runs ``analyze_pair`` from the files and ``write_result`` as a batch writes it
(compact ``result.h5``, no ``result.gwy``, no figures), and reports its peak RSS
(``VmHWM`` of ``/proc/self/status``, Linux: the whole process, Python and libraries
included; ``ru_maxrss`` would carry the parent's size over the exec) and its times.
``--gwy`` also writes ``result.gwy`` (as ``analyze`` does).

Usage: python benchmarks/bench_scale.py [--size 2048] [--gwy]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from afmcurrent import analyze_pair


def hwm_kb():  # this process's peak RSS (VmHWM: reset at exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


from afmcurrent.outputs.writers import write_result
plus, minus, cal, out, gwy = sys.argv[1:6]
base = hwm_kb()
t = time.perf_counter()
r = analyze_pair(plus, minus, logamp=cal)
t_an = time.perf_counter() - t
peak_an = hwm_kb()
t = time.perf_counter()
write_result(r, out, figures=False, gwy=gwy == "1", compact=gwy != "1")
t_wr = time.perf_counter() - t
peak = hwm_kb()
print(json.dumps({"base_kb": base, "peak_analyze_kb": peak_an, "peak_kb": peak,
                  "analyze_s": t_an, "write_s": t_wr, "timings": r.timings}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--gwy", action="store_true", help="write result.gwy, uncompressed h5")
    args = ap.parse_args()
    from afmcurrent.io.gwy import write_gwy
    from afmcurrent.sim import simulate_pair

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        pair = simulate_pair("degraded", seed=7, shape=(args.size, args.size))
        plus, minus, cal = tmp / "plus.gwy", tmp / "minus.gwy", tmp / "logamp.toml"
        write_gwy(plus, pair.plus)
        write_gwy(minus, pair.minus)
        cal.write_text(pair.calibration.to_toml())
        del pair
        print(f"simulated {args.size} x {args.size} pair in {time.perf_counter() - t:.0f} s",
              flush=True)
        r = subprocess.run([sys.executable, "-c", CHILD, str(plus), str(minus), str(cal),
                            str(tmp / "out"), "1" if args.gwy else "0"],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        d = json.loads(r.stdout.strip().splitlines()[-1])
        size = sum(f.stat().st_size for f in (tmp / "out").iterdir()) / 1e6
    peak = d["peak_kb"] / 1024
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.size} x {args.size} pair, analyze_pair + write_result "
          f"({'with result.gwy' if args.gwy else 'as a batch: compact result.h5, no .gwy'}): "
          f"peak RSS {peak:.0f} MiB = {peak * 1.048576:.0f} MB (target < 1 GB: "
          f"{'met' if peak * 1.048576 < 1000 else 'MISSED'}, < 1 GiB: "
          f"{'met' if peak < 1024 else 'MISSED'}); after imports {d['base_kb'] / 1024:.0f} "
          f"MiB, after analyze_pair {d['peak_analyze_kb'] / 1024:.0f} MiB; analyze "
          f"{d['analyze_s']:.1f} s, write "
          f"{d['write_s']:.1f} s, outputs {size:.0f} MB; load {load}")
    print("  stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in d["timings"].items()))


if __name__ == "__main__":
    main()
