"""Virtual electrolyte and scan simulator with ground truth (tests, benchmarks, acquisition).

- :mod:`.presets`: the virtual electrolytes (pristine, degraded, coated), every number
  documented with its source;
- :mod:`.electrolyte`: the material canvas (domains, current fields, topography);
- :mod:`.amplifier`: the simulated log amplifier (transfer function, lag, noise);
- :mod:`.pair`: a +V / -V pair scanned from the canvas, with ground truth (:func:`simulate_pair`);
- :mod:`.optical`: an optical micrograph around a simulated scan;
- :mod:`.writing`: a pair written as the instrument would (:func:`write_pair`).
"""

from .amplifier import SimulatedAmplifier, apply_bandwidth_lag, default_calibration, record_log_amp
from .electrolyte import Material, gaussian_field, make_material
from .optical import OPTICAL_BRIGHTNESS, SimulatedOptical, simulate_optical
from .pair import GroundTruth, SimulatedPair, simulate_pair
from .presets import PRESETS, ClassProperties, DomainLayer, Preset, get_preset
from .writing import write_pair

__all__ = [
    "ClassProperties",
    "DomainLayer",
    "Preset",
    "SimulatedAmplifier",
    "PRESETS",
    "GroundTruth",
    "Material",
    "SimulatedPair",
    "default_calibration",
    "gaussian_field",
    "get_preset",
    "make_material",
    "apply_bandwidth_lag",
    "record_log_amp",
    "simulate_pair",
    "write_pair",
    "OPTICAL_BRIGHTNESS",
    "SimulatedOptical",
    "simulate_optical",
]
