"""The shutdown: to 0 V and output off, whatever state the link is in, within a hard deadline.

The ramp starts from the level the software last set (the driver's record), never from a
reading: after a reconnect the instrument's ``:OUTP?`` and level replies are read for the record
only (a garbage reply is noted and ignored). With the level unknown (before connect found it)
the output is switched off directly. After the deadline the ramp stops and ``:OUTP OFF`` is sent
directly; the report says so. :meth:`acquisition.instruments.BiasSource.shutdown` runs
:func:`shut_down`; :class:`acquisition.safety.SafeBias` runs that whatever ends a session.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..transport import CommunicationError, InstrumentError, ReplyError
from .base import SourceBase

__all__ = ["ShutdownReport", "shut_down"]

logger = logging.getLogger(__name__)


@dataclass
class ShutdownReport:
    """What :func:`shut_down` did.

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


def shut_down(source: SourceBase, rate: float | None = None, *, deadline: float | None = None,
              reconnect_attempts: int = 3, reconnect_wait: float = 0.5) -> ShutdownReport:
    """Ramp ``source`` to 0 V and switch its output off (see the module docstring).

    Parameters
    ----------
    source : SourceBase
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
    rate = min(rate or source.limits.max_ramp_rate / 2, source.limits.max_ramp_rate)
    budget = source.limits.shutdown_deadline if deadline is None else float(deadline)
    t_end = t0 + budget
    rep = ShutdownReport(start_level=source._level if source._level_known else None,
                         deadline=budget)
    last: Exception | None = None
    for attempt in range(reconnect_attempts + 1):
        if attempt and time.monotonic() >= t_end:
            break
        try:
            if attempt or not source.link.is_open:
                _reconnect(source, rep, attempt, t_end, reconnect_wait)
            _to_zero_and_off(source, rep, rate, t_end)
            rep.end_level = source._level
            rep.elapsed = time.monotonic() - t0
            logger.info("%s: %s", source.link.url, rep.message)
            return rep
        except InstrumentError as exc:  # includes CommunicationError, ReplyError
            last = exc
            logger.warning("%s: shutdown attempt %d failed: %s", source.link.url,
                           attempt + 1, exc)
    raise CommunicationError(
        source.link.url, "shutdown",
        "could not ramp the bias to 0 V and switch the output off: the output state is "
        f"UNKNOWN, switch it off at the front panel ({last})")


def _reconnect(source: SourceBase, rep: ShutdownReport, attempt: int, t_end: float,
               reconnect_wait: float) -> None:
    if attempt:
        time.sleep(max(0.0, min(reconnect_wait, t_end - time.monotonic())))
    source.link.reopen()
    source.link.settle_read_buffer(0.0)
    rep.reconnects += 1
    _read_back_after_reconnect(source, rep)


def _to_zero_and_off(source: SourceBase, rep: ShutdownReport, rate: float,
                     t_end: float) -> None:
    """Ramp from the record (until the deadline), output off, level 0 V, read ``:OUTP?``."""
    if source._level_known:
        if not source._ramp(0.0, rate, check=False, until=t_end, note="shutdown",
                            critical=False):
            rep.deadline_hit = True
            logger.critical("%s: shutdown deadline of %g s passed at %+.4g V: "
                            "switching the output off directly", source.link.url,
                            rep.deadline, source._level)
    source._set_output(False, "shutdown: output off", critical=False)
    rep.output_off_sent = True
    if not source._level_known or source._level != 0.0:
        source._write_level(0.0, "shutdown: level to 0 V with the output off",
                            critical=False)
    rep.confirmed, reply = source._confirm_off()
    if not rep.confirmed:
        rep.notes.append(f":OUTP? answered {reply!r} (refused) after :OUTP OFF")


def _read_back_after_reconnect(source: SourceBase, rep: ShutdownReport) -> None:
    """For the record only: what the instrument says after a reconnect."""
    try:
        on = source.link.query_bool(":OUTP?")
        rep.notes.append(f"after reconnect :OUTP? = {int(on)}")
    except ReplyError as exc:
        rep.notes.append(f"after reconnect :OUTP? reply {exc.reply!r} refused")
    try:
        v = source.link.query_float(":SOUR:VOLT:LEV?", low=-source.max_level,
                                    high=source.max_level, what="level in V")
        rep.notes.append(f"after reconnect level reads {v:+.4g} V (ramp from the "
                         f"software's {source._level:+.4g} V)")
    except ReplyError as exc:
        rep.notes.append(f"after reconnect level reply {exc.reply!r} refused, ignored "
                         f"(ramp from the software's {source._level:+.4g} V)")
