"""What keeps the bias safe beyond the driver: signals, write-ahead state, the supervisor.

* :mod:`~acquisition.safety.safe_bias`: :class:`SafeBias`, the context manager under which
  every session runs: any catchable signal or exception ends at 0 V (signals held back during
  the ramp-down), records written whole (:meth:`SafeBias.atomic`);
* :mod:`~acquisition.safety.state`: the source's write-ahead state file (:class:`StateFile`)
  and its lock (:func:`lock_source`);
* :mod:`~acquisition.safety.supervisor`: the supervisor process that ramps down when the
  session process is killed (import it from there; it is also run as ``python -m
  acquisition.safety.supervisor``).

The drivers' own safety (limits checked before sending, bounded ramps, recovery at connect, the
shutdown with its deadline, the 2450 watchdog, the exit guard) is in
:mod:`acquisition.instruments`; the signal facts in :mod:`acquisition.signals`. This layer may
import those and :mod:`acquisition.transport`; never the simulation or session layers.
"""

from ..instruments.exit_guard import register_exit_guard
from ..signals import TERMINATION_SIGNALS, Terminated, exit_status, held_signals, signal_name
from .safe_bias import SafeBias
from .state import SourceBusyError, SourceState, StateFile, default_state_path, lock_source

__all__ = ["SafeBias", "Terminated", "TERMINATION_SIGNALS", "signal_name", "held_signals",
           "register_exit_guard", "exit_status", "SourceState", "StateFile",
           "default_state_path", "lock_source", "SourceBusyError"]
