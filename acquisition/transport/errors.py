"""Errors of the link to an instrument: each names the port, the command and what came back."""

from __future__ import annotations

from afmcurrent.core.errors import AfmcurrentError

__all__ = ["InstrumentError", "CommunicationError", "ReplyError"]


class InstrumentError(AfmcurrentError):
    """An instrument refused, failed or answered nonsense; the message names port and command.

    Attributes
    ----------
    port : str
        The pyserial URL of the instrument.
    command : str
        The command (or batch) concerned.
    reply : str
        What came back (may be empty).
    """

    def __init__(self, port: str, command: str, problem: str, reply: str = "") -> None:
        self.port, self.command, self.reply = port, command, reply
        shown = f"; reply {reply!r}" if reply else ""
        super().__init__(f"{port}: {command!r}: {problem}{shown}")


class CommunicationError(InstrumentError):
    """No (usable) reply: a timeout after the retry, or the port went away."""


class ReplyError(InstrumentError):
    """A reply came back but is not a valid value: not-a-number, infinity/overflow, not a number
    at all, cut short, or outside the bounds the caller gave. Never turned into a value."""
