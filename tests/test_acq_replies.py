"""Reply faults x commands on the pty: a NaN, an overflow or infinity marker, an out-of-range
value, nonsense or a reply cut short is an error of the link, never a value. Each case ends at
0 V with the output off, reached by a ramp from the level the software set, with the recorded
lines intact and the reason in the session file."""

import time
from pathlib import Path

import numpy as np
import pytest

from acquisition.instruments import Keithley2400, SourceLimits
from acquisition.safety import SafeBias
from acquisition.session import (
    load_session,
    open_instruments,
    open_session,
    read_scan,
    run_session,
    scan_status,
)
from acquisition.sim import VirtualKeithley
from acquisition.transport import ReplyError, SCPILink, parse_number

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "session.toml"

FAULTS = {
    "nan": "NAN",
    "nan_marker": "+9.910000E+37",
    "minus_infinity": "-9.900000E+37",
    "out_of_range": "+5.000000E+02",
    "non_numeric": "ABC",
    "truncated": "+1.00000",
}
COMMANDS = [":READ?", ":SENS:CURR:PROT:TRIP?", ":SYST:ERR?", ":OUTP?", ":SOUR:VOLT:LEV?"]


def _cfg(tmp_path, model="2400", lines=16):
    text = EXAMPLE.read_text()
    text = text.replace("samples_per_line = 96", f"samples_per_line = {lines}")
    text = text.replace("lines = 96", f"lines = {lines}")
    text = text.replace('order = ["+", "-", "+"]', 'order = ["+", "-"]')
    text = text.replace("speed = 2000", "speed = 20000")
    text = text.replace('model = "2400"', f'model = "{model}"')
    text = text.replace("figures = true", "figures = false\nenabled = false")
    p = tmp_path / "session.toml"
    p.write_text(text)
    return load_session(p)


def _events(path):
    with open_session(path) as f:
        ev = f["events"][()]
    return [(k.decode(), m.decode()) for k, m in zip(ev["kind"], ev["message"], strict=True)]


def _run(tmp_path, command, reply, model="2400", at=(0, 5)):
    cfg = _cfg(tmp_path, model)
    with open_instruments(cfg, simulate=True) as inst:
        vk = inst.virtual

        def hook(scan, row):
            if (scan, row) == at:
                vk.faults.replies = {command: reply}
                if command == ":SOUR:VOLT:LEV?":  # read only after a reconnect: lose the port
                    vk.disconnect(0.3)

        t0 = time.monotonic()
        res = run_session(cfg, tmp_path, inst, line_hook=hook)
        took = time.monotonic() - t0
        vk.faults.replies = {}
        time.sleep(0.05)
        steps = [abs(b[1] - a[1]) for a, b in zip(vk.levels, vk.levels[1:], strict=False)
                 if a[2] and b[2]]
        return res, (vk.output, vk.level), max(steps), took, cfg


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("command", COMMANDS)
def test_reply_fault_ends_at_zero_volts(tmp_path, command, fault):
    reply = FAULTS[fault]
    res, (output, level), worst_step, took, cfg = _run(tmp_path, command, reply)
    assert output is False and level == 0.0
    assert worst_step <= cfg.ramp_step + 1e-9  # ramped, never a jump
    assert took < 20  # no hang on a garbage level (9.91E37 used to take > 40 s)
    ev = _events(res.path)
    st = scan_status(res.path)
    shut = [m for k, m in ev if k in ("shutdown", "shutdown_deadline")]
    assert shut, ev[-5:]
    if command == ":OUTP?":  # only read at the end: the session completes, the confirmation
        assert res.exit_status == 0  # is refused and the file says so
        assert "NOT confirmed" in shut[-1] and reply in shut[-1]
        assert not res.safe
        return
    assert res.exit_status == 4
    assert "confirmed (:OUTP? = 0)" in shut[-1]
    if command == ":SYST:ERR?":  # read at the end of the next ramp: scan 0 is complete
        assert st[0]["status"] == "complete" and st[1]["status"] == "planned"
        assert "not an error-queue entry" in res.aborted and reply in res.aborted
        return
    if command == ":SOUR:VOLT:LEV?":  # after the reconnect: noted, refused, not ramped from
        assert "lost communication" in res.aborted
        assert f"level reply {reply!r} refused, ignored" in shut[-1]
        assert "ramped from +1 V" in shut[-1]
    else:
        assert "bias source error" in res.aborted and reply in res.aborted
        assert "reply is not a valid" in res.aborted or "expected 0 or 1" in res.aborted
    k = st[0]["lines_recorded"]
    assert st[0]["status"] == "aborted" and st[0]["reason"] == res.aborted[:400]
    assert 5 <= k <= 7
    logamp = read_scan(res.path, 0).channel("LogAmp").data
    assert np.isfinite(logamp[:k]).all() and np.isnan(logamp[k:]).all()


