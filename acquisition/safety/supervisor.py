"""Supervisor process: ramps the bias down through the port when the session process dies.

``afmcurrent acquire`` starts one (:meth:`Supervisor.start`) before it touches the instrument:
a separate Python process in its own session (``setsid``: a Ctrl-C or a closing terminal does not
reach it), holding the source's lock (:func:`acquisition.safety.state.lock_source`) and the read end
of a pipe whose write end only the session process holds. It ignores SIGINT, SIGHUP, SIGQUIT and
SIGTERM and waits for the pipe:

* ``done`` then end of file: the session confirmed 0 V with the output off; the supervisor exits.
* end of file without ``done`` (the session was killed by SIGKILL or the out-of-memory killer,
  the interpreter crashed, or its own shutdown could not confirm the output off): the kernel has
  closed the session's port; the supervisor opens it, and brings the output to 0 V the way a new
  start does (:meth:`acquisition.instruments.BiasSource.connect`): from the instrument's valid
  level reply, else from the write-ahead state file (:mod:`acquisition.safety.state`), else by
  switching the output off directly. It records what it did in the state file
  (``closed_by = "supervisor"``), in ``<session>.supervisor.json`` beside the session file
  (HDF5 refuses a second writer on a file left open by a killed process), and in its log
  ``<state file>.supervisor.log``.

What it cannot cover: its own death together with the session (a lost PC, a power cut, a kill
of the whole process group with SIGKILL), and a session process that is alive but frozen. On a
Keithley 2450 the on-instrument watchdog covers those; on a 2400 only the next start does.

Run as ``python -m acquisition.safety.supervisor CONFIG_JSON``; the configuration names the
port, the driver, the limits, the ramp, the state file and the file descriptors of the pipe, the
lock and the readiness pipe.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from afmcurrent.core.errors import AfmcurrentError

from ..instruments import DRIVERS, BiasSource, SourceLimits
from ..transport import InstrumentError, SCPILink
from .state import SourceState, StateFile

__all__ = ["Supervisor", "SupervisorError", "main", "supervisor_report_path", "FINISH_WAIT"]

logger = logging.getLogger(__name__)

#: Seconds :meth:`Supervisor.finish` waits for a supervisor told ``done`` to log it and exit.
FINISH_WAIT = 30.0


class SupervisorError(AfmcurrentError):
    """The supervisor did not start (the session must not start either)."""


def supervisor_report_path(session_path: str | Path) -> Path:
    """``<session>.supervisor.json`` beside the session file."""
    p = Path(session_path)
    return p.with_name(p.stem + ".supervisor.json")


class Supervisor:
    """Handle on a running supervisor, held by the session process.

    Use :meth:`start`; call :meth:`finish` after the link to the instrument is closed.
    """

    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, log: Path) -> None:
        self.proc = proc
        self._fd: int | None = write_fd
        self.log = log

    @classmethod
    def start(cls, *, port: str, driver: str, link_options: dict[str, Any],
              limits: dict[str, float], ramp_step: float, ramp_rate: float, state_file: str,
              lock_fd: int | None, ready_timeout: float = 20.0) -> Supervisor:
        """Start the supervisor and wait until it is ready.

        Raises
        ------
        SupervisorError
            If it does not report ready within ``ready_timeout`` s.
        """
        r, w = os.pipe()
        ready_r, ready_w = os.pipe()
        log = Path(str(state_file) + ".supervisor.log")
        cfg = {"port": port, "driver": driver, "link": link_options, "limits": limits,
               "ramp_step": ramp_step, "ramp_rate": ramp_rate, "state_file": str(state_file),
               "fd": r, "ready_fd": ready_w, "lock_fd": lock_fd, "worker": os.getpid(),
               "log": str(log)}
        fds = [r, ready_w] + ([lock_fd] if lock_fd is not None else [])
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "acquisition.safety.supervisor", json.dumps(cfg)],
                pass_fds=fds, start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=open(log, "ab"),  # noqa: SIM115
                close_fds=True)
        finally:
            os.close(r)
            os.close(ready_w)
        if not _wait_ready(proc, ready_r, ready_timeout):
            os.close(w)
            proc.kill()
            raise SupervisorError(f"the supervisor process did not start (see {log}); not "
                                  "starting a session without it")
        return cls(proc, w, log)

    def finish(self, clean: bool) -> None:
        """Tell the supervisor the session ended; ``clean``: 0 V and output off confirmed.

        Without ``clean`` the supervisor tries its own ramp-down through the port (call this
        only after the session's link is closed). With ``clean`` this waits (at most
        :data:`FINISH_WAIT` s) until the supervisor has logged the confirmation and exited, so
        that its log is complete and the source's lock free when the session process ends.
        """
        if self._fd is None:
            return
        try:
            if clean:
                os.write(self._fd, b"done\n")
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
        if clean:
            try:
                self.proc.wait(timeout=FINISH_WAIT)
            except subprocess.TimeoutExpired:
                logger.warning("the supervisor (pid %d) has not exited %g s after the session "
                               "confirmed 0 V; see %s", self.proc.pid, FINISH_WAIT, self.log)


def _wait_ready(proc: subprocess.Popen[bytes], ready_r: int, timeout: float) -> bool:
    """Read the readiness pipe until ``ready`` arrives, the process ends or time runs out."""
    try:
        deadline = time.monotonic() + timeout
        buf = b""
        os.set_blocking(ready_r, False)
        while time.monotonic() < deadline and b"ready" not in buf:
            if proc.poll() is not None:
                break
            try:
                chunk = os.read(ready_r, 64)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(ready_r)
    return b"ready" in buf


# ------------------------------------------------------------------------------------------------
# the supervisor process
# ------------------------------------------------------------------------------------------------
def _wait_for_worker(fd: int) -> bytes:
    got = b""
    while True:
        try:
            chunk = os.read(fd, 256)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if not chunk:
            return got
        got += chunk


def _recover(cfg: dict[str, Any]) -> dict[str, Any]:
    """Up to five attempts to reach the source and bring it to 0 V; the report."""
    state = StateFile(cfg["state_file"])
    before = state.read()
    rec_state = copy.copy(before)
    limits = SourceLimits(**cfg["limits"])
    driver = DRIVERS[cfg["driver"]]
    report: dict[str, Any] = {"time": time.time(), "worker": cfg["worker"],
                              "state_before": asdict(before) if before else None}
    last = ""
    for attempt in range(5):
        if attempt:
            time.sleep(1.0)
        try:
            link = SCPILink(cfg["port"], **cfg["link"])
        except InstrumentError as exc:
            last = str(exc)
            continue
        try:
            src = driver(link, limits, ramp_step=cfg["ramp_step"])
            return _recover_once(cfg, src, state, before, rec_state, report)
        except InstrumentError as exc:
            last = str(exc)
            logger.error("supervisor attempt %d: %s", attempt + 1, exc)
        finally:
            link.close()
    report["message"] = ("worker process ended without confirming 0 V and the supervisor could "
                         f"not reach the source: output state UNKNOWN, switch it off at the "
                         f"front panel ({last})")
    report["confirmed"] = False
    return report


def _recover_once(cfg: dict[str, Any], src: BiasSource, state: StateFile,
                  before: SourceState | None, rec_state: SourceState | None,
                  report: dict[str, Any]) -> dict[str, Any]:
    """Connect as a new start does (recovery ramp-down), recording each change first."""

    def journal(level: float, output: bool, note: str) -> None:
        if rec_state is None:
            return
        rec_state.level, rec_state.output = level, output
        rec_state.note, rec_state.closed_by = f"supervisor: {note}", ""
        state.write(rec_state, sync=True)

    src.journal = journal
    rec = src.connect(rate=cfg["ramp_rate"], state=before)
    report.update(found_on=rec.found_on, used_level=rec.used_level,
                  level_from=rec.source, reading_error=rec.reading_error,
                  confirmed=rec.confirmed)
    report["message"] = ("worker process ended without confirming 0 V: supervisor "
                         + rec.message)
    if rec_state is not None:
        rec_state.level, rec_state.output, rec_state.closed_by = 0.0, False, "supervisor"
        rec_state.note = report["message"]
        state.write(rec_state, sync=True)
    return report


def _write_report(cfg: dict[str, Any], report: dict[str, Any]) -> None:
    """``<session>.supervisor.json`` beside the session file the state file names."""
    st = StateFile(cfg["state_file"]).read()
    if st is None or not st.session_file:
        return
    try:
        dest = supervisor_report_path(st.session_file)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str))
        os.replace(tmp, dest)
    except OSError as exc:
        logger.error("cannot write the report beside %s: %s", st.session_file, exc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the supervisor process (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    cfg = json.loads(argv[0])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s")
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)  # it outlives the session; only SIGKILL ends it
    os.write(cfg["ready_fd"], b"ready\n")
    os.close(cfg["ready_fd"])
    logger.info("watching session process %s (port %s)", cfg["worker"], cfg["port"])
    got = _wait_for_worker(cfg["fd"])
    if b"done" in got:
        logger.info("session process %s confirmed 0 V, output off", cfg["worker"])
        return 0
    logger.critical("session process %s ended without confirming 0 V with the output off: "
                    "taking over the port", cfg["worker"])
    report = _recover(cfg)
    logger.critical("%s", report["message"])
    _write_report(cfg, report)
    return 0 if report.get("confirmed") else 2


if __name__ == "__main__":
    sys.exit(main())
