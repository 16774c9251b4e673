"""Throughput, output size and memory of `afmcurrent batch` (issue 12 targets, items 2-4).

Every figure is printed beside its target, with the load average (the machine may be shared:
compare same-run ratios, and repeat when the load is low):

- ``--workers 2``, no figures (the default), on ``--pairs`` (default 48) DISTINCT simulated
  512 x 512 pairs written as ``.gwy`` files: pairs/s of the whole command (start-up, pooled fit
  and pooled pass included; target >= 10), CPU seconds per pair, and the output size per pair
  (mean and largest; target <= 4 MB);
- the plain scikit-image pipeline (``benchmarks/plain_pipeline.py``) over the same files in a
  2-process ``multiprocessing`` pool (it writes nothing): afmcurrent's batch must be faster;
- a 2-worker Dask ``LocalCluster`` (``--scheduler``) on the same pairs: its throughput against
  the local pool's (target >= 80 %);
- memory over a long run (``--long``, default 240 pairs: the distinct pairs listed again under
  other names, all analysed and written): the summed RSS of the batch's processes sampled
  every 50 ms against the number of pairs done; target: no growth after the first 50 pairs
  (peak after pair 50 at most 5 % above the peak up to pair 50).

Usage: python benchmarks/bench_batch.py [--pairs 48] [--long 240] [--skip-dask]
       [--skip-plain] [--figures]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plain_pipeline import plain_pair  # noqa: E402

from afmcurrent.io.gwy import write_gwy  # noqa: E402
from afmcurrent.sim import simulate_pair  # noqa: E402

SIZE = 512


def load() -> str:
    return "load " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


class Monitor:
    """Samples the summed RSS of a process tree and the number of finished pair folders."""

    def __init__(self, pid: int, pairs_dir: Path | None = None, interval: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.pairs_dir = pairs_dir
        self.samples: list[tuple[int, int]] = []  # (pairs done, RSS bytes)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._t.start()

    def _done(self) -> int:
        if self.pairs_dir is None or not self.pairs_dir.is_dir():
            return 0
        return sum(1 for e in os.scandir(self.pairs_dir) if not e.name.startswith("."))

    def _run(self, interval: float) -> None:
        tick = 0
        done = 0
        while not self._stop.is_set():
            try:
                total = 0
                for p in [self.proc, *self.proc.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            if tick % 10 == 0:  # counting folders costs more than the RSS
                done = self._done()
            self.samples.append((done, total))
            tick += 1
            time.sleep(interval)

    def stop(self) -> list[tuple[int, int]]:
        self._stop.set()
        self._t.join()
        return self.samples


def make_set(root: Path, n: int) -> list[tuple[Path, Path]]:
    """``n`` distinct simulated pairs (presets in turn, one seed each) as .gwy files with a
    logamp.toml beside each +V file."""
    files = []
    for i in range(n):
        pair = simulate_pair(("degraded", "pristine", "coated")[i % 3], seed=500 + i,
                             shape=(SIZE, SIZE))
        d = root / f"p{i:03d}"
        d.mkdir(parents=True, exist_ok=True)
        plus, minus = d / f"s{i}_plus.gwy", d / f"s{i}_minus.gwy"
        write_gwy(plus, pair.plus, overwrite=True)
        write_gwy(minus, pair.minus, overwrite=True)
        (d / "logamp.toml").write_text(pair.calibration.to_toml())
        files.append((plus, minus, pair.plus.bias, pair.minus.bias))
    return files


def manifest(root: Path, files: list, copies: int, name: str) -> Path:
    """A manifest listing the pairs ``copies`` times (each copy its own name)."""
    man = root / name
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["plus", "minus", "sample", "group", "bias_plus", "bias_minus"])
        for _ in range(copies):
            for j, (p, m, bp, bm) in enumerate(files):
                w.writerow([p.relative_to(root), m.relative_to(root), f"sample{j % 3}",
                            f"group{j % 2}", bp, bm])
    return man


def run(cmd: list[str], pairs_dir: Path | None = None) -> tuple[float, float, list]:
    """Wall time, CPU seconds (children) and RSS samples of a command."""
    cpu0 = psutil.Process().cpu_times()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mon = Monitor(proc.pid, pairs_dir)
    _, err = proc.communicate()
    samples = mon.stop()
    secs = time.perf_counter() - t
    cpu1 = psutil.Process().cpu_times()
    cpu = (cpu1.children_user + cpu1.children_system) - (cpu0.children_user
                                                         + cpu0.children_system)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return secs, cpu, samples


def _plain(task: tuple[str, str]) -> int:
    return len(plain_pair(*task)["regions"])


def size_per_pair(out: Path) -> tuple[float, float]:
    sizes = []
    for d in (out / "pairs").iterdir():
        if d.is_dir() and not d.name.startswith("."):
            sizes.append(sum(f.stat().st_size for f in d.iterdir() if f.is_file()))
    return sum(sizes) / len(sizes) / 1e6, max(sizes) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=48, help="distinct pairs (default 48)")
    ap.add_argument("--long", type=int, default=240,
                    help="pairs in the memory run (default 240; 0: skip)")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--figures", action="store_true", help="also time a run with --figures")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "afmcurrent", "-q", "batch"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        files = make_set(tmp, args.pairs)
        print(f"{args.pairs} distinct {SIZE} x {SIZE} pairs written as .gwy in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        man = manifest(tmp, files, 1, "pairs.csv")
        n = args.pairs

        out = tmp / "out"
        secs, cpu, _ = run([*exe, "--manifest", str(man), "-o", str(out), "--workers", "2"])
        local = n / secs
        mean_mb, max_mb = size_per_pair(out)
        print(f"batch --workers 2, no figures, {n} distinct pairs: {secs:.1f} s = "
              f"{local:.1f} pairs/s (target >= 10: {'met' if local >= 10 else 'MISSED'}); "
              f"{cpu / n * 1e3:.0f} ms CPU per pair (whole command); {load()}", flush=True)
        print(f"output per pair: mean {mean_mb:.2f} MB, largest {max_mb:.2f} MB "
              f"(target <= 4 MB: {'met' if max_mb <= 4 else 'MISSED'})", flush=True)
        shutil.rmtree(out)

        if not args.skip_plain:
            tasks = [(str(p), str(m)) for p, m, _, _ in files]
            ctx = multiprocessing.get_context("fork")
            t = time.perf_counter()
            with ctx.Pool(2) as pool:
                pool.map(_plain, tasks, chunksize=1)
            psecs = time.perf_counter() - t
            print(f"plain pipeline, 2-process pool, same {n} pairs (no output written): "
                  f"{psecs:.1f} s = {n / psecs:.1f} pairs/s; afmcurrent batch / plain "
                  f"throughput {local / (n / psecs):.2f} (target > 1: "
                  f"{'met' if local > n / psecs else 'MISSED'}); {load()}", flush=True)

        if not args.skip_dask:
            import dask
            from dask.distributed import LocalCluster

            environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
            environ.update(MALLOC_TRIM_THRESHOLD_=256 << 20, MALLOC_MMAP_THRESHOLD_=32 << 20)
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
                    LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address=None) as cluster:
                # the local pool again, interleaved, for a same-load comparison
                secs_l, _, _ = run([*exe, "--manifest", str(man), "-o", str(tmp / "o1"),
                                    "--workers", "2"])
                secs_d, _, _ = run([*exe, "--manifest", str(man), "-o", str(tmp / "o2"),
                                    "--scheduler", cluster.scheduler_address])
            ratio = secs_l / secs_d
            print(f"Dask LocalCluster 2 workers: {n / secs_d:.1f} pairs/s vs local pool "
                  f"{n / secs_l:.1f} pairs/s = {ratio * 100:.0f} % (target >= 80 %: "
                  f"{'met' if ratio >= 0.8 else 'MISSED'}); {load()}", flush=True)
            shutil.rmtree(tmp / "o1", ignore_errors=True)
            shutil.rmtree(tmp / "o2", ignore_errors=True)

        if args.figures:
            secs, _, _ = run([*exe, "--manifest", str(man), "-o", str(tmp / "of"),
                              "--workers", "2", "--figures"])
            print(f"batch --workers 2 --figures: {n / secs:.1f} pairs/s; {load()}", flush=True)
            shutil.rmtree(tmp / "of", ignore_errors=True)

        if args.long:
            copies = max(1, -(-args.long // n))
            big = manifest(tmp, files, copies, "long.csv")
            out = tmp / "long"
            secs, _, samples = run([*exe, "--manifest", str(big), "-o", str(out),
                                    "--workers", "2"], out / "pairs")
            total = n * copies
            # the pairs phase (fewer pair folders than pairs) and the set's end (pooled pass,
            # tables, summary figure and report in the calling process)
            pairs_phase = [(d, r) for d, r in samples if d < total]
            end = max((r for d, r in samples if d >= total), default=0)
            early = max((r for d, r in pairs_phase if d <= 50), default=0)
            late = max((r for d, r in pairs_phase if d > 50), default=0)
            growth = late / early - 1 if early else float("nan")
            print(f"memory over {total} pairs (--workers 2; {n} distinct inputs listed "
                  f"{copies} times, every pair analysed and written): peak RSS of all "
                  f"processes while the pairs run {early / 2**20:.0f} MB up to pair 50, "
                  f"{late / 2**20:.0f} MB after it ({growth * 100:+.1f} %; target: flat, "
                  f"<= +5 %: {'met' if growth <= 0.05 else 'MISSED'}); at the set's end "
                  f"(pooled pass, tables, report) {end / 2**20:.0f} MB; {total / secs:.1f} "
                  f"pairs/s; {load()}", flush=True)
            step = max(50, total // 10)
            for k in range(0, total, step):
                window = [r for d, r in pairs_phase if k <= d < k + step]
                if window:
                    print(f"  pairs {k:4d}-{k + step - 1:4d}: peak {max(window) / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
