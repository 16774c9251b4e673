"""Set-level outputs of a batch: per-sample aggregation, comparison figure, static HTML report."""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..pair.domains import CLASS_LABELS, CLASS_NAMES

if TYPE_CHECKING:
    from .batch import BatchResult

__all__ = ["aggregate_samples", "write_summary_figure", "write_report"]

logger = logging.getLogger(__name__)

FRACTION_KEYS = tuple(CLASS_NAMES.values())


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
            v = np.array([_num(r.get(k)) for r in good])
            ok = np.isfinite(v)
            row[k] = float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else None
            row[f"{k}_mean"] = float(np.mean(v[ok])) if ok.any() else None
            row[f"{k}_std"] = float(np.std(v[ok], ddof=1)) if ok.sum() > 1 else None
        for k in ("median_plus_current_A", "median_electronic_current_A"):
            v = np.array([_num(r.get(k)) for r in good])
            v = v[np.isfinite(v)]
            row[k] = float(np.median(v)) if v.size else None
        out.append(row)
    return out, columns


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def write_summary_figure(
    path: Path, result: BatchResult, samples: dict[str, np.ndarray] | None = None
) -> Path:
    """Group comparison: stacked area fractions per sample, current distributions per group.

    Parameters
    ----------
    path : Path
    result : BatchResult
    samples : dict of str to ndarray, optional
        Pixels drawn from each pair (:func:`afmcurrent.pooled.sample_pixels`): the
        distributions of log10 I_ion and log10 I_e(+V) per group are drawn from them (I_ion
        where I(+V) > I_e(+V)).

    Returns
    -------
    Path
    """
    from matplotlib.figure import Figure

    from ..outputs.figures import CLASS_COLORS
    from ..outputs.writers import atomic_path

    rows = [r for r in result.rows if r["status"] in ("ok", "skipped")]
    samples = samples or {}
    agg, _ = aggregate_samples(rows)
    fig = Figure(figsize=(14, 5.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
    labels = [f"{s['sample']}\n{s['group']}, n={s['n_maps']}" if s["group"] != s["sample"]
              else f"{s['sample']}\nn={s['n_maps']}" for s in agg]
    bottom = np.zeros(len(agg))
    for code, key in CLASS_NAMES.items():
        vals = np.array([(s[key] or 0.0) * 100 for s in agg])
        err = np.array([(s[f"{key}_std"] or 0.0) * 100 for s in agg])
        ax1.bar(range(len(agg)), vals, bottom=bottom, color=CLASS_COLORS[code],
                label=CLASS_LABELS[code], yerr=err, capsize=3,
                error_kw={"elinewidth": 0.8, "alpha": 0.6})
        bottom += vals
    ax1.set_xticks(range(len(agg)), labels, fontsize=8)
    ax1.set_ylabel("area fraction of classified pixels (%)")
    ax1.set_ylim(0, 105)
    ax1.set_title("(a) classes per sample (area-weighted; bars: std across maps)")
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    groups = sorted({r.get("group") or "" for r in rows})
    by_group: dict[str, list[np.ndarray]] = {g: [] for g in groups}
    for r in rows:
        if r["name"] in samples:
            by_group[r.get("group") or ""].append(samples[r["name"]])
    positions, data, colors = [], [], []
    for i, g in enumerate(groups):
        x = np.concatenate(by_group[g]) if by_group[g] else np.zeros((0, 2))
        plus, elec = 10.0 ** x[:, 0], 10.0 ** x[:, 1]
        ionic = plus - elec
        for j, (vals, color) in enumerate(((np.log10(ionic[ionic > 0]), "tab:green"),
                                           (x[:, 1], "tab:red"))):
            if vals.size >= 2:
                positions.append(i + (j - 0.5) * 0.4)
                data.append(vals)
                colors.append(color)
    if data:
        parts = ax2.violinplot(data, positions=positions, widths=0.35, showmedians=True)
        for body, c in zip(parts["bodies"], colors, strict=True):
            body.set_facecolor(c)
            body.set_alpha(0.5)
    ax2.set_xticks(range(len(groups)), groups, fontsize=8)
    ax2.set_ylabel("log$_{10}$ current (A)")
    ax2.set_title("(b) pixels per group: ionic (green), electronic at +V (red)")
    ax2.grid(True, axis="y", alpha=0.3)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return Path(path)


def write_report(path: Path, result: BatchResult, sample_rows: list[dict[str, Any]],
                 sample_columns: list[str]) -> Path:
    """A static HTML page (no server, no scripts): the tables and every pair's thumbnail.

    Returns
    -------
    Path
    """
    from ..outputs.figures import CLASS_COLORS
    from ..outputs.writers import atomic_path
    from .batch import SUMMARY_COLUMNS

    def table(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = []
        for r in rows:
            cls = ' class="failed"' if r.get("status") == "failed" else ""
            cells = "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
            body.append(f"<tr{cls}>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    cards = []
    for r in result.rows:
        name = html.escape(r["name"])
        if r["status"] == "failed":
            cards.append(f'<div class="card failed"><b>{name}</b><br>failed: '
                         f'{html.escape(str(r.get("error")))}</div>')
            continue
        fracs = ", ".join(f"{k.split('_')[0][:4]} {100 * _num(r.get(k)):.0f}%"
                          for k in FRACTION_KEYS if np.isfinite(_num(r.get(k))))
        fig = "figure.png" if (result.outdir / "pairs" / r["name"] / "figure.png").exists() \
            else "thumbnail.png"
        cards.append(
            f'<div class="card"><a href="pairs/{name}/{fig}"><img src="pairs/{name}/thumbnail.png"'
            f' alt="class map of {name}"></a><br><b>{name}</b><br>{html.escape(r["sample"])}'
            f' / {html.escape(r["group"])}<br>{html.escape(fracs)}</div>')
    legend = " ".join(
        f'<span class="sw" style="background:{CLASS_COLORS[c]}"></span>'
        f"{html.escape(CLASS_LABELS[c])}" for c in range(5))
    n_failed = len(result.failed)
    pooled = json.dumps(result.pooled, indent=1) if result.pooled else "none"
    figure = ('<img src="summary.png" alt="summary figure" style="max-width:100%">'
              if "summary.png" in result.files else "(no summary figure: see the log)")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>afmcurrent batch report</title>
<style>
body{{font-family:sans-serif;margin:1.5em;}} table{{border-collapse:collapse;font-size:12px;}}
td,th{{border:1px solid #ccc;padding:2px 5px;text-align:right;}} th{{background:#eee;}}
tr.failed td{{background:#fde0dc;}} .card{{display:inline-block;width:200px;margin:6px;
vertical-align:top;font-size:12px;}} .card img{{width:192px;image-rendering:pixelated;}}
.card.failed{{background:#fde0dc;padding:4px;}} .sw{{display:inline-block;width:12px;height:12px;
margin:0 4px 0 12px;}} .wrap{{overflow-x:auto;}}
</style></head><body>
<h1>afmcurrent batch report</h1>
<p>{len(result.rows)} pairs, {n_failed} failed. Area fractions are of classified pixels.
Thumbnails show the per-pair rule classes: {legend}</p>
<p>{figure}</p>
<h2>Samples</h2><div class="wrap">{table(sample_rows, sample_columns)}</div>
<h2>Pairs</h2>{''.join(cards)}
<h2>All pairs</h2><div class="wrap">{table(result.rows, SUMMARY_COLUMNS)}</div>
<h2>Pooled classification model</h2><pre>{html.escape(pooled)}</pre>
</body></html>
"""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)
