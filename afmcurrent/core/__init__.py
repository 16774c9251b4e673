"""The bottom layer: what every other layer shares and nothing else.

Errors (:mod:`.errors`), the data model of a scan (:mod:`.model`), settings and the TOML file
(:mod:`.config`), and small array helpers (:mod:`.arrays`). Imports nothing of afmcurrent.
"""

from .config import AnalysisConfig, load_config, read_toml
from .errors import (
    AfmcurrentError,
    CalibrationError,
    ChannelNotFoundError,
    ConfigError,
    OutputExistsError,
    ReadError,
    RegistrationError,
)
from .model import Channel, Scan
from .version import __version__

__all__ = [
    "AfmcurrentError",
    "AnalysisConfig",
    "CalibrationError",
    "Channel",
    "ChannelNotFoundError",
    "ConfigError",
    "OutputExistsError",
    "ReadError",
    "RegistrationError",
    "Scan",
    "__version__",
    "load_config",
    "read_toml",
]
