"""Signals x moments: ``afmcurrent acquire`` as a real child process, real signals, the virtual
Keithley on a real pty in this process. Every case must end at 0 V with the output off, reached
by a ramp (no level step larger than ramp_step while the output is on), with the recorded lines
intact and the reason in the session file; the supervisor must have had nothing to do."""

import json
import os
import signal
import sys
import time

import numpy as np
import pytest

from acquisition.instruments import Keithley2400, SourceLimits
from acquisition.safety import SafeBias, Terminated
from acquisition.session import open_session, read_scan, scan_status
from acquisition.sim import VirtualKeithley
from acquisition.sim.harness import Moment, level_steps_ok, start_acquire, write_session
from acquisition.transport import SCPILink

STEP = 0.05
SIGNALS = [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGINT]


class _Late:
    """The child is started after the moments are made; they send to it through this."""

    pid = -1


def _events(path):
    with open_session(path) as f:
        ev = f["events"][()]
    return [(k.decode(), m.decode()) for k, m in zip(ev["kind"], ev["message"], strict=True)]


def _assert_safe(vk, out, state_file, *, expect_rc, name, lines_range=None):
    files = sorted(out.glob("*.h5"))
    assert len(files) == 1
    path = files[0]
    assert vk.output is False and vk.level == 0.0, (vk.output, vk.level)
    ok, worst = level_steps_ok(vk, STEP)
    assert ok, f"level jumped by {worst} V with the output on"
    ev = _events(path)
    kinds = [k for k, _ in ev]
    assert ("abort", f"interrupted by {name}") in [(k, m.split(" (")[0]) for k, m in ev]
    shut = [m for k, m in ev if k == "shutdown"]
    assert shut and "0 V, output off, confirmed" in shut[-1]
    # write-ahead: the last bias event before the output went off names 0 V
    bias = [m for k, m in ev if k == "bias"]
    assert bias[-1].startswith("level +0.000000e+00 V output off")
    assert kinds.index("bias") < kinds.index("output_on")
    st = scan_status(path)
    if lines_range is not None:
        assert st[0]["status"] == "aborted" and name in st[0]["reason"]
        k = st[0]["lines_recorded"]
        assert lines_range[0] <= k <= lines_range[1], k
        logamp = read_scan(path, 0).channel("LogAmp").data
        assert np.isfinite(logamp[:k]).all() and np.isnan(logamp[k:]).all()
    state = json.loads(state_file.read_text())
    assert state["closed_by"] == "worker" and state["output"] is False
    log = state_file.with_name(state_file.name + ".supervisor.log").read_text()
    assert "confirmed 0 V" in log and "taking over" not in log
    return ev


def _run(tmp_path, vk, moment_factory, **session):
    state_file = tmp_path / "state.json"
    sess = write_session(tmp_path / "s.toml", vk, state_file=state_file, ramp_step=STEP,
                         **session)
    late = _Late()
    first = moment_factory(late)
    vk.on_command = first
    out = tmp_path / "out"
    proc = start_acquire(sess, out)
    late.pid = proc.pid
    late.proc = proc
    try:
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    vk.on_command = None
    err = (out / "child.err").read_text()
    return rc, out, state_file, first, err


def _kill(late, sig, times=1):
    def go():
        for i in range(times):
            if i:
                time.sleep(0.003)  # pending signals of one kind coalesce: space them out
            os.kill(late.pid, sig)
    return go


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["ramp_up", "scan", "ramp_down"])
@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_at_moment_ends_at_zero_volts(tmp_path, sig, moment):
    with VirtualKeithley("2400") as vk:
        if moment == "ramp_up":
            def factory(late):
                return Moment("level_up", 0.5, _kill(late, sig))
            expect, name, lines = 128 + sig, sig.name, None
        elif moment == "scan":
            def factory(late):
                return Moment("reads", 6, _kill(late, sig))
            expect, name, lines = 128 + sig, sig.name, (5, 8)
        else:  # SIGINT mid-scan, then the signal under test during the ramp-down
            def factory(late):
                m1 = Moment("reads", 6, _kill(late, signal.SIGINT))
                m2 = Moment("level_down", 0.5, _kill(late, sig), after=m1)
                m1.chain = [m2]
                factory.m2 = m2
                return m1
            expect, name, lines = 130, "SIGINT", (5, 8)
        rc, out, state_file, first, err = _run(tmp_path, vk, factory)
        assert first.fired.is_set(), err
        assert rc == expect, err
        ev = _assert_safe(vk, out, state_file, expect_rc=expect, name=name, lines_range=lines)
        if moment == "ramp_down":
            assert factory.m2.fired.is_set()
            held = [m for k, m in ev if k == "signal"]
            assert held and sig.name in held[0] and "ramp-down went on" in held[0]
            # the ramp went on below 0.5 V after the second signal, step by step, to 0 V
            levels = [lv for _, lv, on in vk.levels if on]
            assert levels[-1] == 0.0 and 0.25 in [round(v, 9) for v in levels]


