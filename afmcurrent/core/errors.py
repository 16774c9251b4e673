"""Exception types raised by afmcurrent.

Every error the package raises on bad input derives from :class:`AfmcurrentError`, so a caller
(the CLI, a batch worker) can catch one type and print a clear message.
"""

from __future__ import annotations

__all__ = [
    "AfmcurrentError",
    "ReadError",
    "ChannelNotFoundError",
    "CalibrationError",
    "ConfigError",
    "RegistrationError",
    "OutputExistsError",
]


class AfmcurrentError(Exception):
    """Base class of every error afmcurrent raises on bad input or an untrustworthy result."""


class ReadError(AfmcurrentError):
    """A file could not be read: missing, unknown format, corrupt, truncated or inconsistent.

    The message always names the file and the problem.
    """


class ChannelNotFoundError(ReadError, KeyError):
    """A requested channel does not exist in a scan; the message lists the channels that do."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


class CalibrationError(AfmcurrentError):
    """A log-amplifier calibration is missing, invalid, or cannot convert the given channel."""


class ConfigError(AfmcurrentError):
    """A configuration file or option is invalid (unknown key, wrong type, impossible value)."""


class RegistrationError(AfmcurrentError):
    """Co-registration of the +V and -V scans failed or is not trustworthy."""


class OutputExistsError(AfmcurrentError):
    """An output would overwrite an earlier result; pass ``overwrite=True`` (``--overwrite``)."""
