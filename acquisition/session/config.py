"""The session file: read, validated against the limits and the drivers, as one record.

:func:`load_session` reads a session TOML file (``docs/examples/session.toml`` is a commented
example; the tables are listed in docs/instrument.md) into a :class:`SessionConfig`, refusing
unknown tables and keys, biases beyond ``[limits] max_bias``, ramps beyond the session's or the
driver's bounds, a watchdog the driver does not have, and a shutdown deadline shorter than a
ramp from ``max_bias``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afmcurrent.core.config import read_toml
from afmcurrent.core.errors import ConfigError
from afmcurrent.pair.logamp import LogAmpCalibration, load_calibration

from ..instruments import DRIVERS, BiasSource, ScanSettings, SourceLimits

__all__ = ["SettleSpec", "InterlockSpec", "SessionConfig", "load_session", "watchdog_timeout",
           "DEFAULT_WATCHDOG"]

#: Default on-instrument watchdog timeout of drivers that have one (2450), s.
DEFAULT_WATCHDOG = 10.0

_TABLES = {
    "session": {"sample", "area", "operator", "notes"},
    "bias": {"values", "order", "repeats", "ramp_rate", "ramp_step", "rest_at_zero"},
    "settle": {"mode", "time", "tolerance", "window", "timeout", "interval"},
    "scan": {"size", "samples_per_line", "lines", "rate_hz", "angle_deg", "offset"},
    "logamp": set(),  # a calibration table or a preset name: afmcurrent.pair.logamp validates it
    "limits": {"max_bias", "compliance", "max_ramp_rate", "max_ramp_step", "shutdown_deadline"},
    "interlock": {"max_current", "consecutive_pixels"},
    "source": {"driver", "port", "baudrate", "timeout", "state_file", "watchdog", "supervisor"},
    "controller": {"driver", "folder", "pattern", "current_channel", "stable_s", "timeout_s"},
    "simulate": {"preset", "seed", "speed", "model", "settle_tau", "timeout"},
    "analysis": {"enabled", "figures", "config"},
}


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
    unknown = sorted(set(d) - set(_TABLES))
    if unknown:
        raise ConfigError(f"{where}: unknown tables {unknown}; known: {sorted(_TABLES)}")
    try:
        sess = _table(d, "session", where, _TABLES["session"])
        b = _table(d, "bias", where, _TABLES["bias"])
        values, order = _bias_values(b, where)
        limits = _limits(d, where, values)
        ramp_rate = float(b.get("ramp_rate", 0.5))
        ramp_step = float(b.get("ramp_step", 0.02))
        settle = _settle(d, where)
        scan = _scan(d, where)
        cal_src = d.get("logamp", "ad8304")
        calibration = load_calibration(cal_src if isinstance(cal_src, (str, Mapping))
                                       else str(cal_src))
        interlock = InterlockSpec(**_table(d, "interlock", where, _TABLES["interlock"]))
        src = _table(d, "source", where, _TABLES["source"])
        if src and src.get("driver", "keithley2400") not in DRIVERS:
            raise ConfigError(f"{where}: [source] driver must be one of {sorted(DRIVERS)}")
        ctl = _table(d, "controller", where, _TABLES["controller"])
        sim = _table(d, "simulate", where, _TABLES["simulate"])
        ana = _table(d, "analysis", where, _TABLES["analysis"])
        _check_ramp(src, sim, ramp_step, ramp_rate, limits, where)
        return SessionConfig(
            sample=str(sess.get("sample", "sample")), area=str(sess.get("area", "area")),
            bias_plus=max(values), bias_minus=min(values), order=tuple(order),
            ramp_rate=ramp_rate, ramp_step=ramp_step,
            rest_at_zero=float(b.get("rest_at_zero", 10.0)), settle=settle, scan=scan,
            calibration=calibration, limits=limits, interlock=interlock, source=src,
            controller=ctl, simulate=sim, analysis=ana, text=text, path=path)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _bias_values(b: Mapping[str, Any], where: str) -> tuple[list[float], list[str]]:
    """``[bias] values`` (one + and one - bias, V) and the order of the scans."""
    values = [float(v) for v in b.get("values", [1.0, -1.0])]
    plus = [v for v in values if v > 0]
    minus = [v for v in values if v < 0]
    if len(plus) != 1 or len(minus) != 1 or len(values) != 2:
        raise ConfigError(f"{where}: [bias] values must be one positive and one negative "
                          f"bias in V, got {values}")
    order = [str(o) for o in b.get("order", ["+", "-"])] * int(b.get("repeats", 1))
    if not order or set(order) - {"+", "-"}:
        raise ConfigError(f"{where}: [bias] order must list '+' and '-', got {order}")
    return values, order


def _limits(d: Mapping[str, Any], where: str, values: list[float]) -> SourceLimits:
    lim = _table(d, "limits", where, _TABLES["limits"])
    limits = SourceLimits(**{k: float(v) for k, v in lim.items()})
    for v in values:
        limits.check_level(v)
    return limits


def _settle(d: Mapping[str, Any], where: str) -> SettleSpec:
    settle = SettleSpec(**_table(d, "settle", where, _TABLES["settle"]))
    if settle.mode not in ("fixed", "stable"):
        raise ConfigError(f"{where}: [settle] mode must be 'fixed' or 'stable'")
    return settle


def _scan(d: Mapping[str, Any], where: str) -> ScanSettings:
    sc = _table(d, "scan", where, _TABLES["scan"])
    if "size" not in sc:
        raise ConfigError(f"{where}: [scan] size (m) is required")
    return ScanSettings(size=_pair(sc["size"], "[scan] size"),
                        samples_per_line=int(sc.get("samples_per_line", 256)),
                        lines=int(sc.get("lines", sc.get("samples_per_line", 256))),
                        rate_hz=float(sc.get("rate_hz", 1.0)),
                        angle_deg=float(sc.get("angle_deg", 0.0)),
                        offset=_pair(sc.get("offset", 0.0), "[scan] offset"))


def _check_ramp(src: Mapping[str, Any], sim: Mapping[str, Any], ramp_step: float,
                ramp_rate: float, limits: SourceLimits, where: str) -> None:
    """The ramp within the session's and the driver's bounds; the watchdog; the deadline."""
    if src.get("port"):
        drivers = {DRIVERS[str(src.get("driver", "keithley2400"))]}
    else:
        drivers = {DRIVERS.get(f"keithley{sim.get('model', '2400')}", DRIVERS["keithley2400"])}
    for drv in drivers:
        drv.check_ramp(ramp_step, ramp_rate, limits)
        _check_watchdog(drv, src, where)
    need = limits.max_bias / ramp_rate
    if limits.shutdown_deadline < need:
        raise ConfigError(f"{where}: [limits] shutdown_deadline {limits.shutdown_deadline:g} s "
                          f"is shorter than a ramp from max_bias at ramp_rate ({need:g} s)")


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

