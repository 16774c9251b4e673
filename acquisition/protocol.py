"""The dual-polarity protocol: +V scan, -V scan (and repeats), interlocks, events, analysis.

Sequence per scan (every step an event with a timestamp in the session file): ramp to 0 V and
rest there between polarities; ramp to the bias (compliance checked at each step); settle
(fixed time, or the parked-probe current stable within ``tolerance`` decades over ``window``
s, with a timeout); point current before; the scan, line by line onto disk; point current
after. Interlocks abort the scan: log-amp current above ``max_current`` for
``consecutive_pixels`` pixels in a row (a shunt), source compliance, lost communication. An
abort keeps the recorded lines, marks the scan aborted with the reason, and (through
:class:`acquisition.sources.SafeBias`) ramps to 0 V and switches the output off. At the end,
each consecutive +V/-V pair of complete scans is analysed with :func:`afmcurrent.analyze_pair`
and written beside the session file.

Around the sequence (issue 14): the source is locked to this session (:func:`acquisition.state.
lock_source`); the last session's write-ahead state (:mod:`acquisition.state`, and the last
``bias`` event of its session file) tells the start where to ramp down from; every change of the
source is recorded before it is sent (``bias`` events and the state file); the instrument's own
limits are set and read back; a 2450 arms its on-instrument watchdog; every catchable signal
ends at 0 V (:mod:`acquisition.safety`), with the signal in the file and in the exit status.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afmcurrent.core.config import read_toml
from afmcurrent.core.errors import AfmcurrentError, ConfigError
from afmcurrent.pair.logamp import LogAmpCalibration, load_calibration

from .clock import Clock
from .controllers import NanoscopeCaptureFolder, ScanController, ScanSettings, SimulatedAFM
from .link import CommunicationError, InstrumentError, SCPILink
from .safety import SafeBias, Terminated, exit_status, signal_name
from .simulator import VirtualKeithley
from .sources import DRIVERS, BiasSource, Recovery, ShutdownReport, SourceLimits
from .state import SourceState, StateFile, default_state_path, lock_source
from .storage import (
    ScanPlan,
    SessionFile,
    last_bias_event,
    new_session_path,
    supervisor_report_path,
)

__all__ = ["SettleSpec", "InterlockSpec", "SessionConfig", "load_session", "Abort",
           "Observer", "SessionResult", "run_session", "open_instruments", "Instruments",
           "BiasJournal", "previous_state", "DEFAULT_WATCHDOG"]

logger = logging.getLogger(__name__)

#: Default on-instrument watchdog timeout of drivers that have one (2450), s.
DEFAULT_WATCHDOG = 10.0


class Abort(Exception):  # noqa: N818 - an outcome, not a bug
    """An interlock stopped the scan; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SettleSpec:
    """Settle criterion after a ramp.

    Attributes
    ----------
    mode : {"fixed", "stable"}
    time : float
        ``fixed``: wait this long, s.
    tolerance : float
        ``stable``: max - min of log10(I) over the window, decades.
    window, timeout, interval : float
        s.
    """

    mode: str = "stable"
    time: float = 10.0
    tolerance: float = 0.05
    window: float = 5.0
    timeout: float = 120.0
    interval: float = 0.5


@dataclass(frozen=True)
class InterlockSpec:
    """Over-current interlock: ``max_current`` A for ``consecutive_pixels`` pixels in a row."""

    max_current: float = 1e-7
    consecutive_pixels: int = 5


@dataclass(frozen=True)
class SessionConfig:
    """A session file, validated (see docs/examples/session.toml)."""

    sample: str
    area: str
    bias_plus: float
    bias_minus: float
    order: tuple[str, ...]
    ramp_rate: float
    ramp_step: float
    rest_at_zero: float
    settle: SettleSpec
    scan: ScanSettings
    calibration: LogAmpCalibration
    limits: SourceLimits
    interlock: InterlockSpec
    source: Mapping[str, Any] = field(default_factory=dict)
    controller: Mapping[str, Any] = field(default_factory=dict)
    simulate: Mapping[str, Any] = field(default_factory=dict)
    analysis: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    path: Path | None = None

    @property
    def biases(self) -> list[float]:
        """Bias of each scan in order, V."""
        return [self.bias_plus if s == "+" else self.bias_minus for s in self.order]

    @property
    def has_hardware(self) -> bool:
        """True if the file names a real source or controller."""
        return bool(self.source.get("port")) or self.controller.get("driver") not in (
            None, "simulated")


