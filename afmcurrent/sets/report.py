"""The static HTML report of a batch (``report.html``): the summary figure, the failures and
warnings, every pair's class map with its files, the sortable tables and the settings used.

One self-contained page (no server, nothing fetched from elsewhere); its links are relative to
the batch folder, so the folder can be moved or archived whole. The tables sort by a click on a
column head (a small script of our own, :data:`SORT_SCRIPT`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.classes import CLASS_LABELS, CLASSES, ClassCode
from ..core.version import __version__
from ..io._common import atomic_path
from ..outputs.figures import CLASS_COLORS
from .tables import SUMMARY_COLUMNS, BatchResult, as_float

__all__ = [
    "write_report",
    "PAIR_FILES",
    "SORT_SCRIPT",
]

logger = logging.getLogger(__name__)

#: Files of a pair's folder the report links to (when present), with their link text.
PAIR_FILES = (
    ("figure.png", "figure"),
    ("figure_paper.png", "paper figure"),
    ("profile.png", "profile"),
    ("optical.png", "optical"),
    ("repeat.png", "repeat scan"),
    ("result.h5", "result.h5"),
    ("result.gwy", "result.gwy"),
    ("summary.json", "summary.json"),
    ("domains.csv", "domains.csv"),
    ("profile.csv", "profile.csv"),
    ("settings.toml", "settings.toml"),
)

#: Sorting of the tables: a click (or Enter) on a column head sorts by that column, again
#: reverses; numbers as numbers, text in natural order, empty cells last. ``#sort=ID:COLUMN``
#: (``:desc`` for descending) in the address opens the page sorted, by the same click. With
#: ``#check`` the page counts the images the browser could not load into ``data-broken-images``
#: of ``<body>`` (how the tests see the page as a browser does).
SORT_SCRIPT = """
(function () {
  function cellKey(td) {
    if (!td) return "";
    var v = td.getAttribute("data-v");
    return v !== null ? v : td.textContent.trim();
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (r) { return cellKey(r.cells[col]); });
    var numeric = keys.every(function (k) { return k === "" || !isNaN(Number(k)); });
    var idx = rows.map(function (r, i) { return i; });
    idx.sort(function (a, b) {
      var x = keys[a], y = keys[b];
      if (x === "" || y === "") return (x === "") - (y === "") || a - b;
      var c = numeric ? Number(x) - Number(y)
                      : x.localeCompare(y, undefined, {numeric: true});
      return (dir === "ascending" ? c : -c) || a - b;
    });
    idx.forEach(function (i) { body.appendChild(rows[i]); });
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.tabIndex = 0;
    th.title = "sort by this column (again: reverse)";
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(th); });
  });
  var hash = decodeURIComponent(location.hash);
  var m = /^#sort=([\\w-]+):([^:]+)(:desc)?$/.exec(hash);
  if (m) {
    var th = document.querySelector("#" + m[1] + " th[data-col='" + m[2] + "']");
    if (th) { th.click(); if (m[3]) th.click(); }
  }
  if (hash === "#check") {
    window.addEventListener("load", function () {
      var broken = Array.prototype.filter.call(document.images, function (im) {
        return !(im.complete && im.naturalWidth > 0);
      });
      document.body.setAttribute("data-broken-images", String(broken.length));
      document.body.setAttribute("data-images", String(document.images.length));
    });
  }
})();
"""

_STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222;}
h2{margin-top:1.4em;border-bottom:1px solid #ccc;}
table{border-collapse:collapse;font-size:12px;}
td,th{border:1px solid #ccc;padding:2px 5px;text-align:right;white-space:nowrap;}
td.t,th.t{text-align:left;}
th{background:#eee;position:sticky;top:0;}
table.sortable th{cursor:pointer;}
th[aria-sort=ascending]::after{content:" \\25B2";}
th[aria-sort=descending]::after{content:" \\25BC";}
tr.failed td{background:#fde0dc;} tr.warned td:first-child{border-left:4px solid #f5b33a;}
.wrap{overflow:auto;max-height:70vh;}
.card{display:inline-block;width:230px;margin:6px;vertical-align:top;font-size:12px;
border:1px solid #ddd;padding:4px;}
.card img{width:220px;image-rendering:pixelated;border:1px solid #999;}
.card.failed{background:#fde0dc;} .card ul{margin:2px 0;padding-left:1.1em;}
.card .files a{margin-right:.5em;white-space:nowrap;}
.sw{display:inline-block;width:11px;height:11px;margin:0 4px 0 0;border:1px solid #888;
vertical-align:-1px;}
.warn{color:#8a4b00;} .fail{color:#9e2a14;} td.fail{white-space:normal;min-width:28em;}
figure{margin:0;} figcaption{font-size:13px;color:#444;max-width:1100px;}
pre{background:#f7f7f7;padding:6px;font-size:12px;overflow:auto;max-height:30em;}
"""


