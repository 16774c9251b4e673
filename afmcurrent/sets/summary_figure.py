"""The comparison figure of a set (``summary.png``): classes per sample, currents per group."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.classes import CLASS_LABELS, CLASS_NAMES
from ..io._common import atomic_path
from ..outputs.figures import CLASS_COLORS
from .tables import BatchResult, aggregate_samples

__all__ = [
    "write_summary_figure",
    "summary_figure",
]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


#: Colours of the ionic and electronic current distributions: those of the classes they make
#: (1 ionic-conducting, 3 electronic shunt), apart in hue and in lightness.
IONIC_COLOR = CLASS_COLORS[1]
ELECTRONIC_COLOR = CLASS_COLORS[3]


def write_summary_figure(
    path: Path, result: BatchResult, samples: dict[str, np.ndarray] | None = None
) -> Path:
    """Group comparison: stacked area fractions per sample, current distributions per group.

    A sample of one map has no error bar (there is no spread to show); when no pair
    succeeded the figure says so, with the failures, instead of drawing empty axes.

    Parameters
    ----------
    path : Path
    result : BatchResult
    samples : dict of str to ndarray, optional
        Pixels drawn from each pair (:func:`afmcurrent.sets.pooled.sample_pixels`): the
        distributions of log10 I_ion and log10 I_e(+V) per group are drawn from them (I_ion
        where I(+V) > I_e(+V)).

    Returns
    -------
    Path
    """
    fig = summary_figure(result, samples)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return Path(path)


def summary_figure(result: BatchResult, samples: dict[str, np.ndarray] | None = None
                   ) -> Figure:
    """The figure of :func:`write_summary_figure`, not saved."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [r for r in result.rows if r["status"] in ("ok", "skipped")]
    samples = samples or {}
    if not rows:
        return _nothing_succeeded(result)
    agg, _ = aggregate_samples(rows)
    groups = sorted({r.get("group") or "" for r in rows})
    labels = [f"{s['sample']}\n{s['group']}, n={s['n_maps']}" if s["group"] != s["sample"]
              else f"{s['sample']}\nn={s['n_maps']}" for s in agg]
    # labels that would not fit side by side are turned upright (one line each), and the
    # figure grows by their length
    rot1 = _upright(labels, 90)
    rot2 = _upright(groups, 70)
    if rot1:
        labels = [lab.replace("\n", ", ") for lab in labels]
    longest = max([len(x) for x in labels if rot1] + [len(x) for x in groups if rot2] + [0])
    fig = Figure(figsize=(14, 5.2 + 0.07 * longest), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
    bottom = np.zeros(len(agg))
    spread = np.array([s["n_maps"] >= 2 for s in agg])
    for code, key in CLASS_NAMES.items():
        vals = np.array([(s[key] or 0.0) * 100 for s in agg])
        ax1.bar(range(len(agg)), vals, bottom=bottom, color=CLASS_COLORS[code],
                label=CLASS_LABELS[code], edgecolor="0.4", linewidth=0.3)
        err = np.array([(s[f"{key}_std"] or 0.0) * 100 for s in agg])
        show = spread & (vals > 0)
        if show.any():  # only where there is a spread across maps (n >= 2)
            ax1.errorbar(np.flatnonzero(show), (bottom + vals)[show], yerr=err[show],
                         fmt="none", ecolor="0.15", elinewidth=0.8, capsize=3, alpha=0.7)
        bottom += vals
    ax1.set_xticks(range(len(agg)), labels, fontsize=8, rotation=90 if rot1 else 0)
    ax1.set_ylabel("area fraction of classified pixels (%)")
    ax1.set_ylim(0, 105)
    ax1.set_title("(a) classes per sample (area-weighted"
                  + ("; bars: std across maps, n ≥ 2)" if spread.any() else ")"))
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    by_group: dict[str, list[np.ndarray]] = {g: [] for g in groups}
    for r in rows:
        if r["name"] in samples:
            by_group[r.get("group") or ""].append(samples[r["name"]])
    positions, data, colors = [], [], []
    for i, g in enumerate(groups):
        x = np.concatenate(by_group[g]) if by_group[g] else np.zeros((0, 2))
        plus, elec = 10.0 ** x[:, 0], 10.0 ** x[:, 1]
        ionic = plus - elec
        for j, (vals, color) in enumerate(((np.log10(ionic[ionic > 0]), IONIC_COLOR),
                                           (x[:, 1], ELECTRONIC_COLOR))):
            if vals.size >= 2:
                positions.append(i + (j - 0.5) * 0.4)
                data.append(vals)
                colors.append(color)
    if data:
        parts = ax2.violinplot(data, positions=positions, widths=0.35, showmedians=True)
        for body, c in zip(parts["bodies"], colors, strict=True):
            body.set_facecolor(c)
            body.set_edgecolor(c)
            body.set_alpha(0.6)
        for k in ("cmedians", "cmins", "cmaxes", "cbars"):
            if k in parts:
                parts[k].set_color("0.2")
                parts[k].set_linewidth(0.8)
        ax2.legend(handles=[Patch(facecolor=IONIC_COLOR, alpha=0.6, label="ionic"),
                            Patch(facecolor=ELECTRONIC_COLOR, alpha=0.6,
                                  label="electronic at +V")],
                   fontsize=8, loc="upper right")
    else:
        ax2.text(0.5, 0.5, "no pixels drawn from the pairs", ha="center", va="center",
                 transform=ax2.transAxes, color="0.3")
    ax2.set_xticks(range(len(groups)), groups, fontsize=8, rotation=90 if rot2 else 0)
    ax2.set_ylabel("log$_{10}$ current (A)")
    ax2.set_title("(b) ionic and electronic current at +V, per group")
    ax2.grid(True, axis="y", alpha=0.3)
    return fig


def _upright(labels: list[str], room_chars: int) -> bool:
    """Whether tick labels side by side would need more than ``room_chars`` characters of the
    axis (8 pt labels: about 90 fit across panel (a), 70 across (b))."""
    longest = max((len(part) for lab in labels for part in lab.split("\n")), default=0)
    return len(labels) * (longest + 2) > room_chars


def _nothing_succeeded(result: BatchResult) -> Figure:
    """A figure that says that no pair succeeded, with the first failures and their reasons."""
    from matplotlib.figure import Figure

    failed = [r for r in result.rows if r["status"] == "failed"]
    if result.rows:
        head = (f"No pair succeeded: {len(failed)} of {len(result.rows)} failed, "
                "nothing to compare.")
        lines = [_clip(f"{r['name']}: {r.get('error') or 'no reason recorded'}", 110)
                 for r in failed[:8]]
        if len(failed) > 8:
            lines.append(f"... and {len(failed) - 8} more")
        lines.append("The reasons of every pair: summary.csv (column error) and report.html.")
    else:
        head, lines = "No pairs were given: nothing to compare.", []
    fig = Figure(figsize=(9, 1.0 + 0.22 * len(lines)), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.0, 1.0, head, ha="left", va="top", fontsize=12, fontweight="bold",
            color="#b2301a", transform=ax.transAxes)
    ax.text(0.0, 0.62 if len(lines) < 3 else 0.80, "\n".join(lines), ha="left", va="top",
            fontsize=8.5, transform=ax.transAxes, linespacing=1.4)
    return fig


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
