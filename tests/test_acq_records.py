"""Records are written whole: a signal that lands inside a record (a line of the scan, an event)
stops the session only once the record is complete, so a line is never on disk without being
counted (the race behind a flaky ``test_signal_at_moment_ends_at_zero_volts[SIGQUIT-scan]``), and
an instrument lost for good is recorded as such in the session file.

The signal is sent from a trace function at a chosen statement of the writer, in this process,
so every position inside the record is hit on purpose rather than by the luck of timing."""

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acquisition.instruments import Keithley2400, SourceLimits
from acquisition.safety import SafeBias, Terminated
from acquisition.session import (
    SessionFile,
    load_session,
    open_instruments,
    open_session,
    read_scan,
    run_session,
    scan_status,
)
from acquisition.sim import VirtualKeithley
from acquisition.sim.harness import level_steps_ok
from acquisition.transport import CommunicationError, SCPILink

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "session.toml"


def _cfg(tmp_path, lines=16):
    text = EXAMPLE.read_text()
    text = text.replace("samples_per_line = 96", f"samples_per_line = {lines}")
    text = text.replace("lines = 96", f"lines = {lines}")
    text = text.replace('order = ["+", "-", "+"]', 'order = ["+", "-"]')
    text = text.replace("speed = 2000", "speed = 20000")
    text = text.replace("figures = true", "figures = false\nenabled = false")
    p = tmp_path / "session.toml"
    p.write_text(text)
    return load_session(p)


def _signal_at_statement(code, nth, when):
    """A trace function sending SIGTERM to this process at the ``nth`` statement executed in
    the first call of ``code`` for which ``when(frame)`` holds."""
    sent = []

    def tracer(frame, event, arg):
        if frame.f_code is not code or sent or not when(frame):
            return None
        count = [0]

        def local(frame, event, arg):
            if event == "line" and not sent:
                count[0] += 1
                if count[0] == nth:
                    sent.append(nth)
                    os.kill(os.getpid(), signal.SIGTERM)
            return local

        return local

    return tracer, sent


def _run_traced(cfg, tmp_path, tracer):
    with open_instruments(cfg, simulate=True) as inst:
        sys.settrace(tracer)
        try:
            res = run_session(cfg, tmp_path, inst)
        finally:
            sys.settrace(None)
        vk = inst.virtual
        assert vk.output is False and vk.level == 0.0
        assert level_steps_ok(vk, cfg.ramp_step)[0]
    return res


@pytest.mark.parametrize("nth", range(1, 10))
def test_signal_inside_a_line_leaves_only_whole_counted_lines(tmp_path, nth):
    cfg = _cfg(tmp_path)
    tracer, sent = _signal_at_statement(SessionFile.write_line.__code__, nth,
                                        lambda f: f.f_locals.get("row") == 5)
    res = _run_traced(cfg, tmp_path, tracer)
    if not sent:  # write_line has fewer statements than nth: nothing to test at this position
        assert res.signum == 0
        return
    assert res.signum == signal.SIGTERM and res.interrupted == "SIGTERM"
    st = scan_status(res.path)[0]
    k = st["lines_recorded"]
    assert st["status"] == "aborted" and "SIGTERM" in st["reason"]
    # at the first statement (``with self.atomic():``) the signal comes before the record:
    # row 5 is not written at all; from the second on, it comes while row 5 is written: the row
    # is finished and counted; never a row written but not counted (the old race)
    assert k == (5 if nth == 1 else 6)
    scan = read_scan(res.path, 0)
    for name in ("Height", "LogAmp"):
        data = scan.channel(name).data
        assert np.isfinite(data[:k]).all() and np.isnan(data[k:]).all(), name
    with open_session(res.path) as f:
        g = f["scans/000"]
        for name in ("line_time", "source_current"):
            assert np.isfinite(g[name][:k]).all() and np.isnan(g[name][k:]).all(), name


@pytest.mark.parametrize("nth", [1, 4, 5, 6])  # before the record; resize; row; flush
def test_signal_inside_an_event_leaves_no_blank_event(tmp_path, nth):
    cfg = _cfg(tmp_path)
    tracer, sent = _signal_at_statement(SessionFile.event.__code__, nth,
                                        lambda f: f.f_locals.get("kind") == "point_before")
    res = _run_traced(cfg, tmp_path, tracer)
    assert sent and res.signum == signal.SIGTERM
    with open_session(res.path) as f:
        ev = f["events"][()]
    kinds = [k.decode() for k in ev["kind"]]
    assert all(kinds) and (ev["time"] > 0).all(), kinds  # no row without its record
    # before the record (first statement): not written; inside it: written whole, then stopped
    assert ("point_before" in kinds) == (nth > 1)
    assert kinds[-1] == "shutdown" and "abort" in kinds


def _source(vk):
    limits = SourceLimits(1.5, 1e-6, 5.0, max_ramp_step=0.1)
    return Keithley2400(SCPILink(vk.port, timeout=0.2), limits, ramp_step=0.1,
                        sleep=lambda s: None)


def _signal_now():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.01)  # the handler runs here, inside the record


def test_atomic_raises_the_signal_when_the_record_is_whole():
    with VirtualKeithley("2400") as vk:
        src = _source(vk)
        safe = SafeBias(src, rate=5.0)
        done = []
        with pytest.raises(Terminated):
            with safe:
                src.connect()
                src.configure()
                src.enable()
                src.ramp_to(1.0, 5.0)
                with safe.atomic():
                    _signal_now()
                    done.append("first write")
                    with safe.atomic():
                        done.append("nested write")
                    done.append("last write")
                done.append("next record")  # never reached: the signal stops the body first
        assert done == ["first write", "nested write", "last write"]
        assert safe.received == [signal.SIGTERM] and safe.held == []
        assert safe.report is not None and safe.report.confirmed
        assert vk.output is False and vk.level == 0.0 and level_steps_ok(vk, 0.1)[0]


def test_atomic_signal_replaces_the_records_own_error():
    with VirtualKeithley("2400") as vk:
        src = _source(vk)
        safe = SafeBias(src, rate=5.0)
        with pytest.raises(Terminated) as info:
            with safe:
                src.connect()
                with safe.atomic():
                    _signal_now()
                    raise OSError("disk full")
        assert isinstance(info.value.__context__, OSError)
        assert vk.output is False and vk.level == 0.0


@pytest.mark.slow
def test_instrument_lost_for_good_is_recorded_as_shutdown_failed(tmp_path):
    cfg = _cfg(tmp_path)
    with open_instruments(cfg, simulate=True) as inst:
        vk = inst.virtual

        def hook(scan, row):
            if (scan, row) == (0, 5):
                vk.disconnect(None)  # the port never comes back

        with pytest.raises(CommunicationError, match="UNKNOWN"):
            run_session(cfg, tmp_path, inst, line_hook=hook)
    path = sorted(tmp_path.glob("*.h5"))[0]
    with open_session(path) as f:
        ev = [(k.decode(), m.decode()) for k, m in zip(f["events"]["kind"],
                                                        f["events"]["message"], strict=True)]
    kinds = [k for k, _ in ev]
    assert kinds[-2:] == ["abort", "shutdown_failed"]
    assert "lost communication" in ev[-2][1] and "front panel" in ev[-1][1]
    assert scan_status(path)[0]["status"] == "aborted"
