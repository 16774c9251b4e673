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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afmcurrent.config import read_toml
from afmcurrent.errors import AfmcurrentError, ConfigError
from afmcurrent.logamp import LogAmpCalibration, load_calibration

from .clock import Clock
from .controllers import NanoscopeCaptureFolder, ScanController, ScanSettings, SimulatedAFM
from .link import CommunicationError, InstrumentError, SCPILink
from .simulator import VirtualKeithley
from .sources import DRIVERS, BiasSource, SafeBias, SourceLimits, Terminated
from .storage import ScanPlan, SessionFile, new_session_path

__all__ = ["SettleSpec", "InterlockSpec", "SessionConfig", "load_session", "Abort",
           "Observer", "SessionResult", "run_session", "open_instruments", "Instruments"]

logger = logging.getLogger(__name__)


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
        lim = _table(d, "limits", where, {"max_bias", "compliance", "max_ramp_rate"})
        limits = SourceLimits(**{k: float(v) for k, v in lim.items()})
        for v in values:
            limits.check_level(v)
        ramp_rate = float(b.get("ramp_rate", 0.5))
        limits.check_rate(ramp_rate)
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
        src = _table(d, "source", where, {"driver", "port", "baudrate", "timeout"})
        if src and src.get("driver", "keithley2400") not in DRIVERS:
            raise ConfigError(f"{where}: [source] driver must be one of {sorted(DRIVERS)}")
        ctl = _table(d, "controller", where, {"driver", "folder", "pattern", "current_channel",
                                              "stable_s", "timeout_s"})
        sim = _table(d, "simulate", where, {"preset", "seed", "speed", "model", "settle_tau",
                                            "timeout"})
        ana = _table(d, "analysis", where, {"enabled", "figures", "config"})
        return SessionConfig(
            sample=str(sess.get("sample", "sample")), area=str(sess.get("area", "area")),
            bias_plus=plus[0], bias_minus=minus[0], order=tuple(order), ramp_rate=ramp_rate,
            ramp_step=float(b.get("ramp_step", 0.02)),
            rest_at_zero=float(b.get("rest_at_zero", 10.0)), settle=settle, scan=scan,
            calibration=calibration, limits=limits, interlock=interlock, source=src,
            controller=ctl, simulate=sim, analysis=ana, text=text, path=path)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


# ------------------------------------------------------------------------------------------------
# instruments
# ------------------------------------------------------------------------------------------------
@dataclass
class Instruments:
    """The source, the controller, the clock, and the virtual Keithley if simulated."""

    source: BiasSource
    controller: ScanController
    clock: Clock
    virtual: VirtualKeithley | None = None


@contextmanager
def open_instruments(cfg: SessionConfig, simulate: bool) -> Iterator[Instruments]:
    """Open what the session names, or virtual instruments (a Keithley on a pty and the
    simulated AFM, accelerated by ``[simulate] speed``)."""
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
                   "timeout": float(sim.get("timeout", 0.5))}
    try:
        if not src_cfg.get("port"):
            raise ConfigError("no [source] port in the session file (use --simulate)")
        link = SCPILink(str(src_cfg["port"]), baudrate=int(src_cfg.get("baudrate", 9600)),
                        timeout=float(src_cfg.get("timeout", 2.0)))
        driver = DRIVERS[str(src_cfg.get("driver", "keithley2400"))]
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
            yield Instruments(source, controller, clock, vk)
        finally:
            link.close()
    finally:
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
    """Outcome of :func:`run_session`."""

    path: Path
    statuses: list[str]
    reasons: list[str]
    pairs: dict[tuple[int, int], Any] = field(default_factory=dict)
    outdirs: dict[tuple[int, int], Path] = field(default_factory=dict)
    aborted: str = ""
    interrupted: str = ""

    @property
    def exit_status(self) -> int:
        """0 complete, 4 aborted by an interlock or an instrument, 130 / 143 interrupted."""
        if self.interrupted:
            return 143 if "SIGTERM" in self.interrupted else 130
        return 4 if self.aborted else 0


def _point_current(src: BiasSource, ctl: ScanController, cal: LogAmpCalibration) -> float:
    v = ctl.point_volts()
    if v is None:
        return abs(src.read_current())
    return float(cal.to_current(v))


