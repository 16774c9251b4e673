"""``afmcurrent calibrate``: the fit, the usable range and the refusals, against an independent
model of a real log amplifier (tests/logamp_model.py: the AD8304 data sheet's transfer function
with its low-current leakage, bulk resistance, rail and noise), not the fit's own formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from logamp_model import I_REF, VY, ad8304_output, ad8304_table

from afmcurrent.cli import main
from afmcurrent.core.errors import CalibrationError
from afmcurrent.io.calibration_table import read_calibration_table
from afmcurrent.pair.logamp import load_calibration
from afmcurrent.pair.logamp.linear_range import fit_linear_range

LEVELS = 10 ** np.arange(-12, -1.4, 0.5)


def _write(path, currents, volts, header="current_A, voltage_V", fmt=lambda c: f"{c:.6g}"):
    rows = [header] + [f"{fmt(c)}, {v:.5f}" for c, v in zip(currents, volts, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("seed", [11, 12, 13])  # held out: the rule was looked at on seed 7
def test_fit_finds_line_floor_and_saturation_of_a_modelled_ad8304(seed):
    i, v = ad8304_table(np.random.default_rng(seed), LEVELS)
    fit = fit_linear_range(i, v)
    cal = fit.calibration
    assert cal.volts_per_decade == pytest.approx(VY, rel=0.01)
    # the line reads the model's mid-range currents to within 0.02 decade
    mid = np.array([1e-9, 1e-7, 1e-5])
    read = cal.to_current(ad8304_output(mid))
    assert np.max(np.abs(np.log10(read / mid))) < 0.02
    # floor and saturation where the amplifier leaves the calibration's line: on a fine grid,
    # the error of the currents the calibration reads from the model's noise-free output
    grid = 10 ** np.arange(-12.5, -1.3, 0.01)
    err = np.log10(cal.to_current(ad8304_output(grid)) / grid)
    inside = (grid >= cal.floor_current) & (grid <= cal.saturation_current)
    tol = fit.tolerance_decades
    # (1) the range claims no current the calibration reads wrong by more than the tolerance
    #     (plus 0.02 decade: a level is placed by noisy readings)
    assert np.max(np.abs(err[inside])) <= tol + 0.02
    # (2) and stops at most one table level (0.5 decade) short of where the error reaches it
    off = np.abs(err) > tol
    centre = np.searchsorted(grid, 1e-7)
    lo_true = grid[np.flatnonzero(off[:centre])[-1] + 1]
    hi_true = grid[centre + np.flatnonzero(off[centre:])[0] - 1]
    assert math.log10(cal.floor_current / lo_true) <= 0.55
    assert math.log10(hi_true / cal.saturation_current) <= 0.55
    assert fit.floor_seen and fit.saturation_seen
    assert 0 < fit.rms_decades < 0.03
    assert cal.fit_min_current == cal.floor_current
    assert cal.fit_max_current == cal.saturation_current


def test_table_inside_the_line_has_no_floor_seen():
    i = np.repeat(10 ** np.arange(-9, -4.0, 1.0), 2)
    v = VY * np.log10(i / I_REF) + np.random.default_rng(0).normal(0, 0.001, i.size)
    fit = fit_linear_range(i, v)
    assert not fit.floor_seen and not fit.saturation_seen
    assert fit.calibration.floor_current == pytest.approx(1e-9)
    assert fit.calibration.saturation_current == pytest.approx(1e-5)


def test_cli_writes_toml_with_provenance_and_figure(tmp_path, capsys):
    i, v = ad8304_table(np.random.default_rng(21), LEVELS)
    # several readings per current as columns, currents in pA, a comment line
    lines = ["# board 7, Keithley 2400 through 1 GOhm .. 10 kOhm",
             "current (pA), output (V), output (V), output (V)"]
    for k in range(0, i.size, 3):
        lines.append(f"{i[k] * 1e12:.6g}, {v[k]:.5f}, {v[k + 1]:.5f}, {v[k + 2]:.5f}")
    table = tmp_path / "table.csv"
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "cal" / "logamp.toml"
    assert main(["calibrate", str(table), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "usable range" in printed and "residual per known current" in printed
    assert (tmp_path / "cal" / "calibration.png").stat().st_size > 10_000
    text = out.read_text()
    assert "# date: " in text and "sha256" in text and "board 7" in text
    cal = load_calibration(out)
    direct = fit_linear_range(i, v).calibration
    assert cal.volts_per_decade == pytest.approx(direct.volts_per_decade, rel=1e-4)
    assert cal.floor_current == pytest.approx(direct.floor_current)
    for key in ("fit_rms_decades", "fit_min_current", "fit_max_current"):
        assert getattr(cal, key) is not None
    # the same table again without --overwrite is refused
    assert main(["calibrate", str(table), "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_refuses_too_few_points(tmp_path):
    path = _write(tmp_path / "t.csv", [1e-9, 1e-8, 1e-7], [-0.4, -0.2, 0.0])
    t = read_calibration_table(path)
    with pytest.raises(CalibrationError, match=r"3 distinct known current.*lines 2-4"):
        fit_linear_range(t.currents, t.voltages, t.lines, where=str(path))


def test_refuses_non_monotonic_response_naming_the_line(tmp_path):
    c = 10 ** np.arange(-10, -3.0, 1.0)
    v = VY * np.log10(c / I_REF)
    v[4] = v[2] - 0.3  # a range switch: the output falls back by 1.5 decades
    path = _write(tmp_path / "t.csv", c, v)
    t = read_calibration_table(path)
    with pytest.raises(CalibrationError, match=r"line 6: .*not monotonic"):
        fit_linear_range(t.currents, t.voltages, t.lines, where=str(path))


def test_refuses_mixed_units_naming_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("current (pA), voltage (V)\n1, -1.0\n10 pA, -0.8\n0.1 nA, -0.6\n")
    with pytest.raises(CalibrationError, match=r"line 4: .*nA.*mixed units"):
        read_calibration_table(path)
    path.write_text("current_A, voltage_V, voltage_mV\n1e-9, -0.4, -400\n")
    with pytest.raises(CalibrationError, match=r"line 1: .*mixed units"):
        read_calibration_table(path)


@pytest.mark.parametrize("text, message", [
    ("current, voltage\n1e-9, 0.1\n", r"line 1: column 'current' does not name its unit"),
    ("current_A, voltage_V\n1e-9, abc\n", r"line 2: 'abc' is not a number"),
    ("current_A, voltage_V\n-1e-9, 0.1\n", r"line 2: the known current must be positive"),
    ("current_A, voltage_V\n1e-9, 0.1, 0.2\n", r"line 2: 3 cells"),
    ("height_m, voltage_V\n1e-9, 0.1\n", r"line 1: column 'height_m'"),
])
def test_table_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=message):
        read_calibration_table(path)


def test_cli_refusal_is_a_message(tmp_path, capsys):
    path = _write(tmp_path / "t.csv", [1e-9, 1e-8], [-0.4, -0.2])
    assert main(["calibrate", str(path), "-o", str(tmp_path / "l.toml")]) == 1
    err = capsys.readouterr().err
    assert "afmcurrent calibrate: error:" in err and "Traceback" not in err
    assert not (tmp_path / "l.toml").exists()
