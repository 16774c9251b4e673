"""The ``afmcurrent acquire`` sub-command (registered through the entry-point group)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``acquire`` sub-parser to the ``afmcurrent`` command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``ArgumentParser.add_subparsers``.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = subparsers.add_parser(
        "acquire",
        help="run a +V/-V scan session on the instruments (or the simulator)",
        description="Run a dual-polarity session from a TOML session file: ramp the bias "
        "source to +V, settle, scan line by line onto a new HDF5 session file, ramp through "
        "0 V to -V, scan the same area, return to 0 V, and analyse each +V/-V pair beside the "
        "session file. Whatever fails (interlock, lost communication, Ctrl-C, SIGTERM), the "
        "bias ends at 0 V with the output off and every recorded line on disk. Exit status: "
        "0 complete, 1 error, 4 scan aborted (reason in the file and on stderr), 130 Ctrl-C, "
        "143 SIGTERM.",
        epilog="Example: afmcurrent acquire docs/examples/session.toml -o runs/ --simulate",
    )
    p.add_argument("session", type=Path, help="session TOML file (see docs/instrument.md)")
    p.add_argument("-o", "--outdir", type=Path, required=True,
                   help="folder for the session file and the pair results")
    p.add_argument("--simulate", action="store_true",
                   help="virtual instruments: a Keithley on a pseudo-terminal and the simulated "
                   "AFM, in accelerated time ([simulate] speed); the default when the session "
                   "file names no hardware")
    p.add_argument("--no-analysis", action="store_true", help="do not analyse the pairs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)
    return p


class _Progress:
    """tqdm bar per scan: lines done of total, bias, elapsed, remaining."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def event(self, kind: str, message: str, scan: int) -> None:
        if kind in ("abort", "recovered", "settle_timeout", "analysis", "analysis_failed",
                    "shutdown_failed"):
            self._write(f"{kind}: {message}")

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def scan_started(self, index: int, bias: float, lines: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=lines, desc=f"scan {index} at {bias:+g} V", unit="line",
                        file=sys.stderr, leave=True)

    def line(self, index: int, row: int, lines: int) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def scan_ended(self, index: int, status: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(status)
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    """Run the session named in ``args``; returns the exit status."""
    from .protocol import Observer, load_session, open_instruments, run_session

    cfg = load_session(args.session)
    simulate = bool(args.simulate)
    if not simulate and not cfg.has_hardware:
        print("acquire: the session file names no hardware ([source] port); running on the "
              "virtual instruments (--simulate)", file=sys.stderr)
        simulate = True
    progress = _Progress(not args.no_progress)
    observer = Observer()
    observer.event = progress.event  # type: ignore[method-assign]
    observer.scan_started = progress.scan_started  # type: ignore[method-assign]
    observer.line = progress.line  # type: ignore[method-assign]
    observer.scan_ended = progress.scan_ended  # type: ignore[method-assign]
    t0 = time.perf_counter()
    with open_instruments(cfg, simulate) as inst:
        if simulate:
            print(f"acquire: simulated instruments (virtual Keithley on {inst.virtual.port}, "
                  f"time x{inst.clock.speed:g})", file=sys.stderr)
        result = run_session(cfg, args.outdir, inst, observer=observer,
                             analyze=not args.no_analysis)
    print(f"session file: {result.path}")
    for i, (st, why) in enumerate(zip(result.statuses, result.reasons, strict=True)):
        print(f"  scan {i} at {cfg.biases[i]:+g} V: {st}" + (f" ({why})" if why else ""))
    for (i, j), out in result.outdirs.items():
        print(f"  pair {i}-{j}: {out}")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    if result.aborted:
        print(f"acquire: aborted: {result.aborted}; bias at 0 V, output off", file=sys.stderr)
    if result.interrupted:
        print(f"acquire: interrupted ({result.interrupted}); bias at 0 V, output off",
              file=sys.stderr)
    return result.exit_status
