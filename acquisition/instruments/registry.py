"""Bias-source drivers by the name used in session files (``[source] driver = ...``)."""

from __future__ import annotations

from .keithley2400 import Keithley2400
from .keithley2450 import Keithley2450
from .source import BiasSource

__all__ = ["DRIVERS"]

#: Drivers by the name used in session files (``[source] driver = ...``).
DRIVERS: dict[str, type[BiasSource]] = {"keithley2400": Keithley2400, "keithley2450": Keithley2450}
