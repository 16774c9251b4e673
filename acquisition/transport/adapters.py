"""Adapters: the byte stream to one instrument, whatever carries it.

An :class:`Adapter` opens, reads, writes and closes one connection and knows nothing of SCPI;
:class:`acquisition.transport.SCPILink` speaks SCPI over any adapter (terminations, retries,
the error queue, reply validation), and a driver (:mod:`acquisition.instruments`) talks to the
link. So a driver never opens a port, and a new way to reach an instrument (GPIB through VISA,
a Prologix controller, a USBTMC device) is one new :class:`Adapter` subclass registered in
:data:`ADAPTERS` under its URL scheme (see docs/instrument.md, "Adding a driver").

:class:`SerialAdapter` covers everything :func:`serial.serial_for_url` opens: ``COM3``,
``/dev/ttyUSB0``, a pseudo-terminal, ``socket://host:5025`` (an instrument's raw LAN socket),
``rfc2217://``, ``loop://``.

Contract of an adapter: every failure of the connection (port gone, cable pulled, a read or
write refused by the operating system) raises ``OSError`` (or a subclass); a read that times
out returns what arrived so far, without the terminator.
"""

from __future__ import annotations

from typing import Any

import serial

try:  # POSIX serial ports also fail with termios.error (e.g. EIO when a pty's far end closes)
    import termios

    PORT_ERRORS: tuple[type[BaseException], ...] = (
        serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - Windows
    PORT_ERRORS = (serial.SerialException, OSError)

__all__ = ["Adapter", "SerialAdapter", "ADAPTERS", "make_adapter", "PORT_ERRORS"]


class Adapter:
    """One connection to one instrument (interface).

    Parameters
    ----------
    url : str
        Where the instrument is; also the name used in every error message.
    timeout : float, optional
        Seconds a read waits for its terminator (and a write may block).

    Subclasses implement :meth:`open`, :meth:`close`, :attr:`is_open`, :meth:`write`,
    :meth:`read_until` and :meth:`discard_input`, raising ``OSError`` for a failed connection.
    """

    def __init__(self, url: str, *, timeout: float = 1.0) -> None:
        self.url = url
        self.timeout = float(timeout)

    def open(self) -> None:
        """Open the connection (again, after :meth:`close`).

        Raises
        ------
        OSError
            If it cannot be opened.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection (idempotent; never raises)."""
        raise NotImplementedError

    @property
    def is_open(self) -> bool:
        """True while the connection is open."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        """Send ``data`` and flush it.

        Raises
        ------
        OSError
            If the connection failed.
        """
        raise NotImplementedError

    def read_until(self, terminator: bytes, timeout: float | None = None) -> bytes:
        """Bytes up to and including ``terminator``, or what arrived when the time ran out.

        Parameters
        ----------
        terminator : bytes
        timeout : float, optional
            Seconds to wait this time (default :attr:`timeout`).

        Raises
        ------
        OSError
            If the connection failed.
        """
        raise NotImplementedError

    def discard_input(self) -> None:
        """Drop whatever has arrived and not been read.

        Raises
        ------
        OSError
            If the connection failed.
        """
        raise NotImplementedError


def _as_os_error(exc: BaseException) -> OSError:
    return exc if isinstance(exc, OSError) else OSError(str(exc))


class SerialAdapter(Adapter):
    """A pyserial port or URL (:func:`serial.serial_for_url`).

    Parameters
    ----------
    url : str
        ``COM3``, ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, ``socket://host:5025``,
        ``loop://``...
    baudrate : int, optional
        Serial rate; the Keithley 2400 RS-232 default is 9600 baud, 8N1.
    timeout : float, optional
        Read and write timeout, s.
    """

    def __init__(self, url: str, *, baudrate: int = 9600, timeout: float = 1.0) -> None:
        super().__init__(url, timeout=timeout)
        self.baudrate = baudrate
        self._port: Any = None

    def open(self) -> None:
        """Open the port (again); a bad URL or a missing port raises ``OSError``."""
        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=self.timeout,
                write_timeout=self.timeout,
            )
        except (*PORT_ERRORS, ValueError) as exc:
            self._port = None
            raise _as_os_error(exc) from None

    def close(self) -> None:
        """Close the port (idempotent)."""
        if self._port is not None:
            try:
                self._port.close()
            except PORT_ERRORS:
                pass
            self._port = None

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self._port is not None

    def _require(self) -> Any:
        if self._port is None:
            raise OSError("port is not open")
        return self._port

    def write(self, data: bytes) -> None:
        """Write and flush."""
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except PORT_ERRORS as exc:
            raise _as_os_error(exc) from None

    def read_until(self, terminator: bytes, timeout: float | None = None) -> bytes:
        """pyserial's ``read_until`` with this call's timeout."""
        port = self._require()
        changed = timeout is not None and timeout != self.timeout
        try:
            if changed:
                port.timeout = timeout
            return bytes(port.read_until(terminator))
        except PORT_ERRORS as exc:
            raise _as_os_error(exc) from None
        finally:
            if changed and self._port is not None:
                self._port.timeout = self.timeout

    def discard_input(self) -> None:
        """``reset_input_buffer``."""
        port = self._require()
        try:
            port.reset_input_buffer()
        except PORT_ERRORS as exc:
            raise _as_os_error(exc) from None


#: Adapter classes by URL scheme (the part before ``://``), for transports pyserial does not
#: open (e.g. ``"visa": VisaAdapter`` for ``visa://GPIB0::24::INSTR``). Every other port name
#: or URL goes to :class:`SerialAdapter`.
ADAPTERS: dict[str, type[Adapter]] = {}


def make_adapter(url: str, **options: Any) -> Adapter:
    """The adapter for ``url`` (not yet open): :data:`ADAPTERS` by scheme, else serial.

    Parameters
    ----------
    url : str
    **options
        ``timeout`` (s) and ``baudrate`` (serial only) from the session's ``[source]`` table.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    cls = ADAPTERS.get(scheme)
    if cls is None:
        return SerialAdapter(url, **options)
    return cls(url, **options)
