"""Whatever ends the session, the bias ends at 0 V: signals, exceptions, interpreter exit.

:class:`SafeBias` wraps a session. On entry it takes over every catchable signal whose default
action ends the process (:data:`TERMINATION_SIGNALS`: SIGHUP when the terminal or SSH session
closes, SIGINT, SIGQUIT, SIGTERM, SIGUSR1/2, SIGALRM, SIGXCPU, SIGVTALRM, SIGPROF, SIGPWR). The
first such signal stops the session (``KeyboardInterrupt`` for SIGINT, :class:`Terminated`
otherwise); every later one, and any signal while the shutdown runs, is held back and noted:
a signal during the ramp-down never aborts it. On exit the source is shut down
(:meth:`acquisition.sources.BiasSource.shutdown`: ramp from the level the software set, hard
deadline), the previous handlers come back, and a held-back signal is raised afterwards.

A Python signal handler runs between two bytecodes of the main thread; if that happens inside a
``__del__`` or a callback (an HDF5 object being freed), the exception it raises is printed and
dropped by the interpreter. So the session also calls :meth:`SafeBias.check` at its check points
(each line, each ramp step, every quarter second of a wait), which raises the signal's exception
again if the body is still running after a signal arrived.

The window between the end of the body and the start of the shutdown is closed by the handler
itself: it looks at the frame the signal interrupted and holds the signal whenever
:meth:`SafeBias.__exit__` (or a shutdown) is on the stack, so a SIGTERM that arrives just as
``__exit__`` begins is held instead of raised past the shutdown.

:func:`register_exit_guard` adds an ``atexit`` hook (registered by
:meth:`~acquisition.sources.BiasSource.enable`) that shuts down a source whose output is still
on when the interpreter exits normally.

What no handler can cover (SIGKILL, an out-of-memory kill, a crash of the interpreter, a lost
PC) is covered by the supervisor process (:mod:`acquisition.supervisor`), the 2450's
on-instrument watchdog (:mod:`acquisition.watchdog`) and the next start's ramp-down.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from .link import CommunicationError

if TYPE_CHECKING:
    from .sources import BiasSource, ShutdownReport

__all__ = ["SafeBias", "Terminated", "TERMINATION_SIGNALS", "signal_name", "held_signals",
           "register_exit_guard", "exit_status"]

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


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _protected_codes() -> set[Any]:
    from .sources import BiasSource

    return {SafeBias.__exit__.__code__, BiasSource.shutdown.__code__,
            _exit_guard.__code__}


def _in_protected(frame: FrameType | None) -> bool:
    codes = _protected_codes()
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


class SafeBias:
    """Context manager: whatever happens inside, the bias ends at 0 V with the output off.

    Parameters
    ----------
    source : BiasSource
    rate : float, optional
        Ramp-down rate, V/s.
    deadline : float, optional
        Shutdown deadline, s (default ``source.limits.shutdown_deadline``).

    Attributes
    ----------
    report : ShutdownReport or None
        What the shutdown did.
    shutdown_error : CommunicationError or None
        Set if the instrument could not be reached at all.
    received : list of int
        The signal that stopped the session (first) ...
    held : list of int
        ... and those held back after it or during the shutdown.
    """

    def __init__(self, source: BiasSource, rate: float | None = None,
                 deadline: float | None = None) -> None:
        self.source = source
        self.rate = rate
        self.deadline = deadline
        self._saved: dict[int, Any] = {}
        self._holding = False
        self._exiting = False
        self.report: ShutdownReport | None = None
        self.shutdown_error: CommunicationError | None = None
        self.received: list[int] = []
        self.held: list[int] = []

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._holding or _in_protected(frame):
            self.held.append(signum)
            logger.warning("%s held back: bringing the bias to 0 V first", signal_name(signum))
            return
        self._holding = True  # the first signal stops the session; later ones wait for 0 V
        self.received.append(signum)
        logger.warning("%s: stopping the session and ramping the bias to 0 V",
                       signal_name(signum))
        _raise_for(signum)

    def check(self) -> None:
        """Raise the stopping signal's exception if one arrived and the body still runs.

        Call it at the body's check points: it catches a signal whose exception the interpreter
        dropped (handler run inside a ``__del__``). No-op once :meth:`__exit__` has begun.
        """
        if self.received and not self._exiting:
            _raise_for(self.received[0])

    def __enter__(self) -> BiasSource:
        if threading.current_thread() is threading.main_thread():
            for s in TERMINATION_SIGNALS:
                self._saved[s] = signal.signal(s, self._on_signal)
        return self.source

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._holding = True
        self._exiting = True
        try:
            self.report = self.source.shutdown(self.rate, deadline=self.deadline)
        except CommunicationError as err:
            self.shutdown_error = err
            logger.critical("%s", err)
        finally:
            for sig, handler in self._saved.items():
                signal.signal(sig, handler)
            self._saved.clear()
        if self.shutdown_error is not None and exc_type is None:
            raise self.shutdown_error
        if self.held and exc_type is None:
            first = self.held[0]
            self.received.append(first)
            _raise_for(first)
        return False


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


_GUARDED: weakref.WeakSet[Any] = weakref.WeakSet()
_REGISTERED: list[bool] = [False]


def _exit_guard() -> None:
    for src in list(_GUARDED):
        if not (src.output_on or (src.level_known and src.level != 0.0)):
            continue
        logger.critical("%s: the interpreter is exiting with the output on at %+.4g V: ramping "
                        "to 0 V", src.link.url, src.level)
        with held_signals():
            try:
                rep = src.shutdown()
                logger.critical("%s: %s", src.link.url, rep.message)
            except CommunicationError as err:
                logger.critical("%s", err)


def register_exit_guard(source: BiasSource) -> None:
    """Shut ``source`` down at interpreter exit if its output is still on then."""
    if not _REGISTERED[0]:
        atexit.register(_exit_guard)
        _REGISTERED[0] = True
    _GUARDED.add(source)
