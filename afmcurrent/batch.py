"""Batch classification of map sets: one task per +V / -V pair, on any executor, resumable.

Layout of the output folder::

    OUTDIR/pairs/<name>/     what ``afmcurrent analyze`` writes, plus batch.json (the row and
                             the content hash of the inputs) and thumbnail.png
    OUTDIR/summary.csv       one row per pair
    OUTDIR/samples.csv       the same aggregated by sample and group
    OUTDIR/pooled.json       the pooled (set-wide) classification model
    OUTDIR/summary.png       group comparison figure
    OUTDIR/report.html       static page with every pair's thumbnail and the tables

Executors: ``workers=1`` runs in the calling process; ``workers=N`` a local process pool
(:class:`concurrent.futures.ProcessPoolExecutor`); ``scheduler="tcp://host:port"`` a running Dask
distributed cluster (workers must see the same paths). The executor runs the same tasks
whatever it is (a pair: hash, skip or :func:`run_pair`; then the pooled classification of each
pair), so the class maps do not depend on the executor.

Resume: a pair's folder is written under a temporary name and renamed into place when complete
(leftovers of a killed run are removed when the next run starts; run one batch per OUTDIR);
a pair whose ``batch.json`` holds the content hash of its current inputs and options is skipped
(``--force`` redoes all). A failing pair fails alone: its row carries the reason.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .domains import CLASS_NAMES, Thresholds
from .errors import AfmcurrentError, ConfigError
from .pairing import PairSpec

__all__ = [
    "BatchOptions",
    "BatchResult",
    "SUMMARY_COLUMNS",
    "run_batch",
    "run_pair",
    "input_hash",
]

logger = logging.getLogger(__name__)

FRACTION_KEYS = tuple(CLASS_NAMES.values())

#: Columns of summary.csv, in order (units in the names; fractions are of classified pixels).
SUMMARY_COLUMNS = (
    "name", "sample", "group", "plus", "minus", "bias_plus_V", "bias_minus_V",
    "shift_dy_px", "shift_dx_px", "confidence", *FRACTION_KEYS, "classified_fraction",
    "classified_area_um2", "median_plus_current_A", "median_minus_current_A",
    "median_ionic_current_A", "median_electronic_current_A", "median_current_bounds",
    "median_ionic_current_density_A_m2", "domains",
    *(f"domains_{k}" for k in FRACTION_KEYS),
    *(f"pooled_{k}" for k in FRACTION_KEYS), "pooled_disagreement",
    "warnings", "seconds", "status", "error",
)


@dataclass(frozen=True)
class BatchOptions:
    """Per-pair options applied to every pair (the ``analyze`` options).

    Attributes
    ----------
    height_channel, current_channel : str or None
    bias_plus, bias_minus : float or None
        Used where neither the file nor the manifest gives a bias.
    logamp : str or None
        Calibration file or preset (default: ``logamp.toml`` beside each +V file).
    config : str or None
        Settings TOML file.
    tip_radius : float or None
        m.
    optical_pixel_size : float or None
        m per optical pixel, for the manifest's ``optical`` images (the scan is placed at the
        image centre, as the paper's optical images show it, then refined).
    figures : bool
        Render each pair's figure.png.
    """

    height_channel: str | None = None
    current_channel: str | None = None
    bias_plus: float | None = None
    bias_minus: float | None = None
    logamp: str | None = None
    config: str | None = None
    tip_radius: float | None = None
    optical_pixel_size: float | None = None
    figures: bool = True

    def fingerprint(self) -> dict[str, Any]:
        """The options as they affect results (figures excluded), with file contents hashed."""
        d = dataclasses.asdict(self)
        d.pop("figures")
        for key in ("logamp", "config"):
            if d[key] and Path(d[key]).is_file():
                d[key] = _file_digest(Path(d[key]))
        return d


@dataclass
class BatchResult:
    """What a batch run produced.

    Attributes
    ----------
    rows : list of dict
        One row per pair (keys :data:`SUMMARY_COLUMNS`).
    outdir : Path
    pooled : dict or None
        The pooled model's description (``pooled.json``).
    """

    rows: list[dict[str, Any]]
    outdir: Path
    pooled: dict[str, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Rows of the pairs that failed."""
        return [r for r in self.rows if r["status"] == "failed"]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_hash(spec: PairSpec, options: BatchOptions) -> str:
    """Content hash of a pair's inputs and the options that shape its result.

    Parameters
    ----------
    spec : PairSpec
    options : BatchOptions

    Returns
    -------
    str
        Hex SHA-256 over the bytes of the +V, -V (and optical) files, the per-pair biases,
        the options (calibration and config files by content) and a ``logamp.toml`` found
        beside the +V file. Missing files hash as "missing", so the pair is retried.
    """
    h = hashlib.sha256()
    beside = spec.plus.parent / "logamp.toml"
    for p in (spec.plus, spec.minus, spec.optical, beside):
        if p is None:
            h.update(b"none")
        elif p.is_file():
            h.update(_file_digest(p).encode())
        else:
            h.update(b"missing")
    h.update(json.dumps([spec.bias_plus, spec.bias_minus, options.fingerprint()],
                        sort_keys=True, default=str).encode())
    return h.hexdigest()


