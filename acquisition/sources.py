"""Bias sources: Keithley 2400 and 2450 SourceMeters as voltage sources on the Li metal.

The drivers follow the instrument-class pattern of PyMeasure (one class per model, SCPI in one
place, a safe shutdown) with their own code. Command sets (manuals cited in docs/instrument.md):

* **Keithley 2400** (2400 Series SourceMeter User's Manual, 2400S-900-01, section 18 "SCPI
  command reference"): ``:SOUR:FUNC VOLT``, ``:SOUR:VOLT:MODE FIXED``, ``:SOUR:VOLT:RANG``,
  ``:SOUR:VOLT:LEV``, ``:SOUR:VOLT:PROT`` (V-source protection: 20, 40, ... 160 V or NONE; a
  smaller value selects 20 V), ``:SENS:FUNC "CURR"``, compliance ``:SENS:CURR:PROT`` (the 2400
  calls the current limit of a voltage source "compliance" and sets it in the SENSe
  subsystem), ``:SENS:CURR:PROT:TRIP?``, ``:FORM:ELEM CURR`` so that ``:READ?`` returns the
  current only, ``:OUTP ON|OFF``, ``:OUTP?``, ``:SYST:ERR?``.
* **Keithley 2450** (Model 2450 Reference Manual, 2450-901-01, section 6 "SCPI command
  reference"): the current limit belongs to the source, ``:SOUR:VOLT:ILIM`` and
  ``:SOUR:VOLT:ILIM:TRIP?``; overvoltage protection ``:SOUR:VOLT:PROT PROTn`` (2, 5, 10, 20 ... V);
  the current is read with ``:MEAS:CURR?``; an on-instrument watchdog built from the trigger
  model (:meth:`Keithley2450.watchdog_commands`); the rest as for the 2400.

Safety, in this order:

1. every level is checked against the session's limits before a command is sent
   (:class:`SourceLimits`), and the ramp itself is bounded: steps of at most
   ``limits.max_ramp_step`` and 5 % of the source range, rates of at most
   ``limits.max_ramp_rate`` and :attr:`BiasSource.max_rate`;
2. the instrument's own limits are set at :meth:`~BiasSource.configure` (fixed source range, the
   source's voltage protection, the current limit) and read back; a mismatch refuses the session;
3. every change of level or output is first recorded (``journal``: the session file and the
   write-ahead state file, :mod:`acquisition.state`), then sent;
4. replies are validated (:func:`acquisition.link.parse_number`); a garbage reply is an error,
   never a level to ramp from;
5. on connect, an output left on is ramped to 0 V from the instrument's valid reading, else from
   the write-ahead state, else switched off directly (:meth:`~BiasSource.connect`);
6. :meth:`~BiasSource.shutdown` ramps to 0 V from the level the software last set (never from a
   reading), with a hard deadline after which ``:OUTP OFF`` is sent directly and reported;
   :class:`acquisition.safety.SafeBias` runs it whatever ends the session.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from afmcurrent.core.errors import ConfigError

from .link import NR3_PATTERN, CommunicationError, InstrumentError, ReplyError, SCPILink

if TYPE_CHECKING:
    from .state import SourceState
    from .watchdog import Heartbeat

__all__ = [
    "SourceLimits",
    "BiasSource",
    "Keithley2400",
    "Keithley2450",
    "DRIVERS",
    "LimitError",
    "ShutdownReport",
    "Recovery",
    "WatchdogFired",
    "Journal",
]

logger = logging.getLogger(__name__)

#: ``journal(level_V, output_on, note)``: called before each change is sent.
Journal = Callable[[float, bool, str], None]

#: A current reading above this multiple of the compliance cannot be a reading of a source
#: that limits its current to the compliance: it is refused as garbage.
CURRENT_READING_MARGIN = 2.0


class LimitError(ConfigError):
    """A requested level or setting exceeds the session's hard limits; nothing was sent."""


class WatchdogFired(InstrumentError):
    """The on-instrument watchdog switched the output off (no heartbeat in time)."""


@dataclass(frozen=True)
class SourceLimits:
    """Hard limits, checked before any command is sent.

    Attributes
    ----------
    max_bias : float
        Largest allowed ``|V|`` on the sample, V.
    compliance : float
        Current limit (compliance) of the source, A.
    max_ramp_rate : float
        Largest allowed ramp rate, V/s.
    max_ramp_step : float
        Largest allowed level step of a ramp, V.
    shutdown_deadline : float
        Seconds the ramp to 0 V may take at most; after them the output is switched off
        directly (and that is reported).
    """

    max_bias: float = 2.0
    compliance: float = 1e-6
    max_ramp_rate: float = 1.0
    max_ramp_step: float = 0.05
    shutdown_deadline: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_bias", "compliance", "max_ramp_rate", "max_ramp_step",
                     "shutdown_deadline"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"limits: {name} must be a positive number, got {v!r}")

    def check_level(self, volts: float) -> None:
        """Raise :class:`LimitError` unless ``|volts| <= max_bias`` (and finite)."""
        if not math.isfinite(volts) or abs(volts) > self.max_bias + 1e-12:
            raise LimitError(f"bias {volts!r} V exceeds the limit |V| <= {self.max_bias:g} V "
                             "(limits.max_bias); nothing was sent")

    def check_rate(self, rate: float) -> None:
        """Raise :class:`LimitError` unless ``0 < rate <= max_ramp_rate``."""
        if not (math.isfinite(rate) and 0 < rate <= self.max_ramp_rate + 1e-12):
            raise LimitError(f"ramp rate {rate!r} V/s outside (0, {self.max_ramp_rate:g}] V/s "
                             "(limits.max_ramp_rate); nothing was sent")


