"""The write-ahead record of the source, and what the last session left in it.

:class:`BiasJournal` is the driver's ``journal``: every change of level or output is written to
the session file (a ``bias`` event) and to the source's state file
(:class:`acquisition.safety.StateFile`) before the command is sent. :func:`previous_state`
reads what the last session on the same source left (the state file, a newer ``bias`` event of
its session file, its supervisor's report), for the next start's ramp-down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from ..safety import SourceState, StateFile
from ..safety.supervisor import supervisor_report_path
from .reading import last_bias_event
from .storage import SessionFile

__all__ = ["BiasJournal", "previous_state"]


class BiasJournal:
    """Write-ahead record of every change of the source: the session file's ``bias`` events and
    the state file, both written before the command is sent.

    Parameters
    ----------
    state : StateFile or None
    port, driver : str

    Attributes
    ----------
    atomic : callable
        ``atomic()`` returns the context manager each record is written in (the session's
        :meth:`acquisition.safety.SafeBias.atomic`, so that a signal cannot fall between the
        session file and the state file); default: none.
    """

    def __init__(self, state: StateFile | None, port: str, driver: str) -> None:
        self.state = state
        self.store: SessionFile | None = None
        self.scan = -1
        self.atomic: Callable[[], AbstractContextManager[object]] = nullcontext
        self._rec = SourceState(port=port, driver=driver)

    def attach(self, store: SessionFile) -> None:
        """Also record into this session file."""
        self.store = store
        self._rec.session_file = str(store.path)

    def __call__(self, level: float, output: bool, note: str) -> None:
        with self.atomic():
            if self.store is not None:
                self.store.bias_event(level, output, note, self.scan)
            if self.state is not None:
                changed = output != self._rec.output
                self._rec.level, self._rec.output, self._rec.note = level, output, note
                self._rec.closed_by = ""
                self.state.write(self._rec, sync=changed)

    def closed(self, by: str) -> None:
        """Mark the state safe (0 V, output off, confirmed by ``by``)."""
        if self.state is not None:
            self._rec.level, self._rec.output, self._rec.closed_by = 0.0, False, by
            self._rec.note = f"0 V, output off, confirmed by the {by}"
            self.state.write(self._rec, sync=True)


def previous_state(state: StateFile | None) -> tuple[SourceState | None, str]:
    """The last session's record of the source, and where it came from.

    The state file, unless the session file it names has a later ``bias`` event (written before
    the state file, so it can be newer only if the process died between the two), and the
    supervisor's report if there is one.
    """
    if state is None:
        return None, ""
    st = state.read()
    if st is None:
        return None, ""
    notes = [f"state file {state.path}: output {'on' if st.output else 'off'} at "
             f"{st.level:+.4g} V" + (f", closed by the {st.closed_by}" if st.closed_by else "")]
    if st.session_file and Path(st.session_file).is_file() and not st.closed_by:
        ev = last_bias_event(st.session_file)
        if ev is not None and ev["time"] > st.time:
            st.level, st.output = ev["level"], ev["output"]
            notes.append(f"newer bias event in {st.session_file}: {ev['message']}")
    if st.session_file:
        rep = supervisor_report_path(st.session_file)
        if rep.is_file():
            try:
                notes.append("supervisor: " + json.loads(rep.read_text())["message"])
            except (OSError, ValueError, KeyError):
                notes.append(f"supervisor report {rep} unreadable")
    return st, "; ".join(notes)

