"""Heartbeat for an on-instrument watchdog (Keithley 2450 trigger model).

The watchdog runs on the instrument
(:meth:`acquisition.instruments.Keithley2450.watchdog_commands`):
a trigger model that switches the output off unless a command-interface trigger (``*TRG``)
arrives within ``timeout`` s. It covers what no software on the PC can: the session process
killed (SIGKILL, out-of-memory), frozen (SIGSTOP, a hung driver), the PC crashed or powered off,
the cable pulled. :class:`Heartbeat` is the daemon thread that sends ``*TRG`` every
``timeout / 4`` s through the shared link (its lock serialises it with the session's commands)
and reads ``:TRIG:STAT?`` each time: a model no longer running means the watchdog fired and the
output is off, which :meth:`~acquisition.instruments.BiasSource.check_watchdog` turns into an abort
of the session at its next check (each line, each ramp step).

The heartbeat only proves that the process is alive and the link works, not that the session's
main thread makes progress: a main thread stuck in a long wait keeps the output on (the
session's own timeouts bound those waits).
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from ..transport import InstrumentError, SCPILink

__all__ = ["Heartbeat", "WatchdogFired", "Beatable", "RUNNING_STATES"]

logger = logging.getLogger(__name__)

#: Trigger-model states of a watchdog that has not fired.
RUNNING_STATES = ("RUNNING", "WAITING")


class WatchdogFired(InstrumentError):
    """The on-instrument watchdog switched the output off (no heartbeat in time)."""


class Beatable(Protocol):
    """A driver with an on-instrument watchdog (:class:`acquisition.instruments.BiasSource`)."""

    link: SCPILink

    def heartbeat_once(self) -> None:
        """Send one heartbeat."""

    def watchdog_state(self) -> str:
        """The watchdog's state (``RUNNING``, ``WAITING``, ``IDLE``...)."""


class Heartbeat:
    """Daemon thread beating an on-instrument watchdog.

    Parameters
    ----------
    source : Beatable
        A driver whose :meth:`~acquisition.instruments.BiasSource.heartbeat_once` and
        :meth:`~acquisition.instruments.BiasSource.watchdog_state` talk to the watchdog.
    period : float
        Seconds between beats.

    Attributes
    ----------
    beats : int
        Heartbeats sent.
    fired : str
        Non-empty once the watchdog was seen not running (it switched the output off).
    last_error : str
        The last link error of a beat (the session's own commands report lost links).
    """

    def __init__(self, source: Beatable, period: float) -> None:
        self.source = source
        self.period = float(period)
        self.beats = 0
        self.fired = ""
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog-heartbeat",
                                        daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (the watchdog then fires unless it is stopped too)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.source.heartbeat_once()
                self.beats += 1
                st = self.source.watchdog_state()
            except InstrumentError as exc:
                self.last_error = str(exc)
                logger.debug("heartbeat: %s", exc)
                continue
            if st not in RUNNING_STATES and not self.fired:
                self.fired = (f"the on-instrument watchdog is no longer running (trigger "
                              f"model {st}): it switched the output off")
                logger.critical("%s: %s", self.source.link.url, self.fired)
