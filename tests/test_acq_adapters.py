"""The Instrument / Adapter seam: a driver never opens a port; a new transport is one Adapter
class registered under its URL scheme, and the drivers, the safety chain and a whole session run
over it unchanged. Here the new transport reads and writes the pseudo-terminal with plain
``os`` calls (no pyserial), against the virtual Keithley."""

import os
import select
import termios
import time
import tty

import numpy as np
import pytest

from acquisition.instruments import Keithley2450, SourceLimits
from acquisition.safety import SafeBias
from acquisition.session import load_session, open_instruments, read_scan, run_session
from acquisition.sim import VirtualKeithley
from acquisition.sim.harness import level_steps_ok, write_session
from acquisition.transport import (
    ADAPTERS,
    Adapter,
    CommunicationError,
    SCPILink,
    SerialAdapter,
    make_adapter,
)


class RawPtyAdapter(Adapter):
    """``rawpty:///path``: a terminal device opened with ``os.open``, read with ``select``."""

    def __init__(self, url, *, timeout=1.0, **_ignored):
        super().__init__(url, timeout=timeout)
        self.path = url.partition("://")[2]
        self.fd = -1

    def open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY)  # OSError if it is gone
        tty.setraw(self.fd)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def is_open(self):
        return self.fd >= 0

    def write(self, data):
        os.write(self.fd, data)

    def read_until(self, terminator, timeout=None):
        end = time.monotonic() + (self.timeout if timeout is None else timeout)
        got = b""
        while not got.endswith(terminator):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            got += os.read(self.fd, 1)
        return got

    def discard_input(self):
        termios.tcflush(self.fd, termios.TCIFLUSH)


@pytest.fixture
def rawpty(monkeypatch):
    monkeypatch.setitem(ADAPTERS, "rawpty", RawPtyAdapter)


def test_make_adapter_picks_by_scheme(rawpty):
    assert isinstance(make_adapter("rawpty:///dev/null"), RawPtyAdapter)
    for url in ("/dev/ttyUSB0", "COM3", "socket://10.0.0.5:5025", "loop://"):
        a = make_adapter(url, baudrate=9600, timeout=0.5)
        assert type(a) is SerialAdapter and a.url == url and not a.is_open


def test_driver_and_shutdown_over_a_new_adapter(rawpty):
    with VirtualKeithley("2450") as vk:
        link = SCPILink(f"rawpty://{vk.port}", timeout=0.3)
        assert isinstance(link.adapter, RawPtyAdapter) and link.is_open
        src = Keithley2450(link, SourceLimits(1.5, 1e-6, 5.0, max_ramp_step=0.1),
                           ramp_step=0.1, sleep=lambda s: None)
        with SafeBias(src, rate=5.0) as s:
            s.connect()
            s.configure()
            s.enable()
            s.ramp_to(1.0, 5.0)
            assert vk.output and vk.level == pytest.approx(1.0)
            assert 0 < s.read_current() < 1e-6
        assert vk.output is False and vk.level == 0.0
        assert level_steps_ok(vk, 0.1)[0]
        assert ("<", "0") in link.transcript  # ":OUTP?" read back through the new adapter
        vk.disconnect(None)
        with pytest.raises(CommunicationError, match="cannot open port"):
            link.reopen()


@pytest.mark.slow
def test_session_runs_over_a_new_adapter(rawpty, tmp_path):
    """``[source] port = "rawpty://..."``: the rig makes the registered adapter."""
    with VirtualKeithley("2400") as vk:
        sess = write_session(tmp_path / "s.toml", vk, supervisor=False,
                             state_file=tmp_path / "state.json")
        sess.write_text(sess.read_text().replace(f'port = "{vk.port}"',
                                                 f'port = "rawpty://{vk.port}"'))
        cfg = load_session(sess)
        with open_instruments(cfg, simulate=False) as inst:
            assert isinstance(inst.source.link.adapter, RawPtyAdapter)
            res = run_session(cfg, tmp_path, inst, analyze=False)
        assert res.exit_status == 0 and res.statuses == ["complete", "complete"]
        assert vk.output is False and vk.level == 0.0
        assert np.isfinite(read_scan(res.path, 1).channel("LogAmp").data).all()
