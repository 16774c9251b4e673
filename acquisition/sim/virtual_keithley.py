"""A virtual Keithley 2400 / 2450 SourceMeter on a real pseudo-terminal.

:class:`VirtualKeithley` answers the SCPI subset that :mod:`acquisition.instruments` uses, the
way a Keithley 2400 or 2450 does (same commands, same ``*IDN?`` shape, same error-queue entries,
e.g. ``-113,"Undefined header"``), served by :class:`~acquisition.sim.pty_server.PtyInstrument`
on a pseudo-terminal, with fault injection (:class:`~acquisition.sim.Faults`).

The instruments' own limits are modelled as their manuals describe them (see
docs/instrument.md): a fixed source range refuses levels beyond 105 % of it (error -222, the
level is not applied; 2400S-900-01 sec. 18 and 2450-901-01 sec. 6 ``:SOUR:VOLT[:LEV]``); the
voltage protection restricts what reaches the terminals (:attr:`VirtualKeithley.applied_bias`
is clamped to it and the 2450's ``:SOUR:VOLT:PROT:TRIP?`` reads 1); the current limit clamps the
current. All of them read back.

The virtual 2450 runs the subset of the trigger model that the on-instrument watchdog uses
(:mod:`acquisition.sim.trigger_model`), in real time, independently of any client: when the
heartbeats stop, it switches the output off, as the real instrument does.

The load is a callable ``current(volts) -> A``; default an ohmic 1 GOhm path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from .pty_server import PtyInstrument
from .trigger_model import TRIGGER_COMMANDS, TriggerModel

__all__ = ["VirtualKeithley", "IDN"]

logger = logging.getLogger(__name__)

#: ``*IDN?`` replies in the instruments' format (manufacturer, model, serial, firmware).
IDN = {
    "2400": "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4321987,C32   Oct  4 2010 14:20:11/A02  /S/K",
    "2450": "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.3b",
    "2000": "KEITHLEY INSTRUMENTS INC.,MODEL 2000,1234567,A20  /A02",
}

#: Returned by a command group that does not know the header.
_NOT_MINE = object()


class VirtualKeithley(PtyInstrument):
    """A Keithley 2400 / 2450-like voltage source served on a pseudo-terminal.

    Parameters
    ----------
    model : {"2400", "2450", "2000"}
        Which instrument to be ("2000" is a DMM, to test the refusal of a wrong instrument).
    load : callable, optional
        ``load(volts) -> amps`` of the connected circuit; default ohmic 1 GOhm.
    directory : str or Path, optional
        Where the port symlink is made (default: a new temporary folder).

    Attributes
    ----------
    port : str
        Path to open with pyserial.
    output, level : bool, float
        Present output state and level (V).
    faults : Faults
        Faults to inject, changeable at any time.
    history : list of (float, str)
        ``(time.monotonic(), command)`` of every command received.
    levels : list of (float, float, bool)
        ``(time, level, output)`` after every change of level or output.
    on_command : callable or None
        ``on_command(text)`` after each command is handled (tests use it to act at a moment
        of the session, e.g. send a signal when the level passes 0.5 V).
    watchdog_fired : list of float
        ``time.monotonic()`` at which the trigger model switched the output off.
    """

    def __init__(self, model: str = "2400", *, load: Callable[[float], float] | None = None,
                 directory: str | Path | None = None) -> None:
        if model not in IDN:
            raise ValueError(f"unknown virtual model {model!r}; known: {sorted(IDN)}")
        super().__init__(f"Keithley {model}", f"keithley{model}", directory=directory)
        self.model = model
        self.load = load or (lambda v: v / 1e9)
        self.output = False
        self.level = 0.0
        self.limit = 1.05e-4  # both models power up with 105 uA
        self.volt_range = 20.0
        self.autorange = True
        self.protection = 210.0  # NONE
        self.source_function = "VOLT"
        self.watchdog_fired: list[float] = []
        self.levels: list[tuple[float, float, bool]] = []
        self._errors: list[tuple[int, str]] = []
        #: The 2450's trigger model (watchdog subset).
        self.trigger = TriggerModel(self._source_output_block, self._errors)

    def start(self) -> VirtualKeithley:
        """Open the pseudo-terminal and serve in a daemon thread; returns self."""
        super().start()
        return self

    def __enter__(self) -> VirtualKeithley:
        return self.start()

    # -- state -------------------------------------------------------------------------------------
    @property
    def applied_bias(self) -> float:
        """Voltage on the load: the level (restricted to the protection) while the output is
        on, else 0 V."""
        if not self.output:
            return 0.0
        return max(-self.protection, min(self.protection, self.level))

    def current(self) -> float:
        """Current through the load, limited by compliance."""
        if not self.output:
            return 0.0
        i = self.load(self.applied_bias)
        if self.faults.compliance:
            i = 10 * self.limit * (1 if self.level >= 0 else -1)
        return max(-self.limit, min(self.limit, i))

    def tripped(self) -> bool:
        """True when the load wants more than the current limit."""
        if not self.output:
            return False
        return self.faults.compliance or abs(self.load(self.applied_bias)) >= self.limit


    def _set_level(self, v: float) -> None:
        self.level = v
        self.levels.append((time.monotonic(), v, self.output))

    def _set_output(self, on: bool) -> None:
        self.output = on
        self.levels.append((time.monotonic(), self.level, on))

    def _source_output_block(self, on: bool) -> None:
        """A source-output block of the trigger model ran."""
        if self.output and not on:
            self.watchdog_fired.append(time.monotonic())
            logger.info("virtual Keithley %s: trigger model switched the output off",
                        self.model)
        self._set_output(on)

    def tick(self) -> None:
        """Advance the trigger model (between commands and every 20 ms)."""
        with self._lock:
            self.trigger.tick()

    # -- limits as the manuals describe them -------------------------------------------------------
    _RANGES = {"2400": (0.2, 2.0, 20.0, 200.0), "2450": (0.02, 0.2, 2.0, 20.0, 200.0)}
    _PROT_2400 = (20, 40, 60, 80, 100, 120, 160)
    _PROT_2450 = (2, 5, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180)

    def _select_range(self, v: float) -> float | None:
        for r in self._RANGES.get(self.model, (200.0,)):
            if abs(v) <= r * 1.05:
                return r
        return None

    def _set_protection(self, arg: str) -> bool:
        if self.model == "2450":  # PROTn tokens or NONE (2450-901-01, :SOUR:VOLT:PROT)
            a = arg.upper()
            if a == "NONE":
                self.protection = 210.0
                return True
            if a.startswith("PROT") and a[4:].isdigit() and int(a[4:]) in self._PROT_2450:
                self.protection = float(a[4:])
                return True
            return False
        try:  # 2400: a number; below 20 V selects 20 V, between settings the lower one,
            v = abs(float(arg))  # above 160 V NONE (2400S-900-01 sec. 18)
        except ValueError:
            return False
        if v > 160:
            self.protection = 210.0
        else:
            self.protection = float(max([p for p in self._PROT_2400 if p <= v] or [20]))
        return True

    # -- the SCPI table ----------------------------------------------------------------------------
    def answer(self, head: str, arg: str) -> str | None:
        """Handle one command; its reply (None: no reply; errors go to the queue)."""
        reply = self._common(head)
        if reply is not _NOT_MINE:
            return reply  # type: ignore[return-value]
        if self.model == "2000":
            self._errors.append((-113, "Undefined header"))
            return None
        if self.model == "2450" and head in TRIGGER_COMMANDS:
            return self.trigger.command(head, arg)
        for group in (self._output_and_level, self._range_and_protection,
                      self._limit_and_reading):
            reply = group(head, arg)
            if reply is not _NOT_MINE:
                return reply  # type: ignore[return-value]
        self._errors.append((-113, "Undefined header"))
        return None

    def _common(self, head: str) -> object:
        if head == "*IDN?":
            return IDN[self.model]
        if head in ("*RST",):
            self._set_output(False)
            self._set_level(0.0)
            return None
        if head == "*CLS":
            self._errors.clear()
            return None
        if head in (":SYST:ERR?", ":SYST:ERR:NEXT?", "SYST:ERR?"):
            if self._errors:
                code, msg = self._errors.pop(0)
                return f'{code},"{msg}"'
            return '0,"No error"'
        return _NOT_MINE

    def _output_and_level(self, head: str, arg: str) -> object:
        if head == ":OUTP?":
            return "1" if self.output else "0"
        if head == ":OUTP":
            if arg.upper() in ("ON", "1"):
                self._set_output(True)
            elif arg.upper() in ("OFF", "0"):
                self._set_output(False)
            else:
                self._errors.append((-224, "Illegal parameter value"))
            return None
        if head == ":SOUR:VOLT:LEV?":
            return f"{self.level:+.6E}"
        if head == ":SOUR:VOLT:LEV":
            try:
                v = float(arg)
            except ValueError:
                self._errors.append((-104, "Data type error"))
                return None
            top = (self.volt_range if not self.autorange else 200.0) * 1.05
            if abs(v) > top:  # a fixed range refuses levels beyond 105 % of it
                self._errors.append((-222, "Parameter data out of range"))
                return None
            self._set_level(v)
            return None
        if head == ":SOUR:FUNC":
            self.source_function = arg.upper()
            return None
        return _NOT_MINE

    def _range_and_protection(self, head: str, arg: str) -> object:
        is2450 = self.model == "2450"
        if head == ":SOUR:VOLT:RANG":
            try:
                r = self._select_range(float(arg))
            except ValueError:
                r = None
            if r is None:
                self._errors.append((-222, "Parameter data out of range"))
                return None
            self.volt_range, self.autorange = r, False
            return None
        if head == ":SOUR:VOLT:RANG?":
            return f"{self.volt_range:+.6E}"
        if head == ":SOUR:VOLT:RANG:AUTO":
            self.autorange = arg.upper() in ("ON", "1")
            return None
        if head == ":SOUR:VOLT:RANG:AUTO?":
            return "1" if self.autorange else "0"
        if head == ":SOUR:VOLT:PROT":
            if not self._set_protection(arg):
                self._errors.append((-224, "Illegal parameter value"))
            return None
        if head == ":SOUR:VOLT:PROT?":
            if is2450:
                return "NONE" if self.protection >= 210 else f"PROT{self.protection:g}"
            return f"{self.protection:+.6E}"
        if head == ":SOUR:VOLT:PROT:TRIP?" and is2450:
            return "1" if self.output and abs(self.level) > self.protection else "0"
        return _NOT_MINE

    def _limit_and_reading(self, head: str, arg: str) -> object:
        is2450 = self.model == "2450"
        limit_cmd = ":SOUR:VOLT:ILIM" if is2450 else ":SENS:CURR:PROT"
        if head == limit_cmd:
            try:
                self.limit = float(arg)
            except ValueError:
                self._errors.append((-104, "Data type error"))
            return None
        if head == limit_cmd + "?":
            return f"{self.limit:+.6E}"
        if head == limit_cmd + ":TRIP?":
            return "1" if self.tripped() else "0"
        read_cmd = ":MEAS:CURR?" if is2450 else ":READ?"
        if head == read_cmd or (is2450 and head == ":READ?"):
            if not self.output and not is2450:
                self._errors.append((-803, "Output not on"))  # 2400: reading needs output on
                return "+9.910000E+37"
            return f"{self.current():+.6E}"
        accepted_2400 = {":SOUR:VOLT:MODE", ":SENS:FUNC", ":SENS:CURR:RANG:AUTO", ":FORM:ELEM"}
        accepted_2450 = {":SENS:FUNC", ":SENS:CURR:RANG:AUTO"}
        if head in (accepted_2450 if is2450 else accepted_2400):
            return None
        return _NOT_MINE
