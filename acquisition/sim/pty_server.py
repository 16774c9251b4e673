"""A line-based instrument served on the slave side of a real pseudo-terminal.

:class:`PtyInstrument` is the serving half of a virtual instrument: the drivers open the slave
path with pyserial exactly as they open ``/dev/ttyUSB0``, so the real serial code path runs. The
instrument is reachable through a stable symlink (:attr:`~PtyInstrument.port`), like a
``/dev/serial/by-id/...`` name, so that after a simulated disconnect the same name comes back on
a new pseudo-terminal and the driver can reopen it. Faults of the line
(:class:`~acquisition.sim.Faults`: no reply, garbled or replaced replies, late replies, a port
that vanishes) are applied here; what the instrument answers is the subclass's
(:meth:`~PtyInstrument.answer`).
"""

from __future__ import annotations

import logging
import os
import select
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from .faults import Faults

__all__ = ["PtyInstrument"]

logger = logging.getLogger(__name__)


class PtyInstrument:
    """Serve :meth:`answer` on a pseudo-terminal in a daemon thread, with line faults.

    Parameters
    ----------
    name : str
        For the log (``"Keithley 2400"``).
    port_name : str
        File name of the port symlink.
    directory : str or Path, optional
        Where the port symlink is made (default: a new temporary folder).

    Attributes
    ----------
    port : str
        Path to open with pyserial.
    faults : Faults
    history : list of (float, str)
        ``(time.monotonic(), command)`` of every command received.
    on_command : callable or None
        ``on_command(text)`` after each command is handled (tests use it to act at a moment
        of the session, e.g. send a signal when the level passes 0.5 V).
    """

    def __init__(self, name: str, port_name: str, *,
                 directory: str | Path | None = None) -> None:
        self.name = name
        self.faults = Faults()
        self._dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="vkeithley-"))
        self.port = str(self._dir / port_name)
        self.on_command: Callable[[str], None] | None = None
        self.history: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._master = -1
        self._slave = -1
        self._reconnect_at: float | None = None
        self._thread: threading.Thread | None = None

    # -- what the instrument does (subclasses) -----------------------------------------------------
    def answer(self, head: str, arg: str) -> str | None:
        """Handle one command (``head`` upper case, ``arg`` stripped); its reply or None."""
        raise NotImplementedError

    def tick(self) -> None:
        """Called between commands and every 20 ms: let time-driven behaviour advance."""

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> PtyInstrument:
        """Open the pseudo-terminal and serve in a daemon thread; returns self."""
        self._open_pty()
        self._thread = threading.Thread(target=self._serve,
                                        name=f"v{self.name.replace(' ', '').lower()}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pseudo-terminal."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_pty()
        try:
            os.unlink(self.port)
        except OSError:
            pass

    def __enter__(self) -> PtyInstrument:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        tmp = self.port + ".new"
        try:
            os.unlink(tmp)
        except OSError:
            pass
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.port)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def disconnect(self, reconnect_after: float | None = None) -> None:
        """Make the port vanish; it comes back (new pty, same :attr:`port`) after the delay."""
        with self._lock:
            self._close_pty()
            try:
                os.unlink(self.port)
            except OSError:
                pass
            self._reconnect_at = (None if reconnect_after is None
                                  else time.monotonic() + reconnect_after)
        logger.info("virtual %s disconnected", self.name)

    # -- serving -----------------------------------------------------------------------------------
    def _reconnect_if_due(self) -> tuple[int, bool]:
        """The master descriptor (-1: none), and whether the pty was reopened just now."""
        with self._lock:
            if self._master < 0 and self._reconnect_at is not None \
                    and time.monotonic() >= self._reconnect_at:
                self._open_pty()
                self._reconnect_at = None
                logger.info("virtual %s reconnected", self.name)
                return self._master, True
            return self._master, False

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            master, reopened = self._reconnect_if_due()
            if reopened:
                buf = b""
            self.tick()
            if master < 0:
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.02)
                if not ready:
                    continue
                chunk = os.read(master, 4096)
            except OSError:
                time.sleep(0.01)
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("ascii", "replace").strip()
                if text:
                    self._command(text)

    def _command(self, text: str) -> None:
        """One command line: record, faults, answer, reply, tick, the ``on_command`` hook."""
        self.history.append((time.monotonic(), text))
        self.faults.expire()
        self.faults.count_command(self.disconnect)
        reply = None
        if self._master >= 0:
            cmd, _, arg = text.partition(" ")
            reply = self.answer(cmd.upper(), arg.strip())
        if reply is not None:
            self._reply(reply, text.partition(" ")[0].upper())
        self.tick()
        hook = self.on_command
        if hook is not None:
            try:
                hook(text)
            except Exception:  # a test hook must not kill the instrument
                logger.exception("on_command hook failed")

    def _reply(self, text: str, head: str = "") -> None:
        f = self.faults
        if f.no_reply:
            return
        if head and head in f.replies:
            text = f.replies[head]
        if f.delay > 0:
            time.sleep(f.delay)
        data = (text + "\n").encode("ascii")
        if f.garble:
            data = bytes((b * 7 + 13) % 256 for b in data[:-1]) + b"\n"
        with self._lock:
            if self._master >= 0:
                try:
                    os.write(self._master, data)
                except OSError:
                    pass
