"""Ionic and electronic current from the co-registered +V and -V maps, with uncertainty.

- :mod:`.separate`: the separation itself (:func:`separate`), interval arithmetic on log
  currents;
- :mod:`.maps`: the record of the result (:class:`TransportMaps`) and log-current intervals;
- :mod:`.resampling`: the uncertainty of the resampled -V map (:func:`resampling_uncertainty`);
- :mod:`.density`: current density under the probe (:func:`current_density`).
"""

from .density import current_density
from .maps import TransportMaps, bound_code, log10_current, log_bounds
from .resampling import resampling_uncertainty
from .separate import separate

__all__ = [
    "TransportMaps",
    "separate",
    "current_density",
    "log_bounds",
    "bound_code",
    "log10_current",
    "resampling_uncertainty",
]
