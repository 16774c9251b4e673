"""Keithley 2450 SourceMeter as the bias source (Model 2450 Reference Manual, 2450-901-01).

Command set (section 6 "SCPI command reference"): the current limit belongs to the source,
``:SOUR:VOLT:ILIM`` and ``:SOUR:VOLT:ILIM:TRIP?``; overvoltage protection ``:SOUR:VOLT:PROT
PROTn`` (2, 5, 10, 20 ... V); the current is read with ``:MEAS:CURR?``; an on-instrument
watchdog built from the trigger model (:meth:`Keithley2450.watchdog_commands`); the rest as for
the 2400.
"""

from __future__ import annotations

import math
from typing import ClassVar

from afmcurrent.core.errors import ConfigError

from ..transport import ReplyError
from .source import BiasSource

__all__ = ["Keithley2450"]


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