def write_report(path: Path, result: BatchResult, sample_rows: list[dict[str, Any]],
                 sample_columns: list[str]) -> Path:
    """Write the batch's static HTML page (``report.html``).

    Sections: the summary figure with its caption; the failures with their reasons; the
    warnings of each pair; each pair's class map captioned with the class names and area
    fractions, linking to the pair's files and figures; the per-sample and per-pair tables
    (sortable); the settings used (``settings.toml`` of the batch); the pooled model.

    Parameters
    ----------
    path : Path
        The page to write (in the batch folder: its links are relative to it).
    result : BatchResult
        Rows of every pair (``status`` ok / skipped / failed), the batch folder, the pooled
        model and the files written so far (``summary.png`` when drawn).
    sample_rows, sample_columns
        The per-sample table (:func:`afmcurrent.sets.tables.aggregate_samples`).

    Returns
    -------
    Path
    """
    outdir = Path(path).parent
    rows = result.rows
    failed = [r for r in rows if r["status"] == "failed"]
    warned = [r for r in rows if _warnings(r)]
    n_ok = sum(r["status"] == "ok" for r in rows)
    n_skip = sum(r["status"] == "skipped" for r in rows)

    legend = " ".join(f'<span class="sw" style="background:{CLASS_COLORS[c]}"></span>'
                      f"{html.escape(CLASS_LABELS[c])}&ensp;" for c in ClassCode)
    if "summary.png" in result.files and (outdir / "summary.png").is_file():
        figure = ('<figure><a href="summary.png"><img src="summary.png" alt="summary figure" '
                  'style="max-width:100%"></a><figcaption>(a) Area fraction of each degradation '
                  "class per sample, of the classified pixels, weighted by each map's classified "
                  "area; error bars: standard deviation across the maps of a sample (none for a "
                  "single map). (b) Distribution of the ionic current and of the electronic "
                  "current at +V over pixels drawn from every pair of a group (pixels at the "
                  "amplifier floor enter at the floor's value: a distribution piled up at its "
                  "lower end is a bound, not a measured current).</figcaption>"
                  "</figure>")
    else:
        figure = "<p>(no summary figure: see the log)</p>"
    if "currents.png" in result.files and (outdir / "currents.png").is_file():
        figure += ('<figure><a href="currents.png"><img src="currents.png" alt="current maps '
                   'of the set" style="max-width:100%;width:900px"></a><figcaption>I(+V) and '
                   "|I(-V)| of every pair on one log colour scale shared by the set (the "
                   "pairs' own figures, drawn with --figures, use the same scale); black: at "
                   "the amplifier floor "
                   "(upper bound), purple: saturated (lower bound), white: no value."
                   "</figcaption></figure>")

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>afmcurrent batch report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>afmcurrent batch report</h1>",
        f"<p>{len(rows)} pairs: {n_ok} analysed, {n_skip} complete from an earlier run "
        f"(skipped), <b>{len(failed)} failed</b>; {len(warned)} with warnings. "
        f"Written by afmcurrent {html.escape(__version__)} on "
        f"{dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}. "
        "Area fractions are of the classified pixels.</p>",
        f"<p>Classes: {legend}</p>",
        '<nav><a href="#failures">failures</a> · <a href="#warnings">warnings</a> · '
        '<a href="#pairs">pairs</a> · <a href="#samples-table">samples</a> · '
        '<a href="#pairs-table">all pairs</a> · <a href="#settings">settings</a> · '
        '<a href="#pooled">pooled model</a></nav>',
        figure,
        _failures(failed),
        _warning_list(warned),
        '<h2 id="pairs">Pairs</h2>',
        "<p>Each pair's rule classes (thumbnail, click for the figure), the area fraction of "
        "each class, and the pair's files.</p>",
        "".join(_card(r, outdir) for r in rows),
        "<h2>Samples</h2>",
        _table("samples-table", sample_rows, sample_columns, outdir),
        "<h2>All pairs</h2>",
        "<p>Click a column head to sort by it (again: reverse).</p>",
        _table("pairs-table", rows, SUMMARY_COLUMNS, outdir),
        _settings(outdir),
        '<h2 id="pooled">Pooled classification model</h2>',
        f"<pre>{html.escape(json.dumps(result.pooled, indent=1) if result.pooled else 'none')}"
        "</pre>",
        f"<script>{SORT_SCRIPT}</script>",
        "</body></html>",
    ]
    page = "\n".join(p for p in parts if p)
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


