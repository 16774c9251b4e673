"""A log-amplifier calibration table: known input currents and the amplifier's output volts.

The table a lab records with a resistor box or a source-meter to calibrate its log amplifier
(``afmcurrent calibrate``, ``docs/howto_lab_files.md``). A CSV file (comma, semicolon or tab
separated; lines starting with ``#`` are comments)::

    # AD8304 board, 2026-11-02, Keithley 2400 through 1 GOhm ... 10 kOhm
    current_A, voltage_V
    1e-13, -1.19
    1e-13, -1.21          # several readings of one current: one row each ...
    1e-12, -1.00, -1.01   # ... or more voltage columns (voltage_V, voltage_V, ...)

The header names one current column and one or more voltage columns, each with its unit:
``current_A``, ``current (pA)``, ``I [nA]``, ``voltage_V``, ``output (mV)``, ``V_out [V]``.
A cell may repeat the unit (``5 pA``); a cell whose unit differs from its column's is refused
as mixed units, naming the line (a table typed by hand that switches from pA to nA half way
is the mistake this catches). Every value is converted to SI (A, V) here.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import CalibrationError
from ..core.units import SI_PREFIXES
from ._common import check_readable

__all__ = ["CalibrationTable", "read_calibration_table"]

_CURRENT_NAMES = ("current", "i", "i_in", "input", "input_current")
_VOLTAGE_NAMES = ("voltage", "v", "v_out", "vout", "output", "output_voltage", "vlog")
_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _-]*?)\s*(?:[_ ]\s*|\(\s*|\[\s*)"
                     r"([a-zA-Z\u00b5\u03bc~]*[AV])\s*[)\]]?\s*$")
_CELL = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
                   r"([a-zA-Z\u00b5\u03bc~]*[AV])?\s*$")


@dataclass(frozen=True)
class CalibrationTable:
    """The readings of a calibration table, one entry per reading (several per current allowed).

    Attributes
    ----------
    path : Path
    currents : ndarray of float, shape (n,)
        Known input current of each reading, A (positive).
    voltages : ndarray of float, shape (n,)
        Amplifier output of each reading, V.
    lines : ndarray of int, shape (n,)
        Line number (1-based, as an editor shows it) each reading comes from.
    current_unit, voltage_unit : str
        The units of the columns as written (``"pA"``, ``"V"``).
    comments : tuple of str
        The comment lines of the file (``#`` stripped), kept for the provenance.
    """

    path: Path
    currents: np.ndarray
    voltages: np.ndarray
    lines: np.ndarray
    current_unit: str
    voltage_unit: str
    comments: tuple[str, ...] = ()

    @property
    def n_levels(self) -> int:
        """Number of distinct known currents."""
        return int(np.unique(self.currents).size)


def _unit_factor(unit: str, base: str) -> float | None:
    unit = unit.strip()
    if not unit.endswith(base):
        return None
    prefix = unit[: -len(base)]
    return SI_PREFIXES.get(prefix)


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))


def read_calibration_table(path: str | Path) -> CalibrationTable:
    """Read a calibration table (see the module docstring for the format).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    CalibrationTable
        Currents in A and voltages in V, one entry per reading.

    Raises
    ------
    ReadError
        If the file is missing or unreadable.
    CalibrationError
        If the header does not name a current and a voltage column with their units, a cell
        is not a number, a current is not positive, a cell's unit differs from its column's
        (mixed units) or a row has the wrong number of cells; the message names the file
        and the line.
    """
    p = check_readable(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{p}: cannot read the calibration table: {exc}") from None
    comments: list[str] = []
    rows: list[tuple[int, str]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        body, _, comment = raw.partition("#")
        if comment.strip() and not body.strip():
            comments.append(comment.strip())
        if body.strip():
            rows.append((no, body.strip()))
    if not rows:
        raise CalibrationError(f"{p}: empty calibration table (expected a header such as "
                               "'current_A, voltage_V' and one row per reading)")
    head_no, head = rows[0]
    delimiter = max((",", ";", "\t"), key=head.count)
    names = [c.strip() for c in _split(head, delimiter)]
    kinds: list[tuple[str, str, float]] = []  # (kind, unit, factor) per column
    for name in names:
        m = _HEADER.match(name)
        if m is None:
            raise CalibrationError(
                f"{p}, line {head_no}: column {name!r} does not name its unit; the header needs "
                "a current and a voltage column with units, e.g. 'current_A, voltage_V' or "
                "'current (pA), output (mV)'")
        word, unit = m.group(1).strip().lower().replace(" ", "_"), m.group(2)
        base = unit[-1]
        factor = _unit_factor(unit, base)
        if factor is None:
            raise CalibrationError(f"{p}, line {head_no}: unknown unit {unit!r} of column "
                                   f"{name!r} (A or V with an SI prefix: fA, pA, nA, uA, mA, "
                                   "A; mV, V)")
        if base == "A" and word in _CURRENT_NAMES:
            kinds.append(("current", unit, factor))
        elif base == "V" and word in _VOLTAGE_NAMES:
            kinds.append(("voltage", unit, factor))
        else:
            raise CalibrationError(
                f"{p}, line {head_no}: column {name!r} is neither a current (in A: "
                f"{', '.join(_CURRENT_NAMES)}) nor a voltage (in V: "
                f"{', '.join(_VOLTAGE_NAMES)})")
    n_cur = sum(k[0] == "current" for k in kinds)
    n_volt = sum(k[0] == "voltage" for k in kinds)
    if n_cur != 1 or n_volt < 1:
        raise CalibrationError(f"{p}, line {head_no}: the header needs exactly one current "
                               f"column and at least one voltage column, got {n_cur} and "
                               f"{n_volt}: {', '.join(names)}")
    volt_units = sorted({k[1] for k in kinds if k[0] == "voltage"})
    if len(volt_units) > 1:
        raise CalibrationError(f"{p}, line {head_no}: the voltage columns are in "
                               f"{' and '.join(volt_units)}: mixed units; give every reading "
                               "in one unit")
    currents: list[float] = []
    voltages: list[float] = []
    lines: list[int] = []
    for no, body in rows[1:]:
        cells = [c.strip() for c in _split(body, delimiter)]
        if len(cells) != len(kinds):
            raise CalibrationError(f"{p}, line {no}: {len(cells)} cells, the header has "
                                   f"{len(kinds)} columns")
        current = math.nan
        volts: list[float] = []
        for cell, (kind, unit, factor) in zip(cells, kinds, strict=True):
            if cell == "" and kind == "voltage":
                continue  # fewer readings on this row
            m = _CELL.match(cell)
            if m is None:
                raise CalibrationError(f"{p}, line {no}: {cell!r} is not a number"
                                       f"{' (with its unit)' if cell else ''} in the {kind} "
                                       f"column ({unit})")
            if m.group(2) is not None and m.group(2) != unit:
                raise CalibrationError(
                    f"{p}, line {no}: {cell!r} is in {m.group(2)} but its column is in {unit}: "
                    "mixed units; give every value of a column in the column's unit")
            value = float(m.group(1)) * factor
            if not math.isfinite(value):
                raise CalibrationError(f"{p}, line {no}: {cell!r} is not finite")
            if kind == "current":
                current = value
            else:
                volts.append(value)
        if not current > 0:
            raise CalibrationError(f"{p}, line {no}: the known current must be positive (a "
                                   f"log amplifier reads magnitudes), got {cells[0]!r}")
        if not volts:
            raise CalibrationError(f"{p}, line {no}: no voltage reading")
        for v in volts:
            currents.append(current)
            voltages.append(v)
            lines.append(no)
    if not currents:
        raise CalibrationError(f"{p}: no readings below the header (line {head_no})")
    return CalibrationTable(
        path=p, currents=np.asarray(currents, float), voltages=np.asarray(voltages, float),
        lines=np.asarray(lines, int),
        current_unit=next(k[1] for k in kinds if k[0] == "current"),
        voltage_unit=next(k[1] for k in kinds if k[0] == "voltage"),
        comments=tuple(comments))
