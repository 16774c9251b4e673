"""Virtual instruments behind real pseudo-terminals, and the harness that drives them.

* :mod:`~acquisition.sim.virtual_keithley`: :class:`VirtualKeithley`, a 2400 / 2450 on a pty
  (the instruments' own limits, the 2450's watchdog trigger model);
* :mod:`~acquisition.sim.pty_server`: :class:`PtyInstrument`, serving any line-based
  instrument on a pty; :mod:`~acquisition.sim.faults`: :class:`Faults` to inject;
  :mod:`~acquisition.sim.trigger_model`: the 2450 trigger-model subset;
* :mod:`~acquisition.sim.afm`: :class:`SimulatedAFM`, the virtual electrolyte as scan
  controller;
* :mod:`~acquisition.sim.harness`: ``afmcurrent acquire`` as a child process against a virtual
  instrument in this one, acting at a chosen moment (signals, SIGKILL).

May import the instrument layer (the controller interface) and the clock; never the safety or
session layers.
"""

from .afm import SimulatedAFM
from .faults import Faults
from .pty_server import PtyInstrument
from .trigger_model import TriggerModel
from .virtual_keithley import IDN, VirtualKeithley

__all__ = ["VirtualKeithley", "IDN", "Faults", "PtyInstrument", "TriggerModel", "SimulatedAFM"]
