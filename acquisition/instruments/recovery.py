"""At connect: an output left on by an earlier crash is brought to 0 V before anything else.

The ramp-down starts from the instrument's level reply if it is valid, else from the
write-ahead state of the last session (the level it last commanded, :mod:`acquisition.safety.
state`), else the output is switched off directly: never a ramp from a garbage reading or a
guess. :meth:`acquisition.instruments.BiasSource.connect` runs :func:`recover` after the
identity check; the supervisor and every new start use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ..transport import ReplyError
from .base import SourceBase

__all__ = ["Recovery", "LastCommanded", "recover"]

logger = logging.getLogger(__name__)


class LastCommanded(Protocol):
    """What the last session last told the source (e.g. a
    :class:`acquisition.safety.SourceState`)."""

    level: float
    output: bool


@dataclass
class Recovery:
    """What :func:`recover` (run by ``BiasSource.connect``) found and did about an output left on.

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
        The write-ahead state given to :func:`recover`.
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



def recover(source: SourceBase, rate: float | None = None,
            state: LastCommanded | None = None) -> Recovery:
    """Bring an output found on to 0 V: ramp from a valid level, else switch off directly.

    Parameters
    ----------
    source : SourceBase
        An identified driver; its record (level, output) is set from what is found.
    rate : float, optional
        Ramp rate for that recovery, V/s (default: ``limits.max_ramp_rate / 2``).
    state : LastCommanded, optional
        The write-ahead state of the last session on this source.

    Returns
    -------
    Recovery

    Raises
    ------
    InstrumentError
        An unusable ``:OUTP?`` reply, or an output that stays on.
    """
    rec = Recovery()
    if state is not None:
        _believe(source, rec, state)
    on = source.link.query_bool(":OUTP?")
    if not on:
        source._output = False
        rec.confirmed = True
        return rec
    rec.found_on = True
    source._output = True
    _level_to_ramp_from(source, rec)
    logger.warning("%s: %s", source.link.url, "output found ON (left by an earlier run?)")
    if rec.used_level is None:
        source._level_known = False
        source._set_output(False, "recovery: output on at an unknown level, switched off "
                           "directly")
        source._write_level(0.0, "recovery: level to 0 V with the output off")
    else:
        source._level, source._level_known = rec.used_level, True
        r = min(rate or source.limits.max_ramp_rate / 2, source.limits.max_ramp_rate)
        # getting to 0 V is always allowed, also from beyond the session's limits
        source._ramp(0.0, r, check=False, note="recovery")
        source._set_output(False, "recovery")
    rec.confirmed, reply = source._confirm_off()
    if not rec.confirmed:
        raise ReplyError(source.link.url, ":OUTP?", "could not confirm the output is off "
                         "after the recovery ramp-down", reply)
    return rec


def _believe(source: SourceBase, rec: Recovery, state: LastCommanded) -> None:
    rec.state_level, rec.state_output = state.level, state.output
    if (state.output or state.level != 0.0) and abs(state.level) <= source.max_level:
        # believe the record until the instrument says better: a shutdown from here on
        # ramps from this level, never from an unknown one
        source._level, source._output, source._level_known = state.level, state.output, True


def _level_to_ramp_from(source: SourceBase, rec: Recovery) -> None:
    """The instrument's valid level reply, else the believed record, else unknown."""
    try:
        reading = source.link.query_float(":SOUR:VOLT:LEV?", low=-source.max_level,
                                          high=source.max_level, what="level in V")
        rec.reading, rec.used_level, rec.source = reading, reading, "instrument"
    except ReplyError as exc:
        rec.reading_error = str(exc)
        if source._level_known:
            rec.used_level, rec.source = source._level, "state file"
        else:
            rec.source = "unknown"
