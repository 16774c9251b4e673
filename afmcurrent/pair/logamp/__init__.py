"""The log amplifier: output volts to input current, floor and saturation, calibrations, lag.

A logarithmic current amplifier's output is linear in the decade of the current,
``V = V_ref + V_dec * log10(I / I_ref)`` (``docs/science.md``). Modules:

- :mod:`.transfer`: the calibration record (:class:`LogAmpCalibration`) and its conversions;
- :mod:`.convert`: a current channel to amps with the floor / saturation masks
  (:func:`convert_channel`);
- :mod:`.calibration`: calibrations from TOML files, mappings and the datasheet presets
  (:func:`load_calibration`, :data:`PRESETS`);
- :mod:`.fit`: a calibration fitted to known currents (:func:`fit_calibration`);
- :mod:`.bandwidth`: bandwidth proportional to current and the lag it causes along the fast
  axis (:func:`lag_decades`).
"""

from .bandwidth import (
    AD8304_HZ_PER_AMP,
    MAX_LAG_DECADES,
    bandwidth_hz,
    lag_decades,
    lagging_mask,
    pixel_rate_hz,
)
from .calibration import PRESETS, list_presets, load_calibration
from .convert import CurrentMap, convert_channel
from .fit import CalibrationFit, fit_calibration
from .transfer import CALIBRATION_KEYS, OPTIONAL_CALIBRATION_KEYS, LogAmpCalibration

__all__ = [
    "LogAmpCalibration",
    "CurrentMap",
    "CalibrationFit",
    "convert_channel",
    "load_calibration",
    "list_presets",
    "PRESETS",
    "fit_calibration",
    "bandwidth_hz",
    "lagging_mask",
    "lag_decades",
    "pixel_rate_hz",
    "MAX_LAG_DECADES",
    "AD8304_HZ_PER_AMP",
    "CALIBRATION_KEYS",
    "OPTIONAL_CALIBRATION_KEYS",
]
