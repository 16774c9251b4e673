"""The static HTML report of a batch (``report.html``): the tables and every pair's thumbnail."""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.classes import CLASS_LABELS, FRACTION_KEYS, ClassCode
from ..io._common import atomic_path
from ..outputs.figures import CLASS_COLORS
from .tables import SUMMARY_COLUMNS, BatchResult, as_float

__all__ = [
    "write_report",
]

logger = logging.getLogger(__name__)

def write_report(path: Path, result: BatchResult, sample_rows: list[dict[str, Any]],
                 sample_columns: list[str]) -> Path:
    """A static HTML page (no server, no scripts): the tables and every pair's thumbnail.

    Returns
    -------
    Path
    """

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
        fracs = ", ".join(f"{k.split('_')[0][:4]} {100 * as_float(r.get(k)):.0f}%"
                          for k in FRACTION_KEYS if np.isfinite(as_float(r.get(k))))
        fig = "figure.png" if (result.outdir / "pairs" / r["name"] / "figure.png").exists() \
            else "thumbnail.png"
        cards.append(
            f'<div class="card"><a href="pairs/{name}/{fig}"><img src="pairs/{name}/thumbnail.png"'
            f' alt="class map of {name}"></a><br><b>{name}</b><br>{html.escape(r["sample"])}'
            f' / {html.escape(r["group"])}<br>{html.escape(fracs)}</div>')
    legend = " ".join(
        f'<span class="sw" style="background:{CLASS_COLORS[c]}"></span>'
        f"{html.escape(CLASS_LABELS[c])}" for c in ClassCode)
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