@pytest.mark.slow
def test_sigint_many_times_mid_scan_and_during_the_ramp_down(tmp_path):
    with VirtualKeithley("2400") as vk:
        def factory(late):
            m1 = Moment("reads", 6, _kill(late, signal.SIGINT, times=5))
            m2 = Moment("level_down", 0.6, _kill(late, signal.SIGINT, times=5), after=m1)
            m3 = Moment("level_down", 0.2, _kill(late, signal.SIGINT, times=5), after=m2)
            m1.chain = [m2, m3]
            return m1
        rc, out, state_file, first, err = _run(tmp_path, vk, factory)
        assert rc == 130, err
        ev = _assert_safe(vk, out, state_file, expect_rc=130, name="SIGINT", lines_range=(5, 8))
        assert sum(k == "signal" for k, _ in ev) >= 5  # held back, not lost, not aborting


@pytest.mark.slow
def test_another_catchable_signal_sigusr1(tmp_path):
    with VirtualKeithley("2400") as vk:
        rc, out, state_file, first, err = _run(
            tmp_path, vk, lambda late: Moment("reads", 6, _kill(late, signal.SIGUSR1)))
        assert rc == 128 + signal.SIGUSR1, err
        _assert_safe(vk, out, state_file, expect_rc=rc, name="SIGUSR1", lines_range=(5, 8))


def test_sigterm_as_exit_begins_is_held_not_lost():
    """The window of SafeBias.__exit__: a SIGTERM delivered when __exit__ is entered (before the
    shutdown starts) used to raise past the shutdown; it must be held and raised after 0 V."""
    limits = SourceLimits(1.5, 1e-6, 5.0, max_ramp_step=0.1)
    with VirtualKeithley("2400") as vk:
        src = Keithley2400(SCPILink(vk.port, timeout=0.2), limits, ramp_step=0.1,
                           sleep=lambda s: None)
        exit_code = SafeBias.__exit__.__code__

        def tracer(frame, event, arg):
            if event == "call" and frame.f_code is exit_code:
                os.kill(os.getpid(), signal.SIGTERM)
            return None

        safe = SafeBias(src, rate=5.0)
        with pytest.raises(Terminated):
            with safe:
                src.connect()
                src.configure()
                src.enable()
                src.ramp_to(1.0, 5.0)
                sys.settrace(tracer)
        sys.settrace(None)
        assert safe.held == [signal.SIGTERM]
        assert safe.report is not None and safe.report.confirmed
        assert vk.output is False and vk.level == 0.0
        assert level_steps_ok(vk, 0.1)[0]
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


ATEXIT_CHILD = """
import sys
from acquisition.transport import SCPILink
from acquisition.instruments import Keithley2450, SourceLimits
src = Keithley2450(SCPILink(sys.argv[1], timeout=0.3), SourceLimits(1.5, 1e-6, 5.0,
                   max_ramp_step=0.1), ramp_step=0.1)
src.connect(); src.configure(); src.enable(); src.ramp_to(1.0, 5.0)
sys.exit(0)  # a normal exit with the output on, no SafeBias: the atexit guard ramps down
"""


def test_atexit_ramps_down_on_a_normal_exit(tmp_path):
    import subprocess

    from acquisition.sim.harness import REPO_ROOT

    with VirtualKeithley("2450") as vk:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-c", ATEXIT_CHILD, vk.port], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "exiting with the output on" in r.stderr
        assert max(lv for _, lv, _ in vk.levels) == pytest.approx(1.0)
        assert vk.output is False and vk.level == 0.0
        assert level_steps_ok(vk, 0.1)[0]
        assert time.monotonic() - t0 < 30
