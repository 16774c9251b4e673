"""Beyond the process: what SIGKILL and a frozen process leave behind. The supervisor ramps
down through the port when the session process dies; without it, the next start ramps down from
the write-ahead state; a virtual 2450 running the on-instrument watchdog switches the output off
by itself when the heartbeats stop."""

import json
import os
import signal
import time

import numpy as np
import pytest

from acquisition.safety import StateFile
from acquisition.safety.supervisor import supervisor_report_path
from acquisition.session import (
    last_bias_event,
    load_session,
    open_instruments,
    previous_state,
    read_scan,
    run_session,
    scan_status,
)
from acquisition.sim import VirtualKeithley
from acquisition.sim.harness import Moment, level_steps_ok, start_acquire, write_session

STEP = 0.05


def _wait_for(cond, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.01)
    return False


class _Late:
    pid = -1


def _start(tmp_path, vk, factory, **session):
    state_file = tmp_path / "state.json"
    sess = write_session(tmp_path / "s.toml", vk, state_file=state_file, ramp_step=STEP,
                         **session)
    late = _Late()
    vk.on_command = factory(late)
    out = tmp_path / "out"
    proc = start_acquire(sess, out)
    late.pid = proc.pid
    return proc, out, state_file, sess


def _scan_file(out):
    files = sorted(out.glob("*.h5"))
    assert len(files) == 1
    return files[0]


@pytest.mark.slow
def test_sigkill_the_worker_the_supervisor_ramps_down_from_the_write_ahead_state(tmp_path):
    with VirtualKeithley("2400") as vk:
        killed = {}

        def factory(late):
            def go():
                # the instrument now answers its level query with NaN: the supervisor must
                # ramp from the write-ahead state, not from that
                vk.faults.replies[":SOUR:VOLT:LEV?"] = "NAN"
                killed["t"] = time.monotonic()
                killed["state"] = (vk.output, vk.level)  # what the killed process leaves
                os.kill(late.pid, signal.SIGKILL)
            return Moment("reads", 8, go)

        proc, out, state_file, _ = _start(tmp_path, vk, factory, lines=64)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        # left on by the killed process (read at the kill: by the time wait() returns, the
        # supervisor may already be ramping down)
        assert killed["state"] == (True, 1.0)
        assert _wait_for(lambda: not vk.output and vk.level == 0.0, 20), vk.levels[-3:]
        took = time.monotonic() - killed["t"]
        vk.on_command = None
        ok, worst = level_steps_ok(vk, STEP)
        assert ok, worst  # a ramp, not a jump
        path = _scan_file(out)
        # the session file: readable, lines intact, and its write-ahead record says +1 V, on
        st = scan_status(path)
        assert st[0]["status"] == "running"  # the process died: nobody could mark it
        k = st[0]["lines_recorded"]
        assert k >= 7
        assert np.isfinite(read_scan(path, 0).channel("Height").data[:k]).all()
        ev = last_bias_event(path)
        assert ev["level"] == 1.0 and ev["output"] is True
        # the supervisor's report beside it, and the state file
        assert _wait_for(lambda: supervisor_report_path(path).exists(), 10)
        rep = json.loads(supervisor_report_path(path).read_text())
        assert rep["confirmed"] is True and rep["found_on"] is True
        assert rep["level_from"] == "state file" and rep["used_level"] == 1.0
        assert "NAN" in rep["reading_error"]
        state = json.loads(state_file.read_text())
        assert state["closed_by"] == "supervisor" and state["output"] is False
        # the next start reads all of it and has nothing left to do
        prev, where = previous_state(StateFile(state_file))
        assert prev.safe and "supervisor" in where
        assert took < 10


