"""What the bias source was last told, on disk, before it is told (write-ahead state).

One small JSON file per source (per port) says the last level commanded and whether the output
was commanded on. :class:`StateFile.write` replaces it atomically (a temporary file in the same
folder, flushed, then :func:`os.replace`), and the drivers call it *before* each command that
changes the level or the output (:class:`acquisition.instruments.BiasSource` ``journal``), so
after any crash of the process the file names the level the source was last told, or the one it
was about to be told, one ramp step apart at most. Output on/off transitions are also
``fsync``-ed, so that a power cut of the PC leaves at least the output state on disk. The
session file records the same changes as ``bias`` events (:mod:`acquisition.session.storage`).

Readers: the supervisor (:mod:`acquisition.safety.supervisor`) when the session process dies,
and the next start (:meth:`acquisition.instruments.BiasSource.connect`), which ramps down from
this level when the instrument's own reading is not usable.

The lock file beside it (``.lock``, :func:`lock_source`) is held by the session and its
supervisor, so that a second session cannot drive the same source at the same time.

Default location: ``$XDG_STATE_HOME/afmcurrent/`` (``~/.local/state/afmcurrent/``), one file
per port, or ``[source] state_file`` in the session file.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from afmcurrent.core.errors import AfmcurrentError

__all__ = ["SourceState", "StateFile", "default_state_path", "lock_source", "SourceBusyError"]

logger = logging.getLogger(__name__)

STATE_FORMAT = "afmcurrent-source-state/1"


class SourceBusyError(AfmcurrentError):
    """Another session (or its supervisor) holds the source's lock."""


@dataclass
class SourceState:
    """The source as last commanded.

    Attributes
    ----------
    port, driver : str
        pyserial URL and driver name (``keithley2400``...).
    level : float
        Last level commanded (written before the command is sent), V.
    output : bool
        Whether the output was last commanded on.
    time : float
        Unix time of the record.
    pid : int
        Process that wrote it.
    session_file : str
        The session's HDF5 file ("" if none).
    closed_by : str
        ``""`` while a session may drive the source; ``"worker"``, ``"supervisor"`` or
        ``"next start"`` once that one confirmed 0 V with the output off.
    note : str
        Why the last change was made (``"ramp to +1 V"``, ``"shutdown"``...).
    """

    port: str
    driver: str
    level: float = 0.0
    output: bool = False
    time: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    session_file: str = ""
    closed_by: str = ""
    note: str = ""

    @property
    def safe(self) -> bool:
        """True if the record says 0 V and output off."""
        return not self.output and self.level == 0.0


def default_state_path(port: str) -> Path:
    """``$XDG_STATE_HOME/afmcurrent/source-<port>.json`` (``~/.local/state`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    slug = "".join(c if c.isalnum() or c in "-." else "_" for c in port).strip("_") or "source"
    return Path(base) / "afmcurrent" / f"source-{slug[-120:]}.json"


class StateFile:
    """The write-ahead state file of one source.

    Parameters
    ----------
    path : str or Path
        The JSON file (its folder is made if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> SourceState | None:
        """The last record, or None if there is none or it cannot be trusted (logged).

        A record whose level is not a finite number is not trusted.
        """
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("%s: unreadable source state (%s); treating the state as unknown",
                           self.path, exc)
            return None
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
            logger.warning("%s: not a source state file; treating the state as unknown",
                           self.path)
            return None
        known = {f.name for f in fields(SourceState)}
        try:
            st = SourceState(**{k: v for k, v in raw.items() if k in known})
            st.level = float(st.level)
            st.output = bool(st.output)
        except (TypeError, ValueError) as exc:
            logger.warning("%s: malformed source state (%s)", self.path, exc)
            return None
        if st.level != st.level or abs(st.level) == float("inf"):
            logger.warning("%s: source state level %r is not a number", self.path, st.level)
            return None
        return st

    def write(self, state: SourceState, *, sync: bool = False) -> None:
        """Replace the record atomically (``sync``: also ``fsync`` file and folder).

        Raises
        ------
        OSError
            If it cannot be written (disk full, permissions): the caller must not send the
            command it was about to send.
        """
        state.time = time.time()
        state.pid = os.getpid()
        data = json.dumps({"format": STATE_FORMAT, **asdict(state)}, indent=1)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        if sync:
            _fsync_dir(self.path.parent)

    def update(self, **changes: Any) -> SourceState | None:
        """Read, change the given fields, write back (no-op without a record)."""
        st = self.read()
        if st is None:
            return None
        for k, v in changes.items():
            setattr(st, k, v)
        self.write(st, sync=True)
        return st


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def lock_source(state_path: str | Path) -> int:
    """Take the source's lock (``<state file>.lock``, ``flock``); returns the open descriptor.

    The lock lasts while any process holds that descriptor open (the session passes it to its
    supervisor, so it outlives a killed session until the supervisor has ramped down).

    Raises
    ------
    SourceBusyError
        If another process holds it.
    """
    import fcntl

    path = Path(str(state_path) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SourceBusyError(
            f"{path}: another session or its supervisor is driving this source; wait for it "
            "to finish (or, if none runs, remove nothing: the lock is released when the "
            "process holding it ends)") from None
    return fd
