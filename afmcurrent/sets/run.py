"""Batch runs of map sets: one task per +V / -V pair, on any executor, resumable (run_batch).

Layout of the output folder::

    OUTDIR/pairs/<name>/     what ``afmcurrent analyze`` writes, plus batch.json (the row and
                             the content hash of the inputs) and thumbnail.png
    OUTDIR/summary.csv       one row per pair
    OUTDIR/samples.csv       the same aggregated by sample and group
    OUTDIR/pooled.json       the pooled (set-wide) classification model
    OUTDIR/summary.png       group comparison figure
    OUTDIR/currents.png      every pair's current maps on the set's one log colour scale
                             (with figures, the scale of every pair's figures too:
                             :mod:`.figure_pass`, recorded in batch.json ``figure_scale``)
    OUTDIR/report.html       static page with every pair's thumbnail and the tables
    OUTDIR/settings.toml     the settings of the batch (each pair's folder: its own)

Executors (:mod:`.executors`): ``workers=N`` (N >= 1) N persistent child processes
(:class:`afmcurrent.sets.isolation.IsolatedPool`): a child that crashes (a reading library's
segfault) or overruns the time limit per pair is killed and replaced, and its pair alone fails
with the reason; ``workers=0`` the calling process, without that protection;
``scheduler="tcp://host:port"`` a running Dask distributed cluster (workers must see the same
paths; a pair whose worker dies fails alone, no time limit). The executor runs the same tasks
whatever it is (a pair: hash, skip or :func:`~afmcurrent.sets.tasks.run_pair`; then the pooled
classification of each pair), so the class maps do not depend on the executor.

Resume: ``OUTDIR/batch.json`` records what the batch is (its source: a folder, a manifest or the
list of pairs, and the settings); a run into a folder holding another batch's results is refused
unless ``overwrite`` (which removes them first). A pair's folder is written under a temporary
name and renamed into place when complete (leftovers of a killed run are removed when the next
run starts; run one batch per OUTDIR); a pair whose ``batch.json`` holds the content hash of its
current inputs and options is skipped (``--force`` redoes all). A failing pair fails alone: its
row carries the reason.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.config import load_config
from ..core.errors import ConfigError
from ..io._common import atomic_path
from ..pair.classify import Thresholds
from .currents_figure import write_currents_figure
from .executors import PAIR_TIMEOUT, Runner, executor, one_thread
from .figure_pass import figure_pass, record_set_scale
from .options import BatchOptions
from .outdir import batch_identity, claim_outdir, remove_leftovers
from .pairing import PairSpec
from .pooled import PooledSample, apply_pooled, fit_pooled, missing_classes
from .repeat import repeat_pass
from .report import write_report
from .settings import write_batch_settings
from .summary_figure import write_summary_figure
from .tables import BatchResult, empty_row, write_tables
from .tasks import pair_task

__all__ = ["run_batch"]

logger = logging.getLogger(__name__)


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
        From :func:`afmcurrent.sets.pairing.discover_pairs` or
        :func:`~afmcurrent.sets.manifest.read_manifest`.
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
    options = options or BatchOptions()
    outdir = Path(outdir)
    specs = list(pairs)
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"pair names repeat: {dup}")
    claim_outdir(outdir, batch_identity(specs, options, pooled_samples, seed, source), specs,
                 overwrite)
    (outdir / "pairs").mkdir(parents=True, exist_ok=True)
    remove_leftovers(outdir)
    if workers is None:
        workers = os.cpu_count() or 1
    workers = min(workers, max(1, len(specs)))
    t_start = time.perf_counter()
    pooled = figure = None
    set_scale = None  # (scale, pairs) of the set's figures (--figures)
    with executor(workers, scheduler, timeout) as runner:
        rows, samples = _analyse_pairs(runner, specs, options, outdir, force, pooled_samples,
                                       seed, progress)
        if repeat_pass(runner, specs, rows, outdir, options.figures):  # +V, -V, +V areas
            logger.info("repeat scans compared at %.1f s", time.perf_counter() - t_start)
        logger.info("pairs: %d in %.1f s", len(specs), time.perf_counter() - t_start)
        skipped = sum(r["status"] == "skipped" for r in rows.values())
        if skipped:
            logger.info("%d of %d pairs complete and unchanged: skipped", skipped, len(specs))
        for stale in ("pooled.json", "summary.png", "currents.png"):  # rewritten below
            (outdir / stale).unlink(missing_ok=True)
        if report:
            # the comparison figure needs the per-pair rows and pixels only: a worker draws it
            # while this process fits the pooled model
            figure = runner.submit(write_summary_figure, outdir / "summary.png",
                                   BatchResult(rows=[dict(rows[n]) for n in names],
                                               outdir=outdir), samples)
        ok = [rows[n] for n in names if rows[n]["status"] in ("ok", "skipped")]
        if ok:
            pooled = _pooled_pass(runner, rows, ok, samples, options, outdir, seed, progress)
        t_wait = time.perf_counter()
        if figure is not None:
            try:
                figure.result()
            except Exception as exc:  # the tables must still be written
                logger.error("summary.png not drawn: %s: %s", type(exc).__name__, exc)
                figure = None
        logger.info("pooled pass done at %.1f s (figure waited %.1f s)",
                    time.perf_counter() - t_start, time.perf_counter() - t_wait)
        if options.figures:  # every pair's figures on the set's one log current scale
            set_scale = figure_pass(runner, specs, rows, outdir, options, progress)
            logger.info("figure pass done at %.1f s", time.perf_counter() - t_start)
    record_set_scale(outdir, *(set_scale or (None, 0)))

    result = BatchResult(rows=[rows[n] for n in names], outdir=outdir, pooled=pooled)
    files, sample_rows, sample_cols = write_tables(outdir, result.rows)
    result.files.update(files)
    result.files["settings.toml"] = write_batch_settings(outdir, options)
    if report:
        if figure is not None:
            result.files["summary.png"] = outdir / "summary.png"
        if options.figures:  # every pair's current maps on the set's one log scale
            try:
                result.files["currents.png"], scale = write_currents_figure(
                    outdir / "currents.png", outdir, result.rows,
                    scale=set_scale[0] if set_scale else None)
                logger.info("currents.png: the set's current scale is log10 I = %g..%g",
                            *scale)
            except Exception as exc:  # the report must still be written
                logger.error("currents.png not drawn: %s: %s", type(exc).__name__, exc)
        result.files["report.html"] = write_report(outdir / "report.html", result, sample_rows,
                                                   sample_cols)
    logger.info("batch done in %.1f s", time.perf_counter() - t_start)
    return result


def _analyse_pairs(runner: Runner, specs: list[PairSpec], options: BatchOptions, outdir: Path,
                   force: bool, pooled_samples: int, seed: int, progress: bool
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Run every pair's task; its row, and the pixels drawn for the pooled model, by name
    (a fixed-size uniform sample of all pairs' drawn pixels, :class:`PooledSample`: memory
    does not grow with the number of pairs)."""
    rows: dict[str, dict[str, Any]] = {}
    samples = PooledSample(seed=seed)
    bar = tqdm(total=len(specs), unit="pair", desc="pairs", disable=not progress or not specs)
    tasks = [(spec, options, str(outdir), force, pooled_samples, seed) for spec in specs]
    for task, out, error in runner.map(pair_task, tasks):
        if error is not None:  # the worker process was lost on this pair
            row, sample = empty_row(task[0]), None
            row.update(status="failed", error=f"worker lost: {error}", seconds=None)
            for stale in (outdir / "pairs").glob(f".{task[0].name}.partial-*"):
                shutil.rmtree(stale, ignore_errors=True)
        else:
            row, sample = out
        rows[row["name"]] = row
        if sample is not None:
            samples.add(row["name"], sample)
        bar.update(1)
        if row["status"] == "failed":  # said once, here (even when quiet: an error)
            bar.write(f"failed: {row['name']}: {row['error']}", file=sys.stderr)
    bar.close()
    return rows, samples.as_dict()


