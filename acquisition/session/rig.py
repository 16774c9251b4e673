"""The rig: the instruments a session file names (or virtual ones), opened and wired together.

:func:`open_instruments` makes the adapter for ``[source] port``
(:func:`acquisition.transport.make_adapter`), the SCPI link over it, the driver named by
``[source] driver`` (handed the link: a driver never opens a port), the scan controller of
``[controller]``, the source's state file and its lock; with ``--simulate`` a virtual Keithley on
a pseudo-terminal and the simulated AFM instead, in accelerated time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afmcurrent.core.errors import ConfigError

from ..clock import Clock
from ..instruments import DRIVERS, BiasSource, NanoscopeCaptureFolder, ScanController
from ..safety import StateFile, default_state_path, lock_source
from ..sim import SimulatedAFM, VirtualKeithley
from ..transport import SCPILink, make_adapter
from .config import SessionConfig

__all__ = ["Instruments", "open_instruments"]


@dataclass
class Instruments:
    """The source, the controller, the clock, the source's state file and lock, and the
    virtual Keithley if simulated."""

    source: BiasSource
    controller: ScanController
    clock: Clock
    virtual: VirtualKeithley | None = None
    state: StateFile | None = None
    lock_fd: int | None = None
    port: str = ""
    driver: str = ""
    link_options: dict[str, Any] = field(default_factory=dict)


@contextmanager
def open_instruments(cfg: SessionConfig, simulate: bool, *,
                     lock: bool = True) -> Iterator[Instruments]:
    """Open what the session names, or virtual instruments (a Keithley on a pty and the
    simulated AFM, accelerated by ``[simulate] speed``).

    The source's state file is ``[source] state_file`` (default
    :func:`acquisition.safety.default_state_path` of the port; a virtual instrument keeps its
    own beside its pty) and its lock is taken for the session (``lock=False``: the caller holds
    it).

    Raises
    ------
    SourceBusyError
        If another session holds the source.
    """
    clock = Clock(float(cfg.simulate.get("speed", 1.0)) if simulate else 1.0)
    vk: VirtualKeithley | None = None
    afm: SimulatedAFM | None = None
    src_cfg = dict(cfg.source)
    if simulate:
        vk, afm, src_cfg = _virtual_instruments(cfg, clock)
    lock_fd: int | None = None
    try:
        if not src_cfg.get("port"):
            raise ConfigError("no [source] port in the session file (use --simulate)")
        port = str(src_cfg["port"])
        state = StateFile(src_cfg.get("state_file") or default_state_path(port))
        if lock:
            lock_fd = lock_source(state.path)
        options = {"baudrate": int(src_cfg.get("baudrate", 9600)),
                   "timeout": float(src_cfg.get("timeout", 2.0))}
        link = SCPILink(make_adapter(port, **options))
        driver_name = str(src_cfg.get("driver", "keithley2400"))
        source = DRIVERS[driver_name](link, cfg.limits, ramp_step=cfg.ramp_step,
                                      sleep=clock.sleep)
        controller = afm if afm is not None else _controller(cfg, clock, source)
        try:
            yield Instruments(source, controller, clock, vk, state, lock_fd, port, driver_name,
                              options)
        finally:
            source.stop_heartbeat()  # an armed watchdog that was not disarmed will now fire
            link.close()
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        if vk is not None:
            vk.stop()


def _virtual_instruments(cfg: SessionConfig, clock: Clock
                         ) -> tuple[VirtualKeithley, SimulatedAFM, dict[str, Any]]:
    """A virtual Keithley whose load is the simulated AFM's parked probe; the ``[source]``
    table that reaches it."""
    sim = cfg.simulate
    model = str(sim.get("model", "2400"))
    holder: dict[str, Any] = {}
    vk = VirtualKeithley(model, load=lambda v: holder["afm"].steady_current(v)).start()
    afm = SimulatedAFM(str(sim.get("preset", "degraded")), int(sim.get("seed", 0)),
                       calibration=cfg.calibration, clock=clock,
                       bias_probe=lambda: vk.applied_bias,
                       settle_tau=float(sim.get("settle_tau", 3.0)))
    holder["afm"] = afm
    src_cfg: dict[str, Any] = {"driver": f"keithley{model}", "port": vk.port,
                               "timeout": float(sim.get("timeout", 0.5)),
                               "state_file": str(Path(vk.port).with_name("source-state.json"))}
    if "watchdog" in cfg.source:
        src_cfg["watchdog"] = cfg.source["watchdog"]
    return vk, afm, src_cfg


def _controller(cfg: SessionConfig, clock: Clock, source: BiasSource) -> ScanController:
    """The ``[controller]`` the session names (the simulated AFM scans at the real source's
    applied bias)."""
    ctl, sim = cfg.controller, cfg.simulate
    kind = ctl.get("driver", "simulated")
    if kind == "nanoscope-folder":
        return NanoscopeCaptureFolder(
            ctl["folder"], ctl.get("pattern", "*"),
            current_channel=ctl.get("current_channel"),
            stable_s=float(ctl.get("stable_s", 1.0)),
            timeout_s=float(ctl.get("timeout_s", 3600.0)), calibration=cfg.calibration)
    if kind == "simulated":
        return SimulatedAFM(str(sim.get("preset", "degraded")),
                            int(sim.get("seed", 0)), calibration=cfg.calibration,
                            clock=clock, bias_probe=lambda: source.applied_bias,
                            settle_tau=float(sim.get("settle_tau", 3.0)))
    raise ConfigError(f"[controller] driver {kind!r}: use 'nanoscope-folder' or "
                      "'simulated'")