@dataclass
class ShutdownReport:
    """What :meth:`BiasSource.shutdown` did.

    Attributes
    ----------
    start_level : float or None
        Level the ramp started from (the software's record), V; None if it was unknown.
    end_level : float
        Level at the end, V.
    output_off_sent, confirmed : bool
        ``:OUTP OFF`` was sent; ``:OUTP?`` read back 0.
    deadline : float
        The deadline, s.
    deadline_hit : bool
        The ramp did not finish in time and the output was switched off directly.
    reconnects : int
        Times the port was reopened.
    notes : list of str
        Everything worth recording (readings ignored, replies refused...).
    """

    start_level: float | None
    end_level: float = 0.0
    output_off_sent: bool = False
    confirmed: bool = False
    deadline: float = 0.0
    deadline_hit: bool = False
    reconnects: int = 0
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line for the session file."""
        start = "an unknown level" if self.start_level is None else f"{self.start_level:+.4g} V"
        if self.deadline_hit:
            head = (f"ramp-down from {start} did not finish within the {self.deadline:g} s "
                    "deadline: output switched off directly")
        elif self.start_level is None:
            head = "level unknown: output switched off directly, then the level set to 0 V"
        else:
            head = f"bias ramped from {start} to 0 V, output off"
        tail = ("confirmed (:OUTP? = 0)" if self.confirmed
                else "NOT confirmed: the instrument's reply to :OUTP? was not usable")
        extra = f"; {'; '.join(self.notes)}" if self.notes else ""
        recon = f"; port reopened {self.reconnects} time(s)" if self.reconnects else ""
        return f"{head}, {tail}{recon}{extra} ({self.elapsed:.1f} s)"


@dataclass
class Recovery:
    """What :meth:`BiasSource.connect` found and did about an output left on.

    Attributes
    ----------
    found_on : bool
        The output was on at connect.
    used_level : float or None
        Level the ramp-down started from, V (None: unknown, switched off directly).
    source : str
        Where that level came from: ``"instrument"``, ``"state file"``, ``"unknown"``.
    reading_error : str
        Why the instrument's level reply was refused ("" if it was valid).
    state_level, state_output : float or None, bool or None
        The write-ahead state given to :meth:`~BiasSource.connect`.
    confirmed : bool
        ``:OUTP?`` read 0 afterwards.
    """

    found_on: bool = False
    used_level: float | None = None
    source: str = ""
    reading: float | None = None
    reading_error: str = ""
    state_level: float | None = None
    state_output: bool | None = None
    confirmed: bool = False

    @property
    def message(self) -> str:
        """One line for the session file."""
        st = ("" if self.state_output is None else
              f"; the write-ahead state said output {'on' if self.state_output else 'off'} at "
              f"{self.state_level:+.4g} V")
        if not self.found_on:
            return "output found off" + st
        why = f" ({self.reading_error})" if self.reading_error else ""
        if self.used_level is None:
            return (f"output found ON at an unknown level{why}: switched off directly"
                    f"{st}; confirmed {self.confirmed}")
        return (f"output found ON: ramped from {self.used_level:+.4g} V ({self.source}"
                f"{why}) to 0 V and switched off{st}; confirmed {self.confirmed}")


class BiasSource:
    """A SCPI voltage source with bounded ramps, hardware limits and a safe shutdown.

    Subclasses set :attr:`models` (accepted ``*IDN?`` model fields), the SCPI of the
    model-specific steps (:meth:`_configure_commands`, :meth:`_verify_commands`,
    :attr:`current_query`, :attr:`trip_query`) and the instrument's ranges.

    Parameters
    ----------
    link : SCPILink
        The open link to the instrument.
    limits : SourceLimits
        Hard limits of the session.
    ramp_step : float, optional
        Largest level step of a ramp, V; at most ``limits.max_ramp_step`` and 5 % of the
        source range that holds ``limits.max_bias``.
    sleep : callable, optional
        ``sleep(seconds)`` between ramp steps (an accelerated clock in simulation).
    journal : callable, optional
        ``journal(level, output, note)`` called before every change of level or output is sent
        (write-ahead record); its exceptions stop the change, except during a shutdown.

    Raises
    ------
    LimitError
        If ``ramp_step`` is outside those bounds.
    """

    #: Model strings one of which must appear in the ``*IDN?`` reply.
    models: ClassVar[tuple[str, ...]] = ()
    #: Query returning the measured current in A.
    current_query: ClassVar[str] = ":READ?"
    #: Query returning 1 while the source is in compliance (current limit reached).
    trip_query: ClassVar[str] = ""
    #: Voltage source ranges, V (the instrument picks the lowest that holds the requested one).
    ranges: ClassVar[tuple[float, ...]] = (0.2, 2.0, 20.0, 200.0)
    #: A level may exceed the range by this factor (both manuals: 105 % of range).
    overrange: ClassVar[float] = 1.05
    #: Largest level the instrument can source at all, V (bound of a plausible level reply).
    max_level: ClassVar[float] = 210.0
    #: The drivers' ceiling on the ramp rate, V/s, whatever the session allows.
    max_rate: ClassVar[float] = 10.0
    #: A ramp step is at most this fraction of the source range.
    step_fraction: ClassVar[float] = 0.05

    def __init__(
        self,
        link: SCPILink,
        limits: SourceLimits,
        *,
        ramp_step: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
        journal: Journal | None = None,
    ) -> None:
        self.check_ramp(ramp_step, None, limits)
        self.link = link
        link.number_pattern = NR3_PATTERN
        self.limits = limits
        self.ramp_step = float(ramp_step)
        self._sleep = sleep
        self.journal = journal
        self.identity = ""
        self._level = 0.0
        self._level_known = False
        self._output = False
        self.source_range: float | None = None
        #: Limits read back from the instrument at :meth:`configure`.
        self.hardware: dict[str, object] = {}
        self.heartbeat: Heartbeat | None = None
        self._exit_guard_registered = False

    # -- ramp bounds ----------------------------------------------------------------------------
    @classmethod
    def range_for(cls, volts: float) -> float:
        """The source range the instrument selects for ``|volts|``, V.

        Raises
        ------
        LimitError
            If no range holds it.
        """
        for r in cls.ranges:
            if abs(volts) <= r * cls.overrange + 1e-12:
                return r
        raise LimitError(f"{volts!r} V is beyond the largest source range of the "
                         f"{cls.__name__} ({cls.ranges[-1]:g} V)")

    @classmethod
    def max_step_for(cls, limits: SourceLimits) -> float:
        """Largest ramp step allowed: ``min(limits.max_ramp_step, 5 % of the range)``, V."""
        return min(limits.max_ramp_step, cls.step_fraction * cls.range_for(limits.max_bias))

    @classmethod
    def check_ramp(cls, step: float | None, rate: float | None, limits: SourceLimits) -> None:
        """Refuse a ramp step or rate beyond the session's or the instrument's bounds.

        Raises
        ------
        LimitError
            Naming the bound (nothing is sent).
        """
        if step is not None:
            top = cls.max_step_for(limits)
            if not (math.isfinite(step) and 0 < step <= top + 1e-12):
                raise LimitError(
                    f"ramp_step {step!r} V outside (0, {top:g}] V: at most limits.max_ramp_step "
                    f"({limits.max_ramp_step:g} V) and {cls.step_fraction:.0%} of the "
                    f"{cls.range_for(limits.max_bias):g} V source range, so that a ramp is a "
                    "ramp")
        if rate is not None:
            limits.check_rate(rate)
            if rate > cls.max_rate:
                raise LimitError(f"ramp rate {rate:g} V/s above the {cls.__name__} driver's "
                                 f"ceiling of {cls.max_rate:g} V/s")

    # -- state ----------------------------------------------------------------------------------
    @property
    def level(self) -> float:
        """Last level set, V (the driver's record, no query)."""
        return self._level

    @property
    def level_known(self) -> bool:
        """Whether :attr:`level` is what the instrument was last told (False before connect)."""
        return self._level_known

    @property
    def output_on(self) -> bool:
        """Whether the driver last switched the output on."""
        return self._output

    @property
    def applied_bias(self) -> float:
        """Bias on the sample as commanded: the level while the output is on, else 0 V."""
        return self._level if self._output else 0.0

    def _record(self, level: float, output: bool, note: str, *, critical: bool = True) -> None:
        if self.journal is None:
            return
        try:
            self.journal(level, output, note)
        except Exception as exc:
            if critical:
                raise
            logger.error("%s: could not record %r before sending it: %s", self.link.url, note,
                         exc)

    # -- connection -----------------------------------------------------------------------------
    def identify(self) -> str:
        """Query ``*IDN?`` and refuse an instrument that is not one of :attr:`models`.

        Raises
        ------
        InstrumentError
            If the reply names another instrument.
        """
        idn = self.link.query("*IDN?")
        fields_ = [f.strip().upper() for f in idn.split(",")]
        model = fields_[1] if len(fields_) > 1 else ""
        if model not in {m.upper() for m in self.models}:
            raise InstrumentError(
                self.link.url, "*IDN?",
                f"not a {' / '.join(self.models)}: refusing to drive this instrument with the "
                f"{type(self).__name__} driver", idn)
        self.identity = idn
        return idn

    def connect(self, rate: float | None = None, state: SourceState | None = None) -> Recovery:
        """Identify, and bring an output left on (by an earlier crash) to 0 V before anything.

        The ramp-down starts from the instrument's level reply if it is valid, else from the
        write-ahead ``state`` (the level the last session last commanded), else the output is
        switched off directly: never a ramp from a garbage reading or a guess.

        Parameters
        ----------
        rate : float, optional
            Ramp rate for that recovery, V/s (default: ``limits.max_ramp_rate / 2``).
        state : SourceState, optional
            The write-ahead state of the last session on this source.

        Returns
        -------
        Recovery

        Raises
        ------
        InstrumentError
            Wrong instrument, an unusable ``:OUTP?`` reply, or an output that stays on.
        """
        self.identify()
        self.disarm_watchdog()
        rec = Recovery()
        if state is not None:
            rec.state_level, rec.state_output = state.level, state.output
            if (state.output or state.level != 0.0) and abs(state.level) <= self.max_level:
                # believe the record until the instrument says better: a shutdown from here on
                # ramps from this level, never from an unknown one
                self._level, self._output, self._level_known = state.level, state.output, True
        on = self.link.query_bool(":OUTP?")
        if not on:
            self._output = False
            rec.confirmed = True
            return rec
        rec.found_on = True
        self._output = True
        try:
            reading = self.link.query_float(":SOUR:VOLT:LEV?", low=-self.max_level,
                                            high=self.max_level, what="level in V")
            rec.reading, rec.used_level, rec.source = reading, reading, "instrument"
        except ReplyError as exc:
            rec.reading_error = str(exc)
            if self._level_known:
                rec.used_level, rec.source = self._level, "state file"
            else:
                rec.source = "unknown"
        logger.warning("%s: %s", self.link.url, "output found ON (left by an earlier run?)")
        if rec.used_level is None:
            self._level_known = False
            self._set_output(False, "recovery: output on at an unknown level, switched off "
                             "directly")
            self._write_level(0.0, "recovery: level to 0 V with the output off")
        else:
            self._level, self._level_known = rec.used_level, True
            r = min(rate or self.limits.max_ramp_rate / 2, self.limits.max_ramp_rate)
            # getting to 0 V is always allowed, also from beyond the session's limits
            self._ramp(0.0, r, check=False, note="recovery")
            self._set_output(False, "recovery")
        rec.confirmed, reply = self._confirm_off()
        if not rec.confirmed:
            raise ReplyError(self.link.url, ":OUTP?", "could not confirm the output is off "
                             "after the recovery ramp-down", reply)
        return rec

    def configure(self, voltage_range: float | None = None) -> dict[str, object]:
        """Voltage source at 0 V with the instrument's own limits set from the session, read back.

        Sets a fixed source range holding ``limits.max_bias`` (the instrument refuses levels
        beyond 105 % of it), the source's voltage protection (the smallest setting that holds
        ``max_bias``) and the current limit ``limits.compliance``; then queries them back.

        Parameters
        ----------
        voltage_range : float, optional
            Source range in V (default: ``limits.max_bias``; the instrument picks the smallest
            range that holds it).

        Returns
        -------
        dict
            The limits read back (``range``, ``protection``, ``compliance``).

        Raises
        ------
        LimitError
            If the range exceeds the limits (nothing sent).
        InstrumentError
            If the instrument reports an error, or a limit read back is not what was set.
        """
        rng = self.limits.max_bias if voltage_range is None else float(voltage_range)
        self.limits.check_level(rng)
        if self._output:
            raise InstrumentError(self.link.url, "configure", "output is on: ramp down first")
        self._record(0.0, False, "configure: voltage source at 0 V")
        self.link.batch(self._configure_commands(rng, self.limits.compliance))
        self._level, self._level_known = 0.0, True
        self.hardware = self.verify_limits(rng)
        self.source_range = float(self.hardware["range"])  # type: ignore[arg-type]
        return self.hardware

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        raise NotImplementedError

    def verify_limits(self, voltage_range: float) -> dict[str, object]:
        """Query back range, autorange, protection and current limit; refuse a mismatch.

        Raises
        ------
        InstrumentError
            Naming the setting, what was set and what came back.
        """
        url = self.link.url
        want = self.range_for(voltage_range)
        rng = self.link.query_float(":SOUR:VOLT:RANG?", low=0, high=self.max_level,
                                    what="source range in V")
        if abs(rng - want) > 1e-6 * want or rng * self.overrange < self.limits.max_bias:
            raise InstrumentError(url, ":SOUR:VOLT:RANG?", f"source range {rng:g} V, expected "
                                  f"the {want:g} V range holding max_bias")
        if self.link.query_bool(":SOUR:VOLT:RANG:AUTO?"):
            raise InstrumentError(url, ":SOUR:VOLT:RANG:AUTO?", "source autorange is on: the "
                                  "range would not bound the level")
        protection = self._query_protection()
        want_p = self.protection_for(self.limits.max_bias)
        if abs(protection - want_p) > 1e-6 * want_p or protection < self.limits.max_bias:
            raise InstrumentError(url, "protection", f"voltage protection {protection:g} V read "
                                  f"back, {want_p:g} V was set (the smallest setting holding "
                                  f"max_bias {self.limits.max_bias:g} V)")
        comp = self.link.query_float(self._limit_query, low=0, high=10, what="current limit")
        if abs(comp - self.limits.compliance) > 1e-3 * self.limits.compliance:
            raise InstrumentError(url, self._limit_query, f"current limit {comp:g} A read back, "
                                  f"{self.limits.compliance:g} A was set")
        return {"range": rng, "protection": protection, "compliance": comp,
                "max_level": min(rng * self.overrange, protection)}

    _limit_query: ClassVar[str] = ""
    #: Voltage-protection settings of the instrument, V.
    protection_levels: ClassVar[tuple[float, ...]] = ()

    @classmethod
    def protection_for(cls, volts: float) -> float:
        """Smallest voltage-protection setting that holds ``|volts|``, V (``max_level``: none)."""
        for p in cls.protection_levels:
            if abs(volts) <= p:
                return float(p)
        return cls.max_level

    def _query_protection(self) -> float:
        raise NotImplementedError

    # -- output ---------------------------------------------------------------------------------
    def enable(self) -> None:
        """Switch the output on at 0 V (sets the level to 0 V first).

        Registers an ``atexit`` guard that ramps down should the interpreter exit with the
        output still on (:func:`acquisition.safety.register_exit_guard`).
        """
        from .safety import register_exit_guard

        self._record(0.0, True, "output on at 0 V")
        if not self._exit_guard_registered:
            register_exit_guard(self)
            self._exit_guard_registered = True
        self._level, self._level_known, self._output = 0.0, True, True
        self.link.batch([":SOUR:VOLT:LEV 0", ":OUTP ON"])

    def disable(self) -> None:
        """Switch the output off (the level should be 0 V already; see :meth:`shutdown`)."""
        self._set_output(False, "output off")

    def _set_output(self, on: bool, note: str, *, critical: bool = True) -> None:
        # record, then believe, then send: a signal between two of these steps leaves the
        # software's record one command ahead of the instrument, never behind it
        self._record(self._level, on, note, critical=critical)
        self._output = on or self._output
        self.link.write(":OUTP ON" if on else ":OUTP OFF")
        self._output = on

    def set_level(self, volts: float) -> None:
        """Set the level at once, at most one ramp step away (checked against the limits first).

        Raises
        ------
        LimitError
            Beyond ``max_bias`` or more than ``ramp_step`` from the present level: use
            :meth:`ramp_to`.
        """
        self.limits.check_level(volts)
        if not self._level_known or abs(volts - self._level) > self.ramp_step + 1e-12:
            raise LimitError(f"set_level({volts!r}) is more than one ramp step "
                             f"({self.ramp_step:g} V) from {self._level:+g} V: use ramp_to")
        self._write_level(volts, "set level")

    def _write_level(self, volts: float, note: str, *, critical: bool = True) -> None:
        # record, then believe, then send (see _set_output): if a signal lands between the
        # belief and the write, the ramp-down starts one step above the instrument's level,
        # which is a step of zero, never a step of two
        self._record(float(volts), self._output, note, critical=critical)
        self._level, self._level_known = float(volts), True
        self.link.write(f":SOUR:VOLT:LEV {volts:.6g}")

    def ramp_to(
        self,
        target: float,
        rate: float,
        on_step: Callable[[float], None] | None = None,
    ) -> None:
        """Ramp the level to ``target`` at no more than ``rate`` V/s, steps of ``ramp_step``.

        Limits are checked before the first command. The error queue is read at the end.

        Parameters
        ----------
        target : float
            V.
        rate : float
            V/s.
        on_step : callable, optional
            Called with the new level after each step (interlock checks may raise from it).

        Raises
        ------
        LimitError
            If ``target`` or ``rate`` exceed the limits (nothing sent).
        InstrumentError
            If the instrument reports an error.
        """
        self.limits.check_level(target)
        self.check_ramp(None, rate, self.limits)
        if not self._level_known:
            raise InstrumentError(self.link.url, f"ramp to {target:+g} V",
                                  "present level unknown (connect/configure first)")
        self._ramp(target, rate, check=True, on_step=on_step)

    def _ramp(self, target: float, rate: float, *, check: bool,
              on_step: Callable[[float], None] | None = None, until: float | None = None,
              note: str = "", critical: bool = True) -> bool:
        """Step from the recorded level to ``target``; False if ``until`` (monotonic) passed."""
        start = self._level
        if not (math.isfinite(start) and abs(start) <= self.max_level):
            raise InstrumentError(self.link.url, "ramp", f"refusing to ramp from {start!r} V")
        span = abs(target - start)
        if span < 1e-15:
            return True
        n = max(1, math.ceil(span / self.ramp_step - 1e-9))
        dt = span / n / rate if rate > 0 else 0.0
        what = note or f"ramp {start:+.4g} -> {target:+.4g} V"
        for k in range(1, n + 1):
            v = target if k == n else start + (target - start) * k / n
            if until is None:
                self._sleep(dt)
            else:  # the wait for a step never outlasts the deadline (a wall-clock bound)
                left = until - time.monotonic()
                if left <= 0:
                    return False
                self._sleep(min(dt, left))
                if time.monotonic() >= until:
                    return False
            self._write_level(v, what, critical=critical)
            if on_step is not None:
                on_step(v)
        if check:
            errs = self.link.errors()
            if errs:
                raise InstrumentError(self.link.url, f"ramp to {target:+g} V",
                                      f"instrument reports {errs}")
        return True

    def _confirm_off(self, tries: int = 2) -> tuple[bool, str]:
        """Read ``:OUTP?`` back: (True, "0") when off; (False, reply) if no usable reply came.

        Raises
        ------
        CommunicationError
            If there is no reply at all.
        InstrumentError
            If the output is still on.
        """
        reply = ""
        for _ in range(tries):
            try:
                on = self.link.query_bool(":OUTP?")
            except ReplyError as exc:
                reply = exc.reply
                logger.warning("%s: could not confirm the output is off: %s", self.link.url, exc)
                continue
            if on:
                raise InstrumentError(self.link.url, ":OUTP?", "output still on after :OUTP OFF",
                                      "1")
            return True, "0"
        return False, reply

    # -- measurement ----------------------------------------------------------------------------
    def read_current(self) -> float:
        """Measured current in A (signed), validated.

        Raises
        ------
        ReplyError
            A NaN / overflow / garbled reply, or more than ``2 x compliance`` (a source that
            limits its current cannot read that).
        """
        top = CURRENT_READING_MARGIN * self.limits.compliance
        return self.link.query_float(self.current_query, low=-top, high=top,
                                     what="current in A")

    def in_compliance(self) -> bool:
        """True if the current limit was reached (the source is limiting)."""
        return self.link.query_bool(self.trip_query)

    # -- on-instrument watchdog -------------------------------------------------------------------
    def watchdog_commands(self, timeout: float) -> list[str] | None:
        """SCPI that arms an on-instrument watchdog, or None if the instrument has none."""
        return None

    def arm_watchdog(self, timeout: float) -> str:
        """Arm the on-instrument watchdog and start the heartbeat thread.

        Returns
        -------
        str
            A description for the session file.

        Raises
        ------
        ConfigError
            If the instrument has no watchdog.
        InstrumentError
            If it does not read back as running.
        """
        from .watchdog import Heartbeat

        cmds = self.watchdog_commands(timeout)
        if cmds is None:
            raise ConfigError(f"the {type(self).__name__} has no on-instrument watchdog")
        self.link.batch(cmds)
        st = self.watchdog_state()
        if st not in ("RUNNING", "WAITING"):
            raise InstrumentError(self.link.url, ":TRIG:STAT?", "watchdog trigger model not "
                                  "running after :INIT", st)
        self.heartbeat = Heartbeat(self, period=timeout / 4)
        self.heartbeat.start()
        return (f"on-instrument watchdog armed: output off unless a heartbeat (*TRG) arrives "
                f"within {timeout:g} s (trigger model state {st}); heartbeat every "
                f"{timeout / 4:.3g} s")

    def watchdog_state(self) -> str:
        """State of the watchdog (``RUNNING``, ``WAITING``, ``IDLE``...); "" without one."""
        return ""

    def heartbeat_once(self) -> None:
        """Send one heartbeat to the on-instrument watchdog."""

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread only: an armed on-instrument watchdog will then fire."""
        hb, self.heartbeat = self.heartbeat, None
        if hb is not None:
            hb.stop()

    def disarm_watchdog(self) -> None:
        """Stop the heartbeat thread and the on-instrument watchdog (no-op without one)."""
        self.stop_heartbeat()

    def check_watchdog(self) -> None:
        """With a watchdog armed: raise :class:`WatchdogFired` if it is no longer running (it
        switched the output off), as seen by the heartbeat thread or by querying it now."""
        hb = self.heartbeat
        if hb is None:
            return
        if not hb.fired:
            st = self.watchdog_state()
            if st not in ("RUNNING", "WAITING"):
                hb.fired = (f"the on-instrument watchdog is no longer running (trigger model "
                            f"{st}): it switched the output off")
        if hb.fired:
            raise WatchdogFired(self.link.url, "watchdog", hb.fired)

    # -- shutdown -------------------------------------------------------------------------------
    def shutdown(self, rate: float | None = None, *, deadline: float | None = None,
                 reconnect_attempts: int = 3, reconnect_wait: float = 0.5) -> ShutdownReport:
        """Ramp to 0 V and switch the output off, whatever state the link is in.

        The ramp starts from the level the software last set (:attr:`level`), never from a
        reading: after a reconnect the instrument's ``:OUTP?`` and level replies are read for
        the record only (a garbage reply is noted and ignored). With the level unknown (before
        :meth:`connect` found it) the output is switched off directly. After ``deadline``
        seconds the ramp stops and ``:OUTP OFF`` is sent directly; the report says so.

        Parameters
        ----------
        rate : float, optional
            V/s (default ``limits.max_ramp_rate / 2``; never above ``limits.max_ramp_rate``).
        deadline : float, optional
            s (default ``limits.shutdown_deadline``).
        reconnect_attempts : int
            Times a lost port is reopened.
        reconnect_wait : float
            s between attempts.

        Returns
        -------
        ShutdownReport

        Raises
        ------
        CommunicationError
            Only if the instrument cannot be reached at all: the output state is then unknown
            and the operator must switch it off by hand (the message says so).
        """
        t0 = time.monotonic()
        rate = min(rate or self.limits.max_ramp_rate / 2, self.limits.max_ramp_rate)
        budget = self.limits.shutdown_deadline if deadline is None else float(deadline)
        t_end = t0 + budget
        rep = ShutdownReport(start_level=self._level if self._level_known else None,
                             deadline=budget)
        last: Exception | None = None
        for attempt in range(reconnect_attempts + 1):
            if attempt and time.monotonic() >= t_end:
                break
            try:
                if attempt or not self.link.is_open:
                    if attempt:
                        time.sleep(max(0.0, min(reconnect_wait, t_end - time.monotonic())))
                    self.link.reopen()
                    self.link.settle_read_buffer(0.0)
                    rep.reconnects += 1
                    self._read_back_after_reconnect(rep)
                if self._level_known:
                    if not self._ramp(0.0, rate, check=False, until=t_end, note="shutdown",
                                      critical=False):
                        rep.deadline_hit = True
                        logger.critical("%s: shutdown deadline of %g s passed at %+.4g V: "
                                        "switching the output off directly", self.link.url,
                                        budget, self._level)
                self._set_output(False, "shutdown: output off", critical=False)
                rep.output_off_sent = True
                if not self._level_known or self._level != 0.0:
                    self._write_level(0.0, "shutdown: level to 0 V with the output off",
                                      critical=False)
                rep.confirmed, reply = self._confirm_off()
                if not rep.confirmed:
                    rep.notes.append(f":OUTP? answered {reply!r} (refused) after :OUTP OFF")
                rep.end_level = self._level
                rep.elapsed = time.monotonic() - t0
                logger.info("%s: %s", self.link.url, rep.message)
                return rep
            except InstrumentError as exc:  # includes CommunicationError, ReplyError
                last = exc
                logger.warning("%s: shutdown attempt %d failed: %s", self.link.url,
                               attempt + 1, exc)
        raise CommunicationError(
            self.link.url, "shutdown",
            "could not ramp the bias to 0 V and switch the output off: the output state is "
            f"UNKNOWN, switch it off at the front panel ({last})")

    def _read_back_after_reconnect(self, rep: ShutdownReport) -> None:
        """For the record only: what the instrument says after a reconnect."""
        try:
            on = self.link.query_bool(":OUTP?")
            rep.notes.append(f"after reconnect :OUTP? = {int(on)}")
        except ReplyError as exc:
            rep.notes.append(f"after reconnect :OUTP? reply {exc.reply!r} refused")
        try:
            v = self.link.query_float(":SOUR:VOLT:LEV?", low=-self.max_level,
                                      high=self.max_level, what="level in V")
            rep.notes.append(f"after reconnect level reads {v:+.4g} V (ramp from the "
                             f"software's {self._level:+.4g} V)")
        except ReplyError as exc:
            rep.notes.append(f"after reconnect level reply {exc.reply!r} refused, ignored "
                             f"(ramp from the software's {self._level:+.4g} V)")


class Keithley2400(BiasSource):
    """Keithley 2400 SourceMeter (2400S-900-01 SCPI). Compliance: ``:SENS:CURR:PROT``.

    Hardware limits at configure: fixed source range (200 mV, 2 V, 20 V, 200 V; levels above
    105 % of it are refused with error -222), V-source protection ``:SOUR:VOLT:PROT`` (20 V is its
    lowest setting: a coarse bound for a 1-2 V session), compliance ``:SENS:CURR:PROT``. No
    on-instrument watchdog (see docs/instrument.md).
    """

    models = ("MODEL 2400",)
    current_query = ":READ?"
    trip_query = ":SENS:CURR:PROT:TRIP?"
    ranges = (0.2, 2.0, 20.0, 200.0)
    #: V-source protection settings, V (2400S-900-01 sec. 18, ``:SOUR:VOLT:PROT``).
    protection_levels = (20, 40, 60, 80, 100, 120, 160)
    _limit_query = ":SENS:CURR:PROT?"

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        return [
            ":SOUR:FUNC VOLT",
            ":SOUR:VOLT:MODE FIXED",
            ":SOUR:VOLT:RANG:AUTO OFF",
            f":SOUR:VOLT:RANG {voltage_range:.6g}",
            f":SOUR:VOLT:PROT {self.protection_for(self.limits.max_bias):.6g}",
            ":SOUR:VOLT:LEV 0",
            ':SENS:FUNC "CURR"',
            f":SENS:CURR:PROT {compliance:.6g}",
            ":SENS:CURR:RANG:AUTO ON",
            ":FORM:ELEM CURR",
        ]

    def _query_protection(self) -> float:
        return self.link.query_float(":SOUR:VOLT:PROT?", low=0, high=self.max_level,
                                     what="voltage protection in V")


class Keithley2450(BiasSource):
    """Keithley 2450 SourceMeter (2450-901-01 SCPI). Current limit: ``:SOUR:VOLT:ILIM``.

    Hardware limits at configure: fixed source range (20 mV ... 200 V), overvoltage protection
    ``:SOUR:VOLT:PROT PROTn`` (2 V for a session up to 2 V: the instrument restricts its output to
    it), current limit ``:SOUR:VOLT:ILIM``. On-instrument watchdog: :meth:`watchdog_commands`.
    """

    models = ("MODEL 2450",)
    current_query = ":MEAS:CURR?"
    trip_query = ":SOUR:VOLT:ILIM:TRIP?"
    ranges = (0.02, 0.2, 2.0, 20.0, 200.0)
    #: Overvoltage protection settings, V (2450-901-01, ``:SOUR:VOLT:PROT``, ``PROTn``).
    protection_levels = (2, 5, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180)
    _limit_query = ":SOUR:VOLT:ILIM?"
    #: Trigger-model states (2450-901-01, ``:TRIGger:STATe?``).
    TRIGGER_STATES: ClassVar[tuple[str, ...]] = ("IDLE", "RUNNING", "WAITING", "EMPTY",
                                                 "BUILDING", "FAILED", "ABORTING", "ABORTED")

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        return [
            ":SOUR:FUNC VOLT",
            ":SOUR:VOLT:RANG:AUTO OFF",
            f":SOUR:VOLT:RANG {voltage_range:.6g}",
            f":SOUR:VOLT:PROT {self.protection_token(self.limits.max_bias)}",
            ":SOUR:VOLT:LEV 0",
            f":SOUR:VOLT:ILIM {compliance:.6g}",
            ':SENS:FUNC "CURR"',
            ":SENS:CURR:RANG:AUTO ON",
        ]

    @classmethod
    def protection_token(cls, volts: float) -> str:
        """``PROTn`` of the smallest protection setting that holds ``|volts|``."""
        for p in cls.protection_levels:
            if abs(volts) <= p:
                return f"PROT{p:g}"
        return "NONE"

    def _query_protection(self) -> float:
        reply = self.link.query(":SOUR:VOLT:PROT?").strip().upper()
        if reply == "NONE":
            return self.max_level
        if reply.startswith("PROT") and reply[4:].isdigit() \
                and float(reply[4:]) in self.protection_levels:
            return float(reply[4:])
        raise ReplyError(self.link.url, ":SOUR:VOLT:PROT?", "not a protection setting", reply)

    def watchdog_commands(self, timeout: float) -> list[str]:
        """Trigger model that switches the output off unless ``*TRG`` arrives in time.

        Blocks (2450-901-01 section 3 "Trigger model", section 6 ``:TRIGger:BLOCk:...``):
        1 constant delay of ``timeout`` s; 2 branch-on-event: if a command-interface trigger
        (``*TRG``, event ``COMMand``) came since the last pass, back to 1; 3 source output OFF.
        The model runs in the background while other commands execute ("Other commands can be
        executed while the trigger model is running if they do not conflict with trigger model
        actions", section 3 "Running the trigger model"). The output goes off between
        ``timeout`` and ``2 * timeout`` s after the last heartbeat.
        """
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"watchdog timeout must be positive, got {timeout!r}")
        return [
            ":ABOR",
            ':TRIG:LOAD "Empty"',
            f":TRIG:BLOC:DEL:CONS 1, {timeout:.6g}",
            ":TRIG:BLOC:BRAN:EVEN 2, COMM, 1",
            ":TRIG:BLOC:SOUR:STAT 3, OFF",
            ":INIT",
        ]

    def watchdog_state(self) -> str:
        """First field of ``:TRIG:STAT?`` (``RUNNING;RUNNING;1`` -> ``RUNNING``).

        Raises
        ------
        ReplyError
            If it is not a trigger-model state.
        """
        reply = self.link.query(":TRIG:STAT?")
        st = reply.split(";")[0].strip().upper()
        if st not in self.TRIGGER_STATES:
            raise ReplyError(self.link.url, ":TRIG:STAT?", "not a trigger-model state", reply)
        return st

    def heartbeat_once(self) -> None:
        """``*TRG``: a command-interface trigger event for the watchdog's branch block."""
        self.link.write("*TRG")

    def disarm_watchdog(self) -> None:
        """Stop the heartbeat thread, then the trigger model (``:ABOR``)."""
        super().disarm_watchdog()
        self.link.write(":ABOR")


#: Drivers by the name used in session files (``[source] driver = ...``).
DRIVERS: dict[str, type[BiasSource]] = {"keithley2400": Keithley2400, "keithley2450": Keithley2450}
