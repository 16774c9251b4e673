"""The instruments: bias-source drivers (one module per model) and AFM scan controllers.

Bias sources, each built on the one below it:

* :mod:`~acquisition.instruments.base`: :class:`SourceBase`, level and output changes recorded
  before they are sent, bounded ramps, validated readings;
* :mod:`~acquisition.instruments.source`: :class:`BiasSource`, the life cycle: connect (with
  :mod:`~acquisition.instruments.recovery`), the instrument's own limits set and read back,
  the on-instrument watchdog (:mod:`~acquisition.instruments.watchdog`), the shutdown
  (:mod:`~acquisition.instruments.shutdown`);
* :mod:`~acquisition.instruments.keithley2400`, :mod:`~acquisition.instruments.keithley2450`:
  the models; :data:`DRIVERS` (:mod:`~acquisition.instruments.registry`) by session-file name;
* :mod:`~acquisition.instruments.limits`: :class:`SourceLimits`;
  :mod:`~acquisition.instruments.exit_guard`: the ``atexit`` ramp-down.

Scan controllers: :mod:`~acquisition.instruments.controller` (:class:`ScanController`,
:class:`ScanSettings`, :class:`Line`), :mod:`~acquisition.instruments.nanoscope_folder`.

A driver never opens a port: it is handed an :class:`acquisition.transport.SCPILink` (over any
:class:`acquisition.transport.Adapter`). Imports only :mod:`acquisition.transport` and the
base modules; never the safety, simulation or session layers.
"""

from .base import CURRENT_READING_MARGIN, Journal, SourceBase
from .controller import CaptureError, Line, ScanController, ScanSettings
from .exit_guard import register_exit_guard
from .keithley2400 import Keithley2400
from .keithley2450 import Keithley2450
from .limits import LimitError, SourceLimits
from .nanoscope_folder import NanoscopeCaptureFolder
from .recovery import Recovery
from .registry import DRIVERS
from .shutdown import ShutdownReport
from .source import BiasSource
from .watchdog import Heartbeat, WatchdogFired

__all__ = ["SourceLimits", "LimitError", "SourceBase", "BiasSource", "Keithley2400",
           "Keithley2450", "DRIVERS", "ShutdownReport", "Recovery", "WatchdogFired", "Journal",
           "Heartbeat", "register_exit_guard", "CURRENT_READING_MARGIN", "ScanSettings", "Line",
           "ScanController", "NanoscopeCaptureFolder", "CaptureError"]
