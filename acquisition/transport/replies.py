"""Reply parsing and validation: a reply becomes a value only if it is one.

SCPI's not-a-number and infinity markers (``9.91E37``, ``+/-9.9E37``; SCPI-1999 vol. 1
"Syntax and Style", special numeric values NAN, INFinity, NINFinity; the Keithley 2400 answers
``+9.91E37`` for an overflowed reading), ``NAN``/``INF`` spellings, text that is not one
complete number in the instrument's format (a reply cut short, e.g. ``+1.0000`` for
``+1.000000E-09``), and values outside the bounds the caller gives are all refused
(:func:`parse_number` raises ``ValueError``; :class:`acquisition.transport.SCPILink` turns that
into a :class:`~acquisition.transport.ReplyError`).
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_number", "parse_error_entry", "SCPI_NAN", "SCPI_INFINITY", "NR3_PATTERN",
           "NUMBER_PATTERN", "NO_ERROR_CODE"]

#: Reply of an empty SCPI error queue: code 0 (SCPI-1999 vol. 2, 21.8.8 ``SYSTem:ERRor``).
NO_ERROR_CODE = 0

#: SCPI-1999 vol. 1 ("Syntax and Style", special numeric values): NAN.
SCPI_NAN = 9.91e37
#: SCPI-1999 vol. 1 (special numeric values): INFinity / NINFinity are +/-9.9E37; any
#: magnitude from here on is a marker, not a measurement.
SCPI_INFINITY = 9.9e37
#: One complete number in exponent form as Keithley SourceMeters send it (``+1.000000E-09``,
#: ``-2.5E+00``): a reply cut before or inside its two-digit exponent does not match.
NR3_PATTERN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]\d{2,3}$")
#: Any complete SCPI decimal number (NR1, NR2 or NR3).
NUMBER_PATTERN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_number(text: str, *, low: float = -math.inf, high: float = math.inf,
                 pattern: re.Pattern[str] = NUMBER_PATTERN) -> float:
    """Parse one numeric reply and validate it.

    Parameters
    ----------
    text : str
        The reply, without termination.
    low, high : float, optional
        Inclusive bounds of a plausible value (e.g. the source range for a level).
    pattern : re.Pattern
        What a complete number looks like (:data:`NR3_PATTERN` for Keithley SourceMeters).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Naming what is wrong: a NaN / infinity / overflow marker (:data:`SCPI_NAN`,
        :data:`SCPI_INFINITY`), not one complete number (non-numeric, several fields, cut
        short), or outside ``[low, high]``.
    """
    t = text.strip()
    if t.upper().lstrip("+-") in ("NAN", "INF", "INFINITY", "NINF"):
        raise ValueError(f"{t!r} is a not-a-number / infinity marker, not a value")
    if not pattern.match(t):
        raise ValueError(f"{t!r} is not one complete number (non-numeric, several fields or "
                         "cut short)")
    v = float(t)
    if not math.isfinite(v) or abs(v) >= SCPI_INFINITY:
        raise ValueError(f"{t!r} is the SCPI not-a-number / infinity / overflow marker "
                         f"(9.9E37 and above), not a value")
    if not low <= v <= high:
        raise ValueError(f"{t!r} is outside the plausible range [{low:g}, {high:g}]")
    return v


def parse_error_entry(text: str) -> tuple[int, str]:
    """Split an error-queue entry such as ``-113,"Undefined header"`` into code and message.

    Parameters
    ----------
    text : str
        Reply of ``:SYST:ERR?``.

    Returns
    -------
    tuple of (int, str)

    Raises
    ------
    ValueError
        If the entry is not an integer code and a quoted message (garbled or cut short).
    """
    code, _, message = text.partition(",")
    message = message.strip()
    if len(message) < 2 or not (message.startswith('"') and message.endswith('"')):
        raise ValueError(f"{text!r} is not an error-queue entry (code,\"message\")")
    return int(code.strip()), message[1:-1]