@pytest.mark.parametrize("fault", ["nan", "truncated"])
def test_reply_fault_2450_current_query(tmp_path, fault):
    res, (output, level), worst, _, cfg = _run(tmp_path, ":MEAS:CURR?", FAULTS[fault], "2450")
    assert output is False and level == 0.0 and worst <= cfg.ramp_step + 1e-9
    assert res.exit_status == 4 and FAULTS[fault] in res.aborted
    assert scan_status(res.path)[0]["status"] == "aborted"


@pytest.mark.parametrize("reply", ["NAN", "+9.910000E+37", "+1.0000"])
def test_output_left_on_with_a_garbage_level_and_no_state_is_switched_off_directly(
        tmp_path, reply):
    limits = SourceLimits(1.5, 1e-6, 1.0, max_ramp_step=0.1)
    with VirtualKeithley("2400") as vk:
        vk.output, vk.level = True, 1.0
        vk.faults.replies = {":SOUR:VOLT:LEV?": reply}
        src = Keithley2400(SCPILink(vk.port, timeout=0.2), limits, ramp_step=0.1,
                           sleep=lambda s: None)
        t0 = time.monotonic()
        rec = src.connect()
        assert time.monotonic() - t0 < 5
        assert rec.found_on and rec.used_level is None and rec.source == "unknown"
        assert "switched off directly" in rec.message and rec.confirmed
        # no level command while the output was on: off first, then the level to 0 V
        assert [(lv, on) for _, lv, on in vk.levels] == [(1.0, False), (0.0, False)]


def test_shutdown_has_a_hard_deadline_then_switches_off_directly():
    limits = SourceLimits(1.5, 1e-6, 1.0, max_ramp_step=0.05, shutdown_deadline=60)
    with VirtualKeithley("2400") as vk:
        src = Keithley2400(SCPILink(vk.port, timeout=0.2), limits, ramp_step=0.05)
        src.connect()
        src.configure()
        src.enable()
        src._sleep = lambda s: None
        src.ramp_to(1.0, 1.0)
        src._sleep = time.sleep  # real time: at 0.2 V/s the ramp-down would take 5 s
        t0 = time.monotonic()
        safe = SafeBias(src, rate=0.2, deadline=0.6)
        with safe:
            pass
        took = time.monotonic() - t0
        rep = safe.report
        assert rep.deadline_hit and rep.output_off_sent and rep.confirmed
        assert "did not finish within the 0.6 s deadline" in rep.message
        assert 0.5 < took < 3
        assert vk.output is False and vk.level == 0.0
        # it ramped while it could (steps of 0.05 V), then switched off from where it was
        on_levels = [lv for _, lv, on in vk.levels if on]
        assert 0.8 < on_levels[-1] < 1.0


@pytest.mark.parametrize("text,ok", [
    ("+1.000000E-09", 1e-9), ("-2.5E+00", -2.5), ("1.5e-03", 1.5e-3),
    ("+9.910000E+37", None), ("9.9E37", None), ("-9.9E37", None), ("NAN", None),
    ("nan", None), ("+INF", None), ("ABC", None), ("+1.00000", None), ("+1.000000E-0", None),
    ("+1.0E-09,+2.0E-09", None), ("", None), ("1e400", None),
])
def test_parse_number_refuses_every_garbage_reply(text, ok):
    from acquisition.transport import NR3_PATTERN

    if ok is None:
        with pytest.raises(ValueError):
            parse_number(text, pattern=NR3_PATTERN)
    else:
        assert parse_number(text, pattern=NR3_PATTERN) == pytest.approx(ok)
    with pytest.raises(ValueError, match="outside"):
        parse_number("+5.0E+00", low=-2.1, high=2.1, pattern=NR3_PATTERN)


def test_query_float_raises_reply_error_naming_port_and_command():
    with VirtualKeithley("2400") as vk:
        vk.faults.replies = {":SOUR:VOLT:LEV?": "+9.910000E+37"}
        link = SCPILink(vk.port, timeout=0.2)
        with pytest.raises(ReplyError) as e:
            link.query_float(":SOUR:VOLT:LEV?", what="level in V")
        assert vk.port in str(e.value) and "not-a-number" in str(e.value)
