"""Termination signals: which ones end a process, their names, exit statuses, holding them back.

Shared by :class:`acquisition.safety.SafeBias` (which turns the first signal into an exception
that ends the session at 0 V) and by the drivers' exit guard
(:func:`acquisition.instruments.exit_guard.register_exit_guard`, which holds every signal back
while it ramps down at interpreter exit). Imports nothing else from ``acquisition``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["TERMINATION_SIGNALS", "signal_name", "exit_status", "Terminated", "held_signals"]

logger = logging.getLogger(__name__)

#: Catchable signals whose default action ends the process (POSIX; those this platform has).
#: SIGPIPE and SIGXFSZ are left alone: Python ignores them, and the write that caused them fails
#: with an exception, which ends the session through the same shutdown.
TERMINATION_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, n) for n in ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2",
                                 "SIGALRM", "SIGXCPU", "SIGVTALRM", "SIGPROF", "SIGPWR")
    if hasattr(signal, n))


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, etc."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_status(signum: int) -> int:
    """Shell convention for a process ended by a signal: 128 + number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


class Terminated(BaseException):  # noqa: N818 - mirrors KeyboardInterrupt
    """Raised in the main thread when a termination signal (not SIGINT) arrives in SafeBias.

    Attributes
    ----------
    signum : int
    name : str
        e.g. ``"SIGHUP"``.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = int(signum)
        self.name = signal_name(self.signum)
        super().__init__(self.name)


@contextmanager
def held_signals() -> Iterator[list[int]]:
    """Hold every termination signal back (main thread) while the body runs; yields them."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def note(signum: int, frame: Any) -> None:
        logger.warning("%s held back: bringing the bias to 0 V first", signal_name(signum))
        held.append(signum)

    saved = {s: signal.signal(s, note) for s in TERMINATION_SIGNALS}
    try:
        yield held
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
