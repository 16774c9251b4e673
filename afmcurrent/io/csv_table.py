"""The one CSV writer of afmcurrent: tables with a header row, units in the column names.

Every CSV file afmcurrent writes goes through :func:`write_csv` (``domains.csv``,
``profile.csv``, a batch's ``summary.csv`` and ``samples.csv``), so a cell looks the same in all
of them: empty for a missing or non-finite number, six significant digits for a float,
``true`` / ``false`` for a boolean.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["csv_cell", "write_csv"]


def csv_cell(v: Any) -> str:
    """One value as its CSV cell.

    Parameters
    ----------
    v : any
        None, a bool, a number (Python or NumPy) or anything with a ``str``.

    Returns
    -------
    str
        ``""`` for None, NaN and +/-inf; ``"true"`` / ``"false"`` for a boolean; ``"%.6g"`` for
        a float; the decimal integer; else ``str(v)``.
    """
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}" if math.isfinite(v) else ""
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a header row and the rows (cells through :func:`csv_cell`).

    Parameters
    ----------
    path : str or Path
        The file, replaced if it exists (callers that need an atomic write pass the temporary
        file of :class:`afmcurrent.io._common.atomic_path`).
    columns : sequence of str
        Column names, units in the names (``area_um2``, ``median_plus_current_pA``).
    rows : iterable of sequence
        One sequence of values per row, in column order.

    Returns
    -------
    Path
    """
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(columns))
        for row in rows:
            w.writerow([csv_cell(v) for v in row])
    return Path(path)