def _table(d: Mapping[str, Any], key: str, where: str, known: set[str]) -> dict[str, Any]:
    t = d.get(key, {})
    if not isinstance(t, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    unknown = sorted(set(t) - known)
    if unknown:
        raise ConfigError(f"{where}: [{key}] has unknown keys {unknown}; known: {sorted(known)}")
    return dict(t)


def _pair(v: Any, where: str) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return float(v), float(v)
    try:
        a, b = v
        return float(a), float(b)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number or a pair, got {v!r}") from None


def load_session(source: str | Path | Mapping[str, Any]) -> SessionConfig:
    """Read and validate a session TOML file (or the mapping it holds).

    Raises
    ------
    ConfigError
        Naming the file and the key, for anything missing, unknown or out of the limits.
    """
    if isinstance(source, Mapping):
        d, where, text, path = dict(source), "<session>", "", None
    else:
        path = Path(source)
        d, where = read_toml(path), str(path)
        text = path.read_text(encoding="utf-8")
    known_top = {"session", "bias", "settle", "scan", "logamp", "limits", "interlock", "source",
                 "controller", "simulate", "analysis"}
    unknown = sorted(set(d) - known_top)
    if unknown:
        raise ConfigError(f"{where}: unknown tables {unknown}; known: {sorted(known_top)}")
    try:
        sess = _table(d, "session", where, {"sample", "area", "operator", "notes"})
        b = _table(d, "bias", where, {"values", "order", "repeats", "ramp_rate", "ramp_step",
                                      "rest_at_zero"})
        values = [float(v) for v in b.get("values", [1.0, -1.0])]
        plus = [v for v in values if v > 0]
        minus = [v for v in values if v < 0]
        if len(plus) != 1 or len(minus) != 1 or len(values) != 2:
            raise ConfigError(f"{where}: [bias] values must be one positive and one negative "
                              f"bias in V, got {values}")
        order = [str(o) for o in b.get("order", ["+", "-"])] * int(b.get("repeats", 1))
        if not order or set(order) - {"+", "-"}:
            raise ConfigError(f"{where}: [bias] order must list '+' and '-', got {order}")
        lim = _table(d, "limits", where, {"max_bias", "compliance", "max_ramp_rate",
                                          "max_ramp_step", "shutdown_deadline"})
        limits = SourceLimits(**{k: float(v) for k, v in lim.items()})
        for v in values:
            limits.check_level(v)
        ramp_rate = float(b.get("ramp_rate", 0.5))
        ramp_step = float(b.get("ramp_step", 0.02))
        st = _table(d, "settle", where, {"mode", "time", "tolerance", "window", "timeout",
                                         "interval"})
        settle = SettleSpec(**st)
        if settle.mode not in ("fixed", "stable"):
            raise ConfigError(f"{where}: [settle] mode must be 'fixed' or 'stable'")
        sc = _table(d, "scan", where, {"size", "samples_per_line", "lines", "rate_hz",
                                       "angle_deg", "offset"})
        if "size" not in sc:
            raise ConfigError(f"{where}: [scan] size (m) is required")
        scan = ScanSettings(size=_pair(sc["size"], "[scan] size"),
                            samples_per_line=int(sc.get("samples_per_line", 256)),
                            lines=int(sc.get("lines", sc.get("samples_per_line", 256))),
                            rate_hz=float(sc.get("rate_hz", 1.0)),
                            angle_deg=float(sc.get("angle_deg", 0.0)),
                            offset=_pair(sc.get("offset", 0.0), "[scan] offset"))
        cal_src = d.get("logamp", "ad8304")
        calibration = load_calibration(cal_src if isinstance(cal_src, (str, Mapping))
                                       else str(cal_src))
        il = _table(d, "interlock", where, {"max_current", "consecutive_pixels"})
        interlock = InterlockSpec(**il)
        src = _table(d, "source", where, {"driver", "port", "baudrate", "timeout", "state_file",
                                          "watchdog", "supervisor"})
        if src and src.get("driver", "keithley2400") not in DRIVERS:
            raise ConfigError(f"{where}: [source] driver must be one of {sorted(DRIVERS)}")
        ctl = _table(d, "controller", where, {"driver", "folder", "pattern", "current_channel",
                                              "stable_s", "timeout_s"})
        sim = _table(d, "simulate", where, {"preset", "seed", "speed", "model", "settle_tau",
                                            "timeout"})
        ana = _table(d, "analysis", where, {"enabled", "figures", "config"})
        if src.get("port"):
            drivers = {DRIVERS[str(src.get("driver", "keithley2400"))]}
        else:
            drivers = {DRIVERS.get(f"keithley{sim.get('model', '2400')}", DRIVERS["keithley2400"])}
        for drv in drivers:  # the ramp within the session's and the instrument's bounds
            drv.check_ramp(ramp_step, ramp_rate, limits)
            _check_watchdog(drv, src, where)
        need = limits.max_bias / ramp_rate
        if limits.shutdown_deadline < need:
            raise ConfigError(f"{where}: [limits] shutdown_deadline {limits.shutdown_deadline:g} s "
                              f"is shorter than a ramp from max_bias at ramp_rate ({need:g} s)")
        return SessionConfig(
            sample=str(sess.get("sample", "sample")), area=str(sess.get("area", "area")),
            bias_plus=plus[0], bias_minus=minus[0], order=tuple(order), ramp_rate=ramp_rate,
            ramp_step=ramp_step,
            rest_at_zero=float(b.get("rest_at_zero", 10.0)), settle=settle, scan=scan,
            calibration=calibration, limits=limits, interlock=interlock, source=src,
            controller=ctl, simulate=sim, analysis=ana, text=text, path=path)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_watchdog(driver: type[BiasSource], src: Mapping[str, Any], where: str) -> None:
    wd = src.get("watchdog")
    if wd is None or float(wd) == 0:
        return
    if driver.watchdog_commands is BiasSource.watchdog_commands:
        raise ConfigError(f"{where}: [source] watchdog: the {driver.__name__} has no "
                          "on-instrument watchdog (no scripting, no trigger model that switches "
                          "the output off on a timeout); the supervisor process and the next "
                          "start cover a dead session (docs/instrument.md)")
    timeout = float(src.get("timeout", 2.0))
    if float(wd) < 5 * timeout:
        raise ConfigError(f"{where}: [source] watchdog {float(wd):g} s must be at least 5 x the "
                          f"link timeout ({timeout:g} s): a query with its retry holds the link "
                          "that long, and the heartbeat must get through")


def watchdog_timeout(cfg: SessionConfig, source: BiasSource) -> float:
    """The on-instrument watchdog timeout for this session, s (0: none)."""
    if source.watchdog_commands(1.0) is None:
        return 0.0
    wd = cfg.source.get("watchdog")
    if wd is None:
        return max(DEFAULT_WATCHDOG, 5 * float(cfg.source.get("timeout", 2.0)))
    return float(wd)


# ------------------------------------------------------------------------------------------------
# instruments
# ------------------------------------------------------------------------------------------------
@dataclass
class Instruments:
    """The source, the controller, the clock, the source's state file and lock, and the
    virtual Keithley if simulated."""

    source: BiasSource
    controller: ScanController
    clock: Clock
    virtual: VirtualKeithley | None = None
    state: StateFile | None = None
    lock_fd: int | None = None
    port: str = ""
    driver: str = ""
    link_options: dict[str, Any] = field(default_factory=dict)


class BiasJournal:
    """Write-ahead record of every change of the source: the session file's ``bias`` events and
    the state file, both written before the command is sent.

    Parameters
    ----------
    state : StateFile or None
    port, driver : str
    """

    def __init__(self, state: StateFile | None, port: str, driver: str) -> None:
        self.state = state
        self.store: SessionFile | None = None
        self.scan = -1
        self._rec = SourceState(port=port, driver=driver)

    def attach(self, store: SessionFile) -> None:
        """Also record into this session file."""
        self.store = store
        self._rec.session_file = str(store.path)

    def __call__(self, level: float, output: bool, note: str) -> None:
        if self.store is not None:
            self.store.bias_event(level, output, note, self.scan)
        if self.state is not None:
            changed = output != self._rec.output
            self._rec.level, self._rec.output, self._rec.note = level, output, note
            self._rec.closed_by = ""
            self.state.write(self._rec, sync=changed)

    def closed(self, by: str) -> None:
        """Mark the state safe (0 V, output off, confirmed by ``by``)."""
        if self.state is not None:
            self._rec.level, self._rec.output, self._rec.closed_by = 0.0, False, by
            self._rec.note = f"0 V, output off, confirmed by the {by}"
            self.state.write(self._rec, sync=True)


def previous_state(state: StateFile | None) -> tuple[SourceState | None, str]:
    """The last session's record of the source, and where it came from.

    The state file, unless the session file it names has a later ``bias`` event (written before
    the state file, so it can be newer only if the process died between the two), and the
    supervisor's report if there is one.
    """
    if state is None:
        return None, ""
    st = state.read()
    if st is None:
        return None, ""
    notes = [f"state file {state.path}: output {'on' if st.output else 'off'} at "
             f"{st.level:+.4g} V" + (f", closed by the {st.closed_by}" if st.closed_by else "")]
    if st.session_file and Path(st.session_file).is_file() and not st.closed_by:
        ev = last_bias_event(st.session_file)
        if ev is not None and ev["time"] > st.time:
            st.level, st.output = ev["level"], ev["output"]
            notes.append(f"newer bias event in {st.session_file}: {ev['message']}")
    if st.session_file:
        rep = supervisor_report_path(st.session_file)
        if rep.is_file():
            try:
                notes.append("supervisor: " + json.loads(rep.read_text())["message"])
            except (OSError, ValueError, KeyError):
                notes.append(f"supervisor report {rep} unreadable")
    return st, "; ".join(notes)


@contextmanager
def open_instruments(cfg: SessionConfig, simulate: bool, *,
                     lock: bool = True) -> Iterator[Instruments]:
    """Open what the session names, or virtual instruments (a Keithley on a pty and the
    simulated AFM, accelerated by ``[simulate] speed``).

    The source's state file is ``[source] state_file`` (default
    :func:`acquisition.state.default_state_path` of the port; a virtual instrument keeps its
    own beside its pty) and its lock is taken for the session (``lock=False``: the caller holds
    it).

    Raises
    ------
    SourceBusyError
        If another session holds the source.
    """
    sim = cfg.simulate
    clock = Clock(float(sim.get("speed", 1.0)) if simulate else 1.0)
    vk: VirtualKeithley | None = None
    afm: SimulatedAFM | None = None
    src_cfg = dict(cfg.source)
    if simulate:
        model = str(sim.get("model", "2400"))
        holder: dict[str, Any] = {}
        vk = VirtualKeithley(model, load=lambda v: holder["afm"].steady_current(v)).start()
        afm = SimulatedAFM(str(sim.get("preset", "degraded")), int(sim.get("seed", 0)),
                           calibration=cfg.calibration, clock=clock,
                           bias_probe=lambda: vk.applied_bias,
                           settle_tau=float(sim.get("settle_tau", 3.0)))
        holder["afm"] = afm
        src_cfg = {"driver": f"keithley{model}", "port": vk.port,
                   "timeout": float(sim.get("timeout", 0.5)),
                   "state_file": str(Path(vk.port).with_name("source-state.json"))}
        if "watchdog" in cfg.source:
            src_cfg["watchdog"] = cfg.source["watchdog"]
    lock_fd: int | None = None
    try:
        if not src_cfg.get("port"):
            raise ConfigError("no [source] port in the session file (use --simulate)")
        port = str(src_cfg["port"])
        state = StateFile(src_cfg.get("state_file") or default_state_path(port))
        if lock:
            lock_fd = lock_source(state.path)
        options = {"baudrate": int(src_cfg.get("baudrate", 9600)),
                   "timeout": float(src_cfg.get("timeout", 2.0))}
        link = SCPILink(port, **options)
        driver_name = str(src_cfg.get("driver", "keithley2400"))
        driver = DRIVERS[driver_name]
        source = driver(link, cfg.limits, ramp_step=cfg.ramp_step, sleep=clock.sleep)
        if afm is None:
            ctl = cfg.controller
            kind = ctl.get("driver", "simulated")
            if kind == "nanoscope-folder":
                controller: ScanController = NanoscopeCaptureFolder(
                    ctl["folder"], ctl.get("pattern", "*"),
                    current_channel=ctl.get("current_channel"),
                    stable_s=float(ctl.get("stable_s", 1.0)),
                    timeout_s=float(ctl.get("timeout_s", 3600.0)), calibration=cfg.calibration)
            elif kind == "simulated":
                controller = SimulatedAFM(str(sim.get("preset", "degraded")),
                                          int(sim.get("seed", 0)), calibration=cfg.calibration,
                                          clock=clock, bias_probe=lambda: source.applied_bias,
                                          settle_tau=float(sim.get("settle_tau", 3.0)))
            else:
                raise ConfigError(f"[controller] driver {kind!r}: use 'nanoscope-folder' or "
                                  "'simulated'")
        else:
            controller = afm
        try:
            yield Instruments(source, controller, clock, vk, state, lock_fd, port, driver_name,
                              options)
        finally:
            source.stop_heartbeat()  # an armed watchdog that was not disarmed will now fire
            link.close()
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        if vk is not None:
            vk.stop()


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
class Observer:
    """Callbacks for progress display; the default does nothing."""

    def event(self, kind: str, message: str, scan: int) -> None:
        """An event was recorded."""

    def scan_started(self, index: int, bias: float, lines: int) -> None:
        """A scan began."""

    def line(self, index: int, row: int, lines: int) -> None:
        """A line was stored."""

    def scan_ended(self, index: int, status: str) -> None:
        """A scan ended (complete / aborted)."""


@dataclass
class SessionResult:
    """Outcome of :func:`run_session`.

    Attributes
    ----------
    interrupted : str
        Name of the signal that stopped the session ("" if none).
    signum : int
        Its number (0 if none).
    shutdown : ShutdownReport or None
        How the bias reached 0 V.
    recovery : Recovery or None
        What the start found.
    """

    path: Path
    statuses: list[str]
    reasons: list[str]
    pairs: dict[tuple[int, int], Any] = field(default_factory=dict)
    outdirs: dict[tuple[int, int], Path] = field(default_factory=dict)
    aborted: str = ""
    interrupted: str = ""
    signum: int = 0
    shutdown: ShutdownReport | None = None
    recovery: Recovery | None = None

    @property
    def safe(self) -> bool:
        """True if the shutdown confirmed 0 V with the output off."""
        return self.shutdown is not None and self.shutdown.confirmed

    @property
    def exit_status(self) -> int:
        """0 complete, 4 aborted by an interlock or an instrument, 128 + signal number when a
        signal stopped it (130 SIGINT, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT)."""
        if self.signum:
            return exit_status(self.signum)
        return 4 if self.aborted else 0


def _point_current(src: BiasSource, ctl: ScanController, cal: LogAmpCalibration) -> float:
    v = ctl.point_volts()
    if v is None:
        return abs(src.read_current())
    return float(cal.to_current(v))


def _wait(clock: Clock, seconds: float, check: Callable[[], None]) -> None:
    """``clock.sleep(seconds)`` in quarter-second (wall) pieces, calling ``check`` after each."""
    left = seconds
    piece = 0.25 * clock.speed
    while left > 0:
        clock.sleep(min(left, piece))
        left -= piece
        check()


def _settle(cfg: SessionConfig, src: BiasSource, ctl: ScanController, clock: Clock,
            note: Callable[[str, str], None], check: Callable[[], None]) -> None:
    s = cfg.settle
    if s.mode == "fixed":
        _wait(clock, s.time, check)
        note("settled", f"fixed wait {s.time:g} s")
        return
    t0 = clock.now()
    readings: list[tuple[float, float]] = []
    while True:
        t = clock.now()
        i = _point_current(src, ctl, cfg.calibration)
        readings.append((t, math.log10(max(i, 1e-30))))
        window = [r for r in readings if r[0] >= t - s.window]
        if t - readings[0][0] >= s.window and len(window) >= 2:
            spread = max(r[1] for r in window) - min(r[1] for r in window)
            if spread <= s.tolerance:
                note("settled", f"current {i:.3e} A stable within {spread:.3f} decades over "
                     f"{s.window:g} s after {t - t0:.1f} s")
                return
        if t - t0 >= s.timeout:
            note("settle_timeout", f"current {i:.3e} A not stable within {s.tolerance:g} "
                 f"decades after {s.timeout:g} s; scanning anyway")
            return
        _wait(clock, s.interval, check)


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
        output state is unknown); the file records it.
    """
    obs = observer or Observer()
    src, ctl, clock = inst.source, inst.controller, inst.clock
    s = cfg.scan
    plans = [ScanPlan(b, s.lines, s.samples_per_line, s.size, s.offset, s.rate_hz, s.angle_deg)
             for b in cfg.biases]
    path = new_session_path(outdir, cfg.sample, cfg.area)
    store = SessionFile(path, plans, {"sample": cfg.sample, "area": cfg.area,
                                      "session": cfg.text}, cfg.calibration)
    result = SessionResult(path, ["planned"] * len(plans), [""] * len(plans))
    journal = BiasJournal(inst.state, inst.port, inst.driver)
    journal.attach(store)
    src.journal = journal

    def note(kind: str, message: str, scan: int = -1) -> None:
        store.event(kind, message, scan)
        logger.info("[%s] %s", kind, message)
        try:
            obs.event(kind, message, scan)
        except OSError:  # the terminal may be gone (SIGHUP); the file has it
            pass

    current = -1

    def finish(status: str, reason: str = "") -> None:
        if current >= 0 and result.statuses[current] == "running":
            store.finish_scan(current, status, reason)
            result.statuses[current], result.reasons[current] = status, reason
            try:
                obs.scan_ended(current, status)
            except OSError:
                pass

    def interlocks(_v: float) -> None:
        safe.check()
        src.check_watchdog()
        if src.in_compliance():
            raise Abort(f"source compliance: current limit {cfg.limits.compliance:g} A reached")

    def stopped(reason: str) -> None:
        note("abort", reason, current)
        finish("aborted", reason)

    safe = SafeBias(src, rate=cfg.ramp_rate, deadline=cfg.limits.shutdown_deadline)
    try:
        try:
            with safe:
                try:
                    note("session", f"sample {cfg.sample!r}, area {cfg.area!r}, biases "
                         f"{cfg.biases} V, file {path}")
                    prev, where = previous_state(inst.state)
                    rec = src.connect(rate=cfg.ramp_rate, state=prev)
                    result.recovery = rec
                    if rec.found_on or (prev is not None and not prev.safe):
                        note("recovered", rec.message + (f" [{where}]" if where else ""))
                    note("identify", src.identity)
                    hw = src.configure()
                    note("limits", "instrument limits read back: source range "
                         f"{hw['range']:g} V (fixed; levels above {hw['max_level']:g} V refused or "
                         f"clamped), voltage protection {hw['protection']:g} V, current limit "
                         f"{hw['compliance']:g} A; ramp steps <= {src.ramp_step:g} V at "
                         f"<= {cfg.ramp_rate:g} V/s")
                    ctl.configure(cfg.scan)
                    wd = watchdog_timeout(cfg, src)
                    if wd > 0:
                        note("watchdog", src.arm_watchdog(wd))
                    src.enable()
                    note("output_on", "output on at 0 V")
                    prev_bias = 0.0
                    for k, bias in enumerate(cfg.biases):
                        journal.scan = k
                        if k > 0 and prev_bias != 0.0:
                            src.ramp_to(0.0, cfg.ramp_rate, interlocks)
                            note("ramp", "at 0 V", k)
                            _wait(clock, cfg.rest_at_zero, safe.check)
                            note("rest", f"rested {cfg.rest_at_zero:g} s at 0 V", k)
                        src.ramp_to(bias, cfg.ramp_rate, interlocks)
                        prev_bias = bias
                        note("ramp", f"at {bias:+g} V ({cfg.ramp_rate:g} V/s)", k)
                        _settle(cfg, src, ctl, clock, lambda a, b, k=k: note(a, b, k),
                                safe.check)
                        current = k
                        store.start_scan(k)
                        result.statuses[k] = "running"
                        i0 = _point_current(src, ctl, cfg.calibration)
                        store.point_current(k, 0, i0)
                        note("point_before", f"parked-probe current {i0:.3e} A", k)
                        obs.scan_started(k, bias, s.lines)
                        ctl.start_frame(bias)
                        run = 0
                        for line in ctl.lines():
                            safe.check()
                            src.check_watchdog()  # a line scanned with the output off: dropped
                            amps = cfg.calibration.to_current(line.logamp)
                            i_src = src.read_current()
                            store.write_line(k, line.row, line.height, line.logamp, i_src)
                            obs.line(k, line.row, s.lines)
                            over = amps > cfg.interlock.max_current
                            for flag in over:  # run length of consecutive over-current pixels
                                run = run + 1 if flag else 0
                                if run >= cfg.interlock.consecutive_pixels:
                                    ctl.stop()
                                    raise Abort(
                                        f"over-current: log-amp current above "
                                        f"{cfg.interlock.max_current:g} A for {run} consecutive "
                                        f"pixels at line {line.row} (a shunt?)")
                            interlocks(bias)
                            if line_hook is not None:
                                line_hook(k, line.row)
                        i1 = _point_current(src, ctl, cfg.calibration)
                        store.point_current(k, 1, i1)
                        note("point_after", f"parked-probe current {i1:.3e} A "
                             f"({math.log10(max(i1, 1e-30) / max(i0, 1e-30)):+.2f} decades)", k)
                        finish("complete")
                        note("scan_done", f"scan {k} complete at {bias:+g} V", k)
                        current = -1
                    journal.scan = -1
                except Abort as a:
                    result.aborted = a.reason
                    stopped(a.reason)
                except CommunicationError as e:
                    result.aborted = f"lost communication with the bias source: {e}"
                    stopped(result.aborted)
                except InstrumentError as e:
                    result.aborted = f"bias source error: {e}"
                    stopped(result.aborted)
                except (KeyboardInterrupt, Terminated) as e:
                    result.signum = e.signum if isinstance(e, Terminated) else 2
                    result.interrupted = signal_name(result.signum)
                    stopped(f"interrupted by {result.interrupted}"
                            + (" (Ctrl-C)" if result.signum == 2 else ""))
                except BaseException as e:
                    stopped(f"error: {type(e).__name__}: {e}")
                    raise
        except (KeyboardInterrupt, Terminated) as e:  # held back during the shutdown
            if not result.signum:
                result.signum = e.signum if isinstance(e, Terminated) else 2
                result.interrupted = signal_name(result.signum)
        result.shutdown = safe.report
        for sig in safe.held:
            note("signal", f"{signal_name(sig)} received during the shutdown: held back, the "
                 "ramp-down went on")
        if current >= 0 and result.statuses[current] == "running":  # a signal cut the record
            why = (f"interrupted by {result.interrupted}" if result.interrupted
                   else result.aborted or "stopped")
            finish("aborted", why)
        if safe.shutdown_error is not None:
            note("shutdown_failed", str(safe.shutdown_error))
            raise safe.shutdown_error
        rep = safe.report
        assert rep is not None
        note("shutdown_deadline" if rep.deadline_hit else "shutdown", rep.message)
        if rep.confirmed:
            try:
                src.disarm_watchdog()
                if wd_armed(src, cfg):
                    note("watchdog", "disarmed after the confirmed shutdown (:ABOR)")
            except InstrumentError as exc:
                note("watchdog", f"could not be disarmed ({exc}); it will switch the output "
                     "off (already off)")
            journal.closed("worker")
        else:
            src.stop_heartbeat()  # leave the watchdog armed: it switches off what we could not
        if analyze and cfg.analysis.get("enabled", True):
            _analyze_pairs(cfg, store, result, note)
    finally:
        src.journal = None
        store.close()
    return result


def wd_armed(src: BiasSource, cfg: SessionConfig) -> bool:
    """Whether this session arms an on-instrument watchdog."""
    return watchdog_timeout(cfg, src) > 0


def _analyze_pairs(cfg: SessionConfig, store: SessionFile, result: SessionResult,
                   note: Callable[..., None]) -> None:
    from afmcurrent import analyze_pair

    biases = cfg.biases
    for i in range(len(biases) - 1):
        j = i + 1
        if biases[i] * biases[j] >= 0:
            continue
        if result.statuses[i] != "complete" or result.statuses[j] != "complete":
            continue
        p, m = (i, j) if biases[i] > 0 else (j, i)
        try:
            res = analyze_pair(store.scan(p), store.scan(m), logamp=cfg.calibration,
                               bias_plus=biases[p], bias_minus=biases[m],
                               config=cfg.analysis.get("config"))
            out = store.path.with_name(f"{store.path.stem}_pair{i:03d}-{j:03d}")
            res.write(out, figures=bool(cfg.analysis.get("figures", True)))
        except AfmcurrentError as exc:
            note("analysis_failed", f"pair {i}-{j}: {exc}")
            continue
        result.pairs[(i, j)] = res
        result.outdirs[(i, j)] = out
        fr = ", ".join(f"{k} {v * 100:.1f} %" for k, v in res.fractions.items() if v == v)
        note("analysis", f"pair {i}-{j} (+V scan {p}, -V scan {m}) -> {out.name}: {fr}")
