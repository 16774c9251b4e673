"""Nanoscope capture-folder controller and the acquire CLI."""

import threading
import time

import numpy as np
import pytest

from acquisition.instruments import CaptureError, NanoscopeCaptureFolder, ScanSettings
from afmcurrent.io.nanoscope import write_nanoscope
from afmcurrent.sim import simulate_pair


def _write_later(path, scan, delay):
    def go():
        time.sleep(delay)
        tmp = path.with_suffix(".tmp")
        write_nanoscope(tmp, scan)
        data = tmp.read_bytes()
        with open(path, "wb") as fh:  # arrives in two pieces, like a capture being saved
            fh.write(data[: len(data) // 3])
            fh.flush()
            time.sleep(0.3)
            fh.write(data[len(data) // 3:])
        tmp.unlink()
    t = threading.Thread(target=go)
    t.start()
    return t


def test_capture_folder_waits_for_complete_file_and_checks_it(tmp_path):
    pair = simulate_pair("degraded", seed=1, shape=(32, 32), scan_size=(5e-6, 5e-6))
    ctl = NanoscopeCaptureFolder(tmp_path, "*.0[0-9][0-9]", stable_s=0.15, timeout_s=10,
                                 poll_s=0.05)
    ctl.configure(ScanSettings((5e-6, 5e-6), 32, 32))
    ctl.start_frame(1.0)
    t = _write_later(tmp_path / "cap.000", pair.plus, 0.2)
    lines = list(ctl.lines())
    t.join()
    assert len(lines) == 32
    v = np.array([ln.logamp for ln in lines])
    np.testing.assert_allclose(v, pair.plus.channel("Input1").data, atol=1e-6)

    ctl.configure(ScanSettings((5e-6, 5e-6), 64, 64))
    ctl.start_frame(-1.0)
    t = _write_later(tmp_path / "cap.001", pair.minus, 0.0)
    with pytest.raises(CaptureError, match="32 lines x 32 samples.*64 x 64"):
        list(ctl.lines())
    t.join()

    ctl.configure(ScanSettings((5e-6, 5e-6), 32, 32))
    ctl.start_frame(+1.0)  # the capture records -1 V
    t = _write_later(tmp_path / "cap.002", pair.minus, 0.0)
    with pytest.raises(CaptureError, match="bias"):
        list(ctl.lines())
    t.join()


def test_capture_folder_times_out(tmp_path):
    ctl = NanoscopeCaptureFolder(tmp_path, stable_s=0.05, timeout_s=0.3, poll_s=0.05)
    ctl.configure(ScanSettings((5e-6, 5e-6), 32, 32))
    ctl.start_frame(1.0)
    with pytest.raises(CaptureError, match="no new complete capture"):
        list(ctl.lines())


def test_acquire_cli_help_and_simulated_default(tmp_path, capsys):
    from afmcurrent.cli import main

    with pytest.raises(SystemExit):
        main(["acquire", "--help"])
    assert "0 V with the output off" in capsys.readouterr().out.replace("\n", " ")