def _warnings(row: dict[str, Any]) -> list[str]:
    w = row.get("warnings") or ""
    items = w if isinstance(w, list) else str(w).split(" | ")
    return [s.strip() for s in items if s and s.strip()]


def _failures(failed: Sequence[dict[str, Any]]) -> str:
    if not failed:
        return '<h2 id="failures">Failures</h2><p>None: every pair was analysed.</p>'
    body = "".join(
        f'<tr class="failed"><td class="t">{html.escape(r["name"])}</td>'
        f'<td class="t">{html.escape(str(r.get("plus") or ""))}</td>'
        f'<td class="t">{html.escape(str(r.get("minus") or ""))}</td>'
        f'<td class="t fail">{html.escape(str(r.get("error") or "no reason recorded"))}</td></tr>'
        for r in failed)
    return (f'<h2 id="failures">Failures ({len(failed)})</h2><div class="wrap">'
            '<table id="failures-table" class="sortable"><thead><tr>'
            '<th class="t" data-col="name">pair</th><th class="t" data-col="plus">+V file</th>'
            '<th class="t" data-col="minus">-V file</th><th class="t" data-col="error">reason'
            f"</th></tr></thead><tbody>{body}</tbody></table></div>")


def _warning_list(warned: Sequence[dict[str, Any]]) -> str:
    if not warned:
        return '<h2 id="warnings">Warnings</h2><p>None.</p>'
    items = "".join(
        f'<li><a href="#pair-{_anchor(r["name"])}">{html.escape(r["name"])}</a><ul>'
        + "".join(f'<li class="warn">{html.escape(w)}</li>' for w in _warnings(r))
        + "</ul></li>" for r in warned)
    n = f"{len(warned)} pair{'s' if len(warned) > 1 else ''}"
    return f'<h2 id="warnings">Warnings ({n})</h2><ul>{items}</ul>'


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _href(name: str, file: str) -> str:
    from urllib.parse import quote

    return f"pairs/{quote(name)}/{quote(file)}"


