"""Optical micrographs: place the AFM scan area, compare brightness with the electrical classes.

- :mod:`.read`: images as brightness in [0, 1];
- :mod:`.placement`: the scan area from a box or a centre, the optical patch on the scan grid;
- :mod:`.refine`: the placement refined by mutual information with the class map;
- :mod:`.segment`: bright / dark segmentation of the field (illumination flattened, Otsu);
- :mod:`.analysis`: the whole step for one scan (:func:`analyze_optical`).
"""

from .analysis import OpticalResult, analyze_optical, contingency_table, cramers_v
from .placement import Placement, initial_box, sample_patch
from .read import LUMA_WEIGHTS, as_brightness, read_optical
from .refine import mutual_information, refine_placement
from .segment import flatten_illumination, segment_bright_dark

__all__ = [
    "LUMA_WEIGHTS",
    "read_optical",
    "as_brightness",
    "initial_box",
    "Placement",
    "sample_patch",
    "mutual_information",
    "refine_placement",
    "flatten_illumination",
    "segment_bright_dark",
    "contingency_table",
    "cramers_v",
    "OpticalResult",
    "analyze_optical",
]
