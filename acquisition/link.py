"""SCPI over a serial line (pyserial URLs): terminations, timeouts, one retry, the error queue.

A :class:`SCPILink` talks to one instrument through anything
:func:`serial.serial_for_url` opens: ``COM3``, ``/dev/ttyUSB0``, a pseudo-terminal,
``socket://host:5025`` (an instrument's raw LAN socket) or ``loop://``. Commands are plain
SCPI text; the link adds the write termination, reads replies up to the read termination and
turns every failure into one :class:`InstrumentError` whose message names the port, the
command and what came back.

Rules (SCPI-1999 and the Keithley 2400 / 2450 manuals, "Remote communications"):

* a query that timed out is sent once more if it is idempotent (a ``?`` query that changes
  no state, e.g. ``*IDN?``, ``:OUTP?``); ``:READ?`` triggers a measurement and is retried too,
  since a second reading does no harm, but a command that sets something is never repeated;
* after each batch of commands the error queue is read with ``:SYST:ERR?`` until it answers
  ``0,"No error"``; any other entry raises :class:`InstrumentError` naming the batch;
* a port that disappears (cable pulled, USB adapter re-enumerated) raises
  :class:`CommunicationError`; :meth:`SCPILink.reopen` opens the same URL again;
* a reply is validated before it becomes a value (:func:`parse_number`): SCPI's not-a-number
  and infinity markers (``9.91E37``, ``+/-9.9E37``; SCPI-1999 vol. 1 "Syntax and Style",
  special numeric values NAN, INFinity, NINFinity; the Keithley 2400 answers ``+9.91E37`` for
  an overflowed reading), ``NAN``/``INF``
  spellings, text that is not one complete number in the instrument's format (a reply cut
  short, e.g. ``+1.0000`` for ``+1.000000E-09``), and values outside the bounds the caller
  gives all raise :class:`ReplyError`: an error of the link, never a value;
* the link may be shared by two threads (the heartbeat of an on-instrument watchdog and the
  session): every command and every query with its reply holds one re-entrant lock.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import serial

try:  # POSIX serial ports also fail with termios.error (e.g. EIO when a pty's far end closes)
    import termios

    _PORT_ERRORS: tuple[type[BaseException], ...] = (
        serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - Windows
    _PORT_ERRORS = (serial.SerialException, OSError)

from afmcurrent.core.errors import AfmcurrentError

__all__ = ["InstrumentError", "CommunicationError", "ReplyError", "SCPILink",
           "parse_error_entry", "parse_number", "SCPI_NAN", "SCPI_INFINITY", "NR3_PATTERN",
           "NUMBER_PATTERN"]

logger = logging.getLogger(__name__)

#: Reply of an empty SCPI error queue: code 0 (SCPI-1999 vol. 2, 21.8.8 ``SYSTem:ERRor``).
NO_ERROR_CODE = 0


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


class SCPILink:
    """One SCPI instrument on a pyserial URL.

    Parameters
    ----------
    url : str
        pyserial port name or URL (``COM3``, ``/dev/ttyUSB0``, ``socket://host:5025``,
        ``loop://``).
    baudrate : int, optional
        Serial rate; the Keithley 2400 RS-232 default is 9600 baud, 8N1.
    timeout : float, optional
        Seconds to wait for a reply line.
    write_termination, read_termination : str, optional
        Line ends; the Keithley RS-232 terminator is set on the front panel (LF here).
    retries : int, optional
        How often an idempotent query is sent again after a timeout (default once).
    error_query : str, optional
        The error-queue query, ``:SYST:ERR?``.
    opener : callable, optional
        ``opener(url, **kwargs) -> serial.SerialBase``; default :func:`serial.serial_for_url`.
    number_pattern : re.Pattern, optional
        What a complete numeric reply looks like (default any SCPI number; the Keithley drivers
        use :data:`NR3_PATTERN`).

    Raises
    ------
    CommunicationError
        If the port cannot be opened.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        timeout: float = 1.0,
        write_termination: str = "\n",
        read_termination: str = "\n",
        retries: int = 1,
        error_query: str = ":SYST:ERR?",
        opener: Callable[..., Any] | None = None,
        number_pattern: re.Pattern[str] = NUMBER_PATTERN,
    ) -> None:
        self.url = url
        self.number_pattern = number_pattern
        #: Held by every command and every query with its reply (re-entrant).
        self.lock = threading.RLock()
        self.baudrate = baudrate
        self.timeout = timeout
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.retries = retries
        self.error_query = error_query
        self._opener = opener or serial.serial_for_url
        #: Every line sent (``">"``) and received (``"<"``), in order, for logs and tests.
        self.transcript: list[tuple[str, str]] = []
        self._port: Any = None
        self.open()

    # -- port -----------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the port (again).

        Raises
        ------
        CommunicationError
            If it cannot be opened.
        """
        try:
            self._port = self._opener(
                self.url, baudrate=self.baudrate, timeout=self.timeout,
                write_timeout=self.timeout,
            )
        except (*_PORT_ERRORS, ValueError) as exc:
            self._port = None
            raise CommunicationError(self.url, "open", f"cannot open port: {exc}") from None

    def reopen(self) -> None:
        """Close and open the same URL again (after a lost connection)."""
        self.close()
        self.open()

    def close(self) -> None:
        """Close the port (idempotent)."""
        if self._port is not None:
            try:
                self._port.close()
            except _PORT_ERRORS:
                pass
            self._port = None

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self._port is not None

    def __enter__(self) -> SCPILink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lines ----------------------------------------------------------------------------------
    def _require(self, command: str) -> Any:
        if self._port is None:
            raise CommunicationError(self.url, command, "port is not open (connection lost)")
        return self._port

    def write(self, command: str) -> None:
        """Send one command line.

        Raises
        ------
        CommunicationError
            If the port is gone or the write times out.
        """
        with self.lock:
            port = self._require(command)
            self.transcript.append((">", command))
            try:
                port.write((command + self.write_termination).encode("ascii"))
                port.flush()
            except _PORT_ERRORS as exc:
                self.close()
                raise CommunicationError(self.url, command, f"write failed: {exc}") from None

    def _read_line(self, command: str) -> str:
        port = self._require(command)
        term = self.read_termination.encode("ascii")
        try:
            raw = port.read_until(term)
        except _PORT_ERRORS as exc:
            self.close()
            raise CommunicationError(self.url, command, f"read failed: {exc}") from None
        if not raw.endswith(term):
            raise _Timeout(raw)
        try:
            text = raw[: -len(term)].decode("ascii").strip()
        except UnicodeDecodeError:
            raise ReplyError(self.url, command, "reply is not ASCII text",
                             repr(raw)) from None
        self.transcript.append(("<", text))
        return text

    def query(self, command: str, *, idempotent: bool = True) -> str:
        """Send a query and return its reply line (without termination).

        Parameters
        ----------
        command : str
            A query (ends with ``?``).
        idempotent : bool, optional
            Whether it may be sent again after a timeout.

        Raises
        ------
        CommunicationError
            If no complete reply arrives within ``timeout`` (after the retry), or the port
            went away.
        InstrumentError
            If the reply is not ASCII.
        """
        with self.lock:
            return self._query(command, idempotent)

    def _query(self, command: str, idempotent: bool) -> str:
        attempts = 1 + (self.retries if idempotent else 0)
        partial = b""
        for attempt in range(attempts):
            if attempt:
                logger.warning("%s: no reply to %r within %.3g s; sending it again",
                               self.url, command, self.timeout)
            self._discard_input()  # a late reply to an earlier query must not answer this one
            self.write(command)
            try:
                reply = self._read_line(command)
            except _Timeout as t:
                partial = t.partial
                continue
            if attempt:  # the first copy's reply may still come: let it arrive and drop it
                self._drain()
            return reply
        raise CommunicationError(
            self.url, command,
            f"no complete reply within {self.timeout:g} s"
            + (f" (sent {attempts} times)" if attempts > 1 else ""),
            partial.decode("ascii", "replace"),
        )

    def query_float(self, command: str, *, idempotent: bool = True, low: float = -math.inf,
                    high: float = math.inf, what: str = "number") -> float:
        """A query whose reply is one number, validated (:func:`parse_number`).

        Parameters
        ----------
        command : str
        idempotent : bool, optional
        low, high : float, optional
            Inclusive bounds of a plausible value.
        what : str, optional
            What the value is, for the message (``"level in V"``).

        Raises
        ------
        ReplyError
            If the reply is not a valid number within the bounds (NaN, overflow, garbled, cut
            short, out of range).
        CommunicationError
            If no reply arrives.
        """
        reply = self.query(command, idempotent=idempotent)
        try:
            return parse_number(reply, low=low, high=high, pattern=self.number_pattern)
        except ValueError as exc:
            raise ReplyError(self.url, command, f"reply is not a valid {what}: {exc}",
                             reply) from None

    def query_bool(self, command: str) -> bool:
        """A query whose reply is ``0`` or ``1`` (``:OUTP?``, ``...:TRIP?``).

        Raises
        ------
        ReplyError
            If the reply is neither.
        """
        reply = self.query(command)
        if reply not in ("0", "1"):
            raise ReplyError(self.url, command, "expected 0 or 1", reply)
        return reply == "1"

    def _discard_input(self) -> None:
        if self._port is not None:
            try:
                self._port.reset_input_buffer()
            except _PORT_ERRORS:
                pass

    # -- error queue ----------------------------------------------------------------------------
    def errors(self, max_entries: int = 32) -> list[tuple[int, str]]:
        """Read the error queue until it is empty.

        Returns
        -------
        list of (int, str)
            The entries other than ``0,"No error"``, oldest first.

        Raises
        ------
        InstrumentError
            If an entry cannot be parsed (garbled reply) or the queue never empties.
        """
        found: list[tuple[int, str]] = []
        with self.lock:
            for _ in range(max_entries):
                reply = self.query(self.error_query)
                try:
                    code, message = parse_error_entry(reply)
                except ValueError:
                    raise ReplyError(self.url, self.error_query,
                                     "not an error-queue entry", reply) from None
                if code == NO_ERROR_CODE:
                    return found
                found.append((code, message))
        raise InstrumentError(self.url, self.error_query,
                              f"error queue did not empty after {max_entries} reads")

    def batch(self, commands: Iterable[str]) -> None:
        """Send commands, then read the error queue; raise on any error entry.

        Raises
        ------
        InstrumentError
            Naming the batch and the entries, e.g. ``-222,"Parameter data out of range"``.
        """
        sent = list(commands)
        with self.lock:
            for c in sent:
                self.write(c)
            errs = self.errors()
        if errs:
            listed = "; ".join(f"{code},{msg!r}" for code, msg in errs)
            raise InstrumentError(self.url, "; ".join(sent), f"instrument reports {listed}")

    def _drain(self, max_lines: int = 4) -> None:
        """Read and drop lines until twice the timeout passes with nothing arriving (the
        first copy's reply comes at most one reply delay after the retry's)."""
        port = self._port
        if port is None:
            return
        port.timeout = 2 * self.timeout
        try:
            for _ in range(max_lines):
                raw = port.read_until(self.read_termination.encode("ascii"))
                if not raw:
                    return
                logger.debug("%s: dropped late reply %r", self.url, raw)
        except _PORT_ERRORS:
            return
        finally:
            if self._port is not None:
                self._port.timeout = self.timeout

    def settle_read_buffer(self, wait: float = 0.05) -> None:
        """Discard stale input (late replies after a timeout), waiting ``wait`` s first."""
        time.sleep(wait)
        self._discard_input()


class _Timeout(Exception):
    def __init__(self, partial: bytes) -> None:
        super().__init__("timeout")
        self.partial = partial
