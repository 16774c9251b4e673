"""``afmcurrent calibrate``: a log amplifier's calibration from a table of known currents."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..core.errors import OutputExistsError
from ._args import argument_type, reporter

__all__ = [
    "add_parser",
    "run",
]

logger = logging.getLogger("afmcurrent")


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value < 5:
        raise ValueError(f"expected a positive number of decades below 5, got {text!r}")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``calibrate`` to the sub-commands."""
    c = sub.add_parser(
        "calibrate", help="fit a log-amplifier calibration to a table of known currents",
        description="Fit the transfer function V = V_ref + V_dec log10(I / I_ref) of a log "
        "amplifier to a table of known input currents (A; e.g. a source-meter through a "
        "resistor box) and output voltages (V), several readings per current allowed. The "
        "floor and the saturation are where the points leave the line (the longest run of "
        "known currents within max(0.05 decade, 3 x the noise) of it; "
        "afmcurrent.pair.logamp.linear_range). Prints the fit, the residuals in decades and "
        "the usable range; writes the [logamp] TOML (-o) with a comment block of provenance "
        "and calibration.png beside it. Table: a CSV with a header naming the units, e.g. "
        "'current_A, voltage_V' (more voltage columns or repeated rows for several readings; "
        "'#' starts a comment).",
    )
    c.add_argument("table", type=Path, help="CSV table of known currents and output voltages")
    c.add_argument("-o", "--output", type=Path, required=True, metavar="TOML",
                   help="calibration file to write (the [logamp] table), e.g. logamp.toml")
    c.add_argument("--figure", type=Path, metavar="PNG",
                   help="figure of the points, the fit and the residuals (default: "
                   "calibration.png beside the TOML file)")
    c.add_argument("--no-figure", action="store_true", help="do not draw the figure")
    c.add_argument("--tolerance", type=argument_type(_positive), default=None,
                   metavar="DECADES",
                   help="smallest departure from the line that counts as leaving it (default "
                   "0.05 decade; the noise of the points raises it)")
    c.add_argument("--overwrite", action="store_true", help="replace existing files")
    c.set_defaults(handler=run)
    return c


def run(args: argparse.Namespace) -> int:
    from ..io.calibration_table import read_calibration_table
    from ..outputs.calibration import calibration_report, write_calibration_toml
    from ..pair.logamp import load_calibration
    from ..pair.logamp.linear_range import TOLERANCE_DECADES, fit_linear_range

    say = reporter(args)
    figure = None if args.no_figure else (args.figure or args.output.with_name(
        "calibration.png"))
    existing = [str(p) for p in (args.output, figure) if p is not None and p.exists()]
    if existing and not args.overwrite:
        raise OutputExistsError(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    table = read_calibration_table(args.table)
    fit = fit_linear_range(table.currents, table.voltages, table.lines,
                           tolerance_decades=args.tolerance or TOLERANCE_DECADES,
                           where=str(args.table))
    say(f"{args.table}: {table.currents.size} readings at {table.n_levels} known currents")
    for line in calibration_report(fit):
        say(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_calibration_toml(args.output, fit, table)
    load_calibration(args.output)  # what was written reads back
    written = [str(args.output)]
    if figure is not None:
        from ..outputs.figures.calibration import plot_calibration

        plot_calibration(fit, figure, title=f"log-amplifier calibration: {args.table.name}")
        written.append(str(figure))
    say(f"wrote {', '.join(written)}")
    return 0
