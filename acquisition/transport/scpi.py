"""SCPI over an adapter: terminations, timeouts, one retry, the error queue, validated replies.

A :class:`SCPILink` talks to one instrument through an :class:`~acquisition.transport.Adapter`
(a pyserial port or URL by default: ``COM3``, ``/dev/ttyUSB0``, a pseudo-terminal,
``socket://host:5025``, ``loop://``). Commands are plain SCPI text; the link adds the write
termination, reads replies up to the read termination and turns every failure into one
:class:`~acquisition.transport.InstrumentError` whose message names the port, the command and
what came back.

Rules (SCPI-1999 and the Keithley 2400 / 2450 manuals, "Remote communications"):

* a query that timed out is sent once more if it is idempotent (a ``?`` query that changes
  no state, e.g. ``*IDN?``, ``:OUTP?``); ``:READ?`` triggers a measurement and is retried too,
  since a second reading does no harm, but a command that sets something is never repeated;
* after each batch of commands the error queue is read with ``:SYST:ERR?`` until it answers
  ``0,"No error"``; any other entry raises :class:`InstrumentError` naming the batch;
* a port that disappears (cable pulled, USB adapter re-enumerated) raises
  :class:`CommunicationError`; :meth:`SCPILink.reopen` opens the same URL again;
* a reply is validated before it becomes a value (:func:`acquisition.transport.parse_number`):
  not-a-number and infinity markers, text that is not one complete number, values outside the
  bounds the caller gives all raise :class:`ReplyError`: an error of the link, never a value;
* the link may be shared by two threads (the heartbeat of an on-instrument watchdog and the
  session): every command and every query with its reply holds one re-entrant lock.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterable

from .adapters import Adapter, make_adapter
from .errors import CommunicationError, InstrumentError, ReplyError
from .replies import NO_ERROR_CODE, NUMBER_PATTERN, parse_error_entry, parse_number

__all__ = ["SCPILink"]

logger = logging.getLogger(__name__)


class SCPILink:
    """One SCPI instrument behind an adapter.

    Parameters
    ----------
    resource : str or Adapter
        A pyserial port name or URL (``COM3``, ``/dev/ttyUSB0``, ``socket://host:5025``,
        ``loop://``; :func:`~acquisition.transport.make_adapter` picks the adapter), or an
        adapter made by the caller. It is opened here if it is not open yet.
    baudrate : int, optional
        Serial rate when ``resource`` is a port name; the Keithley 2400 RS-232 default is 9600
        baud, 8N1.
    timeout : float, optional
        Seconds to wait for a reply line when ``resource`` is a port name (an adapter brings
        its own).
    write_termination, read_termination : str, optional
        Line ends; the Keithley RS-232 terminator is set on the front panel (LF here).
    retries : int, optional
        How often an idempotent query is sent again after a timeout (default once).
    error_query : str, optional
        The error-queue query, ``:SYST:ERR?``.
    number_pattern : re.Pattern, optional
        What a complete numeric reply looks like (default any SCPI number; the Keithley drivers
        use :data:`~acquisition.transport.NR3_PATTERN`).

    Raises
    ------
    CommunicationError
        If the port cannot be opened.
    """

    def __init__(
        self,
        resource: str | Adapter,
        *,
        baudrate: int = 9600,
        timeout: float = 1.0,
        write_termination: str = "\n",
        read_termination: str = "\n",
        retries: int = 1,
        error_query: str = ":SYST:ERR?",
        number_pattern: re.Pattern[str] = NUMBER_PATTERN,
    ) -> None:
        if isinstance(resource, Adapter):
            self.adapter = resource
        else:
            self.adapter = make_adapter(resource, baudrate=baudrate, timeout=timeout)
        self.url = self.adapter.url
        self.number_pattern = number_pattern
        #: Held by every command and every query with its reply (re-entrant).
        self.lock = threading.RLock()
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.retries = retries
        self.error_query = error_query
        #: Every line sent (``">"``) and received (``"<"``), in order, for logs and tests.
        self.transcript: list[tuple[str, str]] = []
        if not self.adapter.is_open:
            self.open()

    @property
    def timeout(self) -> float:
        """Seconds to wait for a reply line (the adapter's)."""
        return self.adapter.timeout

    # -- port --------------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the port (again).

        Raises
        ------
        CommunicationError
            If it cannot be opened.
        """
        try:
            self.adapter.open()
        except OSError as exc:
            raise CommunicationError(self.url, "open", f"cannot open port: {exc}") from None

    def reopen(self) -> None:
        """Close and open the same URL again (after a lost connection)."""
        self.close()
        self.open()

    def close(self) -> None:
        """Close the port (idempotent)."""
        self.adapter.close()

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self.adapter.is_open

    def __enter__(self) -> SCPILink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lines -------------------------------------------------------------------------------------
    def _require(self, command: str) -> Adapter:
        if not self.adapter.is_open:
            raise CommunicationError(self.url, command, "port is not open (connection lost)")
        return self.adapter

    def write(self, command: str) -> None:
        """Send one command line.

        Raises
        ------
        CommunicationError
            If the port is gone or the write times out.
        """
        with self.lock:
            adapter = self._require(command)
            self.transcript.append((">", command))
            try:
                adapter.write((command + self.write_termination).encode("ascii"))
            except OSError as exc:
                self.close()
                raise CommunicationError(self.url, command, f"write failed: {exc}") from None

    def _read_line(self, command: str) -> str:
        adapter = self._require(command)
        term = self.read_termination.encode("ascii")
        try:
            raw = adapter.read_until(term)
        except OSError as exc:
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
        """A query whose reply is one number, validated
        (:func:`~acquisition.transport.parse_number`).

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
        if self.adapter.is_open:
            try:
                self.adapter.discard_input()
            except OSError:
                pass

    # -- error queue -------------------------------------------------------------------------------
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
        if not self.adapter.is_open:
            return
        term = self.read_termination.encode("ascii")
        try:
            for _ in range(max_lines):
                raw = self.adapter.read_until(term, timeout=2 * self.timeout)
                if not raw:
                    return
                logger.debug("%s: dropped late reply %r", self.url, raw)
        except OSError:
            return

    def settle_read_buffer(self, wait: float = 0.05) -> None:
        """Discard stale input (late replies after a timeout), waiting ``wait`` s first."""
        time.sleep(wait)
        self._discard_input()


class _Timeout(Exception):
    def __init__(self, partial: bytes) -> None:
        super().__init__("timeout")
        self.partial = partial
