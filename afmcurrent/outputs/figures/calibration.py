"""The figure of a log-amplifier calibration (``calibration.png`` of ``afmcurrent calibrate``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .style import RC, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...pair.logamp.linear_range import CalibrationRange

__all__ = ["plot_calibration"]

logger = logging.getLogger(__name__)

_ON, _OFF, _LINE = "#0072b2", "#d55e00", "0.15"


def plot_calibration(fit: CalibrationRange, path: str | Path | None = None, *,
                     format: str | None = None, dpi: int = 200,
                     title: str | None = None) -> Figure:
    """Points, fitted line, floor and saturation, and the residuals of a calibration.

    (a) output volts against the known current (log axis): every reading, the readings
    inside the usable range filled, those outside open; the fitted line solid over the range,
    dashed beyond; the floor and saturation as vertical lines. (b) residual of every reading
    in decades of current, with the tolerance band that decides the range.

    Parameters
    ----------
    fit : CalibrationRange
        From :func:`afmcurrent.pair.logamp.linear_range.fit_linear_range`.
    path : str or Path, optional
        Where to save; not saved when None.
    format : str, optional
        ``"png"``, ``"pdf"`` or ``"svg"`` (default from the file name).
    dpi : int, optional
    title : str, optional
        Figure title (default: the calibration's name).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    cal = fit.calibration
    used = fit.used
    lo_i, hi_i = float(fit.currents.min()), float(fit.currents.max())
    xs = np.logspace(np.log10(lo_i) - 0.2, np.log10(hi_i) + 0.2, 200)
    line = cal.reference_voltage + cal.volts_per_decade * np.log10(xs / cal.reference_current)
    inside = (xs >= cal.floor_current) & (xs <= cal.saturation_current)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.0, 5.6), layout="constrained")
        ax, axr = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1])
        ax.semilogx(xs, np.where(inside, line, np.nan), color=_LINE, lw=1.0,
                    label=f"fit: {cal.volts_per_decade:.4g} V/decade")
        ax.semilogx(xs, np.where(inside, np.nan, line), color=_LINE, lw=0.8, ls="--",
                    label="line extended")
        ax.semilogx(fit.currents[used], fit.voltages[used], "o", ms=3.5, color=_ON,
                    label="readings in the usable range")
        if (~used).any():
            ax.semilogx(fit.currents[~used], fit.voltages[~used], "o", ms=3.5, mfc="none",
                        color=_OFF, label="readings off the line")
        for x, what, seen in ((cal.floor_current, "floor", fit.floor_seen),
                              (cal.saturation_current, "saturation", fit.saturation_seen)):
            for a in (ax, axr):
                a.axvline(x, color="0.45", lw=0.8, ls=":")
            ax.annotate(f"{what}\n{x:.2g} A" + ("" if seen else "\n(table end)"),
                        (x, 0.03), xycoords=("data", "axes fraction"),
                        ha="left" if what == "floor" else "right", va="bottom", fontsize=6.5,
                        xytext=(3 if what == "floor" else -3, 0), textcoords="offset points")
        ax.set_ylabel("amplifier output (V)")
        ax.legend(loc="upper left", framealpha=1.0, edgecolor="none").set_zorder(5)
        ax.grid(True, which="major", alpha=0.25, lw=0.5)
        ax.set_title(title or f"log-amplifier calibration: {cal.name}".rstrip(": "), loc="left")

        tol = fit.tolerance_decades
        axr.axhspan(-tol, tol, color="0.88", lw=0, label=f"tolerance ±{tol:.2g} decade")
        axr.axhline(0.0, color=_LINE, lw=0.6)
        axr.semilogx(fit.currents[used], fit.residuals_decades[used], "o", ms=3, color=_ON)
        if (~used).any():
            axr.semilogx(fit.currents[~used], fit.residuals_decades[~used], "o", ms=3,
                         mfc="none", color=_OFF)
        r = fit.residuals_decades
        span = max(3 * tol, float(np.max(np.abs(r[used]))) * 1.3 if used.any() else 0.0)
        far = np.abs(r) > span
        for sign, marker in ((1, "^"), (-1, "v")):  # off-scale departures: at the edge
            sel = far & (np.sign(r) == sign)
            if sel.any():
                axr.semilogx(fit.currents[sel], np.full(sel.sum(), sign * span * 0.93),
                             ls="none", marker=marker, ms=4, color=_OFF,
                             label=f"{'above' if sign > 0 else 'below'} the axis")
        axr.set_ylim(-span, span)
        axr.set_xlabel("known input current (A)")
        axr.set_ylabel("residual (decades)")
        axr.legend(loc="lower left", framealpha=1.0, edgecolor="none",
                   fontsize=6.5).set_zorder(5)
        axr.grid(True, which="major", alpha=0.25, lw=0.5)
        axr.set_title(f"residuals: RMS {fit.rms_decades:.2g} decade in the range", loc="left")
    return save_figure(fig, path, format, dpi)
