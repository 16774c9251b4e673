"""Whatever ends the session, the bias ends at 0 V: signals, exceptions, interpreter exit.

:class:`SafeBias` wraps a session. On entry it takes over every catchable signal whose default
action ends the process (:data:`acquisition.signals.TERMINATION_SIGNALS`: SIGHUP when the
terminal or SSH session closes, SIGINT, SIGQUIT, SIGTERM, SIGUSR1/2, SIGALRM, SIGXCPU,
SIGVTALRM, SIGPROF, SIGPWR). The first such signal stops the session (``KeyboardInterrupt`` for
SIGINT, :class:`~acquisition.signals.Terminated` otherwise); every later one, and any signal
while the shutdown runs, is held back and noted: a signal during the ramp-down never aborts it.
On exit the source is shut down (:meth:`acquisition.instruments.BiasSource.shutdown`: ramp from
the level the software set, hard deadline), the previous handlers come back, and a held-back
signal is raised afterwards.

A Python signal handler runs between two bytecodes of the main thread; if that happens inside a
``__del__`` or a callback (an HDF5 object being freed), the exception it raises is printed and
dropped by the interpreter. So the session also calls :meth:`SafeBias.check` at its check points
(each line, each ramp step, every quarter second of a wait), which raises the signal's exception
again if the body is still running after a signal arrived.

A record that takes several writes (a line of the scan: height, log-amp, time, source current
and the count of recorded lines; an event; the write-ahead bias record in the session file and
the state file) is written inside :meth:`SafeBias.atomic`: a stopping signal that arrives
during it is raised when the record is complete, so the files never hold half a record (a
line written but not counted, an event row without its message).

The window between the end of the body and the start of the shutdown is closed by the handler
itself: it looks at the frame the signal interrupted and holds the signal whenever
:meth:`SafeBias.__exit__` (or a shutdown) is on the stack, so a SIGTERM that arrives just as
``__exit__`` begins is held instead of raised past the shutdown.

What no handler can cover (SIGKILL, an out-of-memory kill, a crash of the interpreter, a lost
PC) is covered by the supervisor process (:mod:`acquisition.safety.supervisor`), the 2450's
on-instrument watchdog (:mod:`acquisition.instruments.watchdog`) and the next start's
ramp-down; an interpreter that exits normally with the output on, by the drivers' exit guard
(:mod:`acquisition.instruments.exit_guard`).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from ..instruments import BiasSource, ShutdownReport
from ..instruments.exit_guard import ramp_down_at_exit
from ..instruments.shutdown import shut_down
from ..signals import TERMINATION_SIGNALS, Terminated, signal_name
from ..transport import CommunicationError

__all__ = ["SafeBias"]

logger = logging.getLogger(__name__)


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


#: Code of the functions during which a signal is held, never raised: the shutdown, and the
#: start of ``SafeBias.__exit__`` before it (set below the class).
_PROTECTED: set[Any] = {BiasSource.shutdown.__code__, shut_down.__code__,
                        ramp_down_at_exit.__code__}


def _in_protected(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code in _PROTECTED:
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
        self._atomic = 0
        self._pending = False
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
        if self._atomic:  # a record is being written: raised when the record is whole
            self._pending = True
            return
        _raise_for(signum)

    def check(self) -> None:
        """Raise the stopping signal's exception if one arrived and the body still runs.

        Call it at the body's check points: it catches a signal whose exception the interpreter
        dropped (handler run inside a ``__del__``). No-op once :meth:`__exit__` has begun.
        """
        if self.received and not self._exiting:
            _raise_for(self.received[0])

    def atomic(self) -> _Atomic:
        """Context manager for a record of several writes: the first signal, if it arrives while
        the record is written, is raised when the record is complete, not between two writes.

        Nested blocks raise at the end of the outermost one. If the block ends with an exception
        of its own, the signal's exception replaces it (as if the signal had been raised where
        it arrived). Once :meth:`__exit__` has begun, signals are held anyway and nothing is
        raised. Without a signal it changes nothing.
        """
        return _Atomic(self)

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


_PROTECTED.add(SafeBias.__exit__.__code__)


class _Atomic:
    """See :meth:`SafeBias.atomic`."""

    def __init__(self, safe: SafeBias) -> None:
        self.safe = safe

    def __enter__(self) -> None:
        self.safe._atomic += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        safe = self.safe
        safe._atomic -= 1
        if safe._atomic or not safe._pending:
            return False
        safe._pending = False
        if not safe._exiting:
            _raise_for(safe.received[0])
        return False
