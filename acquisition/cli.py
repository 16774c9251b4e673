"""The ``afmcurrent acquire`` sub-command (registered through the entry-point group).

``afmcurrent`` loads :func:`register` for every command line, so this module imports the
session and safety layers only when ``acquire`` runs (the ``TYPE_CHECKING`` names are for the
annotations).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .safety.supervisor import Supervisor
    from .session import Instruments, Observer, SessionConfig, SessionResult

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
        "session file. Whatever fails (interlock, lost communication, garbage replies, Ctrl-C, "
        "SIGTERM, SIGHUP when the terminal closes, SIGQUIT, ...), the bias ends at 0 V with the "
        "output off and every recorded line on disk; a supervisor process ramps down if this "
        "process is killed (SIGKILL, out of memory), and a Keithley 2450 arms its own watchdog. "
        "Exit status: 0 complete, 1 error, 4 scan aborted (reason in the file and on stderr), "
        "128 + signal number when a signal stopped it (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).",
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
    """tqdm bar per scan: lines done of total, bias, elapsed, remaining (the callbacks of
    :class:`acquisition.session.Observer`)."""

    def __init__(self, enabled: bool, quiet: bool = False) -> None:
        self.enabled = enabled
        self.quiet = quiet  # -q: the problems only, not the analysis and repeat reports
        self.bar: Any = None

    def event(self, kind: str, message: str, scan: int) -> None:
        if kind in ("abort", "recovered", "settle_timeout", "analysis_failed",
                    "shutdown_failed") or (kind in ("analysis", "repeat") and not self.quiet):
            self._write(f"{kind}: {message}")

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(text, file=sys.stderr)
        except OSError:  # the terminal is gone (SIGHUP): the session file has it
            self.enabled = False

    def scan_started(self, index: int, bias: float, lines: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=lines, desc=f"scan {index} at {bias:+g} V", unit="line",
                        file=sys.stderr, leave=True)

    def line(self, index: int, row: int, lines: int) -> None:
        if self.bar is not None:
            try:
                self.bar.update(1)
            except OSError:
                self.bar = None

    def scan_ended(self, index: int, status: str) -> None:
        if self.bar is not None:
            try:
                self.bar.set_postfix_str(status)
                self.bar.close()
            except OSError:
                pass
            self.bar = None


def _say(text: str, file: Any = None) -> None:
    """Print, unless the terminal is gone (after SIGHUP)."""
    try:
        print(text, file=file or sys.stdout)
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    """Run the session named in ``args``; returns the exit status."""
    from .session import load_session, open_instruments, run_session

    cfg = load_session(args.session)
    simulate = bool(args.simulate)
    if not simulate and not cfg.has_hardware:
        print("acquire: the session file names no hardware ([source] port); running on the "
              "virtual instruments (--simulate)", file=sys.stderr)
        simulate = True
    quiet = bool(getattr(args, "quiet", False))
    progress = _Progress(not (args.no_progress or quiet), quiet)
    t0 = time.perf_counter()
    sup: Supervisor | None = None
    result = None
    try:
        with open_instruments(cfg, simulate) as inst:
            if simulate:
                print(f"acquire: simulated instruments (virtual Keithley on {inst.virtual.port}, "
                      f"time x{inst.clock.speed:g})", file=sys.stderr)
            elif cfg.source.get("supervisor", True):
                sup = _start_supervisor(cfg, inst)
            result = run_session(cfg, args.outdir, inst, observer=cast("Observer", progress),
                                 analyze=not args.no_analysis)
    finally:
        if sup is not None:  # the link is closed now: the supervisor may use the port
            sup.finish(clean=result is not None and result.safe)
    _report(cfg, result, time.perf_counter() - t0, quiet)
    return result.exit_status


def _start_supervisor(cfg: SessionConfig, inst: Instruments) -> Supervisor:
    """The supervisor process for this source (before anything touches the instrument)."""
    from .safety.supervisor import Supervisor  # noqa: F811 - when acquire runs

    assert inst.state is not None
    return Supervisor.start(
        port=inst.port, driver=inst.driver, link_options=inst.link_options,
        limits=cfg.limits.as_dict(), ramp_step=cfg.ramp_step, ramp_rate=cfg.ramp_rate,
        state_file=str(inst.state.path), lock_fd=inst.lock_fd)


def _report(cfg: SessionConfig, result: SessionResult, wall: float, quiet: bool = False
            ) -> None:
    """What happened, on stdout (files, scans, pairs; not with -q) and stderr (shutdown,
    abort, signal)."""
    if not quiet:
        _say(f"session file: {result.path}")
        for i, (st, why) in enumerate(zip(result.statuses, result.reasons, strict=True)):
            _say(f"  scan {i} at {cfg.biases[i]:+g} V: {st}" + (f" ({why})" if why else ""))
        for (i, j), out in result.outdirs.items():
            _say(f"  pair {i}-{j}: {out}")
        _say(f"wall time {wall:.1f} s")
    if result.shutdown is not None:
        _say(f"acquire: {result.shutdown.message}", sys.stderr)
    if result.aborted:
        _say(f"acquire: aborted: {result.aborted}", sys.stderr)
    if result.interrupted:
        _say(f"acquire: interrupted ({result.interrupted})", sys.stderr)
