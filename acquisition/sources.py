"""Bias sources: Keithley 2400 and 2450 SourceMeters as voltage sources on the Li metal.

The drivers follow the instrument-class pattern of PyMeasure (one class per model, SCPI in one
place, a safe shutdown) with their own code. Command sets:

* **Keithley 2400** (2400 Series SourceMeter User's Manual, 2400S-900-01, section 18 "SCPI
  command reference"): ``:SOUR:FUNC VOLT``, ``:SOUR:VOLT:MODE FIXED``, ``:SOUR:VOLT:RANG``,
  ``:SOUR:VOLT:LEV``, ``:SENS:FUNC "CURR"``, compliance ``:SENS:CURR:PROT`` (the 2400 calls the
  current limit of a voltage source "compliance" and sets it in the SENSe subsystem),
  ``:SENS:CURR:PROT:TRIP?``, ``:FORM:ELEM CURR`` so that ``:READ?`` returns the current only,
  ``:OUTP ON|OFF``, ``:OUTP?``, ``:SYST:ERR?``.
* **Keithley 2450** (Model 2450 Reference Manual, 2450-901-01, SCPI command set): the current
  limit belongs to the source, ``:SOUR:VOLT:ILIM`` and ``:SOUR:VOLT:ILIM:TRIP?``; the current is
  read with ``:MEAS:CURR?``; the rest as for the 2400.

Safety, in this order: every level is checked against the session's limits before a command is
sent (:class:`SourceLimits`); a level is only ever reached by a ramp of bounded rate; on connect
an output left on (e.g. by a crashed earlier run) is ramped to 0 V and switched off before
anything else; :class:`SafeBias` ramps to 0 V and switches the output off on normal exit, on an
exception, on Ctrl-C and on SIGTERM, with further signals held back until that is done.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from afmcurrent.errors import ConfigError

from .link import CommunicationError, InstrumentError, SCPILink

__all__ = [
    "SourceLimits",
    "BiasSource",
    "Keithley2400",
    "Keithley2450",
    "DRIVERS",
    "SafeBias",
    "Terminated",
    "LimitError",
]

logger = logging.getLogger(__name__)


class LimitError(ConfigError):
    """A requested level or setting exceeds the session's hard limits; nothing was sent."""


