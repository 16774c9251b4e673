"""A session: the file that describes it, the protocol that runs it, the file it records.

* :mod:`~acquisition.session.config`: :func:`load_session`, the session TOML as a
  :class:`SessionConfig`;
* :mod:`~acquisition.session.rig`: :func:`open_instruments`, the instruments it names (or
  virtual ones) opened and wired;
* :mod:`~acquisition.session.run`: :func:`run_session`, the dual-polarity protocol under
  :class:`acquisition.safety.SafeBias`; its steps (waits, settle, interlocks) in
  :mod:`~acquisition.session.steps`, its outcome in :mod:`~acquisition.session.result`, the
  pair analysis in :mod:`~acquisition.session.analysis`;
* :mod:`~acquisition.session.journal`: the write-ahead record of the source
  (:class:`BiasJournal`) and what the last session left (:func:`previous_state`);
* :mod:`~acquisition.session.storage` (:class:`SessionFile`), :mod:`~acquisition.session.layout`
  (the HDF5 layout), :mod:`~acquisition.session.reading` (:func:`open_session`,
  :func:`read_scan`, :func:`scan_status`, :func:`last_bias_event`).

The top layer below the command line: may import every other layer.
"""

from .analysis import analyze_pairs
from .config import (
    DEFAULT_WATCHDOG,
    InterlockSpec,
    SessionConfig,
    SettleSpec,
    load_session,
    watchdog_timeout,
)
from .journal import BiasJournal, previous_state
from .layout import FORMAT, HEIGHT, LOGAMP, format_bias_event, parse_bias_event
from .reading import last_bias_event, open_session, read_scan, scan_status
from .result import Observer, SessionResult
from .rig import Instruments, open_instruments
from .run import run_session
from .steps import Abort
from .storage import ScanPlan, SessionFile, new_session_path

__all__ = ["SettleSpec", "InterlockSpec", "SessionConfig", "load_session", "Abort",
           "Observer", "SessionResult", "run_session", "open_instruments", "Instruments",
           "BiasJournal", "previous_state", "DEFAULT_WATCHDOG", "watchdog_timeout",
           "analyze_pairs", "ScanPlan", "SessionFile", "open_session", "read_scan",
           "scan_status", "FORMAT", "HEIGHT", "LOGAMP", "new_session_path",
           "format_bias_event", "parse_bias_event", "last_bias_event"]
