"""The session's hard limits on the bias source, checked before any command is sent."""

from __future__ import annotations

import math
from dataclasses import dataclass

from afmcurrent.core.errors import ConfigError

__all__ = ["SourceLimits", "LimitError"]


class LimitError(ConfigError):
    """A requested level or setting exceeds the session's hard limits; nothing was sent."""


@dataclass(frozen=True)
class SourceLimits:
    """Hard limits, checked before any command is sent.

    Attributes
    ----------
    max_bias : float
        Largest allowed ``|V|`` on the sample, V.
    compliance : float
        Current limit (compliance) of the source, A.
    max_ramp_rate : float
        Largest allowed ramp rate, V/s.
    max_ramp_step : float
        Largest allowed level step of a ramp, V.
    shutdown_deadline : float
        Seconds the ramp to 0 V may take at most; after them the output is switched off
        directly (and that is reported).
    """

    max_bias: float = 2.0
    compliance: float = 1e-6
    max_ramp_rate: float = 1.0
    max_ramp_step: float = 0.05
    shutdown_deadline: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_bias", "compliance", "max_ramp_rate", "max_ramp_step",
                     "shutdown_deadline"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"limits: {name} must be a positive number, got {v!r}")

    def check_level(self, volts: float) -> None:
        """Raise :class:`LimitError` unless ``|volts| <= max_bias`` (and finite)."""
        if not math.isfinite(volts) or abs(volts) > self.max_bias + 1e-12:
            raise LimitError(f"bias {volts!r} V exceeds the limit |V| <= {self.max_bias:g} V "
                             "(limits.max_bias); nothing was sent")

    def check_rate(self, rate: float) -> None:
        """Raise :class:`LimitError` unless ``0 < rate <= max_ramp_rate``."""
        if not (math.isfinite(rate) and 0 < rate <= self.max_ramp_rate + 1e-12):
            raise LimitError(f"ramp rate {rate!r} V/s outside (0, {self.max_ramp_rate:g}] V/s "
                             "(limits.max_ramp_rate); nothing was sent")

    def as_dict(self) -> dict[str, float]:
        """The five limits by name (for the supervisor's configuration)."""
        return {"max_bias": self.max_bias, "compliance": self.compliance,
                "max_ramp_rate": self.max_ramp_rate, "max_ramp_step": self.max_ramp_step,
                "shutdown_deadline": self.shutdown_deadline}
