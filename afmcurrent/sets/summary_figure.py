"""The comparison figure of a set (``summary.png``): classes per sample, currents per group."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.classes import CLASS_LABELS, CLASS_NAMES
from ..io._common import atomic_path
from ..outputs.figures import CLASS_COLORS
from .tables import BatchResult, aggregate_samples

__all__ = [
    "write_summary_figure",
]

logger = logging.getLogger(__name__)

def write_summary_figure(
    path: Path, result: BatchResult, samples: dict[str, np.ndarray] | None = None
) -> Path:
    """Group comparison: stacked area fractions per sample, current distributions per group.

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
    from matplotlib.figure import Figure


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



