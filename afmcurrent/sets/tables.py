"""The set's tables: one row per pair (``summary.csv``), the rows aggregated by sample and group
(``samples.csv``), and the record of a batch run (:class:`BatchResult`).

Where a batch row is written: :func:`row_from_result` (from a pair's result) and
:func:`empty_row` (a pair that failed or was not analysed); :func:`write_tables` writes both
CSV files atomically.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.arrays import finite_or_none
from ..core.classes import FRACTION_KEYS
from ..io._common import atomic_path
from ..io.csv_table import write_csv
from ..pair.result import PairResult
from .pairing import PairSpec

__all__ = [
    "SUMMARY_COLUMNS",
    "BatchResult",
    "row_from_result",
    "empty_row",
    "input_label",
    "aggregate_samples",
    "write_tables",
    "as_float",
]

logger = logging.getLogger(__name__)

#: Columns of summary.csv, in order (units in the names; fractions are of classified pixels).
SUMMARY_COLUMNS = (
    "name", "sample", "group", "plus", "minus", "bias_plus_V", "bias_minus_V",
    "shift_dy_px", "shift_dx_px", "confidence", *FRACTION_KEYS, "classified_fraction",
    "classified_area_um2", "median_plus_current_A", "median_minus_current_A",
    "median_ionic_current_A", "median_electronic_current_A", "median_current_bounds",
    "median_ionic_current_density_A_m2", "domains",
    *(f"domains_{k}" for k in FRACTION_KEYS),
    *(f"pooled_{k}" for k in FRACTION_KEYS), "pooled_disagreement",
    "repeat_pair", "repeat_changed_fraction", "repeat_class_change_fraction",
    "repeat_median_change_decades",
    "warnings", "seconds", "status", "error",
)



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



def row_from_result(res: PairResult, spec: PairSpec) -> dict[str, Any]:
    """The ``summary.csv`` row of an analysed pair (``status`` and ``seconds`` are set by the
    task)."""
    med = res.median_currents()
    fractions = res.fractions
    counts = res.domains.count_by_class()
    area_um2 = res.plus.size[0] * res.plus.size[1] * 1e12
    row: dict[str, Any] = {
        "name": spec.name, "sample": spec.sample, "group": spec.group,
        "plus": input_label(spec, "plus") if spec.session else str(res.plus.path or spec.plus),
        "minus": (input_label(spec, "minus") if spec.session
                  else str(res.minus.path or spec.minus)),
        "bias_plus_V": res.bias_plus, "bias_minus_V": res.bias_minus,
        "shift_dy_px": res.registration.shift[0], "shift_dx_px": res.registration.shift[1],
        "confidence": res.registration.confidence,
        **{k: finite_or_none(fractions[k]) for k in FRACTION_KEYS},
        "classified_fraction": res.classified_fraction,
        "classified_area_um2": res.classified_fraction * area_um2,
        "median_plus_current_A": med["plus_current"],
        "median_minus_current_A": med["minus_current"],
        "median_ionic_current_A": med["ionic_current"],
        "median_electronic_current_A": med["electronic_current"],
        "median_current_bounds": ";".join(
            f"{k}:{v}" for k, v in res.median_current_bounds().items()),
        "median_ionic_current_density_A_m2": res.median_current_densities()["ionic_current"],
        "domains": len(res.domains),
        "warnings": " | ".join(res.warnings),
        **{f"domains_{k}": counts[k] for k in FRACTION_KEYS},
    }
    return row




def input_label(spec: PairSpec, which: str) -> str:
    """A pair's input as the tables show it: the file, and the scan number in a session."""
    path, scan = (spec.plus, spec.plus_scan) if which == "plus" else (spec.minus,
                                                                       spec.minus_scan)
    return str(path) if scan is None else f"{path} (scan {scan})"


def empty_row(spec: PairSpec) -> dict[str, Any]:
    """A ``summary.csv`` row of a pair before (or without) its analysis: every column of
    :data:`SUMMARY_COLUMNS` None except the pair's name, sample, group, inputs and given
    biases (V)."""
    row = {k: None for k in SUMMARY_COLUMNS}
    row.update(name=spec.name, sample=spec.sample, group=spec.group,
               plus=input_label(spec, "plus"), minus=input_label(spec, "minus"),
               bias_plus_V=spec.bias_plus, bias_minus_V=spec.bias_minus)
    return row



def aggregate_samples(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Aggregate the pairs' rows by (sample, group).

    Parameters
    ----------
    rows : sequence of dict
        summary.csv rows (failed pairs are left out of the statistics but counted).

    Returns
    -------
    rows : list of dict
        Per (sample, group): ``n_maps``, ``n_failed``, ``classified_area_um2``; for each class
        the area-weighted fraction (weights: each map's classified area), and ``<class>_mean``
        and ``<class>_std`` across maps (sample standard deviation; empty for one map); and
        the median over maps of the median +V and electronic currents (A).
    columns : list of str
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("sample") or "", r.get("group") or ""), []).append(r)
    columns = ["sample", "group", "n_maps", "n_failed", "classified_area_um2"]
    for k in FRACTION_KEYS:
        columns += [k, f"{k}_mean", f"{k}_std"]
    columns += ["median_plus_current_A", "median_electronic_current_A"]
    out = []
    for (sample, group), rs in sorted(groups.items()):
        good = [r for r in rs if r["status"] in ("ok", "skipped") and r.get("classified_area_um2")]
        row: dict[str, Any] = {"sample": sample, "group": group, "n_maps": len(good),
                               "n_failed": sum(r["status"] == "failed" for r in rs)}
        w = np.array([float(r["classified_area_um2"]) for r in good])
        row["classified_area_um2"] = float(w.sum()) if good else None
        for k in FRACTION_KEYS:
            v = np.array([as_float(r.get(k)) for r in good])
            ok = np.isfinite(v)
            row[k] = float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else None
            row[f"{k}_mean"] = float(np.mean(v[ok])) if ok.any() else None
            row[f"{k}_std"] = float(np.std(v[ok], ddof=1)) if ok.sum() > 1 else None
        for k in ("median_plus_current_A", "median_electronic_current_A"):
            v = np.array([as_float(r.get(k)) for r in good])
            v = v[np.isfinite(v)]
            row[k] = float(np.median(v)) if v.size else None
        out.append(row)
    return out, columns


def as_float(v: Any) -> float:
    """``float(v)``, or NaN when ``v`` is None, empty or not a number (a table cell)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def write_tables(outdir: Path, rows: Sequence[dict[str, Any]]
                 ) -> tuple[dict[str, Path], list[dict[str, Any]], list[str]]:
    """Write ``summary.csv`` (one row per pair) and ``samples.csv`` (:func:`aggregate_samples`)
    into ``outdir``, each atomically.

    Returns
    -------
    files : dict of str to Path
        ``summary.csv`` and ``samples.csv``.
    sample_rows, sample_columns
        The aggregated rows and their columns (for the report).
    """
    sample_rows, sample_cols = aggregate_samples(rows)
    files = {"summary.csv": _write_rows(outdir / "summary.csv", rows, SUMMARY_COLUMNS),
             "samples.csv": _write_rows(outdir / "samples.csv", sample_rows, sample_cols)}
    return files, sample_rows, sample_cols


def _write_rows(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Rows (dicts) as CSV, atomically; a missing key is an empty cell."""
    columns = list(columns)
    with atomic_path(Path(path)) as tmp:
        write_csv(tmp, columns, ([r.get(c) for c in columns] for r in rows))
    return Path(path)
