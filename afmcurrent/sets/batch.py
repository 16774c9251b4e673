"""Batch classification of map sets: one task per +V / -V pair, on any executor, resumable.

Layout of the output folder::

    OUTDIR/pairs/<name>/     what ``afmcurrent analyze`` writes, plus batch.json (the row and
                             the content hash of the inputs) and thumbnail.png
    OUTDIR/summary.csv       one row per pair
    OUTDIR/samples.csv       the same aggregated by sample and group
    OUTDIR/pooled.json       the pooled (set-wide) classification model
    OUTDIR/summary.png       group comparison figure
    OUTDIR/report.html       static page with every pair's thumbnail and the tables

Executors: ``workers=N`` (N >= 1) N persistent child processes
(:class:`afmcurrent.isolation.IsolatedPool`): a child that crashes (a reading library's
segfault) or overruns the time limit per pair is killed and replaced, and its pair alone fails
with the reason; ``workers=0`` the calling process, without that protection;
``scheduler="tcp://host:port"`` a running Dask distributed cluster (workers must see the same
paths; a pair whose worker dies fails alone, no time limit). The executor runs the same tasks
whatever it is (a pair: hash, skip or :func:`run_pair`; then the pooled classification of each
pair), so the class maps do not depend on the executor.

Resume: ``OUTDIR/batch.json`` records what the batch is (its source: a folder, a manifest or the
list of pairs, and the settings); a run into a folder holding another batch's results is refused
unless ``overwrite`` (which removes them first). A pair's folder is written under a temporary
name and renamed into place when complete (leftovers of a killed run are removed when the next
run starts; run one batch per OUTDIR); a pair whose ``batch.json`` holds the content hash of its
current inputs and options is skipped (``--force`` redoes all). A failing pair fails alone: its
row carries the reason.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import importlib
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

from ..core.errors import AfmcurrentError, ConfigError, OutputExistsError
from ..core.version import __version__
from ..pair.domains import CLASS_NAMES, Thresholds
from .pairing import PairSpec

__all__ = [
    "BatchOptions",
    "BatchResult",
    "SUMMARY_COLUMNS",
    "PAIR_TIMEOUT",
    "run_batch",
    "run_pair",
    "input_hash",
]

logger = logging.getLogger(__name__)

FRACTION_KEYS = tuple(CLASS_NAMES.values())

#: Default time limit of one pair in a local worker process, s (a reader that loops, a pair
#: far larger than expected): the worker is killed and the pair fails.
PAIR_TIMEOUT = 1800.0

#: What a batch writes into OUTDIR (removed by ``overwrite`` when OUTDIR held another batch).
BATCH_OUTPUTS = ("pairs", "summary.csv", "samples.csv", "pooled.json", "summary.png",
                 "report.html", "batch.json")

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
    allow_partial : bool
        Analyse session pairs whose scans did not finish, on the lines recorded in both.
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
    allow_partial: bool = False

    def fingerprint(self) -> dict[str, Any]:
        """The options as they affect results (figures excluded), with file contents hashed."""
        d = dataclasses.asdict(self)
        d.pop("figures")
        if not d["allow_partial"]:
            d.pop("allow_partial")  # the hashes of earlier batches stay valid
        for key in ("logamp", "config"):
            if d[key] and Path(d[key]).is_file():
                d[key] = _file_digest(Path(d[key]))
        return d

    def settings(self) -> dict[str, Any]:
        """The options as they identify a batch (files by path, not content; no figures)."""
        d = dataclasses.asdict(self)
        d.pop("figures")
        for key in ("logamp", "config"):
            if d[key] and Path(d[key]).is_file():
                d[key] = str(Path(d[key]).resolve())
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
        the scan numbers of a session pair, the options (calibration and config files by
        content) and a ``logamp.toml`` found beside the +V file. Missing files hash as
        "missing", so the pair is retried.
    """
    h = hashlib.sha256()
    beside = spec.plus.parent / "logamp.toml"
    files = (spec.plus, None if spec.session and spec.minus == spec.plus else spec.minus,
             spec.optical, beside)
    for p in files:
        if p is None:
            h.update(b"none")
        elif p.is_file():
            h.update(_file_digest(p).encode())
        else:
            h.update(b"missing")
    extra = [spec.bias_plus, spec.bias_minus, options.fingerprint()]
    if spec.session:
        extra.append([spec.plus_scan, spec.minus_scan])
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _row_from_result(res: Any, spec: PairSpec) -> dict[str, Any]:
    s = res.summary()
    med = s["median_currents_A"]
    counts = res.domains.count_by_class()
    area_um2 = res.plus.size[0] * res.plus.size[1] * 1e12
    row: dict[str, Any] = {
        "name": spec.name, "sample": spec.sample, "group": spec.group,
        "plus": _input_label(spec, "plus") if spec.session else str(res.plus.path or spec.plus),
        "minus": (_input_label(spec, "minus") if spec.session
                  else str(res.minus.path or spec.minus)),
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


def _input_label(spec: PairSpec, which: str) -> str:
    """A pair's input as the tables show it: the file, and the scan number in a session."""
    path, scan = (spec.plus, spec.plus_scan) if which == "plus" else (spec.minus,
                                                                       spec.minus_scan)
    return str(path) if scan is None else f"{path} (scan {scan})"


def _empty_row(spec: PairSpec) -> dict[str, Any]:
    row = {k: None for k in SUMMARY_COLUMNS}
    row.update(name=spec.name, sample=spec.sample, group=spec.group,
               plus=_input_label(spec, "plus"), minus=_input_label(spec, "minus"),
               bias_plus_V=spec.bias_plus, bias_minus_V=spec.bias_minus)
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
    from ..pair.pipeline import analyze_pair
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
        plus, minus, logamp, notes = spec.plus, spec.minus, options.logamp, ()
        if spec.session:
            from ..io.session import load_session_pair

            sp = load_session_pair(spec.plus, (spec.plus_scan, spec.minus_scan),
                                   allow_partial=options.allow_partial)
            plus, minus, notes = sp.plus, sp.minus, sp.notes
            if logamp is None:
                logamp = sp.calibration
        else:
            from ..io import load_scan

            plus, minus = load_scan(plus), load_scan(minus)
        res = analyze_pair(
            plus, minus,
            height_channel=options.height_channel,
            current_channel=options.current_channel,
            # the manifest's and the options' biases are for files that do not record one
            bias_plus=_fallback_bias(plus, spec.bias_plus, options.bias_plus),
            bias_minus=_fallback_bias(minus, spec.bias_minus, options.bias_minus),
            logamp=logamp,
            config=options.config,
            tip_radius=options.tip_radius,
            **optical,
        )
        res.notes[:0] = list(notes)
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
        from ..io.hdf5 import read_hdf5

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
    from ..pair.optical import read_optical

    if pixel_size is None:
        raise ConfigError(f"{path}: an optical image needs --optical-pixel-size")
    rows, cols = read_optical(path).shape[:2]
    return {"optical": path, "optical_pixel_size": pixel_size,
            "optical_center": (cols * pixel_size / 2, rows * pixel_size / 2)}


def _thumbnail(class_map: np.ndarray, path: Path) -> None:
    """A small class-map image (one pixel per 4 x 4 block at most) for the report."""
    import imageio.v3 as iio

    from ..outputs.figures import CLASS_COLORS  # "#rrggbb"

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

    ``map(fn, tasks)`` runs ``fn(*task)`` for every task and yields ``(task, value, error)``
    as they complete, ``error`` a message (and ``value`` None) when the task raised or its
    worker was lost (crash, time limit, Dask ``KilledWorker``); ``submit(fn, *args)`` starts
    one task and returns a handle whose ``result()`` waits for it (run at once when there is
    no pool).
    """

    def __init__(self, pool: Any = None, client: Any = None, timeout: float | None = None
                 ) -> None:
        self.pool, self.client, self.timeout = pool, client, timeout

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.client is not None:
            # threadpoolctl limits are process-wide: not set from tasks that may share a
            # worker with others; Dask starts its workers with OMP/OPENBLAS_NUM_THREADS=1
            return self.client.submit(fn, *args, pure=False)
        if self.pool is not None:
            return self.pool.submit(_one_thread, fn, *args, timeout=None)
        from concurrent.futures import Future

        fut: Future[Any] = Future()
        try:
            fut.set_result(_one_thread(fn, *args))
        except Exception as exc:  # re-raised by result(), as a pool's future would
            fut.set_exception(exc)
        return fut

    def map(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]
            ) -> Iterator[tuple[tuple[Any, ...], Any, str | None]]:
        if self.client is None and self.pool is None:
            for task in tasks:
                try:
                    yield task, _one_thread(fn, *task), None
                except Exception as exc:
                    yield task, None, f"{type(exc).__name__}: {exc}"
            return
        if self.client is not None:
            from dask.distributed import as_completed

            futures = {self.client.submit(fn, *task, pure=False): task for task in tasks}
            for fut in as_completed(list(futures)):
                try:
                    yield futures[fut], fut.result(), None
                except Exception as exc:  # e.g. KilledWorker: the worker died on this task
                    yield futures[fut], None, f"{type(exc).__name__}: {exc}"
                fut.release()
            return
        handles = {self.pool.submit(_one_thread, fn, *task, timeout=self.timeout): task
                   for task in tasks}
        for h in self.pool.as_completed(list(handles)):
            err = h.exception()
            if err is None:
                yield handles[h], h.result(), None
            else:
                yield handles[h], None, f"{type(err).__name__}: {err}"


@contextlib.contextmanager
def _executor(workers: int, scheduler: str | None, timeout: float | None,
              before_fork: Callable[[], Any] | None = None) -> Iterator[_Runner]:
    """The executor of a batch: a Dask client, isolated local processes or this process."""
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
    elif workers <= 0:
        yield _Runner()
    else:
        from .isolation import IsolatedPool

        # the pair task's modules, imported once here and inherited by the forked workers
        importlib.import_module("afmcurrent.pair.pipeline")
        with IsolatedPool(workers, initializer=_keep_freed_memory, timeout=timeout,
                          before_fork=before_fork) as pool:
            yield _Runner(pool=pool, timeout=timeout)


def _batch_identity(specs: list[PairSpec], options: BatchOptions, pooled_samples: int,
                    seed: int, source: dict[str, Any] | None) -> dict[str, Any]:
    if source is None:
        source = {"pairs": sorted([s.name, str(s.plus), str(s.minus), s.plus_scan,
                                   s.minus_scan] for s in specs)}
    return {"source": source,
            "settings": {**options.settings(), "pooled_samples": pooled_samples, "seed": seed}}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    if old.get("source") != new["source"]:
        out.append(f"inputs {_short(old.get('source'))} (now {_short(new['source'])})")
    old_s, new_s = old.get("settings") or {}, new["settings"]
    for key in sorted(set(old_s) | set(new_s)):
        if old_s.get(key) != new_s.get(key):
            out.append(f"{key} = {old_s.get(key)!r} (now {new_s.get(key)!r})")
    return out


def _short(source: Any) -> str:
    if isinstance(source, dict) and isinstance(source.get("pairs"), list) and len(source) == 1:
        names = [p[0] for p in source["pairs"] if isinstance(p, list) and p]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"pairs {shown or 'none'}"
    return json.dumps(source, default=str)


def _claim_outdir(outdir: Path, identity: dict[str, Any], specs: list[PairSpec],
                  overwrite: bool) -> None:
    """Make ``outdir`` this batch's folder: refuse (or with ``overwrite`` clear) another's.

    Raises
    ------
    OutputExistsError
        If ``outdir`` holds another batch's results and ``overwrite`` is False.
    """
    from ..outputs.writers import atomic_path

    if outdir.exists() and not outdir.is_dir():
        raise OutputExistsError(f"{outdir}: exists and is not a folder")
    marker = outdir / "batch.json"
    problem = None
    if marker.exists() or marker.is_symlink():
        try:
            stored = json.loads(marker.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            problem = f"its batch.json is unreadable ({exc})"
        else:
            diff = _differences(stored, identity)
            if diff:
                problem = "it holds the results of another batch: " + "; ".join(diff)
    elif (outdir / "pairs").is_dir():  # a batch of an earlier version, without batch.json
        problem = _legacy_conflict(outdir, specs)
    if problem is not None:
        if not overwrite:
            raise OutputExistsError(
                f"{outdir}: {problem}; pass --overwrite (overwrite=True) to replace its results, "
                "or choose another output folder")
        logger.warning("%s: %s: its results are replaced (--overwrite)", outdir, problem)
        for name in BATCH_OUTPUTS:
            p = outdir / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps({**identity, "version": __version__}, indent=1,
                                  default=str) + "\n")


def _legacy_conflict(outdir: Path, specs: list[PairSpec]) -> str | None:
    """For a batch folder without batch.json (an earlier version): a stored pair that is not
    one of these pairs, if any."""
    now = {s.name: [_input_label(s, "plus"), _input_label(s, "minus")] for s in specs}
    for marker in sorted((outdir / "pairs").glob("*/batch.json")):
        name = marker.parent.name
        try:
            row = json.loads(marker.read_text())["row"]
            stored = [row["plus"], row["minus"]]
        except (OSError, ValueError, KeyError, TypeError):
            return f"pairs/{name}/batch.json is unreadable"
        if sorted(now.get(name) or []) != sorted(stored):  # (+V, -V as the files say)
            return f"it holds pair {name} of other inputs ({stored[0]}, {stored[1]})"
    return None


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
    timeout: float | None = PAIR_TIMEOUT,
    overwrite: bool = False,
    source: dict[str, Any] | None = None,
) -> BatchResult:
    """Analyse a set of pairs, classify them with one pooled model and write the set's tables.

    Parameters
    ----------
    pairs : iterable of PairSpec
        From :func:`afmcurrent.pairing.discover_pairs` or :func:`~afmcurrent.pairing.read_manifest`.
    outdir : str or Path
        Output folder (created; earlier complete pairs of the same batch in it are reused
        unless ``force``).
    options : BatchOptions, optional
    workers : int, optional
        N >= 1: N local worker processes, a crashing or hanging pair failing alone;
        0: in this process (no protection from a reader that crashes or hangs);
        default: the number of cores.
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
    timeout : float or None, optional
        Time limit of one pair in a local worker process, s (default :data:`PAIR_TIMEOUT`;
        None: none); not applied with ``workers=0`` or a Dask scheduler.
    overwrite : bool, optional
        Replace the results of another batch found in ``outdir`` (other source or settings
        in its ``batch.json``) instead of refusing.
    source : dict, optional
        What the pairs came from, e.g. ``{"root": "/data/set1"}`` or ``{"manifest": ...}``:
        recorded in ``OUTDIR/batch.json`` to recognise a rerun of the same batch (whose
        pair list may have grown). Default: the list of pairs itself.

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
    OutputExistsError
        If ``outdir`` holds another batch's results and ``overwrite`` is False.
    """
    from tqdm import tqdm

    from ..core.config import load_config
    from .pooled import apply_pooled, fit_pooled, missing_classes
    from .report import aggregate_samples, write_report, write_summary_figure

    options = options or BatchOptions()
    outdir = Path(outdir)
    specs = list(pairs)
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"pair names repeat: {dup}")
    _claim_outdir(outdir, _batch_identity(specs, options, pooled_samples, seed, source), specs,
                  overwrite)
    (outdir / "pairs").mkdir(parents=True, exist_ok=True)
    # Leftovers of a run that was killed while writing a pair: never results, removed. (One
    # batch at a time per OUTDIR.)
    for stale in (outdir / "pairs").glob(".*.partial-*"):
        logger.info("removing incomplete %s left by an interrupted run", stale.name)
        shutil.rmtree(stale, ignore_errors=True)
    for stale in (*outdir.glob(".*.partial"), *(outdir / "pairs").glob("*/.*.partial")):
        if stale.is_file() or stale.is_symlink():  # temporary files of atomic writes
            stale.unlink(missing_ok=True)
    if workers is None:
        workers = os.cpu_count() or 1
    workers = min(workers, max(1, len(specs)))
    rows: dict[str, dict[str, Any]] = {}
    samples: dict[str, np.ndarray] = {}
    pooled = None
    figure = None
    t_start = time.perf_counter()
    with _executor(workers, scheduler, timeout) as runner:
        bar = tqdm(total=len(specs), unit="pair", desc="pairs", disable=not progress or not specs)
        tasks = [(spec, options, str(outdir), force, pooled_samples, seed) for spec in specs]
        for task, out, error in runner.map(_pair_task, tasks):
            if error is not None:  # the worker process was lost on this pair
                row, sample = _empty_row(task[0]), None
                row.update(status="failed", error=f"worker lost: {error}", seconds=None)
                logger.error("pair %s failed: %s", task[0].name, row["error"])
                for stale in (outdir / "pairs").glob(f".{task[0].name}.partial-*"):
                    shutil.rmtree(stale, ignore_errors=True)
            else:
                row, sample = out
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
            from ..outputs.writers import atomic_path

            pooled = model.to_dict()
            pooled["warnings"] = missing_classes(model, ok)
            for w in pooled["warnings"]:
                logger.warning(w)
            with atomic_path(outdir / "pooled.json") as tmp:
                tmp.write_text(json.dumps(pooled, indent=2) + "\n")
            tasks = [(str(outdir / "pairs" / r["name"]), model) for r in ok]
            pbar = tqdm(total=len(tasks), unit="pair", desc="pooled", disable=not progress)
            for task, out, error in runner.map(apply_pooled, tasks):
                if error is None:
                    name, stats = out
                    rows[name].update(stats)
                else:  # the pair keeps its own classes; its pooled columns stay empty
                    logger.error("pooled classes of %s not applied: %s", Path(task[0]).name,
                                 error)
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
    from ..outputs.writers import atomic_path

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
