"""Instrument side of afmcurrent: bias sources, scan controllers, the dual-polarity protocol.

Layers, each importing only the ones before it (``tests/test_acq_imports.py`` checks it):

1. :mod:`acquisition.clock`, :mod:`acquisition.signals`: time and termination signals;
2. :mod:`acquisition.transport`: adapters (a pyserial port today), SCPI over them, reply
   validation;
3. :mod:`acquisition.instruments`: the bias-source drivers (Keithley 2400, 2450) with their
   limits, ramps, recovery, shutdown and watchdog, and the AFM scan controllers;
4. :mod:`acquisition.safety` (SafeBias, the write-ahead state file, the supervisor process) and
   :mod:`acquisition.sim` (virtual instruments on real pseudo-terminals, the fault harness),
   side by side: neither imports the other;
5. :mod:`acquisition.session`: the session file, the protocol, the recorded HDF5 file;
6. :mod:`acquisition.cli`: ``afmcurrent acquire``.

``acquisition`` imports ``afmcurrent``; ``afmcurrent`` never imports ``acquisition``. Old module
paths that the documentation named (``acquisition.sources``, ``.storage``, ``.simulator``,
``.controllers``, ``.harness``) still import, with a ``DeprecationWarning``
(:mod:`acquisition._deprecated`).
"""

from ._deprecated import install as _install_deprecated_aliases

_install_deprecated_aliases()
