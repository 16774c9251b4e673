"""Throughput and memory of `afmcurrent batch` on simulated 512 x 512 pairs (issue 3 targets).

Prints pairs per second for --workers 1, --workers 2 and a 2-worker Dask LocalCluster, with and
without figures (target: >= 10 pairs/s with 2 workers and no figures on a 2-core machine), and
the peak memory summed over all processes of a large run (target: 1000 pairs under 1.5 GB),
sampled every 50 ms with psutil.

The large run lists the same few input pairs many times in a manifest (distinct output folders),
so its disk use is the outputs only (~25 MB per 512 x 512 pair): check free disk first.

The throughput runs list 20 distinct simulated pairs as many times as needed (the inputs are
read from the page cache either way; every listed pair is analysed and written).

Usage: python benchmarks/bench_batch.py [--pairs 200] [--figure-pairs 20] [--large 1000]
       [--skip-dask]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from afmcurrent.sim import simulate_pair, write_pair


class PeakRSS:
    """Samples the summed RSS of a process tree in a background thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._t.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(interval)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak / 2**20


def make_set(root: Path, n_distinct: int, repeats: int) -> Path:
    rows = []
    for i in range(n_distinct):
        pair = simulate_pair(("degraded", "pristine", "coated")[i % 3], seed=i, shape=(512, 512))
        paths = write_pair(root / f"p{i}", pair, prefix=f"s{i}")
        rows.append((paths["plus"].relative_to(root), paths["minus"].relative_to(root)))
    man = root / f"pairs_{repeats}.csv"
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["plus", "minus", "sample", "group"])
        for _ in range(repeats):
            for j, (p, m) in enumerate(rows):
                w.writerow([p, m, f"sample{j % 3}", f"group{j % 2}"])
    # distinct names: rows repeat the same +V file, read_manifest numbers the repeats
    return man


def run(cmd: list[str]) -> tuple[float, float]:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mon = PeakRSS(proc.pid)
    _, err = proc.communicate()
    peak = mon.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return time.perf_counter() - t, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=200,
                    help="pairs in the throughput runs without figures (default 200)")
    ap.add_argument("--figure-pairs", type=int, default=20,
                    help="pairs in the runs with figures (default 20; 0: skip)")
    ap.add_argument("--large", type=int, default=1000, help="pairs in the memory run (0: skip)")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "afmcurrent", "-q", "batch"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        distinct = min(20, args.pairs)
        man = make_set(tmp / "in", distinct, max(1, args.pairs // distinct))
        n_pairs = distinct * max(1, args.pairs // distinct)
        fig_man = make_set(tmp / "fig", distinct, 1) if args.figure_pairs else None
        cases = [("--workers 1", "1"), ("--workers 2", "2")]
        if not args.skip_dask:
            cases.append(("Dask LocalCluster, 2 workers (Dask's default malloc settings)",
                          "dask"))
            cases.append(("Dask LocalCluster, 2 workers, MALLOC_TRIM_THRESHOLD_=256 MB",
                          "dask-tuned"))
        runs = [(False, man, n_pairs)]
        if fig_man is not None:
            runs.append((True, fig_man, distinct))
        for figures, manifest, n in runs:
            for label, how in cases:
                out = tmp / "out"
                shutil.rmtree(out, ignore_errors=True)
                flags = [] if figures else ["--no-figures"]
                cmd = [*exe, "--manifest", str(manifest), "-o", str(out), *flags]
                if how.startswith("dask"):
                    # the cluster exists only for its own runs (its processes are not counted
                    # in the peak RSS)
                    import dask
                    from dask.distributed import LocalCluster

                    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
                    if how == "dask-tuned":
                        # Dask's default (64 kB) gives every freed map back to the kernel:
                        # ~190 000 page faults per 512 x 512 pair in a worker thread
                        environ.update(MALLOC_TRIM_THRESHOLD_=256 << 20,
                                       MALLOC_MMAP_THRESHOLD_=32 << 20)
                    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
                            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None) as cluster:
                        secs, peak = run([*cmd, "--scheduler", cluster.scheduler_address])
                else:
                    secs, peak = run([*cmd, "--workers", how])
                print(f"{n} pairs 512x512, {label}, "
                      f"{'with' if figures else 'no'} figures: {secs:.1f} s = "
                      f"{n / secs:.1f} pairs/s (whole command, incl. start-up and "
                      f"pooled model), peak RSS {peak:.0f} MB", flush=True)
        shutil.rmtree(tmp / "out", ignore_errors=True)
        if args.large:
            reps = max(1, args.large // 10)
            man = make_set(tmp / "big", 10, reps)
            out = tmp / "bigout"
            secs, peak = run([*exe, "--manifest", str(man), "-o", str(out), "--workers", "2",
                              "--no-figures"])
            print(f"{10 * reps} pairs 512x512, --workers 2, no figures: {secs:.0f} s "
                  f"({10 * reps / secs:.1f} pairs/s), peak RSS of all processes {peak:.0f} MB "
                  f"(target < 1536 MB)")


if __name__ == "__main__":
    main()