class Terminated(BaseException):  # noqa: N818 - mirrors KeyboardInterrupt
    """Raised in the main thread when SIGTERM arrives inside :class:`SafeBias`."""


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
    """

    max_bias: float = 2.0
    compliance: float = 1e-6
    max_ramp_rate: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_bias", "compliance", "max_ramp_rate"):
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


class BiasSource:
    """A SCPI voltage source with ramping, limits and a safe shutdown.

    Subclasses set :attr:`models` (accepted ``*IDN?`` model fields) and the SCPI of the
    model-specific steps (:meth:`_configure_commands`, :attr:`current_query`,
    :attr:`trip_query`).

    Parameters
    ----------
    link : SCPILink
        The open link to the instrument.
    limits : SourceLimits
        Hard limits of the session.
    ramp_step : float, optional
        Largest level step of a ramp, V.
    sleep : callable, optional
        ``sleep(seconds)`` between ramp steps (an accelerated clock in simulation).
    """

    #: Model strings one of which must appear in the ``*IDN?`` reply.
    models: ClassVar[tuple[str, ...]] = ()
    #: Query returning the measured current in A.
    current_query: ClassVar[str] = ":READ?"
    #: Query returning 1 while the source is in compliance (current limit reached).
    trip_query: ClassVar[str] = ""

    def __init__(
        self,
        link: SCPILink,
        limits: SourceLimits,
        *,
        ramp_step: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not ramp_step > 0:
            raise ConfigError(f"ramp_step must be positive, got {ramp_step!r}")
        self.link = link
        self.limits = limits
        self.ramp_step = float(ramp_step)
        self._sleep = sleep
        self.identity = ""
        self._level = 0.0
        self._output = False

    # -- state ----------------------------------------------------------------------------------
    @property
    def level(self) -> float:
        """Last level set, V (the driver's record, no query)."""
        return self._level

    @property
    def output_on(self) -> bool:
        """Whether the driver last switched the output on."""
        return self._output

    @property
    def applied_bias(self) -> float:
        """Bias on the sample as commanded: the level while the output is on, else 0 V."""
        return self._level if self._output else 0.0

    # -- connection -----------------------------------------------------------------------------
    def identify(self) -> str:
        """Query ``*IDN?`` and refuse an instrument that is not one of :attr:`models`.

        Raises
        ------
        InstrumentError
            If the reply names another instrument.
        """
        idn = self.link.query("*IDN?")
        fields = [f.strip().upper() for f in idn.split(",")]
        model = fields[1] if len(fields) > 1 else ""
        if model not in {m.upper() for m in self.models}:
            raise InstrumentError(
                self.link.url, "*IDN?",
                f"not a {' / '.join(self.models)}: refusing to drive this instrument with the "
                f"{type(self).__name__} driver", idn)
        self.identity = idn
        return idn

    def connect(self, rate: float | None = None) -> bool:
        """Identify, and ramp down an output left on (by an earlier crash) before anything else.

        Parameters
        ----------
        rate : float, optional
            Ramp rate for that recovery, V/s (default: ``limits.max_ramp_rate / 2``).

        Returns
        -------
        bool
            True if an output was found on and ramped down.
        """
        self.identify()
        if not self.link.query_bool(":OUTP?"):
            self._output = False
            return False
        found = self.link.query_float(":SOUR:VOLT:LEV?")
        logger.warning("%s: output found ON at %+.4g V (left by an earlier run?); ramping to "
                       "0 V and switching it off", self.link.url, found)
        self._level, self._output = found, True
        # Ramp down even from beyond the limits: getting to 0 V is always allowed.
        self._ramp(0.0, rate or self.limits.max_ramp_rate / 2, check=False)
        self.link.write(":OUTP OFF")
        self._output = False
        self._confirm_off()
        return True

    def configure(self, voltage_range: float | None = None) -> None:
        """Voltage source at 0 V, compliance from the limits, current measurement.

        Parameters
        ----------
        voltage_range : float, optional
            Source range in V (default: ``limits.max_bias``, so the instrument picks the
            smallest range that holds it).

        Raises
        ------
        LimitError
            If the range exceeds the limits (nothing sent).
        InstrumentError
            If the instrument reports an error for the batch.
        """
        rng = self.limits.max_bias if voltage_range is None else float(voltage_range)
        self.limits.check_level(rng)
        if self._output:
            raise InstrumentError(self.link.url, "configure", "output is on: ramp down first")
        self.link.batch(self._configure_commands(rng, self.limits.compliance))
        self._level = 0.0

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        raise NotImplementedError

    # -- output ---------------------------------------------------------------------------------
    def enable(self) -> None:
        """Switch the output on at 0 V (sets the level to 0 V first)."""
        self.link.batch([":SOUR:VOLT:LEV 0", ":OUTP ON"])
        self._level, self._output = 0.0, True

    def disable(self) -> None:
        """Switch the output off (the level should be 0 V already; see :meth:`shutdown`)."""
        self.link.write(":OUTP OFF")
        self._output = False

    def set_level(self, volts: float) -> None:
        """Set the level at once (checked against the limits first). Prefer :meth:`ramp_to`."""
        self.limits.check_level(volts)
        self._write_level(volts)

    def _write_level(self, volts: float) -> None:
        self.link.write(f":SOUR:VOLT:LEV {volts:.6g}")
        self._level = float(volts)

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
        self.limits.check_rate(rate)
        self._ramp(target, rate, check=True, on_step=on_step)

    def _ramp(self, target: float, rate: float, *, check: bool,
              on_step: Callable[[float], None] | None = None) -> None:
        start = self._level
        n = max(1, math.ceil(abs(target - start) / self.ramp_step - 1e-9))
        dt = abs(target - start) / n / rate if rate > 0 else 0.0
        for k in range(1, n + 1):
            v = target if k == n else start + (target - start) * k / n
            if abs(v - self._level) < 1e-15 and k < n:
                continue
            self._sleep(dt)
            self._write_level(v)
            if on_step is not None:
                on_step(v)
        if check:
            errs = self.link.errors()
            if errs:
                raise InstrumentError(self.link.url, f"ramp to {target:+g} V",
                                      f"instrument reports {errs}")

    def _confirm_off(self) -> None:
        """Read ``:OUTP?`` back; a garbled reply is logged (the writes went out), no reply
        or an output still on raises."""
        try:
            on = self.link.query_bool(":OUTP?")
        except CommunicationError:
            raise
        except InstrumentError as exc:
            logger.warning("%s: could not confirm the output is off: %s", self.link.url, exc)
            return
        if on:
            raise InstrumentError(self.link.url, ":OUTP?", "output still on after :OUTP OFF",
                                  "1")

    # -- measurement ----------------------------------------------------------------------------
    def read_current(self) -> float:
        """Measured current in A (signed)."""
        return self.link.query_float(self.current_query)

    def in_compliance(self) -> bool:
        """True if the current limit was reached (the source is limiting)."""
        return self.link.query_bool(self.trip_query)

    # -- shutdown -------------------------------------------------------------------------------
    def shutdown(self, rate: float | None = None, reconnect_attempts: int = 3,
                 reconnect_wait: float = 0.5) -> None:
        """Ramp to 0 V and switch the output off, whatever state the link is in.

        Best effort, never raises for communication problems until every way is tried: on a
        lost port the link is reopened (``reconnect_attempts`` times, ``reconnect_wait`` s
        apart) and the instrument's own level is read back before ramping down.

        Raises
        ------
        CommunicationError
            Only if the instrument cannot be reached at all: the output state is then unknown
            and the operator must switch it off by hand (the message says so).
        """
        rate = rate or self.limits.max_ramp_rate / 2
        last: Exception | None = None
        for attempt in range(reconnect_attempts + 1):
            try:
                if attempt or not self.link.is_open:
                    if attempt:
                        time.sleep(reconnect_wait)
                    self.link.reopen()
                    self.link.settle_read_buffer(0.0)
                    if self.link.query_bool(":OUTP?"):
                        self._level = self.link.query_float(":SOUR:VOLT:LEV?")
                        self._output = True
                    else:
                        self._output = False
                if self._output or abs(self._level) > 0:
                    self._ramp(0.0, rate, check=False)
                self.link.write(":OUTP OFF")
                self._output = False
                self._confirm_off()
                logger.info("%s: bias at 0 V, output off", self.link.url)
                return
            except InstrumentError as exc:  # includes CommunicationError
                last = exc
                logger.warning("%s: shutdown attempt %d failed: %s", self.link.url,
                               attempt + 1, exc)
        raise CommunicationError(
            self.link.url, "shutdown",
            "could not ramp the bias to 0 V and switch the output off: the output state is "
            f"UNKNOWN, switch it off at the front panel ({last})")


class Keithley2400(BiasSource):
    """Keithley 2400 SourceMeter (2400S-900-01 SCPI). Compliance: ``:SENS:CURR:PROT``."""

    models = ("MODEL 2400",)
    current_query = ":READ?"
    trip_query = ":SENS:CURR:PROT:TRIP?"

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        return [
            ":SOUR:FUNC VOLT",
            ":SOUR:VOLT:MODE FIXED",
            f":SOUR:VOLT:RANG {voltage_range:.6g}",
            ":SOUR:VOLT:LEV 0",
            ':SENS:FUNC "CURR"',
            f":SENS:CURR:PROT {compliance:.6g}",
            ":SENS:CURR:RANG:AUTO ON",
            ":FORM:ELEM CURR",
        ]


class Keithley2450(BiasSource):
    """Keithley 2450 SourceMeter (2450-901-01 SCPI). Current limit: ``:SOUR:VOLT:ILIM``."""

    models = ("MODEL 2450",)
    current_query = ":MEAS:CURR?"
    trip_query = ":SOUR:VOLT:ILIM:TRIP?"

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        return [
            ":SOUR:FUNC VOLT",
            f":SOUR:VOLT:RANG {voltage_range:.6g}",
            ":SOUR:VOLT:LEV 0",
            f":SOUR:VOLT:ILIM {compliance:.6g}",
            ':SENS:FUNC "CURR"',
            ":SENS:CURR:RANG:AUTO ON",
        ]


#: Drivers by the name used in session files (``[source] driver = ...``).
DRIVERS: dict[str, type[BiasSource]] = {"keithley2400": Keithley2400, "keithley2450": Keithley2450}


class SafeBias:
    """Context manager: whatever happens inside, the bias ends at 0 V with the output off.

    On entry, SIGTERM (main thread only) is turned into :class:`Terminated`; on exit the
    source is shut down (:meth:`BiasSource.shutdown`) with SIGINT and SIGTERM held back until
    that is done, then the previous handlers are restored and a held-back signal re-raised.

    Parameters
    ----------
    source : BiasSource
    rate : float, optional
        Ramp-down rate, V/s.
    """

    def __init__(self, source: BiasSource, rate: float | None = None) -> None:
        self.source = source
        self.rate = rate
        self._saved: dict[int, Any] = {}
        self.shutdown_error: CommunicationError | None = None

    def __enter__(self) -> BiasSource:
        if threading.current_thread() is threading.main_thread():
            self._saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_terminated)
        return self.source

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        with _held_signals() as held:
            try:
                self.source.shutdown(self.rate)
            except CommunicationError as err:
                self.shutdown_error = err
                logger.critical("%s", err)
                if exc_type is None:
                    raise
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()
        if held and exc_type is None:
            if signal.SIGTERM in held:
                raise Terminated("SIGTERM")
            raise KeyboardInterrupt
        return False


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"signal {signum}")


@contextmanager
def _held_signals() -> Iterator[list[int]]:
    """Hold SIGINT / SIGTERM back (main thread) while the body runs; yields those that came."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def note(signum: int, frame: Any) -> None:
        logger.warning("signal %d held back: bringing the bias to 0 V first", signum)
        held.append(signum)

    saved = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
