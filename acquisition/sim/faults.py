"""Faults to inject into a virtual instrument (:class:`acquisition.sim.VirtualKeithley`).

``no_reply`` (queries get no answer), ``garble`` (replies are noise), ``slow`` (replies come
late by ``delay`` s), ``disconnect`` (the port vanishes, and comes back after
``reconnect_after`` s unless that is None), ``compliance`` (the load draws more than the
current limit: the source limits and the trip flag reads 1), ``replies`` (the reply to a given
query is replaced, e.g. ``{":SOUR:VOLT:LEV?": "NAN"}``: NaN, overflow, cut short, nonsense).
Set at any time, or armed to fire after a number of commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Faults"]


@dataclass
class Faults:
    """Faults to inject; every field may be changed while the instrument runs.

    Attributes
    ----------
    no_reply, garble, compliance : bool
    replies : dict
        Query header (upper case, as sent) -> reply text sent instead of the true one.
    delay : float
        Extra reply delay in s (a "slow" instrument) while > 0.
    after_commands : int or None
        If set, the faults in ``armed`` switch on after this many more commands.
    armed : dict
        Field values applied when ``after_commands`` runs out, e.g. ``{"no_reply": True}``;
        ``{"disconnect": 0.3}`` disconnects with a reconnect after 0.3 s
        (``{"disconnect": None}``: never comes back); ``{"duration": 0.5}`` clears the
        faults again 0.5 s after they fired (a transient fault).
    clear_at : float or None
        ``time.monotonic()`` at which the faults clear (set from ``duration``).
    """

    no_reply: bool = False
    garble: bool = False
    compliance: bool = False
    delay: float = 0.0
    after_commands: int | None = None
    armed: dict[str, object] = field(default_factory=dict)
    clear_at: float | None = None
    replies: dict[str, str] = field(default_factory=dict)

    def expire(self) -> None:
        """Clear the faults if their duration is over."""
        if self.clear_at is not None and time.monotonic() >= self.clear_at:
            self.no_reply = self.garble = self.compliance = False
            self.delay = 0.0
            self.replies = {}
            self.clear_at = None


    def count_command(self, disconnect: Callable[[float | None], None]) -> None:
        """One more command arrived: fire the ``armed`` faults when ``after_commands`` runs out.

        Parameters
        ----------
        disconnect : callable
            ``disconnect(reconnect_after)`` of the instrument, for an armed ``disconnect``.
        """
        if self.after_commands is None:
            return
        self.after_commands -= 1
        if self.after_commands > 0:
            return
        self.after_commands = None
        for key, value in self.armed.items():
            if key == "duration":
                self.clear_at = time.monotonic() + float(value)  # type: ignore[arg-type]
            elif key == "disconnect":
                disconnect(value)  # type: ignore[arg-type]
            elif key == "replies":
                self.replies = dict(value)  # type: ignore[call-overload]
            else:
                setattr(self, key, value)
        self.armed = {}
