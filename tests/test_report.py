"""``report.html`` of a batch: captions with the class names, the failures with their reasons,
the warnings of each pair, the settings, links that resolve, and tables that sort, checked in a
real headless browser (Debian's Chromium) on the page a real batch wrote."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import imageio.v3 as iio
import numpy as np
import pytest

from afmcurrent.core.classes import CLASS_LABELS, CLASSES
from afmcurrent.sets import BatchOptions, discover_pairs, run_batch
from afmcurrent.sets.report import write_report
from afmcurrent.sets.tables import SUMMARY_COLUMNS, BatchResult, aggregate_samples
from afmcurrent.sim import simulate_pair, write_pair

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    """Links, images and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.links.append(a["src"])
        if tag == "body":
            self.body = a

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)


def _page(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def _unresolved(page: _Page, base: Path) -> list[str]:
    """The links of ``page`` to files that are not there (relative links only; anchors of the
    page itself must name an element of it)."""
    bad = []
    for href in page.links:
        u = urlsplit(href)
        if u.scheme or u.netloc:
            bad.append(f"not relative: {href}")
        elif u.path and not (base / unquote(u.path)).is_file():
            bad.append(href)
    return bad


def _fake_batch(tmp_path: Path) -> BatchResult:
    """A batch folder written by hand: a pair with warnings, a pair without, a failed one."""
    keys = [c.key for c in CLASSES]
    rows = []
    for name, fr, warns in (("p_one", (0.25, 0.5, 0.125, 0.125), ["registration confidence "
                                                                    "0.21 is low", "lagging"]),
                            ("p_two", (0.9, 0.1, 0.0, 0.0), [])):
        d = tmp_path / "pairs" / name
        d.mkdir(parents=True)
        iio.imwrite(d / "thumbnail.png", np.zeros((8, 8, 3), np.uint8))
        for f in ("figure.png", "result.h5", "summary.json", "settings.toml"):
            (d / f).write_bytes(b"x")
        row = dict.fromkeys(SUMMARY_COLUMNS)
        row.update(name=name, sample="s", group="g", status="ok", error="",
                   warnings=" | ".join(warns), classified_area_um2=50.0,
                   classified_fraction=0.8, confidence=0.9 if name == "p_two" else 0.21,
                   **dict(zip(keys, fr, strict=True)))
        rows.append(row)
    row = dict.fromkeys(SUMMARY_COLUMNS)
    row.update(name="p_bad", sample="s", group="g", status="failed", plus="/d/bad_plus.spm",
               minus="/d/bad_minus.spm", warnings="",
               error="/d/bad_minus.spm: Nanoscope header without pixel data")
    rows.append(row)
    (tmp_path / "settings.toml").write_text("[classify]\nionic_fraction_min = 0.9\n")
    return BatchResult(rows=rows, outdir=tmp_path)


def test_captions_failures_warnings_settings_and_links(tmp_path):
    res = _fake_batch(tmp_path)
    sample_rows, cols = aggregate_samples(res.rows)
    html = write_report(tmp_path / "report.html", res, sample_rows, cols).read_text()
    page = _page(html)
    text = " ".join(" ".join(page.text).split())
    # every class by its name with its fraction (a past bug: three classes read "ioni")
    for label, pct in zip((CLASS_LABELS[c] for c in CLASSES), ("25.0", "50.0", "12.5", "12.5"),
                          strict=True):
        assert f"{label}: {pct} %" in text
    assert not re.search(r"\bioni \d", text)
    # the failure with its reason, the warnings of the pair that has them, the settings
    assert "Failures (1)" in text and "Nanoscope header without pixel data" in text
    assert "Warnings (1 pair)" in text
    assert "registration confidence 0.21 is low" in text and "lagging" in text
    assert "ionic_fraction_min = 0.9" in text
    # links to each pair's files (only those present) resolve; anchors name elements
    assert "pairs/p_one/result.h5" in page.links and "pairs/p_two/figure.png" in page.links
    assert not any("profile.csv" in h for h in page.links)
    assert _unresolved(page, tmp_path) == []
    ids = set(re.findall(r'id="([^"]+)"', html))
    assert {h[1:] for h in page.links if h.startswith("#")} <= ids
    # the tables are sortable: heads name their column, numbers carry their full value
    assert 'id="pairs-table" class="sortable"' in html and 'data-col="confidence"' in html
    assert 'data-v="0.21"' in html and "<script>" in html


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A real batch: two pairs and one whose -V file was cut short after pairing."""
    root = tmp_path_factory.mktemp("rep") / "runs"
    for folder, preset, seed in (("s1/a1", "degraded", 41), ("s2/a1", "pristine", 42),
                                 ("s3/a1", "degraded", 43)):
        write_pair(root / folder, simulate_pair(preset, seed=seed, shape=(48, 48)),
                   prefix=f"{preset}{seed}")
    specs = discover_pairs(root).pairs
    assert len(specs) == 3
    broken = next(s for s in specs if "43" in s.name)
    broken.minus.write_bytes(broken.minus.read_bytes()[:3000])
    out = root.parent / "out"
    # with the per-pair figures (opt-in in a batch): the report links each pair's thumbnail
    res = run_batch(specs, out, BatchOptions(figures=True), workers=0, progress=False)
    return out, res


def _chromium(url: str, *args: str, tmp: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", *args, url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                    "chromium; .ci/run installs it)")
def test_report_in_a_headless_browser(batch, tmp_path):
    out, res = batch
    report = out / "report.html"
    url = report.resolve().as_uri()
    assert [r["status"] for r in res.rows].count("failed") == 1

    # sorted by a click on the head (the page's own script, triggered by the address)
    names = sorted(r["name"] for r in res.rows)
    for how, want in (("name:desc", names[::-1]), ("name", names)):
        dom = _chromium(f"{url}#sort=pairs-table:{how}", "--dump-dom", tmp=tmp_path)
        table = dom[dom.index('id="pairs-table"'):]
        table = table[:table.index("</table>")]
        got = re.findall(r"<tr[^>]*><td[^>]*>(?:<a [^>]*>)?([^<]+)", table)
        assert got == want, how
        assert 'aria-sort="descending"' in table if how.endswith("desc") else \
            'aria-sort="ascending"' in table
    # numbers sort as numbers (the confidence column; the failed pair's empty cell last)
    dom = _chromium(f"{url}#sort=pairs-table:confidence", "--dump-dom", tmp=tmp_path)
    table = dom[dom.index('id="pairs-table"'):dom.index("</table>", dom.index('id="pairs-table"'))]
    values = [r["confidence"] for r in res.rows]
    order = re.findall(r"<tr[^>]*><td[^>]*>(?:<a [^>]*>)?([^<]+)", table)
    by_name = {r["name"]: r["confidence"] for r in res.rows}
    ranked = [by_name[n] for n in order]
    finite = [v for v in ranked if v is not None]
    assert finite == sorted(v for v in values if v is not None) and ranked[-1] is None

    # as the browser sees it: every image loaded, every link resolves to a file
    dom = _chromium(f"{url}#check", "--dump-dom", tmp=tmp_path)
    page = _page(dom)
    assert page.body.get("data-broken-images") == "0"
    # summary figure, the set's current maps and the two thumbnails
    assert int(page.body["data-images"]) >= 4 and "currents.png" in page.links
    assert _unresolved(page, out) == []
    ok = [r["name"] for r in res.rows if r["status"] == "ok"]
    for name in ok:
        for f in ("figure.png", "figure_paper.png", "result.h5", "summary.json"):
            assert f"pairs/{name}/{f}" in page.links
    text = " ".join(page.text)
    assert "Failures (1)" in text and "Nanoscope header without pixel data" in text

    # a screenshot, for looking (kept beside the report)
    shot = out / "report_screenshot.png"
    _chromium(url, f"--screenshot={shot}", "--window-size=1280,2200", tmp=tmp_path)
    img = iio.imread(shot)
    assert img.shape[0] == 2200 and img.shape[1] == 1280
    assert np.ptp(img[..., :3]) > 100  # not a blank page
