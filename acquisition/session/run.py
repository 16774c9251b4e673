"""The dual-polarity protocol: +V scan, -V scan (and repeats), interlocks, events, analysis.

Sequence per scan (every step an event with a timestamp in the session file): ramp to 0 V and
rest there between polarities; ramp to the bias (compliance checked at each step); settle
(fixed time, or the parked-probe current stable within ``tolerance`` decades over ``window``
s, with a timeout); point current before; the scan, line by line onto disk; point current
after. Interlocks abort the scan: log-amp current above ``max_current`` for
``consecutive_pixels`` pixels in a row (a shunt), source compliance, lost communication. An
abort keeps the recorded lines, marks the scan aborted with the reason, and (through
:class:`acquisition.safety.SafeBias`) ramps to 0 V and switches the output off. At the end,
each consecutive +V/-V pair of complete scans is analysed with :func:`afmcurrent.analyze_pair`
and written beside the session file (:mod:`acquisition.session.analysis`).

Around the sequence (issue 14): the source is locked to this session
(:func:`acquisition.safety.lock_source`); the last session's write-ahead state
(:mod:`acquisition.safety.state`, and the last ``bias`` event of its session file) tells the
start where to ramp down from; every change of the source is recorded before it is sent
(``bias`` events and the state file, :mod:`acquisition.session.journal`); the instrument's own
limits are set and read back; a 2450 arms its on-instrument watchdog; every catchable signal
ends at 0 V (:mod:`acquisition.safety`), with the signal in the file and in the exit status.
Each record in the files (a line, an event, a bias record) is written whole
(:meth:`acquisition.safety.SafeBias.atomic`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

from ..instruments import BiasSource, Line
from ..safety import SafeBias
from ..signals import Terminated, signal_name
from ..transport import CommunicationError, InstrumentError
from .analysis import analyze_pairs
from .config import SessionConfig, watchdog_timeout
from .journal import BiasJournal, previous_state
from .result import Observer, SessionResult
from .rig import Instruments
from .steps import Abort, OverCurrent, point_current, settle, wait
from .storage import ScanPlan, SessionFile, new_session_path

__all__ = ["run_session", "Abort"]

logger = logging.getLogger(__name__)


def run_session(cfg: SessionConfig, outdir: str | Path, inst: Instruments, *,
                observer: Observer | None = None, analyze: bool = True,
                line_hook: Callable[[int, int], None] | None = None) -> SessionResult:
    """Run the whole session; never leaves the bias on.

    Parameters
    ----------
    cfg : SessionConfig
    outdir : str or Path
        Folder of the session file (a new file is made; pair results go beside it).
    inst : Instruments
    observer : Observer, optional
    analyze : bool
        Analyse complete +V/-V pairs at the end.
    line_hook : callable, optional
        ``line_hook(scan, row)`` after each stored line (tests inject faults there).

    Returns
    -------
    SessionResult
        A signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, ...) is caught after the safe shutdown and
        reported in ``interrupted`` / ``signum``.

    Raises
    ------
    CommunicationError
        If the instrument could not be reached to switch the output off (the message says the
        output state is unknown); the file records it (``shutdown_failed`` event).
    """
    run = _Session(cfg, outdir, inst, observer or Observer(), line_hook)
    try:
        run.drive()
        run.after_shutdown()
        if analyze and cfg.analysis.get("enabled", True):
            analyze_pairs(cfg, run.store, run.result, run.note)
    finally:
        inst.source.journal = None
        run.store.close()
    return run.result


def wd_armed(src: BiasSource, cfg: SessionConfig) -> bool:
    """Whether this session arms an on-instrument watchdog."""
    return watchdog_timeout(cfg, src) > 0


class _Session:
    """One run of :func:`run_session`: the files, the result so far, the steps."""

    def __init__(self, cfg: SessionConfig, outdir: str | Path, inst: Instruments,
                 observer: Observer, line_hook: Callable[[int, int], None] | None) -> None:
        self.cfg, self.obs, self.line_hook = cfg, observer, line_hook
        self.src, self.ctl, self.clock = inst.source, inst.controller, inst.clock
        self.state = inst.state
        s = cfg.scan
        plans = [ScanPlan(b, s.lines, s.samples_per_line, s.size, s.offset, s.rate_hz,
                          s.angle_deg) for b in cfg.biases]
        path = new_session_path(outdir, cfg.sample, cfg.area)
        self.store = SessionFile(path, plans, {"sample": cfg.sample, "area": cfg.area,
                                               "session": cfg.text}, cfg.calibration)
        self.result = SessionResult(path, ["planned"] * len(plans), [""] * len(plans))
        self.safe = SafeBias(self.src, rate=cfg.ramp_rate,
                             deadline=cfg.limits.shutdown_deadline)
        self.store.atomic = self.safe.atomic  # a signal never leaves half a record
        self.journal = BiasJournal(inst.state, inst.port, inst.driver)
        self.journal.atomic = self.safe.atomic
        self.journal.attach(self.store)
        self.src.journal = self.journal
        #: The scan being recorded (-1: none).
        self.current = -1

    # -- records -----------------------------------------------------------------------------------
    def note(self, kind: str, message: str, scan: int = -1) -> None:
        """An event: in the session file, the log and the observer."""
        self.store.event(kind, message, scan)
        logger.info("[%s] %s", kind, message)
        try:
            self.obs.event(kind, message, scan)
        except OSError:  # the terminal may be gone (SIGHUP); the file has it
            pass

    def finish(self, status: str, reason: str = "") -> None:
        """End the running scan with ``status`` (and why)."""
        k, result = self.current, self.result
        if k >= 0 and result.statuses[k] == "running":
            self.store.finish_scan(k, status, reason)
            result.statuses[k], result.reasons[k] = status, reason
            try:
                self.obs.scan_ended(k, status)
            except OSError:
                pass

    def stopped(self, reason: str) -> None:
        """An ``abort`` event, and the running scan marked aborted."""
        self.note("abort", reason, self.current)
        self.finish("aborted", reason)

    def interlocks(self, _v: float) -> None:
        """After each ramp step and each line: a signal, the watchdog, source compliance."""
        self.safe.check()
        self.src.check_watchdog()
        if self.src.in_compliance():
            raise Abort(f"source compliance: current limit {self.cfg.limits.compliance:g} A "
                        "reached")

    # -- the session under SafeBias ----------------------------------------------------------------
    def drive(self) -> None:
        """Everything between the lock and the shutdown, under :class:`SafeBias`; an abort,
        an instrument error or a signal stops it and is recorded."""
        result = self.result
        try:
            with self.safe:
                try:
                    self.start()
                    self.scans()
                except Abort as a:
                    result.aborted = a.reason
                    self.stopped(a.reason)
                except CommunicationError as e:
                    result.aborted = f"lost communication with the bias source: {e}"
                    self.stopped(result.aborted)
                except InstrumentError as e:
                    result.aborted = f"bias source error: {e}"
                    self.stopped(result.aborted)
                except (KeyboardInterrupt, Terminated) as e:
                    result.signum = e.signum if isinstance(e, Terminated) else 2
                    result.interrupted = signal_name(result.signum)
                    self.stopped(f"interrupted by {result.interrupted}"
                                 + (" (Ctrl-C)" if result.signum == 2 else ""))
                except BaseException as e:
                    self.stopped(f"error: {type(e).__name__}: {e}")
                    raise
        except (KeyboardInterrupt, Terminated) as e:  # held back during the shutdown
            if not result.signum:
                result.signum = e.signum if isinstance(e, Terminated) else 2
                result.interrupted = signal_name(result.signum)
        except CommunicationError as e:  # the shutdown could not reach the instrument:
            if e is not self.safe.shutdown_error:  # recorded and raised by after_shutdown
                raise

    def start(self) -> None:
        """Recover what the last session left, identify, set and read back the instrument's
        limits, configure the controller, arm the watchdog, output on at 0 V."""
        cfg, src, note = self.cfg, self.src, self.note
        note("session", f"sample {cfg.sample!r}, area {cfg.area!r}, biases "
             f"{cfg.biases} V, file {self.result.path}")
        prev, where = previous_state(self.state)
        rec = src.connect(rate=cfg.ramp_rate, state=prev)
        self.result.recovery = rec
        if rec.found_on or (prev is not None and not prev.safe):
            note("recovered", rec.message + (f" [{where}]" if where else ""))
        note("identify", src.identity)
        hw = src.configure()
        note("limits", "instrument limits read back: source range "
             f"{hw['range']:g} V (fixed; levels above {hw['max_level']:g} V refused or "
             f"clamped), voltage protection {hw['protection']:g} V, current limit "
             f"{hw['compliance']:g} A; ramp steps <= {src.ramp_step:g} V at "
             f"<= {cfg.ramp_rate:g} V/s")
        self.ctl.configure(cfg.scan)
        wd = watchdog_timeout(cfg, src)
        if wd > 0:
            note("watchdog", src.arm_watchdog(wd))
        src.enable()
        note("output_on", "output on at 0 V")

    def scans(self) -> None:
        """Each bias in order: through 0 V (with a rest) from the last one, ramp, settle, scan."""
        cfg, src = self.cfg, self.src
        prev_bias = 0.0
        for k, bias in enumerate(cfg.biases):
            self.journal.scan = k
            if k > 0 and prev_bias != 0.0:
                src.ramp_to(0.0, cfg.ramp_rate, self.interlocks)
                self.note("ramp", "at 0 V", k)
                wait(self.clock, cfg.rest_at_zero, self.safe.check)
                self.note("rest", f"rested {cfg.rest_at_zero:g} s at 0 V", k)
            src.ramp_to(bias, cfg.ramp_rate, self.interlocks)
            prev_bias = bias
            self.note("ramp", f"at {bias:+g} V ({cfg.ramp_rate:g} V/s)", k)
            settle(cfg, src, self.ctl, self.clock, lambda a, b, k=k: self.note(a, b, k),
                   self.safe.check)
            self.scan(k, bias)
        self.journal.scan = -1

    def scan(self, k: int, bias: float) -> None:
        """Scan ``k`` at ``bias``: point current before, the lines, point current after."""
        cfg, store = self.cfg, self.store
        self.current = k
        store.start_scan(k)
        self.result.statuses[k] = "running"
        i0 = point_current(self.src, self.ctl, cfg.calibration)
        store.point_current(k, 0, i0)
        self.note("point_before", f"parked-probe current {i0:.3e} A", k)
        self.obs.scan_started(k, bias, cfg.scan.lines)
        self.ctl.start_frame(bias)
        over = OverCurrent(cfg.interlock)
        for line in self.ctl.lines():
            self.line(k, bias, line, over)
        i1 = point_current(self.src, self.ctl, cfg.calibration)
        store.point_current(k, 1, i1)
        self.note("point_after", f"parked-probe current {i1:.3e} A "
                  f"({math.log10(max(i1, 1e-30) / max(i0, 1e-30)):+.2f} decades)", k)
        self.finish("complete")
        self.note("scan_done", f"scan {k} complete at {bias:+g} V", k)
        self.current = -1

    def line(self, k: int, bias: float, line: Line, over: OverCurrent) -> None:
        """One line: checks, the source current, onto disk, then the interlocks."""
        self.safe.check()
        self.src.check_watchdog()  # a line scanned with the output off: dropped
        amps = self.cfg.calibration.to_current(line.logamp)
        i_src = self.src.read_current()
        self.store.write_line(k, line.row, line.height, line.logamp, i_src)
        self.obs.line(k, line.row, self.cfg.scan.lines)
        reason = over.check_line(amps, line.row)
        if reason:
            self.ctl.stop()
            raise Abort(reason)
        self.interlocks(bias)
        if self.line_hook is not None:
            self.line_hook(k, line.row)

    # -- after the shutdown ------------------------------------------------------------------------
    def after_shutdown(self) -> None:
        """Record the shutdown (and signals held back during it); confirm the state safe and
        disarm the watchdog, or leave the watchdog armed if 0 V was not confirmed.

        Raises
        ------
        CommunicationError
            The shutdown's, after the ``shutdown_failed`` event.
        """
        safe, result, src, note = self.safe, self.result, self.src, self.note
        result.shutdown = safe.report
        for sig in safe.held:
            note("signal", f"{signal_name(sig)} received during the shutdown: held back, the "
                 "ramp-down went on")
        if self.current >= 0 and result.statuses[self.current] == "running":
            why = (f"interrupted by {result.interrupted}" if result.interrupted  # a signal cut
                   else result.aborted or "stopped")                           # the record
            self.finish("aborted", why)
        if safe.shutdown_error is not None:
            note("shutdown_failed", str(safe.shutdown_error))
            raise safe.shutdown_error
        rep = safe.report
        assert rep is not None
        note("shutdown_deadline" if rep.deadline_hit else "shutdown", rep.message)
        if rep.confirmed:
            try:
                src.disarm_watchdog()
                if wd_armed(src, self.cfg):
                    note("watchdog", "disarmed after the confirmed shutdown (:ABOR)")
            except InstrumentError as exc:
                note("watchdog", f"could not be disarmed ({exc}); it will switch the output "
                     "off (already off)")
            self.journal.closed("worker")
        else:
            src.stop_heartbeat()  # leave the watchdog armed: it switches off what we could not
