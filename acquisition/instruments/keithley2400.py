"""Keithley 2400 SourceMeter as the bias source (2400 Series User's Manual, 2400S-900-01).

Command set (section 18 "SCPI command reference"): ``:SOUR:FUNC VOLT``, ``:SOUR:VOLT:MODE
FIXED``, ``:SOUR:VOLT:RANG``, ``:SOUR:VOLT:LEV``, ``:SOUR:VOLT:PROT`` (V-source protection: 20,
40, ... 160 V or NONE; a smaller value selects 20 V), ``:SENS:FUNC "CURR"``, compliance
``:SENS:CURR:PROT`` (the 2400 calls the current limit of a voltage source "compliance" and sets
it in the SENSe subsystem), ``:SENS:CURR:PROT:TRIP?``, ``:FORM:ELEM CURR`` so that ``:READ?``
returns the current only, ``:OUTP ON|OFF``, ``:OUTP?``, ``:SYST:ERR?``.
"""

from __future__ import annotations

from .source import BiasSource

__all__ = ["Keithley2400"]


class Keithley2400(BiasSource):
    """Keithley 2400 SourceMeter (2400S-900-01 SCPI). Compliance: ``:SENS:CURR:PROT``.

    Hardware limits at configure: fixed source range (200 mV, 2 V, 20 V, 200 V; levels above
    105 % of it are refused with error -222), V-source protection ``:SOUR:VOLT:PROT`` (20 V is its
    lowest setting: a coarse bound for a 1-2 V session), compliance ``:SENS:CURR:PROT``. No
    on-instrument watchdog (see docs/instrument.md).
    """

    models = ("MODEL 2400",)
    current_query = ":READ?"
    trip_query = ":SENS:CURR:PROT:TRIP?"
    ranges = (0.2, 2.0, 20.0, 200.0)
    #: V-source protection settings, V (2400S-900-01 sec. 18, ``:SOUR:VOLT:PROT``).
    protection_levels = (20, 40, 60, 80, 100, 120, 160)
    _limit_query = ":SENS:CURR:PROT?"

    def _configure_commands(self, voltage_range: float, compliance: float) -> list[str]:
        return [
            ":SOUR:FUNC VOLT",
            ":SOUR:VOLT:MODE FIXED",
            ":SOUR:VOLT:RANG:AUTO OFF",
            f":SOUR:VOLT:RANG {voltage_range:.6g}",
            f":SOUR:VOLT:PROT {self.protection_for(self.limits.max_bias):.6g}",
            ":SOUR:VOLT:LEV 0",
            ':SENS:FUNC "CURR"',
            f":SENS:CURR:PROT {compliance:.6g}",
            ":SENS:CURR:RANG:AUTO ON",
            ":FORM:ELEM CURR",
        ]

    def _query_protection(self) -> float:
        return self.link.query_float(":SOUR:VOLT:PROT?", low=0, high=self.max_level,
                                     what="voltage protection in V")

