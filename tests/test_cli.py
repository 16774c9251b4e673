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
    assert main(["analyze", str(plus), str(minus), "-o", str(out), "--no-figures"]) == 0
    return out


def test_analyze_writes_the_contract(analyzed, pair_dir):
    out = analyzed
    for name in ("summary.json", "result.h5", "domains.csv", "result.gwy", "profile.csv"):
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
    truth = json.loads((pair_dir / "degraded_seed5_truth.json").read_text())
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


@pytest.mark.slow
def test_analyze_writes_the_figures(pair_dir, tmp_path):
    plus, minus = files(pair_dir)
    assert main(["analyze", str(plus), str(minus), "-o", str(tmp_path / "o")]) == 0
    for name in ("figure.png", "figure_paper.png", "profile.png"):
        assert (tmp_path / "o" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_result_gwy_reads_back(analyzed):
    gwy = load_scan(analyzed / "result.gwy")
    h5 = load_scan(analyzed / "result.h5")
    np.testing.assert_array_equal(gwy.channel("class").data, h5.channel("class").data)
    assert gwy.channel("ionic_current").unit == "A"


def _check_gwy_fields(path, h5_path):
    """Every data field finite; a mask (1 = no value) wherever result.h5 has no value."""
    import gwyfile

    obj = gwyfile.load(str(path))
    titles = {obj[k]: k[: -len("/title")] for k in obj if k.endswith("/data/title")}
    assert {"log10_plus_current", "log10_minus_current", "log10_ionic_current",
            "current_density_ionic"} <= set(titles)
    with h5py.File(h5_path, "r") as f:
        for title, key in titles.items():
            data = obj[key].data
            assert np.isfinite(data).all(), title
            base = key[: -len("/data")]
            src = title[len("log10_"):] if title.startswith("log10_") else title
            h5 = f[f"/maps/{src}"][()].astype(float)
            missing = ~np.isfinite(h5)
            if title.startswith("log10_"):
                with np.errstate(divide="ignore", invalid="ignore"):
                    missing |= ~(h5 > 0)
            if missing.any():
                mask = obj[f"{base}/mask"].data
                np.testing.assert_array_equal(mask > 0.5, missing)
                # the fill is neutral: inside the range of the values
                assert np.nanmin(np.where(missing, np.nan, data)) <= data[missing][0] <= \
                    np.nanmax(np.where(missing, np.nan, data))
            else:
                assert f"{base}/mask" not in obj
            if not title.startswith("log10_") and not missing.all():
                np.testing.assert_allclose(data[~missing], h5[~missing], rtol=1e-6)
            elif not missing.all():
                np.testing.assert_allclose(data[~missing], np.log10(h5[~missing]), rtol=1e-6)


def test_result_gwy_is_finite_with_masks(analyzed):
    _check_gwy_fields(analyzed / "result.gwy", analyzed / "result.h5")


@pytest.mark.gwyddion
def test_gwyddion_opens_result(analyzed, tmp_path, gwyddion):
    """Gwyddion reads result.gwy without complaint (issue 9: NaN fields gave
    "gwy_math_histogram: assertion 'min <= max' failed" and black channels) and writes back
    finite fields with their masks."""
    out = tmp_path / "copy.gwy"
    r = subprocess.run([gwyddion, f"--convert-to-gwy={out}", str(analyzed / "result.gwy")],
                       check=True, capture_output=True, text=True, timeout=120)
    assert out.stat().st_size > 0
    assert "assertion" not in r.stderr and "CRITICAL" not in r.stderr, r.stderr
    _check_gwy_fields(out, analyzed / "result.h5")


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
    truth = json.loads((pair_dir / "degraded_seed5_truth.json").read_text())
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


def test_lengths_need_units(pair_dir, tmp_path, capsys):
    from afmcurrent.cli import parse_length

    assert parse_length("100nm") == pytest.approx(1e-7)
    assert parse_length("0.5um") == pytest.approx(5e-7)
    assert parse_length("1e-7m") == pytest.approx(1e-7)
    assert parse_length("0.1 µm") == pytest.approx(1e-7)
    plus, minus = files(pair_dir)
    for flag, value in (("--tip-radius", "100"), ("--optical-pixel-size", "0.1"),
                        ("--profile", "1,1,8,8")):
        with pytest.raises(SystemExit) as exc:
            main(["analyze", str(plus), str(minus), "-o", str(tmp_path / "o"), flag, value])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert flag in err and "100nm, 0.5um, 1e-7m" in err, err
    with pytest.raises(SystemExit):
        main(["batch", str(pair_dir), "-o", str(tmp_path / "b"), "--tip-radius", "5e-8"])
    assert "no unit" in capsys.readouterr().err


def test_cli_prints_bounds_warnings_and_density(pair_dir, tmp_path, capsys):
    plus, minus = files(pair_dir)
    out = tmp_path / "o"
    assert main(["analyze", str(plus), str(minus), "-o", str(out), "--no-figures",
                 "--logamp", "AD8304", "--tip-radius", "50nm", "--bias-plus", "1.5"]) == 0
    cap = capsys.readouterr()
    # the AD8304 preset's 100 pA floor on fA-pA data: medians are bounds, said so
    assert "< 100 pA (amplifier floor)" in cap.out
    warnings = [w for w in cap.err.splitlines() if "warning:" in w]
    assert len(warnings) == len(set(warnings)) >= 3  # each once
    assert any("overrides the +1 V recorded" in w for w in warnings)
    assert sum("at the amplifier floor" in w for w in warnings) == 2
    s = json.loads((out / "summary.json").read_text())
    assert s["warnings"] and all(w in cap.err for w in s["warnings"])
    assert s["median_current_bounds"]["plus_current"] == "upper"
    assert s["tip_radius_m"] == pytest.approx(5e-8)
    with h5py.File(out / "result.h5", "r") as f:
        dens = f["/maps/current_density_electronic"]
        units = dens.attrs["units"]
        assert (units.decode() if isinstance(units, bytes) else units) == "A/m^2"
        np.testing.assert_allclose(dens[()], f["/maps/electronic_current"][()] /
                                   (np.pi * 5e-8**2), rtol=1e-6)
        assert set(np.unique(f["/maps/plus_bound"][()])) <= {0, 1, 2}
    assert "median_ionic_current_density_mA_cm2" in (out / "domains.csv").read_text()
    # the same file twice; a bias contradicting the header
    assert main(["analyze", str(plus), str(plus), "-o", str(tmp_path / "o2")]) == 1
    assert "both the +V and the -V scan" in capsys.readouterr().err
    assert main(["analyze", str(minus), str(plus), "-o", str(tmp_path / "o3"),
                 "--bias-plus", "1", "--bias-minus", "-1"]) == 1
    assert "--force-bias" in capsys.readouterr().err
    assert main(["analyze", str(minus), str(plus), "-o", str(tmp_path / "o4"), "--no-figures",
                 "--bias-plus", "1", "--bias-minus", "-1", "--force-bias"]) == 0
    assert "contradicts" in capsys.readouterr().err


def test_register_says_why_it_exits_3(tmp_path, capsys):
    from afmcurrent.io.nanoscope import write_nanoscope
    from afmcurrent.sim import simulate_pair

    pair = simulate_pair("degraded", seed=2, shape=(64, 64))
    rng = np.random.default_rng(0)
    junk = pair.minus.with_channels([
        type(c)(c.name, rng.normal(size=c.shape) * np.std(c.data), c.unit, c.direction,
                c.quantity) for c in pair.minus.channel_list])
    a, b = tmp_path / "a.spm", tmp_path / "b.spm"
    write_nanoscope(a, pair.plus)
    write_nanoscope(b, junk)
    assert main(["register", str(a), str(b)]) == 3
    err = capsys.readouterr().err
    assert "not trustworthy" in err


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "afmcurrent", "analyze", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--overwrite" in r.stdout and "--logamp" in r.stdout
