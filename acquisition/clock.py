"""Clocks: real time, or accelerated time for simulated sessions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Clock"]


@dataclass
class Clock:
    """Time seen by the protocol and the simulated instruments.

    ``speed`` = 1 is real time; ``speed`` = 1000 runs 1000 s of the session in 1 s (every
    :meth:`sleep` is shortened, :meth:`now` runs faster). Real instruments need ``speed`` = 1.

    Parameters
    ----------
    speed : float
        Session seconds per wall-clock second (> 0).
    """

    speed: float = 1.0
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be positive, got {self.speed!r}")

    def now(self) -> float:
        """Session seconds since the clock was made."""
        return (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of session time."""
        if seconds > 0:
            time.sleep(seconds / self.speed)
