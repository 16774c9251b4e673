"""Virtual instruments behind a real pseudo-terminal, with fault injection.

:class:`VirtualKeithley` answers the SCPI subset that :mod:`acquisition.sources` uses, the way
a Keithley 2400 or 2450 does (same commands, same ``*IDN?`` shape, same error-queue entries,
e.g. ``-113,"Undefined header"``), on the slave side of an ``os.openpty()`` pair. The drivers
open the slave path with pyserial exactly as they open ``/dev/ttyUSB0``, so the real serial
code path runs. The instrument is reachable through a stable symlink (:attr:`port`), like a
``/dev/serial/by-id/...`` name, so that after a simulated disconnect the same name comes back on
a new pseudo-terminal and the driver can reopen it.

Faults (:class:`Faults`, set at any time, or armed to fire after a number of commands):
``no_reply`` (queries get no answer), ``garble`` (replies are noise), ``slow`` (replies come
late by ``delay`` s), ``disconnect`` (the port vanishes, and comes back after
``reconnect_after`` s unless that is None), ``compliance`` (the load draws more than the
current limit: the source limits and the trip flag reads 1), ``replies`` (the reply to a given
query is replaced, e.g. ``{":SOUR:VOLT:LEV?": "NAN"}``: NaN, overflow, cut short, nonsense).

The instruments' own limits are modelled as their manuals describe them (see
docs/instrument.md): a fixed source range refuses levels beyond 105 % of it (error -222, the
level is not applied; 2400S-900-01 sec. 18 and 2450-901-01 sec. 6 ``:SOUR:VOLT[:LEV]``); the
voltage protection restricts what reaches the terminals (:attr:`VirtualKeithley.applied_bias`
is clamped to it and the 2450's ``:SOUR:VOLT:PROT:TRIP?`` reads 1); the current limit clamps the
current. All of them read back.

The virtual 2450 runs the subset of the trigger model that the on-instrument watchdog uses
(constant delay, branch on a command-interface trigger ``*TRG``, source output off;
``:INIT``, ``:ABOR``, ``:TRIG:STAT?``), in real time, independently of any client: when the
heartbeats stop, it switches the output off, as the real instrument does.

The load is a callable ``current(volts) -> A``; default an ohmic 1 GOhm path.
"""

from __future__ import annotations

import logging
import os
import select
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Faults", "VirtualKeithley", "IDN"]

logger = logging.getLogger(__name__)

#: ``*IDN?`` replies in the instruments' format (manufacturer, model, serial, firmware).
IDN = {
    "2400": "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4321987,C32   Oct  4 2010 14:20:11/A02  /S/K",
    "2450": "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.3b",
    "2000": "KEITHLEY INSTRUMENTS INC.,MODEL 2000,1234567,A20  /A02",
}


@dataclass
class Faults:
    """Faults to inject; every field may be changed while the instrument runs.

    Attributes
    ----------
    no_reply, garble, compliance : bool
    replies : dict
        Query header (upper case, as sent) -> reply text sent instead of the true one.
    delay : float
        Extra reply delay in s (a "slow" instrument) while > 0.
    after_commands : int or None
        If set, the faults in ``armed`` switch on after this many more commands.
    armed : dict
        Field values applied when ``after_commands`` runs out, e.g. ``{"no_reply": True}``;
        ``{"disconnect": 0.3}`` disconnects with a reconnect after 0.3 s
        (``{"disconnect": None}``: never comes back); ``{"duration": 0.5}`` clears the
        faults again 0.5 s after they fired (a transient fault).
    clear_at : float or None
        ``time.monotonic()`` at which the faults clear (set from ``duration``).
    """

    no_reply: bool = False
    garble: bool = False
    compliance: bool = False
    delay: float = 0.0
    after_commands: int | None = None
    armed: dict[str, object] = field(default_factory=dict)
    clear_at: float | None = None
    replies: dict[str, str] = field(default_factory=dict)

    def expire(self) -> None:
        """Clear the faults if their duration is over."""
        if self.clear_at is not None and time.monotonic() >= self.clear_at:
            self.no_reply = self.garble = self.compliance = False
            self.delay = 0.0
            self.replies = {}
            self.clear_at = None


