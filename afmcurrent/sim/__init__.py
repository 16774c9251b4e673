"""Virtual electrolyte and scan simulator with ground truth (tests, benchmarks, acquisition)."""

from .simulate import *  # noqa: F403
from .simulate import __all__  # noqa: F401
