"""One pair of a batch as a task: hash the inputs, skip a complete pair, else analyse it and
write ``OUTDIR/pairs/<name>/`` atomically (what every executor runs per pair).

A pair's folder is written under a temporary name and renamed into place when complete; a pair
whose ``batch.json`` holds the content hash of its current inputs and options is skipped. A
failing pair fails alone: its row carries the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from ..core.errors import AfmcurrentError
from ..core.version import __version__
from ..io import load_scan
from ..io.hdf5 import read_hdf5
from ..io.session import load_session_pair
from ..outputs.figures import CLASS_COLORS
from ..outputs.writers import write_result
from ..pair.pipeline import analyze_pair
from ..pair.result import PairResult
from .options import BatchOptions, file_digest, pair_options
from .pairing import PairSpec
from .pooled import RESULT_CHANNELS, pair_sample
from .tables import empty_row, row_from_result

__all__ = [
    "BatchOptions",
    "input_hash",
    "analyse_spec",
    "run_pair",
    "pair_task",
]

logger = logging.getLogger(__name__)

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
            h.update(file_digest(p).encode())
        else:
            h.update(b"missing")
    extra = [spec.bias_plus, spec.bias_minus, options.fingerprint()]
    if spec.session:
        extra.append([spec.plus_scan, spec.minus_scan])
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()




def analyse_spec(spec: PairSpec, options: BatchOptions) -> PairResult:
    """Load a pair's scans (files or a session) and analyse them with the batch's options.

    Raises
    ------
    AfmcurrentError
        Whatever reading or analysing the pair raises.
    """
    plus, minus, notes = spec.plus, spec.minus, ()
    session_logamp = None
    if spec.session:
        sp = load_session_pair(spec.plus, (spec.plus_scan, spec.minus_scan),
                               allow_partial=options.allow_partial)
        plus, minus, notes, session_logamp = sp.plus, sp.minus, sp.notes, sp.calibration
    else:
        plus, minus = load_scan(plus), load_scan(minus)
    opts = pair_options(options, spec, plus, minus)
    if opts.logamp is None and session_logamp is not None:
        opts = opts.replace(logamp=session_logamp)
    res = analyze_pair(plus, minus, config=options.config, options=opts, optical=spec.optical)
    res.notes[:0] = list(notes)
    return res


def run_pair(spec: PairSpec, options: BatchOptions, outdir: str | Path,
             digest: str | None = None) -> dict[str, Any]:
    """Analyse one pair and write ``OUTDIR/pairs/<name>/`` atomically (what a batch runs per pair).

    The figures are not drawn here, whatever ``options.figures``: a batch draws them afterwards
    on the set's one log current scale (:func:`afmcurrent.sets.figure_pass.figure_pass`).

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

    Returns the row and the drawn features (:func:`afmcurrent.sets.pooled.pair_sample`; None when
    ``pooled_samples`` is 0 or the pair failed), so the pooled fit does not read every
    ``result.h5`` back.
    """

    t0 = time.perf_counter()
    outdir = Path(outdir)
    pairs = outdir / "pairs"
    dest = pairs / spec.name
    tmp = pairs / f".{spec.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    row = empty_row(spec)
    sample = None
    try:
        digest = digest or input_hash(spec, options)
        res = analyse_spec(spec, options)
        if pooled_samples > 0:
            sample = pair_sample(res.maps.plus_current, res.maps.electronic_current, spec.name,
                                 pooled_samples, seed)
        # figures: drawn by the figure pass on the set's one current scale (figure_pass.py)
        write_result(res, tmp, figures=False, gwy=options.gwy, compact=True)
        _thumbnail(res.class_map, tmp / "thumbnail.png")
        row.update(row_from_result(res, spec))
        row.update(status="ok", error="", seconds=time.perf_counter() - t0)
        (tmp / "batch.json").write_text(json.dumps(
            {"input_hash": digest, "row": row, "version": __version__}, default=str, indent=1))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except AfmcurrentError as exc:
        row.update(status="failed", error=str(exc), seconds=time.perf_counter() - t0)
        sample = None
        logger.info("pair %s failed: %s", spec.name, exc)  # reported once by run_batch
    except Exception as exc:  # an unexpected failure still fails only this pair
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                   seconds=time.perf_counter() - t0)
        sample = None
        logger.debug("pair %s failed unexpectedly", spec.name, exc_info=True)  # -vv
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return row, sample


def pair_task(spec: PairSpec, options: BatchOptions, outdir: str, force: bool,
               pooled_samples: int, seed: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """One pair of a batch: skipped when complete with unchanged inputs, else analysed.

    Returns the row and the pair's pixels for the pooled model (:func:`_run_pair`); the pixels
    of a skipped pair are read back from its ``result.h5`` (a pair whose result cannot be read
    is redone). Never raises: whatever goes wrong fails this pair's row only.
    """
    try:
        return _skip_or_run(spec, options, outdir, force, pooled_samples, seed)
    except Exception as exc:
        logger.debug("pair %s failed unexpectedly", spec.name, exc_info=True)  # -vv
        row = empty_row(spec)
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", seconds=0.0)
        return row, None


def _skip_or_run(spec: PairSpec, options: BatchOptions, outdir: str, force: bool,
                 pooled_samples: int, seed: int) -> tuple[dict[str, Any], np.ndarray | None]:

    try:
        digest = input_hash(spec, options)
    except OSError as exc:
        row = empty_row(spec)
        row.update(status="failed", error=f"cannot read inputs: {exc}", seconds=0.0)
        return row, None
    done = None if force else _completed(spec, Path(outdir), digest, options)
    if done is not None:
        if pooled_samples <= 0:
            return done, None

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


def _thumbnail(class_map: np.ndarray, path: Path) -> None:
    """A small class-map image (one pixel per 4 x 4 block at most) for the report."""


    step = max(1, max(class_map.shape) // 128)
    lut = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLORS], np.uint8)
    iio.imwrite(path, lut[class_map[::step, ::step]], extension=".png")


def _completed(spec: PairSpec, outdir: Path, digest: str,
               options: BatchOptions | None = None) -> dict[str, Any] | None:
    """The stored row of a complete pair whose inputs are unchanged and which holds the files
    asked for (``result.gwy`` with ``gwy``), else None. Missing figures do not redo the
    analysis: the figure pass draws them (:mod:`afmcurrent.sets.figure_pass`)."""
    marker = outdir / "pairs" / spec.name / "batch.json"
    wanted = ["summary.json"]
    if options is not None and options.gwy:
        wanted.append("result.gwy")
    try:
        stored = json.loads(marker.read_text())
        if stored.get("input_hash") != digest or not all(
                (marker.parent / f).is_file() for f in wanted):
            return None
        row = dict(stored["row"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # unreadable or foreign batch.json: the pair is analysed again
    row.update(status="skipped", error="")
    return row