def _row_from_result(res: Any, spec: PairSpec) -> dict[str, Any]:
    s = res.summary()
    med = s["median_currents_A"]
    counts = res.domains.count_by_class()
    area_um2 = res.plus.size[0] * res.plus.size[1] * 1e12
    row: dict[str, Any] = {
        "name": spec.name, "sample": spec.sample, "group": spec.group,
        "plus": str(res.plus.path or spec.plus), "minus": str(res.minus.path or spec.minus),
        "bias_plus_V": res.bias_plus, "bias_minus_V": res.bias_minus,
        "shift_dy_px": res.registration.shift[0], "shift_dx_px": res.registration.shift[1],
        "confidence": res.registration.confidence,
        **{k: s["fractions"][k] for k in FRACTION_KEYS},
        "classified_fraction": res.classified_fraction,
        "classified_area_um2": res.classified_fraction * area_um2,
        "median_plus_current_A": med["plus_current"],
        "median_minus_current_A": med["minus_current"],
        "median_ionic_current_A": med["ionic_current"],
        "median_electronic_current_A": med["electronic_current"],
        "median_current_bounds": ";".join(
            f"{k}:{v}" for k, v in s["median_current_bounds"].items()),
        "median_ionic_current_density_A_m2": s["median_current_density_A_m2"]["ionic_current"],
        "domains": len(res.domains),
        "warnings": " | ".join(res.warnings),
        **{f"domains_{k}": counts[k] for k in FRACTION_KEYS},
    }
    return row


def _fallback_bias(scan: Any, *given: float | None) -> float | None:
    """The first given bias, for a scan whose file records none (else None: the file's)."""
    if scan.bias is not None:
        return None
    return next((b for b in given if b is not None), None)


def _empty_row(spec: PairSpec) -> dict[str, Any]:
    row = {k: None for k in SUMMARY_COLUMNS}
    row.update(name=spec.name, sample=spec.sample, group=spec.group, plus=str(spec.plus),
               minus=str(spec.minus), bias_plus_V=spec.bias_plus, bias_minus_V=spec.bias_minus)
    return row


def run_pair(spec: PairSpec, options: BatchOptions, outdir: str | Path,
             digest: str | None = None) -> dict[str, Any]:
    """Analyse one pair and write ``OUTDIR/pairs/<name>/`` atomically (what a batch runs per pair).

    Parameters
    ----------
    spec : PairSpec
    options : BatchOptions
    outdir : str or Path
        The batch's output folder.
    digest : str, optional
        :func:`input_hash` of the pair (computed here when not given).

    Returns
    -------
    dict
        The pair's summary row, ``status`` "ok" or "failed" (with ``error``). Never raises for
        a bad pair: one pair's failure must not stop the others.
    """
    return _run_pair(spec, options, outdir, digest)[0]


