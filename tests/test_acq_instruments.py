"""Link and drivers against the virtual Keithley on a real pseudo-terminal."""

import pytest

from acquisition.instruments import Keithley2400, Keithley2450, LimitError, SourceLimits
from acquisition.safety import SafeBias
from acquisition.sim import VirtualKeithley
from acquisition.transport import CommunicationError, InstrumentError, SCPILink

LIMITS = SourceLimits(max_bias=1.5, compliance=1e-6, max_ramp_rate=1.0, max_ramp_step=0.1)


def _open(vk, cls, timeout=0.2):
    return cls(SCPILink(vk.port, timeout=timeout), LIMITS, ramp_step=0.1,
               sleep=lambda s: None)


RAMP = [f":SOUR:VOLT:LEV {v:g}" for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
# Expected sequences from the manuals: 2400S-900-01 sec. 18 (compliance in SENSe:CURR:PROT,
# V-source protection :SOUR:VOLT:PROT, 20 V its lowest setting, :READ? with :FORM:ELEM CURR)
# and 2450-901-01 sec. 6 (limit in SOUR:VOLT:ILIM, protection PROTn, :MEAS:CURR?); the
# limits are read back after the configuration batch.
SEQ_2400 = ["*IDN?", ":OUTP?", ":SOUR:FUNC VOLT", ":SOUR:VOLT:MODE FIXED",
            ":SOUR:VOLT:RANG:AUTO OFF", ":SOUR:VOLT:RANG 1.5", ":SOUR:VOLT:PROT 20",
            ":SOUR:VOLT:LEV 0", ':SENS:FUNC "CURR"', ":SENS:CURR:PROT 1e-06",
            ":SENS:CURR:RANG:AUTO ON", ":FORM:ELEM CURR", ":SYST:ERR?",
            ":SOUR:VOLT:RANG?", ":SOUR:VOLT:RANG:AUTO?", ":SOUR:VOLT:PROT?", ":SENS:CURR:PROT?",
            ":SOUR:VOLT:LEV 0", ":OUTP ON", ":SYST:ERR?", *RAMP, ":SYST:ERR?",
            ":READ?", ":SENS:CURR:PROT:TRIP?"]
SEQ_2450 = ["*IDN?", ":ABOR", ":OUTP?", ":SOUR:FUNC VOLT", ":SOUR:VOLT:RANG:AUTO OFF",
            ":SOUR:VOLT:RANG 1.5", ":SOUR:VOLT:PROT PROT2", ":SOUR:VOLT:LEV 0",
            ":SOUR:VOLT:ILIM 1e-06", ':SENS:FUNC "CURR"', ":SENS:CURR:RANG:AUTO ON",
            ":SYST:ERR?", ":SOUR:VOLT:RANG?", ":SOUR:VOLT:RANG:AUTO?", ":SOUR:VOLT:PROT?",
            ":SOUR:VOLT:ILIM?", ":SOUR:VOLT:LEV 0", ":OUTP ON", ":SYST:ERR?", *RAMP,
            ":SYST:ERR?", ":MEAS:CURR?", ":SOUR:VOLT:ILIM:TRIP?"]


@pytest.mark.parametrize("model,cls,seq", [("2400", Keithley2400, SEQ_2400),
                                           ("2450", Keithley2450, SEQ_2450)])
def test_driver_command_sequence(model, cls, seq):
    with VirtualKeithley(model) as vk:
        src = _open(vk, cls)
        with SafeBias(src):
            src.connect()
            hw = src.configure()
            assert hw["range"] == 2.0 and hw["compliance"] == 1e-6
            assert hw["protection"] == (20.0 if model == "2400" else 2.0)
            src.enable()
            src.ramp_to(0.5, 1.0)
            assert src.read_current() == pytest.approx(0.5e-9)  # 1 GOhm load
            assert src.in_compliance() is False
            sent = [t for d, t in src.link.transcript if d == ">"]
            assert sent == seq
        assert vk.output is False and vk.level == 0.0
        # the ramp down went through intermediate levels (steps of 0.1 V), never a jump
        downs = [lv for _, lv, _ in vk.levels]
        steps = [abs(b - a) for a, b in zip(downs, downs[1:], strict=False)]
        assert 0.4 in downs[downs.index(0.5):] and max(steps) <= 0.1 + 1e-9


def test_wrong_instrument_is_refused():
    with VirtualKeithley("2000") as vk:
        src = _open(vk, Keithley2400)
        with pytest.raises(InstrumentError, match="MODEL 2000.*|not a MODEL 2400"):
            src.connect()
        assert [t for d, t in src.link.transcript if d == ">"] == ["*IDN?"]


def test_limits_checked_before_any_command():
    with VirtualKeithley("2400") as vk:
        src = _open(vk, Keithley2400)
        src.connect()
        n = len(vk.history)
        with pytest.raises(LimitError):
            src.ramp_to(2.0, 0.5)
        with pytest.raises(LimitError):
            src.ramp_to(1.0, 5.0)
        with pytest.raises(LimitError):
            src.set_level(-1.6)
        src.link.query("*IDN?")  # synchronise with the server thread
        assert len(vk.history) == n + 1


def test_error_queue_names_port_and_batch():
    with VirtualKeithley("2400") as vk:
        link = SCPILink(vk.port, timeout=0.2)
        with pytest.raises(InstrumentError) as e:
            link.batch([":BOGUS 1"])
        msg = str(e.value)
        assert vk.port in msg and ":BOGUS 1" in msg and "-113" in msg


def test_timeout_retries_an_idempotent_query_once():
    with VirtualKeithley("2400") as vk:
        link = SCPILink(vk.port, timeout=0.3)
        vk.faults.delay = 0.4  # slower than the timeout: the retry gets the late reply
        assert link.query("*IDN?").startswith("KEITHLEY")
        assert [t for d, t in link.transcript if d == ">"] == ["*IDN?", "*IDN?"]
        vk.faults.delay = 0.0
        assert link.query(":OUTP?") == "0"  # no stale reply mixed in
        vk.faults.no_reply = True
        with pytest.raises(CommunicationError, match="no complete reply.*sent 2 times"):
            link.query(":OUTP?")


def test_garbled_reply_is_a_clear_error():
    with VirtualKeithley("2400") as vk:
        link = SCPILink(vk.port, timeout=0.2)
        vk.faults.garble = True
        with pytest.raises(InstrumentError) as e:
            link.query_float(":SOUR:VOLT:LEV?")
        assert vk.port in str(e.value) and ":SOUR:VOLT:LEV?" in str(e.value)


def test_output_left_on_is_ramped_down_on_connect():
    with VirtualKeithley("2450") as vk:
        vk.output, vk.level = True, 1.2
        src = _open(vk, Keithley2450)
        rec = src.connect(rate=1.0)
        assert rec.found_on and rec.used_level == 1.2 and rec.source == "instrument"
        sent = [t for d, t in src.link.transcript if d == ">"]
        assert sent[:4] == ["*IDN?", ":ABOR", ":OUTP?", ":SOUR:VOLT:LEV?"]
        levels = ["1.1", "1", "0.9", "0.8", "0.7", "0.6", "0.5", "0.4", "0.3", "0.2", "0.1", "0"]
        assert sent[4:16] == [f":SOUR:VOLT:LEV {v}" for v in levels]
        assert sent[16:] == [":OUTP OFF", ":OUTP?"]
        assert vk.output is False and vk.level == 0.0