def _settle(cfg: SessionConfig, src: BiasSource, ctl: ScanController, clock: Clock,
            note: Callable[[str, str], None]) -> None:
    s = cfg.settle
    if s.mode == "fixed":
        clock.sleep(s.time)
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
        clock.sleep(s.interval)


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
        KeyboardInterrupt and SIGTERM are caught after the safe shutdown and reported in
        ``interrupted``.
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

    def note(kind: str, message: str, scan: int = -1) -> None:
        store.event(kind, message, scan)
        logger.info("[%s] %s", kind, message)
        obs.event(kind, message, scan)

    current = -1

    def finish(status: str, reason: str = "") -> None:
        if current >= 0 and result.statuses[current] == "running":
            store.finish_scan(current, status, reason)
            result.statuses[current], result.reasons[current] = status, reason
            obs.scan_ended(current, status)

    def compliance_check(_v: float) -> None:
        if src.in_compliance():
            raise Abort(f"source compliance: current limit {cfg.limits.compliance:g} A reached")

    try:
        safe = SafeBias(src, rate=cfg.ramp_rate)
        try:
            with safe:
                try:
                    note("session", f"sample {cfg.sample!r}, area {cfg.area!r}, biases "
                         f"{cfg.biases} V, file {path}")
                    if src.connect(rate=cfg.ramp_rate):
                        note("recovered", "output was left on: ramped to 0 V and switched off")
                    note("identify", src.identity)
                    src.configure()
                    ctl.configure(cfg.scan)
                    src.enable()
                    note("output_on", "output on at 0 V")
                    prev = 0.0
                    for k, bias in enumerate(cfg.biases):
                        if k > 0 and prev != 0.0:
                            src.ramp_to(0.0, cfg.ramp_rate, compliance_check)
                            note("ramp", "at 0 V", k)
                            clock.sleep(cfg.rest_at_zero)
                            note("rest", f"rested {cfg.rest_at_zero:g} s at 0 V", k)
                        src.ramp_to(bias, cfg.ramp_rate, compliance_check)
                        prev = bias
                        note("ramp", f"at {bias:+g} V ({cfg.ramp_rate:g} V/s)", k)
                        _settle(cfg, src, ctl, clock, lambda a, b, k=k: note(a, b, k))
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
                            compliance_check(bias)
                            if line_hook is not None:
                                line_hook(k, line.row)
                        i1 = _point_current(src, ctl, cfg.calibration)
                        store.point_current(k, 1, i1)
                        note("point_after", f"parked-probe current {i1:.3e} A "
                             f"({math.log10(max(i1, 1e-30) / max(i0, 1e-30)):+.2f} decades)", k)
                        finish("complete")
                        note("scan_done", f"scan {k} complete at {bias:+g} V", k)
                        current = -1
                except Abort as a:
                    result.aborted = a.reason
                    note("abort", a.reason, current)
                    finish("aborted", a.reason)
                except CommunicationError as e:
                    result.aborted = f"lost communication with the bias source: {e}"
                    note("abort", result.aborted, current)
                    finish("aborted", result.aborted)
                except InstrumentError as e:
                    result.aborted = f"bias source error: {e}"
                    note("abort", result.aborted, current)
                    finish("aborted", result.aborted)
                except (KeyboardInterrupt, Terminated) as e:
                    why = "SIGTERM" if isinstance(e, Terminated) else "SIGINT (Ctrl-C)"
                    result.interrupted = why
                    note("abort", f"interrupted by {why}", current)
                    finish("aborted", f"interrupted by {why}")
                except BaseException as e:
                    note("abort", f"error: {e}", current)
                    finish("aborted", f"error: {e}")
                    raise
        except (KeyboardInterrupt, Terminated) as e:  # held back during the shutdown
            result.interrupted = result.interrupted or type(e).__name__
        if safe.shutdown_error is not None:
            note("shutdown_failed", str(safe.shutdown_error))
            raise safe.shutdown_error
        note("shutdown", "bias at 0 V, output off")
        if analyze and cfg.analysis.get("enabled", True):
            _analyze_pairs(cfg, store, result, note)
    finally:
        store.close()
    return result


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
