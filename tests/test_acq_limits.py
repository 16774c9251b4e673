"""Limits: the instrument's own (set at connect, read back, modelled by the virtual instruments
as the manuals describe them) and the ramp's (bounded by the session and the instrument)."""

from pathlib import Path

import pytest

from acquisition.instruments import Keithley2400, Keithley2450, LimitError, SourceLimits
from acquisition.session import load_session
from acquisition.sim import VirtualKeithley
from acquisition.transport import InstrumentError, SCPILink
from afmcurrent.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "session.toml"
LIMITS = SourceLimits(max_bias=1.5, compliance=1e-6, max_ramp_rate=1.0, max_ramp_step=0.1)


def _configured(vk, cls):
    src = cls(SCPILink(vk.port, timeout=0.2), LIMITS, ramp_step=0.1, sleep=lambda s: None)
    src.connect()
    hw = src.configure()
    return src, hw


def test_2450_protection_restricts_the_output_even_past_the_driver():
    with VirtualKeithley("2450") as vk:
        src, hw = _configured(vk, Keithley2450)
        assert hw == {"range": 2.0, "protection": 2.0, "compliance": 1e-6, "max_level": 2.0}
        src.enable()
        link = src.link
        link.write(":SOUR:VOLT:LEV 3")  # a software fault that bypasses the driver's checks
        assert link.errors() == [(-222, "Parameter data out of range")]  # fixed 2 V range
        assert vk.level == 0.0
        link.batch([":SOUR:VOLT:RANG 20", ":SOUR:VOLT:LEV 3"])  # even with the range widened
        assert vk.level == 3.0 and vk.applied_bias == 2.0  # ... the protection holds at 2 V
        assert link.query(":SOUR:VOLT:PROT:TRIP?") == "1"


def test_2400_fixed_range_refuses_a_level_beyond_it_its_protection_is_coarse():
    with VirtualKeithley("2400") as vk:
        src, hw = _configured(vk, Keithley2400)
        assert hw["range"] == 2.0 and hw["protection"] == 20.0 and hw["max_level"] == 2.1
        src.enable()
        src.link.write(":SOUR:VOLT:LEV 2.5")
        assert src.link.errors() == [(-222, "Parameter data out of range")]
        assert vk.level == 0.0 and vk.autorange is False


@pytest.mark.parametrize("model,cls,query,bad", [
    ("2400", Keithley2400, ":SENS:CURR:PROT?", "+1.050000E-04"),
    ("2450", Keithley2450, ":SOUR:VOLT:ILIM?", "+1.050000E-04"),
    ("2400", Keithley2400, ":SOUR:VOLT:RANG:AUTO?", "1"),
    ("2450", Keithley2450, ":SOUR:VOLT:PROT?", "NONE"),
    ("2400", Keithley2400, ":SOUR:VOLT:RANG?", "+2.000000E+01"),
])
def test_a_limit_that_does_not_read_back_refuses_the_session(model, cls, query, bad):
    with VirtualKeithley(model) as vk:
        vk.faults.replies = {query: bad}
        src = cls(SCPILink(vk.port, timeout=0.2), LIMITS, ramp_step=0.1, sleep=lambda s: None)
        src.connect()
        with pytest.raises(InstrumentError):
            src.configure()
        assert vk.output is False


def test_ramp_bounds_of_the_driver():
    with pytest.raises(LimitError, match="ramp_step 100"):
        Keithley2400(None, LIMITS, ramp_step=100)  # the issue: accepted, jumped 0 -> +1 V
    with pytest.raises(LimitError, match="5% of the 2 V source range"):
        Keithley2400(None, SourceLimits(1.5, 1e-6, 1.0, max_ramp_step=1.0), ramp_step=0.2)
    small = SourceLimits(0.15, 1e-6, 1.0, max_ramp_step=0.05)  # 200 mV range: 10 mV steps
    with pytest.raises(LimitError):
        Keithley2400(None, small, ramp_step=0.02)
    with pytest.raises(LimitError, match="ceiling"):
        Keithley2400.check_ramp(None, 20.0, SourceLimits(1.5, 1e-6, 50.0))


def test_set_level_refuses_a_jump():
    with VirtualKeithley("2400") as vk:
        src, _ = _configured(vk, Keithley2400)
        src.enable()
        src.set_level(0.1)
        with pytest.raises(LimitError, match="use ramp_to"):
            src.set_level(1.0)
        src.link.query("*IDN?")  # the instrument has handled what came before
        assert vk.level == pytest.approx(0.1)
        src.ramp_to(0.0, 1.0)


def _session(tmp_path, old, new, extra=""):
    text = EXAMPLE.read_text().replace(old, new) + extra
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("old,new,extra,match", [
    ("ramp_step = 0.02", "ramp_step = 100", "", "ramp_step 100"),
    ("ramp_step = 0.02", "ramp_step = 0.08", "", "ramp_step 0.08"),
    ("shutdown_deadline = 60.0", "shutdown_deadline = 2", "", "shutdown_deadline 2 s"),
    ("[simulate]", "[simulate]", '\n[source]\ndriver = "keithley2400"\nport = "/dev/null"\n'
     "watchdog = 10\n", "no on-instrument watchdog"),
    ("[simulate]", "[simulate]", '\n[source]\ndriver = "keithley2450"\nport = "/dev/null"\n'
     "timeout = 2.0\nwatchdog = 5\n", "at least 5 x the link timeout"),
])
def test_session_file_limits_refused_at_load(tmp_path, old, new, extra, match):
    with pytest.raises(ConfigError, match=match):
        load_session(_session(tmp_path, old, new, extra))


def test_example_session_loads_within_the_bounds():
    cfg = load_session(EXAMPLE)
    assert cfg.ramp_step <= cfg.limits.max_ramp_step
    assert cfg.limits.max_bias / cfg.ramp_rate <= cfg.limits.shutdown_deadline
