"""The bias source's life cycle: connect, the instrument's own limits, watchdog, shutdown.

:class:`BiasSource` is the driver class a model subclasses (:mod:`.keithley2400`,
:mod:`.keithley2450`). Safety, in this order:

1. every level is checked against the session's limits before a command is sent
   (:class:`~acquisition.instruments.SourceLimits`), and the ramp itself is bounded: steps of at
   most ``limits.max_ramp_step`` and 5 % of the source range, rates of at most
   ``limits.max_ramp_rate`` and :attr:`BiasSource.max_rate` (:mod:`.base`);
2. the instrument's own limits are set at :meth:`~BiasSource.configure` (fixed source range, the
   source's voltage protection, the current limit) and read back; a mismatch refuses the session;
3. every change of level or output is first recorded (``journal``: the session file and the
   write-ahead state file, :mod:`acquisition.safety.state`), then sent (:mod:`.base`);
4. replies are validated (:func:`acquisition.transport.parse_number`); a garbage reply is an
   error, never a level to ramp from;
5. on connect, an output left on is ramped to 0 V from the instrument's valid reading, else from
   the write-ahead state, else switched off directly (:meth:`~BiasSource.connect`,
   :mod:`.recovery`);
6. :meth:`~BiasSource.shutdown` ramps to 0 V from the level the software last set (never from a
   reading), with a hard deadline after which ``:OUTP OFF`` is sent directly and reported
   (:mod:`.shutdown`); :class:`acquisition.safety.SafeBias` runs it whatever ends the session.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from afmcurrent.core.errors import ConfigError

from ..transport import InstrumentError
from .base import SourceBase
from .recovery import LastCommanded, Recovery, recover
from .shutdown import ShutdownReport, shut_down
from .watchdog import RUNNING_STATES, Heartbeat, WatchdogFired

__all__ = ["BiasSource"]

logger = logging.getLogger(__name__)


class BiasSource(SourceBase):
    """A SCPI voltage source with bounded ramps, hardware limits and a safe shutdown.

    Subclasses set :attr:`models` (accepted ``*IDN?`` model fields), the SCPI of the
    model-specific steps (:meth:`_configure_commands`, :meth:`_query_protection`,
    :attr:`current_query`, :attr:`trip_query`), the instrument's ranges and protection
    settings, and, where the instrument has one, its watchdog (:meth:`watchdog_commands`,
    :meth:`watchdog_state`, :meth:`heartbeat_once`). Parameters as :class:`SourceBase`.
    """

    #: Query of the current limit as set.
    _limit_query: ClassVar[str] = ""
    #: Voltage-protection settings of the instrument, V.
    protection_levels: ClassVar[tuple[float, ...]] = ()

    # -- connection --------------------------------------------------------------------------------
    def connect(self, rate: float | None = None, state: LastCommanded | None = None) -> Recovery:
        """Identify, and bring an output left on (by an earlier crash) to 0 V before anything.

        The ramp-down starts from the instrument's level reply if it is valid, else from the
        write-ahead ``state`` (the level the last session last commanded), else the output is
        switched off directly: never a ramp from a garbage reading or a guess
        (:func:`~acquisition.instruments.recovery.recover`).

        Parameters
        ----------
        rate : float, optional
            Ramp rate for that recovery, V/s (default: ``limits.max_ramp_rate / 2``).
        state : LastCommanded, optional
            The write-ahead state of the last session on this source (e.g. the
            ``SourceState`` of :mod:`acquisition.safety.state`).

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
        return recover(self, rate, state)

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

    @classmethod
    def protection_for(cls, volts: float) -> float:
        """Smallest voltage-protection setting that holds ``|volts|``, V (``max_level``: none)."""
        for p in cls.protection_levels:
            if abs(volts) <= p:
                return float(p)
        return cls.max_level

    def _query_protection(self) -> float:
        raise NotImplementedError

    # -- on-instrument watchdog --------------------------------------------------------------------
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
        cmds = self.watchdog_commands(timeout)
        if cmds is None:
            raise ConfigError(f"the {type(self).__name__} has no on-instrument watchdog")
        self.link.batch(cmds)
        st = self.watchdog_state()
        if st not in RUNNING_STATES:
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
            if st not in RUNNING_STATES:
                hb.fired = (f"the on-instrument watchdog is no longer running (trigger model "
                            f"{st}): it switched the output off")
        if hb.fired:
            raise WatchdogFired(self.link.url, "watchdog", hb.fired)

    # -- shutdown ----------------------------------------------------------------------------------
    def shutdown(self, rate: float | None = None, *, deadline: float | None = None,
                 reconnect_attempts: int = 3, reconnect_wait: float = 0.5) -> ShutdownReport:
        """Ramp to 0 V and switch the output off, whatever state the link is in.

        The ramp starts from the level the software last set (:attr:`level`), never from a
        reading: after a reconnect the instrument's ``:OUTP?`` and level replies are read for
        the record only (a garbage reply is noted and ignored). With the level unknown (before
        :meth:`connect` found it) the output is switched off directly. After ``deadline``
        seconds the ramp stops and ``:OUTP OFF`` is sent directly; the report says so
        (:func:`~acquisition.instruments.shutdown.shut_down`).

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
        return shut_down(self, rate, deadline=deadline, reconnect_attempts=reconnect_attempts,
                         reconnect_wait=reconnect_wait)
