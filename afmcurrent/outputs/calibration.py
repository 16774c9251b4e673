"""What ``afmcurrent calibrate`` writes: the ``[logamp]`` TOML with its provenance, and the text.

The TOML file holds the five keys of a calibration (``volts_per_decade``, ``reference_current``,
``reference_voltage``, ``floor_current``, ``saturation_current``) and the record of the fit the
analysis checks its data against (``fit_rms_decades``, ``fit_min_current``,
``fit_max_current``: ``afmcurrent.pair.checks``), under a comment block saying where it came
from: the date, the table (path, SHA-256, readings, its own comments), the line, the range and
the residual of every known current.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

from ..core.version import __version__
from ..io._common import atomic_path
from ..io.calibration_table import CalibrationTable
from ..pair.logamp.linear_range import CalibrationRange

__all__ = ["calibration_report", "calibration_toml", "write_calibration_toml"]


def calibration_report(fit: CalibrationRange) -> list[str]:
    """The fit as lines of text: the line, the usable range and how it was found, the
    residuals (what ``afmcurrent calibrate`` prints and the TOML file keeps as comments)."""
    cal = fit.calibration
    out = [
        f"line: V = {cal.reference_voltage:+.4g} V + {cal.volts_per_decade:.5g} V/decade x "
        f"log10(I / {cal.reference_current:.5g} A)",
        f"usable range: {cal.floor_current:.3g} .. {cal.saturation_current:.3g} A "
        f"({sum(fit.on_line)} of {len(fit.levels)} known currents within "
        f"{fit.tolerance_decades:.3g} decade of the line)",
    ]
    below, above = fit.level_residual[: fit.on_line.argmax()], \
        fit.level_residual[len(fit.on_line) - fit.on_line[::-1].argmax():]
    if fit.floor_seen:
        out.append(f"  floor {cal.floor_current:.3g} A: the points below leave the line by "
                   f"{min(below, key=abs):+.2f} .. {max(below, key=abs):+.2f} decade")
    else:
        out.append(f"  floor {cal.floor_current:.3g} A: the lowest known current (no point "
                   "below it leaves the line: the table does not show the floor; readings "
                   "below are upper bounds)")
    if fit.saturation_seen:
        out.append(f"  saturation {cal.saturation_current:.3g} A: the points above leave the "
                   f"line by {min(above, key=abs):+.2f} .. {max(above, key=abs):+.2f} decade")
    else:
        out.append(f"  saturation {cal.saturation_current:.3g} A: the highest known current "
                   "(the table does not show the saturation; readings above are lower bounds)")
    out.append(f"residuals inside the range: RMS {fit.rms_decades:.3g} decade, largest "
               f"{fit.max_abs_residual_decades:.3g} decade; noise of a point "
               f"{fit.noise_decades:.2g} decade ({fit.noise_source})")
    out.append("residual per known current (decades; * outside the range):")
    for c, r, n, on in zip(fit.levels, fit.level_residual, fit.level_counts, fit.on_line,
                           strict=True):
        out.append(f"  {c:10.3g} A  {r:+8.3f}  ({n} reading{'s' if n != 1 else ''})"
                   f"{'' if on else '  *'}")
    return out


def calibration_toml(fit: CalibrationRange, table: CalibrationTable | None = None,
                     created: _dt.datetime | None = None) -> str:
    """The ``[logamp]`` TOML text of a fitted calibration with its provenance as comments.

    Parameters
    ----------
    fit : CalibrationRange
    table : CalibrationTable, optional
        The table it was fitted on (path, SHA-256, readings and comments are recorded).
    created : datetime, optional
        Date of the calibration (default: now, local time).

    Returns
    -------
    str
        Read back by :func:`afmcurrent.pair.logamp.load_calibration` to the same calibration.
    """
    created = created or _dt.datetime.now().astimezone()
    lines = [f"# Log-amplifier calibration fitted by afmcurrent calibrate {__version__}",
             f"# date: {created.isoformat(timespec='seconds')}"]
    if table is not None:
        digest = hashlib.sha256(table.path.read_bytes()).hexdigest() \
            if table.path.is_file() else "file not found"
        lines += [f"# table: {table.path} (sha256 {digest})",
                  f"#   {table.currents.size} readings at {table.n_levels} known currents "
                  f"(lines {int(table.lines.min())}-{int(table.lines.max())}, currents in "
                  f"{table.current_unit}, outputs in {table.voltage_unit})"]
        lines += [f"#   table note: {c}" for c in table.comments]
    lines += [f"# {t}" for t in calibration_report(fit)]
    lines += ["# Keys: the five of the transfer function V = reference_voltage + "
              "volts_per_decade * log10(I / reference_current),",
              "# floor and saturation (readings beyond are bounds), and the record of the fit "
              "(fit_*) that the analysis",
              "# compares its data with (a warning when the residuals exceed twice the pixel "
              "noise or the data lie outside).",
              "[logamp]"]
    units = {"volts_per_decade": "V/decade", "reference_voltage": "V",
             "fit_rms_decades": "decades", "hz_per_amp": "Hz/A"}
    for key, value in fit.calibration.to_dict().items():
        lines.append(f"{key} = {value!r}    # {units.get(key, 'A')}")
    return "\n".join(lines) + "\n"


def write_calibration_toml(path: str | Path, fit: CalibrationRange,
                           table: CalibrationTable | None = None,
                           created: _dt.datetime | None = None) -> Path:
    """Write :func:`calibration_toml` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(calibration_toml(fit, table, created), encoding="utf-8")
    return path