class VirtualKeithley:
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
        self.model = model
        self.load = load or (lambda v: v / 1e9)
        self.faults = Faults()
        self._dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="vkeithley-"))
        self.port = str(self._dir / f"keithley{model}")
        self.output = False
        self.level = 0.0
        self.limit = 1.05e-4  # both models power up with 105 uA
        self.volt_range = 20.0
        self.autorange = True
        self.protection = 210.0  # NONE
        self.source_function = "VOLT"
        self.on_command: Callable[[str], None] | None = None
        self.watchdog_fired: list[float] = []
        # trigger model (2450): blocks {n: (kind, args)}, state, present block, its deadline
        self._tm_blocks: dict[int, tuple[str, tuple[object, ...]]] = {}
        self._tm_state = "IDLE"
        self._tm_block = 0
        self._tm_until: float | None = None
        self._tm_command_event = False
        self.history: list[tuple[float, str]] = []
        self.levels: list[tuple[float, float, bool]] = []
        self._errors: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._master = -1
        self._slave = -1
        self._reconnect_at: float | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> VirtualKeithley:
        """Open the pseudo-terminal and serve in a daemon thread; returns self."""
        self._open_pty()
        self._thread = threading.Thread(target=self._serve, name=f"vkeithley{self.model}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pseudo-terminal."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_pty()
        try:
            os.unlink(self.port)
        except OSError:
            pass

    def __enter__(self) -> VirtualKeithley:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        tmp = self.port + ".new"
        try:
            os.unlink(tmp)
        except OSError:
            pass
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.port)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def disconnect(self, reconnect_after: float | None = None) -> None:
        """Make the port vanish; it comes back (new pty, same :attr:`port`) after the delay."""
        with self._lock:
            self._close_pty()
            try:
                os.unlink(self.port)
            except OSError:
                pass
            self._reconnect_at = (None if reconnect_after is None
                                  else time.monotonic() + reconnect_after)
        logger.info("virtual Keithley %s disconnected", self.model)

    # -- state ----------------------------------------------------------------------------------
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

    # -- serving --------------------------------------------------------------------------------
    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            with self._lock:
                master = self._master
                if master < 0 and self._reconnect_at is not None \
                        and time.monotonic() >= self._reconnect_at:
                    self._open_pty()
                    self._reconnect_at = None
                    buf = b""
                    logger.info("virtual Keithley %s reconnected", self.model)
                    master = self._master
            self._tm_tick()
            if master < 0:
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.02)
                if not ready:
                    continue
                chunk = os.read(master, 4096)
            except OSError:
                time.sleep(0.01)
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("ascii", "replace").strip()
                if text:
                    reply = self._handle(text)
                    if reply is not None:
                        self._reply(reply, text.partition(" ")[0].upper())
                    self._tm_tick()
                    hook = self.on_command
                    if hook is not None:
                        try:
                            hook(text)
                        except Exception:  # a test hook must not kill the instrument
                            logger.exception("on_command hook failed")

    def _reply(self, text: str, head: str = "") -> None:
        f = self.faults
        if f.no_reply:
            return
        if head and head in f.replies:
            text = f.replies[head]
        if f.delay > 0:
            time.sleep(f.delay)
        data = (text + "\n").encode("ascii")
        if f.garble:
            data = bytes((b * 7 + 13) % 256 for b in data[:-1]) + b"\n"
        with self._lock:
            if self._master >= 0:
                try:
                    os.write(self._master, data)
                except OSError:
                    pass

    def _arm(self) -> None:
        f = self.faults
        if f.after_commands is None:
            return
        f.after_commands -= 1
        if f.after_commands > 0:
            return
        f.after_commands = None
        for key, value in f.armed.items():
            if key == "duration":
                f.clear_at = time.monotonic() + float(value)  # type: ignore[arg-type]
            elif key == "disconnect":
                self.disconnect(value)  # type: ignore[arg-type]
            elif key == "replies":
                f.replies = dict(value)  # type: ignore[call-overload]
            else:
                setattr(f, key, value)
        f.armed = {}

    def _set_level(self, v: float) -> None:
        self.level = v
        self.levels.append((time.monotonic(), v, self.output))

    def _set_output(self, on: bool) -> None:
        self.output = on
        self.levels.append((time.monotonic(), self.level, on))

    # -- limits as the manuals describe them ------------------------------------------------------
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

    # -- trigger model (2450 subset) --------------------------------------------------------------
    def _tm_enter(self, n: int) -> None:
        self._tm_block = n
        blk = self._tm_blocks.get(n)
        self._tm_until = (time.monotonic() + float(blk[1][0])  # type: ignore[arg-type]
                          if blk is not None and blk[0] == "DELAY" else None)

    def _tm_tick(self) -> None:
        """Advance the trigger model as far as it can go now."""
        with self._lock:
            for _ in range(64):  # bounded: a model looping without delay is not advanced forever
                if self._tm_state != "RUNNING":
                    return
                blk = self._tm_blocks.get(self._tm_block)
                if blk is None:
                    self._tm_state = "IDLE"
                    return
                kind, args = blk
                if kind == "DELAY":
                    if self._tm_until is not None and time.monotonic() < self._tm_until:
                        return
                    self._tm_enter(self._tm_block + 1)
                elif kind == "BRANCH_EVENT":
                    if self._tm_command_event:  # the event detector is cleared when it branches
                        self._tm_command_event = False
                        self._tm_enter(int(args[1]))  # type: ignore[call-overload]
                    else:
                        self._tm_enter(self._tm_block + 1)
                elif kind == "SOURCE_OUTPUT":
                    on = bool(args[0])
                    if self.output and not on:
                        self.watchdog_fired.append(time.monotonic())
                        logger.info("virtual Keithley %s: trigger model switched the output "
                                    "off", self.model)
                    self._set_output(on)
                    self._tm_enter(self._tm_block + 1)
                else:
                    self._tm_enter(self._tm_block + 1)

    def _trigger_command(self, head: str, arg: str) -> str | None | bool:
        """The 2450 trigger-model commands; False if ``head`` is not one of them."""
        parts = [a.strip() for a in arg.split(",")]
        if head == ":ABOR":
            self._tm_state = "IDLE" if self._tm_blocks else "EMPTY"
            return None
        if head == ":TRIG:LOAD":
            if arg.strip('"').upper() != "EMPTY":
                self._errors.append((-224, "Illegal parameter value"))
                return None
            self._tm_blocks.clear()
            self._tm_state = "EMPTY"
            return None
        if head in (":TRIG:BLOC:DEL:CONS", ":TRIG:BLOC:BRAN:EVEN", ":TRIG:BLOC:SOUR:STAT"):
            try:
                n = int(parts[0])
                if head == ":TRIG:BLOC:DEL:CONS":
                    blk: tuple[str, tuple[object, ...]] = ("DELAY", (float(parts[1]),))
                elif head == ":TRIG:BLOC:BRAN:EVEN":
                    if parts[1].upper() not in ("COMM", "COMMAND"):
                        raise ValueError(parts[1])
                    blk = ("BRANCH_EVENT", ("COMMAND", int(parts[2])))
                else:
                    blk = ("SOURCE_OUTPUT", (parts[1].upper() in ("ON", "1"),))
            except (ValueError, IndexError):
                self._errors.append((-224, "Illegal parameter value"))
                return None
            self._tm_blocks[n] = blk
            self._tm_state = "BUILDING"
            return None
        if head == ":INIT":
            if not self._tm_blocks:
                self._errors.append((-200, "Execution error; trigger model is empty"))
                return None
            self._tm_command_event = False
            self._tm_state = "RUNNING"
            self._tm_enter(min(self._tm_blocks))
            return None
        if head == "*TRG":
            self._tm_command_event = True
            return None
        if head == ":TRIG:STAT?":
            return f"{self._tm_state};{self._tm_state};{self._tm_block}"
        return False

    def _handle(self, text: str) -> str | None:  # noqa: C901 - one SCPI table
        self.history.append((time.monotonic(), text))
        self.faults.expire()
        self._arm()
        if self._master < 0:
            return None
        cmd, _, arg = text.partition(" ")
        head = cmd.upper()
        arg = arg.strip()
        is2450 = self.model == "2450"
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
        if self.model == "2000":
            self._errors.append((-113, "Undefined header"))
            return None
        if is2450:
            r = self._trigger_command(head, arg)
            if r is not False:
                return r  # type: ignore[return-value]
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
        self._errors.append((-113, "Undefined header"))
        return None
