"""Where a log amplifier follows its line: the fit of a calibration table with its usable range.

A real log amplifier follows ``V = V_ref + V_dec * log10(I / I_ref)`` only between a floor and
a saturation. At low currents the input bias and leakage currents and the noise add to the
input (``I + I_0``), so the output flattens and the points leave the line on the side of higher
current; at high currents the transistor's bulk resistance and the output stage compress and
then clip the output (data sheets of the AD8304, "Log conformance", and the LOG104 / LOG112,
"Log conformity"). :func:`fit_linear_range` finds that range from a calibration table and fits
the line inside it.

The rule (robust, no threshold tuned to one amplifier):

1. The readings are grouped by known current (a *level*); each level's output is the median of
   its readings (a stray reading does not move it).
2. A first line is the Theil-Sen line through the level medians (the median of the slopes of
   all pairs of levels: it ignores up to ~29 % of the levels departing from the line, such
   as the floor and saturation ends).
3. The noise of a level, in decades, comes from the scatter of repeated readings (pooled
   standard deviation over the levels read more than once, divided by sqrt(readings)) or,
   without repeats, from the median absolute deviation of the central half of the levels
   about the first line. The tolerance is ``max(tolerance_decades, 3 x that noise)``: a level
   leaves the line when its residual exceeds it (default at least 0.05 decade, a 12 % current
   error).
4. The usable range is the longest run of consecutive levels within the tolerance of the line
   whose residuals also change by no more than the tolerance from one level to the next (a
   bend of the response between two levels near the line is a departure too); the line is
   refitted (least squares on every reading of the run) and the run found again, until it no
   longer changes.
5. The floor is the lowest current of the run, the saturation the highest. Levels below (above)
   it left the line; where no level does, the table does not show a floor (saturation) and
   the end of the table is taken, conservatively: a reading beyond it is only a bound.

Refused, with the line of the table named: fewer than four distinct currents, fewer than three
consecutive levels on a line, and a response that is not monotonic (an output that goes back by
more than twice the tolerance from one current to the next: a range switch, swapped rows, a
wrong unit).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ...core.errors import CalibrationError
from .fit import CalibrationFit, fit_calibration
from .transfer import LogAmpCalibration

__all__ = ["CalibrationRange", "fit_linear_range", "MIN_LEVELS", "TOLERANCE_DECADES"]

#: Fewest distinct known currents of a calibration table.
MIN_LEVELS = 4
#: Fewest consecutive levels on the line (two points do not show a line).
MIN_LEVELS_ON_LINE = 3
#: Smallest departure from the line that counts as leaving it, decades (a 12 % current error).
TOLERANCE_DECADES = 0.05


@dataclass(frozen=True)
class CalibrationRange:
    """A calibration fitted inside the range where the amplifier follows its line.

    Attributes
    ----------
    calibration : LogAmpCalibration
        Slope and intercept fitted on the readings of the range; ``floor_current`` and
        ``saturation_current`` the ends of the range; ``fit_rms_decades``,
        ``fit_min_current``, ``fit_max_current`` recorded.
    fit : CalibrationFit
        The least-squares fit on the readings of the range.
    currents, voltages : ndarray of float, shape (n,)
        Every reading (A, V).
    residuals_decades : ndarray of float, shape (n,)
        ``(V - V_line(I)) / V_dec`` of every reading, decades: the current the line reads
        from the output, over the known one (log10); positive where the output reads a higher
        current (the floor's leakage), negative where it reads a lower one (compression).
    lines : ndarray of int, shape (n,)
        Table line of each reading (0 when not known).
    levels : ndarray of float, shape (m,)
        The distinct known currents, A, ascending.
    level_voltage, level_residual : ndarray of float, shape (m,)
        Median output (V) and median residual (decades) of each level.
    level_counts : ndarray of int, shape (m,)
        Readings per level.
    on_line : ndarray of bool, shape (m,)
        Levels inside the range.
    noise_decades : float
        One-sigma noise of a level's median, decades (how it was estimated: ``noise_source``).
    noise_source : str
        ``"repeated readings"`` or ``"scatter about the line"``.
    tolerance_decades : float
        The departure from the line that counts as leaving it.
    floor_seen, saturation_seen : bool
        Whether levels below (above) the range left the line; False: the table ends inside
        the line there and the end of the table is taken.
    """

    calibration: LogAmpCalibration
    fit: CalibrationFit
    currents: np.ndarray
    voltages: np.ndarray
    residuals_decades: np.ndarray
    lines: np.ndarray
    levels: np.ndarray
    level_voltage: np.ndarray
    level_residual: np.ndarray
    level_counts: np.ndarray
    on_line: np.ndarray
    noise_decades: float
    noise_source: str
    tolerance_decades: float
    floor_seen: bool
    saturation_seen: bool

    @property
    def rms_decades(self) -> float:
        """RMS residual of the readings inside the range, decades."""
        return float(self.fit.rms_decades)

    @property
    def max_abs_residual_decades(self) -> float:
        """Largest absolute residual of a reading inside the range, decades."""
        r = self.residuals_decades[self.used]
        return float(np.max(np.abs(r))) if r.size else math.nan

    @property
    def used(self) -> np.ndarray:
        """Readings inside the range (bool, shape (n,))."""
        lo, hi = self.calibration.floor_current, self.calibration.saturation_current
        return (self.currents >= lo * (1 - 1e-9)) & (self.currents <= hi * (1 + 1e-9))

    def to_dict(self) -> dict[str, Any]:
        """The fit's numbers as a JSON-safe dict (SI units, decades)."""
        return {
            "calibration": self.calibration.to_dict(),
            "rms_decades": self.rms_decades,
            "max_abs_residual_decades": self.max_abs_residual_decades,
            "noise_decades": self.noise_decades,
            "noise_source": self.noise_source,
            "tolerance_decades": self.tolerance_decades,
            "floor_seen": self.floor_seen,
            "saturation_seen": self.saturation_seen,
            "levels": [
                {"current_A": float(c), "voltage_V": float(v), "residual_decades": float(r),
                 "readings": int(n), "on_line": bool(o)}
                for c, v, r, n, o in zip(self.levels, self.level_voltage, self.level_residual,
                                         self.level_counts, self.on_line, strict=True)
            ],
        }


def _longest_run(res: np.ndarray, tol: float, weight: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` of the longest run of consecutive levels within ``tol`` of the line
    whose residuals also change by at most ``tol`` from one level to the next (ties: more
    readings, then the lower run)."""
    ok = np.abs(res) <= tol
    joined = np.abs(np.diff(res)) <= tol  # level k and k + 1 on the same stretch of line
    best, best_key = (0, 0), (-1, -1.0)
    start = None
    for k in range(res.size + 1):
        inside = k < res.size and ok[k] and (start is None or joined[k - 1])
        if start is not None and not inside:
            key = (k - start, float(weight[start:k].sum()))
            if key > best_key:
                best, best_key = (start, k), key
            start = None
        if start is None and k < res.size and ok[k]:
            start = k
    return best


def fit_linear_range(
    currents: Any,
    voltages: Any,
    lines: Any = None,
    *,
    tolerance_decades: float = TOLERANCE_DECADES,
    where: str = "calibration table",
) -> CalibrationRange:
    """Fit a log-amplifier calibration inside the range where the readings follow a line.

    The rule is in the module docstring (:mod:`afmcurrent.pair.logamp.linear_range`).

    Parameters
    ----------
    currents : array_like of float, shape (n,)
        Known input currents, A (positive); a current may repeat (several readings).
    voltages : array_like of float, shape (n,)
        Output of each reading, V.
    lines : array_like of int, shape (n,), optional
        Line of the table each reading comes from (named in messages).
    tolerance_decades : float, optional
        Smallest departure from the line that counts as leaving it (default 0.05).
    where : str, optional
        The table's name in messages.

    Returns
    -------
    CalibrationRange

    Raises
    ------
    CalibrationError
        Fewer than :data:`MIN_LEVELS` distinct currents; a response that is not monotonic
        (the line of the table named); no run of three consecutive levels on a line; the
        arrays differ in length, a current is not positive or a value not finite.
    """
    i = np.asarray(currents, dtype=np.float64).ravel()
    v = np.asarray(voltages, dtype=np.float64).ravel()
    ln = (np.zeros(i.size, int) if lines is None
          else np.asarray(lines, dtype=np.int64).ravel())
    if i.shape != v.shape or ln.shape != i.shape:
        raise CalibrationError(f"{where}: {i.size} currents but {v.size} voltages")
    if not (np.all(np.isfinite(i)) and np.all(i > 0) and np.all(np.isfinite(v))):
        raise CalibrationError(f"{where}: every known current must be positive and finite (A), "
                               "every output finite (V)")
    levels, inverse, counts = np.unique(i, return_inverse=True, return_counts=True)
    m = levels.size

    def at(k: int) -> str:
        first = ln[inverse == k]
        return f"line {int(first.min())}" if first.size and first.min() > 0 else \
            f"{levels[k]:.3g} A"

    if m < MIN_LEVELS:
        where_lines = (f" (lines {int(ln.min())}-{int(ln.max())})" if ln.max() > 0 else "")
        raise CalibrationError(
            f"{where}: {m} distinct known current(s){where_lines}; a calibration needs at least "
            f"{MIN_LEVELS}, spread over the range (the floor and saturation show only where "
            "points leave the line)")
    x = np.log10(levels)
    vmed = np.array([np.median(v[inverse == k]) for k in range(m)])
    slope, intercept, _, _ = stats.theilslopes(vmed, x)
    if not (math.isfinite(slope) and slope != 0):
        raise CalibrationError(f"{where}: the output does not change with the current (no "
                               "logarithmic response)")

    # noise of one level's median, decades
    repeated = counts >= 2
    if repeated.any():
        ss = sum(float(np.sum((v[inverse == k] - np.mean(v[inverse == k])) ** 2))
                 for k in np.flatnonzero(repeated))
        dof = int(np.sum(counts[repeated] - 1))
        sigma_v = math.sqrt(ss / dof) if dof else 0.0
        noise = float(np.median(sigma_v / np.sqrt(counts))) / abs(slope)
        source = "repeated readings"
    else:
        r0 = (vmed - (intercept + slope * x)) / slope
        core = r0[m // 4: m - m // 4] if m >= 4 else r0
        noise = 1.4826 * float(np.median(np.abs(core - np.median(core))))
        source = "scatter about the line"
    tol = max(float(tolerance_decades), 3.0 * noise)

    # monotonic: from one level to the next the output moves with the slope's sign, or stays
    # within the noise (at the floor and saturation it flattens)
    step = np.diff(vmed) / slope  # decades of current read per step
    back = np.flatnonzero(step < -2.0 * tol)
    if back.size:
        k = int(back[0])
        raise CalibrationError(
            f"{where}, {at(k + 1)}: the output at {levels[k + 1]:.3g} A ({vmed[k + 1]:.4g} V) "
            f"reads {-step[k]:.2f} decade(s) lower than at {levels[k]:.3g} A ({at(k)}, "
            f"{vmed[k]:.4g} V): the response is not monotonic (a range switch, swapped rows "
            "or a wrong unit?)")

    run = (-1, -1)
    for _ in range(25):
        res = (vmed - (intercept + slope * x)) / slope
        new = _longest_run(res, tol, counts.astype(float))
        if new[1] - new[0] < MIN_LEVELS_ON_LINE:
            raise CalibrationError(
                f"{where}: fewer than {MIN_LEVELS_ON_LINE} consecutive known currents lie on "
                f"one line within {tol:.3g} decade (is the output logarithmic in the current? "
                "are the columns current and voltage?)")
        if new == run:
            break
        run = new
        sel = (inverse >= run[0]) & (inverse < run[1])
        slope, intercept = np.polyfit(np.log10(i[sel]), v[sel], 1)
    lo, hi = float(levels[run[0]]), float(levels[run[1] - 1])
    sel = (inverse >= run[0]) & (inverse < run[1])
    eps = 1e-6
    fit = fit_calibration(i[sel], v[sel], floor_current=lo * (1 - eps),
                          saturation_current=hi * (1 + eps))
    cal = dataclasses.replace(fit.calibration, floor_current=lo, saturation_current=hi,
                              name=str(where))
    # residuals of every reading against the unclipped line
    line_v = cal.reference_voltage + cal.volts_per_decade * np.log10(i / cal.reference_current)
    resid = (v - line_v) / cal.volts_per_decade
    on = np.zeros(m, bool)
    on[run[0]:run[1]] = True
    level_res = np.array([np.median(resid[inverse == k]) for k in range(m)])
    return CalibrationRange(
        calibration=cal, fit=fit, currents=i, voltages=v, residuals_decades=resid, lines=ln,
        levels=levels, level_voltage=vmed, level_residual=level_res,
        level_counts=counts.astype(int), on_line=on, noise_decades=noise,
        noise_source=source, tolerance_decades=tol, floor_seen=run[0] > 0,
        saturation_seen=run[1] < m)