def _run_pair(spec: PairSpec, options: BatchOptions, outdir: str | Path,
              digest: str | None = None, pooled_samples: int = 0,
              seed: int = 0) -> tuple[dict[str, Any], np.ndarray | None]:
    """:func:`run_pair`, also drawing the pair's pixels for the pooled model from memory.

    Returns the row and the drawn features (:func:`afmcurrent.pooled.pair_sample`; None when
    ``pooled_samples`` is 0 or the pair failed), so the pooled fit does not read every
    ``result.h5`` back.
    """
    from .pipeline import analyze_pair
    from .pooled import pair_sample

    t0 = time.perf_counter()
    outdir = Path(outdir)
    pairs = outdir / "pairs"
    dest = pairs / spec.name
    tmp = pairs / f".{spec.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    row = _empty_row(spec)
    sample = None
    try:
        digest = digest or input_hash(spec, options)
        optical = {}
        if spec.optical is not None:
            optical = _optical_options(spec.optical, options.optical_pixel_size)
        from .io import load_scan

        plus_scan, minus_scan = load_scan(spec.plus), load_scan(spec.minus)
        res = analyze_pair(
            plus_scan, minus_scan,
            height_channel=options.height_channel,
            current_channel=options.current_channel,
            # the manifest's and the options' biases are for files that do not record one
            bias_plus=_fallback_bias(plus_scan, spec.bias_plus, options.bias_plus),
            bias_minus=_fallback_bias(minus_scan, spec.bias_minus, options.bias_minus),
            logamp=options.logamp,
            config=options.config,
            tip_radius=options.tip_radius,
            **optical,
        )
        if pooled_samples > 0:
            sample = pair_sample(res.maps.plus_current, res.maps.electronic_current, spec.name,
                                 pooled_samples, seed)
        res.write(tmp, figures=options.figures)
        _thumbnail(res.class_map, tmp / "thumbnail.png")
        row.update(_row_from_result(res, spec))
        row.update(status="ok", error="", seconds=time.perf_counter() - t0)
        (tmp / "batch.json").write_text(json.dumps(
            {"input_hash": digest, "row": row, "version": __version__}, default=str, indent=1))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except AfmcurrentError as exc:
        row.update(status="failed", error=str(exc), seconds=time.perf_counter() - t0)
        sample = None
        logger.error("pair %s failed: %s", spec.name, exc)
    except Exception as exc:  # an unexpected failure still fails only this pair
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                   seconds=time.perf_counter() - t0)
        sample = None
        logger.exception("pair %s failed unexpectedly", spec.name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return row, sample


def _pair_task(spec: PairSpec, options: BatchOptions, outdir: str, force: bool,
               pooled_samples: int, seed: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """One pair of a batch: skipped when complete with unchanged inputs, else analysed.

    Returns the row and the pair's pixels for the pooled model (:func:`_run_pair`); the pixels
    of a skipped pair are read back from its ``result.h5`` (a pair whose result cannot be read
    is redone). Never raises: whatever goes wrong fails this pair's row only.
    """
    try:
        return _skip_or_run(spec, options, outdir, force, pooled_samples, seed)
    except Exception as exc:
        logger.exception("pair %s failed unexpectedly", spec.name)
        row = _empty_row(spec)
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", seconds=0.0)
        return row, None


def _skip_or_run(spec: PairSpec, options: BatchOptions, outdir: str, force: bool,
                 pooled_samples: int, seed: int) -> tuple[dict[str, Any], np.ndarray | None]:
    from .pooled import RESULT_CHANNELS, pair_sample

    try:
        digest = input_hash(spec, options)
    except OSError as exc:
        row = _empty_row(spec)
        row.update(status="failed", error=f"cannot read inputs: {exc}", seconds=0.0)
        return row, None
    done = None if force else _completed(spec, Path(outdir), digest)
    if done is not None:
        if pooled_samples <= 0:
            return done, None
        from .io.hdf5 import read_hdf5

        try:
            stored = read_hdf5(Path(outdir) / "pairs" / spec.name / "result.h5",
                               channels=RESULT_CHANNELS)
            return done, pair_sample(stored.channel("plus_current").data,
                                     stored.channel("electronic_current").data, spec.name,
                                     pooled_samples, seed)
        except AfmcurrentError as exc:
            logger.warning("pair %s: stored result unreadable (%s): analysed again", spec.name,
                           exc)
    return _run_pair(spec, options, outdir, digest, pooled_samples, seed)


def _optical_options(path: Path, pixel_size: float | None) -> dict[str, Any]:
    """analyze_pair options for an optical image with the scan area at its centre."""
    from .optical import read_optical

    if pixel_size is None:
        raise ConfigError(f"{path}: an optical image needs --optical-pixel-size")
    rows, cols = read_optical(path).shape[:2]
    return {"optical": path, "optical_pixel_size": pixel_size,
            "optical_center": (cols * pixel_size / 2, rows * pixel_size / 2)}


def _thumbnail(class_map: np.ndarray, path: Path) -> None:
    """A small class-map image (one pixel per 4 x 4 block at most) for the report."""
    import imageio.v3 as iio

    from .plotting import CLASS_COLORS  # "#rrggbb"

    step = max(1, max(class_map.shape) // 128)
    lut = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLORS], np.uint8)
    iio.imwrite(path, lut[class_map[::step, ::step]], extension=".png")


def _completed(spec: PairSpec, outdir: Path, digest: str) -> dict[str, Any] | None:
    """The stored row of a complete pair whose inputs are unchanged, else None."""
    marker = outdir / "pairs" / spec.name / "batch.json"
    try:
        stored = json.loads(marker.read_text())
        if stored.get("input_hash") != digest or not (marker.parent / "summary.json").is_file():
            return None
        row = dict(stored["row"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # unreadable or foreign batch.json: the pair is analysed again
    row.update(status="skipped", error="")
    return row


def _one_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` with BLAS and OpenMP limited to one thread.

    The local pool runs as many tasks at once as there are cores; numerical libraries that
    start a thread per core in each of them oversubscribe the machine (the pooled pass ran
    ~8 times slower with two workers of two BLAS threads each on 2 cores). Also used in the
    calling process (``workers=1``), so that every executor computes with one thread.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return fn(*args)


#: glibc ``mallopt`` parameters (malloc.h) and the values set in pool workers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_WORKER_TRIM_THRESHOLD = 256 << 20
_WORKER_MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit


def _keep_freed_memory() -> None:
    """Let a pool worker (or the CLI's ``--workers 1`` process) keep the memory it frees.

    glibc only; a no-op elsewhere.

    By default glibc gives blocks over 128 kB back to the kernel when they are freed, so every
    map of every pair is faulted in afresh: on 512 x 512 pairs ~18 000 page faults and ~12 %
    of a pair's time. A worker runs one pair after another, so it keeps up to 256 MB of freed
    heap for the next pair instead (its memory stays at its peak; the 1000-pair benchmark
    stays well under 1.5 GB). Only processes of afmcurrent's own are tuned, never a library
    caller's process or a Dask cluster's workers (see docs/batch.md for those).
    """
    import ctypes

    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, _WORKER_MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _WORKER_TRIM_THRESHOLD)


class _Runner:
    """Runs tasks on the chosen executor; one per batch, so the workers start once.

    ``map(fn, tasks)`` runs ``fn(*task)`` for every task and yields the results as they
    complete; ``submit(fn, *args)`` starts one task and returns a handle whose ``result()``
    waits for it (run at once when there is no pool).
    """

    def __init__(self, pool: Any = None, client: Any = None) -> None:
        self.pool, self.client = pool, client

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.client is not None:
            # threadpoolctl limits are process-wide: not set from tasks that may share a
            # worker with others; Dask starts its workers with OMP/OPENBLAS_NUM_THREADS=1
            return self.client.submit(fn, *args, pure=False)
        if self.pool is not None:
            return self.pool.submit(_one_thread, fn, *args)
        from concurrent.futures import Future

        fut: Future[Any] = Future()
        try:
            fut.set_result(_one_thread(fn, *args))
        except Exception as exc:  # re-raised by result(), as a pool's future would
            fut.set_exception(exc)
        return fut

    def map(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]) -> Iterator[Any]:
        if self.client is None and self.pool is None:
            for task in tasks:
                yield _one_thread(fn, *task)
            return
        futures = [self.submit(fn, *task) for task in tasks]
        if self.client is not None:
            from dask.distributed import as_completed

            for fut in as_completed(futures):
                yield fut.result()
                fut.release()
        else:
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                yield fut.result()


@contextlib.contextmanager
def _executor(workers: int, scheduler: str | None) -> Iterator[_Runner]:
    """The executor of a batch: a Dask client, a local process pool or this process."""
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ConfigError(
                "--scheduler needs Dask distributed: pip install 'afmcurrent[dask]'") from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        try:
            yield _Runner(client=client)
        finally:
            client.close()
    elif workers <= 1:
        yield _Runner()
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, initializer=_keep_freed_memory) as pool:
            yield _Runner(pool=pool)


def run_batch(
    pairs: Iterable[PairSpec],
    outdir: str | Path,
    options: BatchOptions | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    pooled_samples: int = 2000,
    seed: int = 0,
    progress: bool = True,
    report: bool = True,
) -> BatchResult:
    """Analyse a set of pairs, classify them with one pooled model and write the set's tables.

    Parameters
    ----------
    pairs : iterable of PairSpec
        From :func:`afmcurrent.pairing.discover_pairs` or :func:`~afmcurrent.pairing.read_manifest`.
    outdir : str or Path
        Output folder (created; earlier complete pairs in it are reused unless ``force``).
    options : BatchOptions, optional
    workers : int, optional
        1: in this process; N > 1: a local process pool; default: the number of cores.
    scheduler : str, optional
        Address of a running Dask distributed scheduler (``tcp://HOST:PORT``); overrides
        ``workers``.
    force : bool, optional
        Redo every pair, complete or not.
    pooled_samples : int, optional
        Pixels drawn from each pair to fit the pooled model.
    seed : int, optional
        Seed of the pixel sampling and of the mixture fit.
    progress : bool, optional
        Show a progress bar (tqdm) on stderr.
    report : bool, optional
        Write summary.png and report.html.

    Returns
    -------
    BatchResult
        A pair that fails has a ``failed`` row; a pooled model that cannot be fitted (e.g.
        ``pooled_samples <= 0``) or a summary figure that cannot be drawn is logged as an error
        and left out (``pooled`` None, no ``summary.png``): the tables are always written.

    Raises
    ------
    ConfigError
        If two pairs share a name, or the Dask scheduler cannot be reached.
    """
    from tqdm import tqdm

    from .config import load_config
    from .pooled import apply_pooled, fit_pooled, missing_classes
    from .report import aggregate_samples, write_report, write_summary_figure

    options = options or BatchOptions()
    outdir = Path(outdir)
    specs = list(pairs)
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"pair names repeat: {dup}")
    (outdir / "pairs").mkdir(parents=True, exist_ok=True)
    # Leftovers of a run that was killed while writing a pair: never results, removed. (One
    # batch at a time per OUTDIR.)
    for stale in (outdir / "pairs").glob(".*.partial-*"):
        logger.info("removing incomplete %s left by an interrupted run", stale.name)
        shutil.rmtree(stale, ignore_errors=True)
    workers = min(workers or os.cpu_count() or 1, max(1, len(specs)))
    rows: dict[str, dict[str, Any]] = {}
    samples: dict[str, np.ndarray] = {}
    pooled = None
    figure = None
    t_start = time.perf_counter()
    with _executor(workers, scheduler) as runner:
        bar = tqdm(total=len(specs), unit="pair", desc="pairs", disable=not progress or not specs)
        tasks = [(spec, options, str(outdir), force, pooled_samples, seed) for spec in specs]
        for row, sample in runner.map(_pair_task, tasks):
            rows[row["name"]] = row
            if sample is not None:
                samples[row["name"]] = sample
            bar.update(1)
            if row["status"] == "failed":
                bar.write(f"failed: {row['name']}: {row['error']}")
        bar.close()

        logger.info("pairs: %d in %.1f s", len(specs), time.perf_counter() - t_start)
        skipped = sum(r["status"] == "skipped" for r in rows.values())
        if skipped:
            logger.info("%d of %d pairs complete and unchanged: skipped", skipped, len(specs))
        for stale in ("pooled.json", "summary.png"):  # of an earlier run: rewritten below
            (outdir / stale).unlink(missing_ok=True)
        if report:
            # the comparison figure needs the per-pair rows and pixels only: a worker draws it
            # while this process fits the pooled model
            figure = runner.submit(write_summary_figure, outdir / "summary.png",
                                   BatchResult(rows=[dict(rows[n]) for n in names],
                                               outdir=outdir), samples)
        ok = [rows[n] for n in names if rows[n]["status"] in ("ok", "skipped")]
        model = None
        if ok:
            thresholds = Thresholds.from_settings(load_config(options.config).classify)
            t_fit = time.perf_counter()
            try:
                # one BLAS thread: a worker draws the figure meanwhile
                model = _one_thread(functools.partial(fit_pooled, seed=seed), samples,
                                    thresholds)
            except Exception as exc:  # the per-pair results stand without it
                logger.error("no pooled classification: %s: %s", type(exc).__name__, exc)
                for r in ok:  # of an earlier run, from another model
                    (outdir / "pairs" / r["name"] / "pooled_class.h5").unlink(missing_ok=True)
            else:
                logger.info("pooled model fitted in %.1f s", time.perf_counter() - t_fit)
        if model is not None:
            pooled = model.to_dict()
            pooled["warnings"] = missing_classes(model, ok)
            for w in pooled["warnings"]:
                logger.warning(w)
            (outdir / "pooled.json").write_text(json.dumps(pooled, indent=2) + "\n")
            tasks = [(str(outdir / "pairs" / r["name"]), model) for r in ok]
            pbar = tqdm(total=len(tasks), unit="pair", desc="pooled", disable=not progress)
            for name, stats in runner.map(apply_pooled, tasks):
                rows[name].update(stats)
                pbar.update(1)
            pbar.close()
        t_wait = time.perf_counter()
        if figure is not None:
            try:
                figure.result()
            except Exception as exc:  # the tables must still be written
                logger.error("summary.png not drawn: %s: %s", type(exc).__name__, exc)
                figure = None
        logger.info("pooled pass done at %.1f s (figure waited %.1f s)",
                    time.perf_counter() - t_start, time.perf_counter() - t_wait)

    result = BatchResult(rows=[rows[n] for n in names], outdir=outdir, pooled=pooled)
    result.files["summary.csv"] = write_csv(outdir / "summary.csv", result.rows, SUMMARY_COLUMNS)
    sample_rows, sample_cols = aggregate_samples(result.rows)
    result.files["samples.csv"] = write_csv(outdir / "samples.csv", sample_rows, sample_cols)
    if report:
        if figure is not None:
            result.files["summary.png"] = outdir / "summary.png"
        result.files["report.html"] = write_report(outdir / "report.html", result, sample_rows,
                                                   sample_cols)
    logger.info("batch done in %.1f s", time.perf_counter() - t_start)
    return result


def write_csv(path: Path, rows: list[dict[str, Any]], columns: Iterable[str]) -> Path:
    """Write rows as CSV atomically (empty cells for None / NaN); returns the path."""
    from .output import atomic_path

    columns = list(columns)
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(columns)
            for r in rows:
                w.writerow([_cell(r.get(c)) for c in columns])
    return Path(path)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{float(v):.6g}"
    return str(v)
