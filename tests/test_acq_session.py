"""The protocol end to end on the virtual instruments: pair analysed, faults end safe, crash-safe
storage."""

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from acquisition.session import (
    load_session,
    open_instruments,
    open_session,
    read_scan,
    run_session,
    scan_status,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "session.toml"


def _cfg(tmp_path, extra="", lines=64, order='["+", "-"]', speed=4000, analysis="false"):
    text = EXAMPLE.read_text()
    text = text.replace("samples_per_line = 96", f"samples_per_line = {lines}")
    text = text.replace("lines = 96", f"lines = {lines}")
    text = text.replace('order = ["+", "-", "+"]', f"order = {order}")
    text = text.replace("speed = 2000", f"speed = {speed}")
    text = text.replace("figures = true", f"figures = false\nenabled = {analysis}")
    text += extra
    p = tmp_path / "session.toml"
    p.write_text(text)
    return load_session(p)


@pytest.mark.slow
def test_example_session_end_to_end(tmp_path):
    cfg = load_session(EXAMPLE)
    t0 = time.perf_counter()
    with open_instruments(cfg, simulate=True) as inst:
        res = run_session(cfg, tmp_path, inst)
        truth = inst.controller.truth.class_map
        drift = np.asarray(inst.controller.drift_between)
        vk = inst.virtual
        assert vk.output is False and vk.level == 0.0
    assert time.perf_counter() - t0 < 30
    assert res.exit_status == 0 and res.statuses == ["complete"] * 3
    st = scan_status(res.path)
    assert [s["lines_recorded"] for s in st] == [96, 96, 96]
    # point currents recorded before and after each scan
    assert all(np.all(np.isfinite(s["point_current"])) for s in st)
    for (i, j), pair in res.pairs.items():
        assert (res.outdirs[(i, j)] / "summary.json").is_file()
        cls = pair.class_map
        plus_frame = i if cfg.biases[i] > 0 else j
        # frame k shows the material at (row, col) + k * drift_between
        t = ndimage.shift(truth, -plus_frame * drift, order=0, mode="nearest")
        ok = cls > 0
        ok[:6], ok[-6:], ok[:, :6], ok[:, -6:] = False, False, False, False  # shifted-in edges
        assert ok.mean() > 0.6
        assert np.mean(cls[ok] == t[ok]) > 0.9, (i, j)
    with open_session(res.path) as f:
        kinds = [k.decode() for k in f["events"]["kind"]]
    for k in ("identify", "output_on", "settled", "point_before", "point_after", "rest",
              "shutdown", "analysis"):
        assert k in kinds, k
    # +V, -V, +V: the two +V scans compared, in both results; the sample did not change
    reps = [pair.repeat for pair in res.pairs.values()]
    assert len(reps) == 2 and reps[0] is reps[1] and reps[0].compared
    assert reps[0].earlier.endswith("(scan 0)") and reps[0].later.endswith("(scan 2)")
    assert reps[0].class_change_fraction < 0.02 and reps[0].warning is None
    assert "repeat" in kinds


def _run_fault(tmp_path, arm, extra="", at=(0, 10), model="2400"):
    cfg = _cfg(tmp_path, extra=extra + '\n', order='["+", "-"]')
    with open_instruments(cfg, simulate=True) as inst:
        vk = inst.virtual

        def hook(scan, row):
            if (scan, row) == at and arm:
                for k, v in arm.items():
                    if k == "disconnect":
                        vk.disconnect(v)
                    elif k == "clear_after":  # the fault lasts this long from arming on
                        vk.faults.clear_at = time.monotonic() + v
                    else:
                        setattr(vk.faults, k, v)

        res = run_session(cfg, tmp_path, inst, line_hook=hook)
        vk.faults.no_reply = vk.faults.garble = False
        time.sleep(0.05)
        state = (vk.output, vk.level)
    return res, state


@pytest.mark.parametrize("name,arm,reason", [
    ("compliance", {"compliance": True}, "compliance"),
    ("no_reply", {"no_reply": True}, "lost communication"),
    ("garbled", {"garble": True}, "bias source error"),
    ("disconnect", {"disconnect": 0.3}, "lost communication"),
])
def test_injected_fault_ends_at_zero_volts(tmp_path, name, arm, reason):
    if name in ("no_reply", "garbled"):
        arm = dict(arm, clear_after=0.6)
    res, (output, level) = _run_fault(tmp_path, arm)
    assert output is False and level == 0.0
    assert res.exit_status == 4 and reason in res.aborted
    st = scan_status(res.path)
    assert st[0]["status"] == "aborted" and reason in st[0]["reason"]
    k = st[0]["lines_recorded"]
    assert k in (11, 12)  # fault armed after line 10; detected on the next line's queries
    scan = read_scan(res.path, 0)
    assert np.isfinite(scan.channel("LogAmp").data[:k]).all()
    assert np.isnan(scan.channel("LogAmp").data[k:]).all()
    assert st[1]["status"] == "planned"


@pytest.mark.slow
def test_slow_replies_are_survived(tmp_path):
    res, (output, level) = _run_fault(tmp_path, {"delay": 0.008})
    assert res.exit_status == 0 and output is False and level == 0.0


def test_over_current_interlock(tmp_path):
    # degraded preset: shunt domains carry 1e-10..1e-9 A, far above 3e-11 A
    _cfg(tmp_path)  # writes session.toml with 64 x 64 scans
    cfg_text = "\n[interlock]\nmax_current = 3e-11\nconsecutive_pixels = 3\n"
    text = (tmp_path / "session.toml").read_text().replace(
        "[interlock]\nmax_current = 1e-7        # A on the log amp ...\n"
        "consecutive_pixels = 5    # ... for this many pixels in a row: a shunt, abort\n", "")
    (tmp_path / "s2.toml").write_text(text + cfg_text)
    cfg = load_session(tmp_path / "s2.toml")
    with open_instruments(cfg, simulate=True) as inst:
        res = run_session(cfg, tmp_path / "b", inst)
        assert inst.virtual.output is False and inst.virtual.level == 0.0
    assert "over-current" in res.aborted and res.statuses[0] == "aborted"
    n = scan_status(res.path)[0]["lines_recorded"]
    assert 0 < n < 64


def test_limits_refused_before_instruments(tmp_path):
    from afmcurrent.core.errors import ConfigError

    text = EXAMPLE.read_text().replace("values = [1.0, -1.0]", "values = [2.0, -1.0]")
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match="max_bias"):
        load_session(tmp_path / "bad.toml")
