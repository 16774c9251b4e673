"""Per-pair speed of ``analyze_pair`` against the plain scikit-image pipeline (issue 12, items 1
and 5).

In one process, interleaved (ours, plain, ours, plain, ...), with the same thread setting for
both (``--threads``, default 1 through ``threadpoolctl.threadpool_limits``):

- ``analyze_pair`` from two 512 x 512 ``.gwy`` files (a simulated degraded pair written with
  ``afmcurrent.io.write_gwy``: height + log-amplifier volts), file loading included, and the
  plain pipeline of ``benchmarks/plain_pipeline.py`` on the same files: min and median of the
  repeats, their ratio (target <= 0.5), and the per-stage profile of both (mean over the
  repeats, from ``PairResult.timings``);
- ``analyze_pair`` from two 256 x 256 ``.gwy`` files (the live preview; target < 40 ms);
- the explicit correlation step (``PairResult.correlation``, which ``write_result`` runs) on
  the 512 x 512 result, for the batch budget.

The load average (``os.getloadavg``) is printed beside every figure: the machine is shared.

Usage: python benchmarks/bench_speed.py [--repeats 15] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plain_pipeline import plain_pair  # noqa: E402

from afmcurrent import analyze_pair  # noqa: E402
from afmcurrent.io.gwy import write_gwy  # noqa: E402
from afmcurrent.pair.result import PairResult  # noqa: E402
from afmcurrent.sim import simulate_pair  # noqa: E402

STAGES = ("load", "logamp", "register", "transport", "classify", "level", "domains",
          "optical", "medians")


def make_gwy_pair(folder: Path, size: int, seed: int) -> tuple[Path, Path, Path]:
    """A simulated degraded pair as two .gwy files and its logamp.toml."""
    pair = simulate_pair("degraded", seed=seed, shape=(size, size))
    folder.mkdir(parents=True, exist_ok=True)
    plus, minus, cal = folder / "plus.gwy", folder / "minus.gwy", folder / "logamp.toml"
    write_gwy(plus, pair.plus, overwrite=True)
    write_gwy(minus, pair.minus, overwrite=True)
    cal.write_text(pair.calibration.to_toml())
    return plus, minus, cal


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def ms(values: list[float]) -> str:
    return f"min {min(values) * 1e3:6.1f} ms, median {statistics.median(values) * 1e3:6.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS / FFT threads for both pipelines (default 1; 0: library default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    limit = None if args.threads == 0 else args.threads
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limit):
        tmp = Path(tmp)
        p512, m512, c512 = make_gwy_pair(tmp / "512", 512, args.seed)
        p256, m256, c256 = make_gwy_pair(tmp / "256", 256, args.seed)
        ours_kw = {"logamp": str(c512)}
        # warm-up: imports, FFT plans, caches
        analyze_pair(p512, m512, **ours_kw)
        plain_pair(str(p512), str(m512))
        analyze_pair(p256, m256, logamp=str(c256))
        ours, plain, preview, corr = [], [], [], []
        stages: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        plain_stages: dict[str, float] = {}
        result: PairResult | None = None
        load_before = load()
        for _ in range(args.repeats):
            t = time.perf_counter()
            result = analyze_pair(p512, m512, **ours_kw)
            ours.append(time.perf_counter() - t)
            for k, v in result.timings.items():
                stages[k] = stages.get(k, 0.0) + v
            t = time.perf_counter()
            plain_pair(str(p512), str(m512), timings=plain_stages)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            analyze_pair(p256, m256, logamp=str(c256))
            preview.append(time.perf_counter() - t)
            t = time.perf_counter()
            result.correlation  # noqa: B018  (the explicit step write_result runs)
            corr.append(time.perf_counter() - t)
        load_after = load()
    n = args.repeats
    threads = "1 thread (threadpool_limits(1))" if limit == 1 else (
        "library default threads" if limit is None else f"{limit} threads")
    print(f"per pair, 512 x 512 .gwy pair, file loading included, {threads}, {n} interleaved "
          f"repeats; {load_before} -> {load_after}")
    print(f"  afmcurrent analyze_pair : {ms(ours)}")
    print(f"  plain pipeline          : {ms(plain)}")
    r_min = min(ours) / min(plain)
    r_med = statistics.median(ours) / statistics.median(plain)
    print(f"  ratio ours / plain      : {r_min:.2f} (min), {r_med:.2f} (median)   "
          f"(target <= 0.50: {'met' if r_med <= 0.5 else 'MISSED'})")
    print("  stages of analyze_pair (mean ms): " + ", ".join(
        f"{k} {v / n * 1e3:.1f}" for k, v in stages.items() if v > 0))
    print("  stages of the plain pipeline (mean ms): " + ", ".join(
        f"{k} {v / n * 1e3:.1f}" for k, v in plain_stages.items()))
    print(f"  correlation step (PairResult.correlation, run by write_result): {ms(corr)}")
    print(f"live preview, analyze_pair on a 256 x 256 .gwy pair: {ms(preview)}   "
          f"(target < 40 ms: {'met' if statistics.median(preview) < 0.040 else 'MISSED'})")


if __name__ == "__main__":
    main()
