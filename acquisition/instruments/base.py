"""The mechanics of a SCPI voltage source: every level and output change recorded, then sent.

:class:`SourceBase` holds what the software last told the source (level, output) and changes it
only through :meth:`~SourceBase._write_level` and :meth:`~SourceBase._set_output`, which write
the change to the ``journal`` (write-ahead: the session file and the state file) *before* the
command is sent. On top of those: limits checked before any command, ramps bounded in step
(``limits.max_ramp_step`` and 5 % of the source range) and rate (``limits.max_ramp_rate`` and
:attr:`~SourceBase.max_rate`), the identity check, the output switched on at 0 V, validated
current readings.

The life cycle built on it (connect with recovery, the instrument's own limits, the
on-instrument watchdog, the shutdown) is :class:`acquisition.instruments.BiasSource`; the two
safety procedures it runs are :func:`acquisition.instruments.recovery.recover` and
:func:`acquisition.instruments.shutdown.shut_down`, which use this class's private record.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import ClassVar

from ..transport import NR3_PATTERN, InstrumentError, ReplyError, SCPILink
from .exit_guard import register_exit_guard
from .limits import LimitError, SourceLimits
from .watchdog import Heartbeat

__all__ = ["SourceBase", "Journal", "CURRENT_READING_MARGIN"]

logger = logging.getLogger(__name__)

#: ``journal(level_V, output_on, note)``: called before each change is sent.
Journal = Callable[[float, bool, str], None]

#: A current reading above this multiple of the compliance cannot be a reading of a source
#: that limits its current to the compliance: it is refused as garbage.
CURRENT_READING_MARGIN = 2.0


class SourceBase:
    """A SCPI voltage source: bounded ramps, a write-ahead record of every change.

    Subclasses set :attr:`models` (accepted ``*IDN?`` model fields), :attr:`current_query`,
    :attr:`trip_query` and the instrument's ranges.

    Parameters
    ----------
    link : SCPILink
        The open link to the instrument (the driver never opens a port itself).
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
        #: Limits read back from the instrument at ``configure``.
        self.hardware: dict[str, object] = {}
        #: The heartbeat thread of an armed on-instrument watchdog.
        self.heartbeat: Heartbeat | None = None
        self._exit_guard_registered = False

    # -- ramp bounds -------------------------------------------------------------------------------
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

    # -- state -------------------------------------------------------------------------------------
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

    # -- connection --------------------------------------------------------------------------------
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

    # -- output ------------------------------------------------------------------------------------
    def enable(self) -> None:
        """Switch the output on at 0 V (sets the level to 0 V first).

        Registers an ``atexit`` guard that ramps down should the interpreter exit with the
        output still on (:func:`acquisition.instruments.exit_guard.register_exit_guard`).
        """
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

    # -- measurement -------------------------------------------------------------------------------
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