def _pooled_pass(runner: Runner, rows: dict[str, dict[str, Any]], ok: list[dict[str, Any]],
                 samples: dict[str, np.ndarray], options: BatchOptions, outdir: Path, seed: int,
                 progress: bool) -> dict[str, Any] | None:
    """Fit the pooled model, write ``pooled.json``, classify every pair with it (its
    ``pooled_class.h5``) and add the pooled columns to the rows; None when it cannot be fitted
    (the per-pair results stand without it)."""
    thresholds = Thresholds.from_settings(load_config(options.config).classify)
    t_fit = time.perf_counter()
    try:
        # one BLAS thread: a worker draws the figure meanwhile
        model = one_thread(functools.partial(fit_pooled, seed=seed), samples, thresholds)
    except Exception as exc:
        logger.error("no pooled classification: %s: %s", type(exc).__name__, exc)
        for r in ok:  # of an earlier run, from another model
            (outdir / "pairs" / r["name"] / "pooled_class.h5").unlink(missing_ok=True)
        return None
    logger.info("pooled model fitted in %.1f s", time.perf_counter() - t_fit)
    pooled = model.to_dict()
    pooled["warnings"] = missing_classes(model, ok)
    for w in pooled["warnings"]:
        logger.warning(w)
    with atomic_path(outdir / "pooled.json") as tmp:
        tmp.write_text(json.dumps(pooled, indent=2) + "\n")
    tasks = [(str(outdir / "pairs" / r["name"]), model) for r in ok]
    bar = tqdm(total=len(tasks), unit="pair", desc="pooled", disable=not progress)
    for task, out, error in runner.map(apply_pooled, tasks):
        if error is None:
            name, stats = out
            rows[name].update(stats)
        else:  # the pair keeps its own classes; its pooled columns stay empty
            logger.error("pooled classes of %s not applied: %s", Path(task[0]).name, error)
        bar.update(1)
    bar.close()
    return pooled
