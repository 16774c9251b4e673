"""The `afmcurrent` command end to end, on files written as the instrument writes them."""

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from afmcurrent import load_scan
from afmcurrent.cli import main


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim") / "degraded"
    assert main(["simulate", "-o", str(d), "--preset", "degraded", "--seed", "5",
                 "--pixels", "128"]) == 0
    return d


def files(d):
    plus = sorted(d.glob("*_plus.spm"))
    minus = sorted(d.glob("*_minus.spm"))
    assert len(plus) == len(minus) == 1
    return plus[0], minus[0]


@pytest.fixture(scope="module")
def analyzed(pair_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "res"
    plus, minus = files(pair_dir)
    assert main(["analyze", str(plus), str(minus), "-o", str(out)]) == 0
    return out


def test_analyze_writes_the_contract(analyzed, pair_dir):
    out = analyzed
    for name in ("summary.json", "result.h5", "domains.csv", "result.gwy", "figure.png"):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
    assert len(s["registration"]["shift_px"]) == 2
    assert len(s["registration"]["drift_px_per_line"]) == 2
    assert 0 <= s["registration"]["confidence"] <= 1
    assert set(s["fractions"]) == {"ionic_conducting", "ionic_blocked_leaky", "electronic_shunt",
                                   "ionic_blocked_insulating"}
    assert sum(s["fractions"].values()) == pytest.approx(1.0)
    assert 0 < s["classified_fraction"] <= 1
    assert s["inputs"]["plus"]["bias_V"] > 0 > s["inputs"]["minus"]["bias_V"]
    assert s["software"]["version"]
    truth = json.loads((pair_dir / "truth.json").read_text())
    np.testing.assert_allclose(s["registration"]["shift_px"], truth["shift_px"], atol=0.15)
    with h5py.File(out / "result.h5", "r") as f:
        cls = f["/maps/class"]
        assert cls.dtype == np.uint8 and cls.shape == (128, 128)
        for name, unit in (("ionic_current", "A"), ("electronic_current", "A"),
                           ("plus_current", "A"), ("minus_current", "A"), ("height", "m"),
                           ("ionic_fraction", "")):
            units = f[f"/maps/{name}"].attrs["units"]
            assert (units.decode() if isinstance(units, bytes) else units) == unit
        assert set(np.unique(cls[()])) <= {0, 1, 2, 3, 4}
    back = load_scan(out / "result.h5")
    assert "class" in back.channels
    header = (out / "domains.csv").read_text().splitlines()[0]
    assert "area_um2" in header and "median_plus_current_pA" in header


def test_result_gwy_reads_back(analyzed):
    gwy = load_scan(analyzed / "result.gwy")
    h5 = load_scan(analyzed / "result.h5")
    np.testing.assert_array_equal(gwy.channel("class").data, h5.channel("class").data)
    assert gwy.channel("ionic_current").unit == "A"


@pytest.mark.gwyddion
def test_gwyddion_opens_result(analyzed, tmp_path, gwyddion):
    out = tmp_path / "copy.gwy"
    subprocess.run([gwyddion, f"--convert-to-gwy={out}", str(analyzed / "result.gwy")],
                   check=True, capture_output=True, timeout=120)
    assert out.stat().st_size > 0


def test_nonempty_outdir_refused_then_overwrite(analyzed, pair_dir, capsys):
    plus, minus = files(pair_dir)
    before = (analyzed / "summary.json").read_text()
    assert main(["analyze", str(plus), str(minus), "-o", str(analyzed), "--no-figures"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (analyzed / "summary.json").read_text() == before  # nothing lost


def test_overwrite_and_swapped_order(pair_dir, tmp_path, capsys):
    plus, minus = files(pair_dir)
    out = tmp_path / "o"
    (out).mkdir()
    (out / "old.txt").write_text("x")
    assert main(["analyze", str(minus), str(plus), "-o", str(out), "--no-figures",
                 "--overwrite"]) == 0
    text = capsys.readouterr().out
    assert "polarity order put right" in text
    assert not (out / "figure.png").exists()


def test_info_and_register(pair_dir, capsys):
    plus, minus = files(pair_dir)
    assert main(["info", str(plus), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [128, 128] and info["bias_V"] > 0
    assert {c["unit"] for c in info["channels"]} >= {"m", "V"}
    assert main(["info", str(plus)]) == 0
    assert "channels" in capsys.readouterr().out
    main(["register", str(plus), str(minus)])
    reg = json.loads(capsys.readouterr().out)
    truth = json.loads((pair_dir / "truth.json").read_text())
    np.testing.assert_allclose(reg["shift_px"], truth["shift_px"], atol=0.3)


def test_errors_are_messages_not_tracebacks(pair_dir, tmp_path, capsys):
    plus, minus = files(pair_dir)
    assert main(["analyze", str(plus), str(tmp_path / "nope.spm"), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "nope.spm" in err and "Traceback" not in err
    assert main(["analyze", str(plus), str(minus), "-o", str(tmp_path / "o2"),
                 "--current-channel", "Bogus"]) == 1
    err = capsys.readouterr().err
    assert "Bogus" in err and "Height" in err
    # The log-amp output in V with no calibration anywhere is refused.
    lone = tmp_path / "lone"
    lone.mkdir()
    for f in files(pair_dir):
        shutil.copy(f, lone / f.name)
    p2, m2 = files(lone)
    assert main(["analyze", str(p2), str(m2), "-o", str(tmp_path / "o3")]) == 1
    assert "--logamp" in capsys.readouterr().err


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "afmcurrent", "analyze", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--overwrite" in r.stdout and "--logamp" in r.stdout
