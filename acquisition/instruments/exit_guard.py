"""The drivers' last resort: an output still on when the interpreter exits is ramped down.

:meth:`acquisition.instruments.SourceBase.enable` registers the source here; an ``atexit`` hook
(:func:`ramp_down_at_exit`) then shuts down every registered source whose output is still on,
or whose level is not 0 V, when the interpreter exits normally: a script that used the drivers
without :class:`acquisition.safety.SafeBias`. Every termination signal is held back while it
runs (:func:`acquisition.signals.held_signals`).
"""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import Any

from ..signals import held_signals
from ..transport import CommunicationError

__all__ = ["register_exit_guard", "ramp_down_at_exit"]

logger = logging.getLogger(__name__)

_GUARDED: weakref.WeakSet[Any] = weakref.WeakSet()
_REGISTERED: list[bool] = [False]


def ramp_down_at_exit() -> None:
    """Shut down every registered source left on (the ``atexit`` hook)."""
    for src in list(_GUARDED):
        if not (src.output_on or (src.level_known and src.level != 0.0)):
            continue
        logger.critical("%s: the interpreter is exiting with the output on at %+.4g V: ramping "
                        "to 0 V", src.link.url, src.level)
        with held_signals():
            try:
                rep = src.shutdown()
                logger.critical("%s: %s", src.link.url, rep.message)
            except CommunicationError as err:
                logger.critical("%s", err)


def register_exit_guard(source: Any) -> None:
    """Shut ``source`` down at interpreter exit if its output is still on then.

    Parameters
    ----------
    source : BiasSource
        Anything with ``output_on``, ``level_known``, ``level``, ``link.url`` and
        ``shutdown()``.
    """
    if not _REGISTERED[0]:
        atexit.register(ramp_down_at_exit)
        _REGISTERED[0] = True
    _GUARDED.add(source)
