"""The subset of the Keithley 2450 trigger model that the on-instrument watchdog uses.

Blocks (2450-901-01 section 3 "Trigger model", section 6 ``:TRIGger:BLOCk:...``): constant delay
(``:TRIG:BLOC:DEL:CONS n, s``), branch on a command-interface trigger (``:TRIG:BLOC:BRAN:EVEN n,
COMM, target``; ``*TRG`` is the event, its detector cleared when it branches), source output
(``:TRIG:BLOC:SOUR:STAT n, ON|OFF``); ``:TRIG:LOAD "Empty"``, ``:INIT``, ``:ABOR``,
``:TRIG:STAT?``. Run in real time by :meth:`TriggerModel.tick`, independently of any client:
when the heartbeats stop, it switches the output off, as the real instrument does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TriggerModel", "TRIGGER_COMMANDS"]

#: Headers :meth:`TriggerModel.command` answers.
TRIGGER_COMMANDS = frozenset({":ABOR", ":TRIG:LOAD", ":TRIG:BLOC:DEL:CONS", ":TRIG:BLOC:BRAN:EVEN",
                              ":TRIG:BLOC:SOUR:STAT", ":INIT", "*TRG", ":TRIG:STAT?"})
_BLOCK_COMMANDS = (":TRIG:BLOC:DEL:CONS", ":TRIG:BLOC:BRAN:EVEN", ":TRIG:BLOC:SOUR:STAT")

Block = tuple[str, tuple[object, ...]]


class TriggerModel:
    """Blocks, state and the present block of a 2450 trigger model (watchdog subset).

    Parameters
    ----------
    source_output : callable
        ``source_output(on)``: what a source-output block does to the instrument.
    errors : list
        The instrument's error queue, ``(code, message)`` entries appended on bad commands.
    """

    def __init__(self, source_output: Callable[[bool], None],
                 errors: list[tuple[int, str]]) -> None:
        self.source_output = source_output
        self.errors = errors
        self.blocks: dict[int, Block] = {}
        self.state = "IDLE"
        self.block = 0
        self.until: float | None = None
        self.command_event = False

    def _enter(self, n: int) -> None:
        self.block = n
        blk = self.blocks.get(n)
        self.until = (time.monotonic() + float(blk[1][0])  # type: ignore[arg-type]
                      if blk is not None and blk[0] == "DELAY" else None)

    def tick(self) -> None:
        """Advance the trigger model as far as it can go now."""
        for _ in range(64):  # bounded: a model looping without delay is not advanced forever
            if self.state != "RUNNING":
                return
            blk = self.blocks.get(self.block)
            if blk is None:
                self.state = "IDLE"
                return
            kind, args = blk
            if kind == "DELAY":
                if self.until is not None and time.monotonic() < self.until:
                    return
                self._enter(self.block + 1)
            elif kind == "BRANCH_EVENT":
                if self.command_event:  # the event detector is cleared when it branches
                    self.command_event = False
                    self._enter(int(args[1]))  # type: ignore[call-overload]
                else:
                    self._enter(self.block + 1)
            elif kind == "SOURCE_OUTPUT":
                self.source_output(bool(args[0]))
                self._enter(self.block + 1)
            else:
                self._enter(self.block + 1)

    def command(self, head: str, arg: str) -> str | None:
        """Handle one trigger-model command (``head`` in :data:`TRIGGER_COMMANDS`); its reply."""
        if head == ":ABOR":
            self.state = "IDLE" if self.blocks else "EMPTY"
        elif head == ":TRIG:LOAD":
            if arg.strip('"').upper() != "EMPTY":
                self.errors.append((-224, "Illegal parameter value"))
                return None
            self.blocks.clear()
            self.state = "EMPTY"
        elif head in _BLOCK_COMMANDS:
            self._define_block(head, [a.strip() for a in arg.split(",")])
        elif head == ":INIT":
            if not self.blocks:
                self.errors.append((-200, "Execution error; trigger model is empty"))
                return None
            self.command_event = False
            self.state = "RUNNING"
            self._enter(min(self.blocks))
        elif head == "*TRG":
            self.command_event = True
        elif head == ":TRIG:STAT?":
            return f"{self.state};{self.state};{self.block}"
        return None

    def _define_block(self, head: str, parts: list[str]) -> None:
        try:
            n = int(parts[0])
            if head == ":TRIG:BLOC:DEL:CONS":
                blk: Block = ("DELAY", (float(parts[1]),))
            elif head == ":TRIG:BLOC:BRAN:EVEN":
                if parts[1].upper() not in ("COMM", "COMMAND"):
                    raise ValueError(parts[1])
                blk = ("BRANCH_EVENT", ("COMMAND", int(parts[2])))
            else:
                blk = ("SOURCE_OUTPUT", (parts[1].upper() in ("ON", "1"),))
        except (ValueError, IndexError):
            self.errors.append((-224, "Illegal parameter value"))
            return
        self.blocks[n] = blk
        self.state = "BUILDING"
