"""What a session reports while it runs (:class:`Observer`) and when it ends
(:class:`SessionResult`, with the exit status of ``afmcurrent acquire``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..instruments import Recovery, ShutdownReport
from ..signals import exit_status

__all__ = ["Observer", "SessionResult"]


class Observer:
    """Callbacks for progress display; the default does nothing."""

    def event(self, kind: str, message: str, scan: int) -> None:
        """An event was recorded."""

    def scan_started(self, index: int, bias: float, lines: int) -> None:
        """A scan began."""

    def line(self, index: int, row: int, lines: int) -> None:
        """A line was stored."""

    def scan_ended(self, index: int, status: str) -> None:
        """A scan ended (complete / aborted)."""


@dataclass
class SessionResult:
    """Outcome of :func:`run_session`.

    Attributes
    ----------
    interrupted : str
        Name of the signal that stopped the session ("" if none).
    signum : int
        Its number (0 if none).
    shutdown : ShutdownReport or None
        How the bias reached 0 V.
    recovery : Recovery or None
        What the start found.
    """

    path: Path
    statuses: list[str]
    reasons: list[str]
    pairs: dict[tuple[int, int], Any] = field(default_factory=dict)
    outdirs: dict[tuple[int, int], Path] = field(default_factory=dict)
    aborted: str = ""
    interrupted: str = ""
    signum: int = 0
    shutdown: ShutdownReport | None = None
    recovery: Recovery | None = None

    @property
    def safe(self) -> bool:
        """True if the shutdown confirmed 0 V with the output off."""
        return self.shutdown is not None and self.shutdown.confirmed

    @property
    def exit_status(self) -> int:
        """0 complete, 4 aborted by an interlock or an instrument, 128 + signal number when a
        signal stopped it (130 SIGINT, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT)."""
        if self.signum:
            return exit_status(self.signum)
        return 4 if self.aborted else 0