@pytest.mark.slow
def test_sigkill_without_supervisor_the_next_start_ramps_down_first(tmp_path):
    with VirtualKeithley("2400") as vk:
        def factory(late):
            return Moment("reads", 8, lambda: os.kill(late.pid, signal.SIGKILL))

        proc, out, state_file, sess = _start(tmp_path, vk, factory, lines=64,
                                             supervisor=False)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        vk.on_command = None
        time.sleep(0.3)
        assert vk.output is True and vk.level == 1.0  # nothing else runs: left on
        # the next start; the instrument answers its level query with the overflow marker
        vk.faults.replies[":SOUR:VOLT:LEV?"] = "+9.910000E+37"
        sess = write_session(tmp_path / "next.toml", vk, state_file=state_file, ramp_step=STEP,
                             order='["+"]', supervisor=False)
        cfg = load_session(sess)
        n0 = len(vk.levels)
        with open_instruments(cfg, simulate=False) as inst:
            res = run_session(cfg, tmp_path / "next", inst, analyze=False)
        assert res.exit_status == 0 and res.safe
        assert res.recovery.found_on and res.recovery.source == "state file"
        assert res.recovery.used_level == 1.0 and "9.91" in res.recovery.reading_error
        first_ramp = [lv for _, lv, on in vk.levels[n0:]]
        assert first_ramp[0] == pytest.approx(0.95)  # one step below +1 V, not a jump
        assert vk.output is False and vk.level == 0.0
        assert level_steps_ok(vk, STEP)[0]
        with open(_scan_file(tmp_path / "next"), "rb"):
            pass
        from acquisition.session import open_session

        with open_session(_scan_file(tmp_path / "next")) as f:
            ev = [(k.decode(), m.decode()) for k, m in zip(f["events"]["kind"],
                                                           f["events"]["message"], strict=True)]
        rec = [m for k, m in ev if k == "recovered"]
        assert rec and "state file" in rec[0] and "+1 V" in rec[0]


@pytest.mark.slow
def test_watchdog_2450_switches_off_when_the_worker_is_killed(tmp_path):
    with VirtualKeithley("2450") as vk:
        killed = {}

        def factory(late):
            def go():
                killed["t"] = time.monotonic()
                os.kill(late.pid, signal.SIGKILL)
            return Moment("reads", 8, go)

        proc, out, state_file, _ = _start(tmp_path, vk, factory, lines=64, supervisor=False,
                                          watchdog=0.5, timeout=0.1)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        vk.on_command = None
        assert _wait_for(lambda: not vk.output, 5)
        assert vk.watchdog_fired, "the output went off, but not by the trigger model"
        dt = vk.watchdog_fired[0] - killed["t"]
        assert 0.2 <= dt <= 1.5, dt  # between N and 2N s after the last heartbeat (N = 0.5 s)
        assert vk.applied_bias == 0.0 and vk.level == 1.0  # off, not ramped: the last resort
        ev = [m for k, m in [(k, m) for k, m in _events(_scan_file(out))] if k == "watchdog"]
        assert ev and "armed" in ev[0]
        # the next start sees the output off and the write-ahead state on at +1 V
        src_state = json.loads(state_file.read_text())
        assert src_state["output"] is True and src_state["level"] == 1.0


@pytest.mark.slow
def test_watchdog_2450_covers_a_frozen_worker_which_then_aborts(tmp_path):
    with VirtualKeithley("2450") as vk:
        def factory(late):
            return Moment("reads", 8, lambda: os.kill(late.pid, signal.SIGSTOP))

        proc, out, state_file, _ = _start(tmp_path, vk, factory, lines=64, watchdog=0.5,
                                          timeout=0.1)
        assert _wait_for(lambda: vk.watchdog_fired, 10)
        assert proc.poll() is None and not vk.output  # frozen, alive, and the output off
        os.kill(proc.pid, signal.SIGCONT)
        rc = proc.wait(timeout=60)
        vk.on_command = None
        err = (out / "child.err").read_text()
        assert rc == 4, err
        assert vk.output is False and vk.level == 0.0
        st = scan_status(_scan_file(out))
        # resumed, it finds the watchdog fired, or (stopped inside a write) its write timed out
        assert st[0]["status"] == "aborted"
        assert "watchdog" in st[0]["reason"] or "Write timeout" in st[0]["reason"], st[0]
        assert json.loads(state_file.read_text())["closed_by"] == "worker"


def _events(path):
    from acquisition.session import open_session

    with open_session(path) as f:
        ev = f["events"][()]
    return [(k.decode(), m.decode()) for k, m in zip(ev["kind"], ev["message"], strict=True)]