def _card(r: dict[str, Any], outdir: Path) -> str:
    name = r["name"]
    esc = html.escape(name)
    anchor = f' id="pair-{_anchor(name)}"'
    if r["status"] == "failed":
        return (f'<div class="card failed"{anchor}><b>{esc}</b><br>'
                f'<span class="fail">failed: {html.escape(str(r.get("error")))}</span></div>')
    folder = outdir / "pairs" / name
    present = [(f, t) for f, t in PAIR_FILES if (folder / f).is_file()]
    main = next((f for f, _ in present if f.endswith(".png")), None)
    thumb = ""
    if (folder / "thumbnail.png").is_file():
        img = (f'<img src="{_href(name, "thumbnail.png")}" alt="class map of {esc}" '
               f'title="class map of {esc}">')
        thumb = (f'<a href="{_href(name, main)}">{img}</a>' if main else img) + "<br>"
    fracs = []
    for c in CLASSES:
        v = as_float(r.get(c.key))
        if np.isfinite(v):
            fracs.append(f'<li><span class="sw" style="background:{CLASS_COLORS[c]}"></span>'
                         f"{html.escape(CLASS_LABELS[c])}: {100 * v:.1f} %</li>")
    classified = as_float(r.get("classified_fraction"))
    cls_txt = (f"{100 * classified:.0f} % of the frame classified" if np.isfinite(classified)
               else "")
    warns = _warnings(r)
    warn = (f'<br><a class="warn" href="#warnings">{len(warns)} warning'
            f'{"s" if len(warns) > 1 else ""}</a>' if warns else "")
    files = " ".join(f'<a href="{_href(name, f)}">{html.escape(t)}</a>' for f, t in present)
    status = " (complete from an earlier run)" if r["status"] == "skipped" else ""
    return (f'<div class="card"{anchor}>{thumb}<b>{esc}</b>{status}<br>'
            f'{html.escape(str(r.get("sample") or ""))} / {html.escape(str(r.get("group") or ""))}'
            f'<ul>{"".join(fracs)}</ul>{html.escape(cls_txt)}{warn}'
            f'<div class="files">{files}</div></div>')


def _table(tid: str, rows: Sequence[dict[str, Any]], cols: Sequence[str], outdir: Path) -> str:
    text_cols = {"name", "sample", "group", "plus", "minus", "status", "error", "warnings",
                 "repeat_pair", "median_current_bounds"}
    head = "".join(
        f'<th class="{"t" if c in text_cols else ""}" data-col="{html.escape(c)}">'
        f"{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        classes = []
        if r.get("status") == "failed":
            classes.append("failed")
        if _warnings(r):
            classes.append("warned")
        cls = f' class="{" ".join(classes)}"' if classes else ""
        cells = []
        for c in cols:
            v = r.get(c)
            text = html.escape(_fmt(v))
            key = _sort_key(v)
            dv = f' data-v="{html.escape(key)}"' if key is not None else ""
            if c == "name" and "status" in r and r.get("status") != "failed":
                folder = outdir / "pairs" / str(v)
                target = next((f for f, _ in PAIR_FILES if (folder / f).is_file()), None)
                if target:
                    text = f'<a href="{_href(str(v), target)}">{text}</a>'
            if c in ("plus", "minus") and v:
                full = html.escape(str(v))
                text = f'<span title="{full}">{html.escape(Path(str(v)).name)}</span>'
            cells.append(f'<td class="{"t" if c in text_cols else ""}"{dv}>{text}</td>')
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (f'<div class="wrap"><table id="{tid}" class="sortable"><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table></div>")


def _settings(outdir: Path) -> str:
    p = outdir / "settings.toml"
    if not p.is_file():
        return '<h2 id="settings">Settings</h2><p>(no settings.toml written)</p>'
    text = p.read_text(encoding="utf-8", errors="replace")
    return ('<h2 id="settings">Settings</h2><p>The effective settings of this batch '
            '(<a href="settings.toml">settings.toml</a>; each pair\'s own, its calibration '
            "included, in its folder).</p>"
            f"<pre>{html.escape(text)}</pre>")


def _sort_key(v: Any) -> str | None:
    """The full value of a number for sorting (the cell shows it rounded)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if math.isfinite(float(v)) else ""
    return None


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)
