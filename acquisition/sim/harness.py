"""Fault-injection harness: ``afmcurrent acquire`` in a child process, the instrument in this one.

The virtual Keithley (:class:`acquisition.sim.VirtualKeithley`) runs in the calling process
on a real pseudo-terminal; the session runs as a real child process (the ``afmcurrent acquire``
command, with its supervisor) that opens the pty as its serial port. Because the instrument
lives outside the session, it keeps its state when the session is killed, as a real one does,
and this process can act at a chosen moment of the session from the instrument's side:
:class:`Moment` watches the commands the instrument receives (a level crossing, the n-th
current reading) and runs an action then, e.g. sending a signal to the child.

Used by the tests (``tests/test_acq_signals.py``, ``tests/test_acq_supervisor.py``) and usable
by hand to rehearse a failure before it happens on the bench.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .virtual_keithley import VirtualKeithley

__all__ = ["write_session", "start_acquire", "Moment", "level_steps_ok", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]

_CHILD = ("import sys\nfrom afmcurrent.cli import main\n"
          "sys.exit(main(['acquire', sys.argv[1], '-o', sys.argv[2], '--no-analysis', "
          "'--no-progress']))\n")


def write_session(path: str | Path, vk: VirtualKeithley, *, lines: int = 16,
                  samples: int = 16, rate_hz: float = 40.0, ramp_rate: float = 4.0,
                  ramp_step: float = 0.05, max_ramp_rate: float = 5.0, rest: float = 0.0,
                  settle: float = 0.02, order: str = '["+", "-"]', timeout: float = 0.3,
                  watchdog: float | None = None, supervisor: bool = True,
                  state_file: str | Path | None = None, max_bias: float = 1.5,
                  biases: tuple[float, float] = (1.0, -1.0), shutdown_deadline: float = 30.0,
                  extra: str = "") -> Path:
    """A small real-time session on ``vk`` (fixed settle, fast ramps, short scans).

    Returns
    -------
    Path
        The session TOML file.
    """
    path = Path(path)
    state_file = state_file or path.with_name("source-state.json")
    wd = "" if watchdog is None else f"watchdog = {watchdog}\n"
    text = f"""[session]
sample = "harness"
area = "A1"

[bias]
values = [{biases[0]}, {biases[1]}]
order = {order}
ramp_rate = {ramp_rate}
ramp_step = {ramp_step}
rest_at_zero = {rest}

[settle]
mode = "fixed"
time = {settle}

[scan]
size = 5e-6
samples_per_line = {samples}
lines = {lines}
rate_hz = {rate_hz}

[logamp]
volts_per_decade = 0.2
reference_current = 1e-7
reference_voltage = 0.0
floor_current = 1e-15
saturation_current = 1e-3

[limits]
max_bias = {max_bias}
compliance = 1e-6
max_ramp_rate = {max_ramp_rate}
shutdown_deadline = {shutdown_deadline}

[interlock]
max_current = 1e-5
consecutive_pixels = 5

[source]
driver = "keithley{vk.model}"
port = "{vk.port}"
timeout = {timeout}
state_file = "{state_file}"
supervisor = {"true" if supervisor else "false"}
{wd}
[controller]
driver = "simulated"

[simulate]
preset = "degraded"
seed = 1
settle_tau = 0.0
{extra}
"""
    path.write_text(text)
    return path


def start_acquire(session: str | Path, outdir: str | Path,
                  **popen: object) -> subprocess.Popen[bytes]:
    """Start ``afmcurrent acquire SESSION -o OUTDIR --no-analysis --no-progress`` as a child.

    stdout/stderr go to ``OUTDIR/child.out`` / ``child.err`` unless given.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    kw: dict[str, object] = {"stdout": open(outdir / "child.out", "wb"),  # noqa: SIM115
                             "stderr": open(outdir / "child.err", "wb"),  # noqa: SIM115
                             "stdin": subprocess.DEVNULL, "env": env}
    kw.update(popen)
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(session), str(outdir)],
                            **kw)  # type: ignore[call-overload]


@dataclass
class Moment:
    """Run ``action`` once, at a moment of the session seen from the instrument.

    Install with ``vk.on_command = moment``. Kinds:

    * ``("level_up", v)``: the first level command at or above ``v`` while rising;
    * ``("level_down", v)``: the first level command at or below ``v`` while falling, after an
      earlier moment fired (``after``);
    * ``("reads", n)``: the n-th current reading (``:READ?`` / ``:MEAS:CURR?``: one per line).

    Attributes
    ----------
    fired : threading.Event
    """

    kind: str
    value: float
    action: Callable[[], None]
    after: Moment | None = None
    fired: threading.Event = field(default_factory=threading.Event)
    _reads: int = 0
    _last: float = 0.0
    chain: list[Moment] = field(default_factory=list)

    def __call__(self, text: str) -> None:
        for m in self.chain:
            m(text)
        if self.fired.is_set() or (self.after is not None and not self.after.fired.is_set()):
            self._track(text)
            return
        head, _, arg = text.partition(" ")
        head = head.upper()
        hit = False
        if head in (":READ?", ":MEAS:CURR?"):
            self._reads += 1
            hit = self.kind == "reads" and self._reads >= self.value
        elif head == ":SOUR:VOLT:LEV" and self.kind in ("level_up", "level_down"):
            try:
                v = float(arg)
            except ValueError:
                return
            if self.kind == "level_up":
                hit = v >= self.value and v > self._last
            else:
                hit = v <= self.value and v < self._last
            self._last = v
        if hit:
            self.fired.set()
            self.action()

    def _track(self, text: str) -> None:
        head, _, arg = text.partition(" ")
        if head.upper() == ":SOUR:VOLT:LEV":
            try:
                self._last = float(arg)
            except ValueError:
                pass


def level_steps_ok(vk: VirtualKeithley, step: float) -> tuple[bool, float]:
    """Whether every change of the level while the output was on was at most ``step``.

    Returns
    -------
    (bool, float)
        And the largest such change, V.
    """
    worst = 0.0
    prev_level, prev_on = 0.0, False
    for _, lv, on in vk.levels:
        if on and prev_on:
            worst = max(worst, abs(lv - prev_level))
        prev_level, prev_on = lv, on
    return worst <= step + 1e-9, worst
