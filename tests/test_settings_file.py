"""``afmcurrent config`` and ``settings.toml``: the commented defaults, the check of a file, the
effective settings in every output folder (re-running with them gives the same result), and
``docs/settings.md`` generated from the records (kept in sync here)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from afmcurrent.cli import main
from afmcurrent.core.config import SETTINGS_TABLES, AnalysisConfig, load_config
from afmcurrent.core.options import AnalysisOptions, option_fields, options_from_table
from afmcurrent.outputs.settings_file import defaults_toml, settings_markdown, settings_toml
from afmcurrent.pair.logamp.transfer import CALIBRATION_KEY_DOCS
from afmcurrent.sim import simulate_pair, write_pair

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_docs_settings_md_is_generated_from_the_records():
    assert DOCS.read_text(encoding="utf-8") == settings_markdown(), (
        "docs/settings.md differs from the records: run "
        "`afmcurrent config --markdown > docs/settings.md`")
    text = DOCS.read_text(encoding="utf-8")
    for name, cls in SETTINGS_TABLES.items():
        assert f"## [{name}]" in text
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in text
    for f in option_fields():
        assert f"| `{f.name}` | `{f.metadata['option'].flag}` |" in text
    for key in CALIBRATION_KEY_DOCS:
        assert f"| `{key}` |" in text


def test_defaults_are_complete_commented_and_load_to_the_defaults(capsys):
    assert main(["config", "--defaults"]) == 0
    text = capsys.readouterr().out
    assert text == defaults_toml()
    doc = tomllib.loads(text)
    cfg = load_config(doc)
    assert dataclasses.replace(cfg, source=None) == AnalysisConfig()
    for name, cls in SETTINGS_TABLES.items():
        assert set(doc[name]) == {f.name for f in dataclasses.fields(cls)}
        for f in dataclasses.fields(cls):  # each key under its comment with the unit
            i = text.index(f"\n{f.name} = ")
            assert text[:i].rsplit("\n", 1)[-1].startswith("# ")
    # every option is there, set or commented out with an example that parses
    for f in option_fields():
        assert f"\n{f.name} = " in text or f"\n# {f.name} = " in text
        options_from_table({f.name: f.metadata["option"].example})
    assert "logamp" not in doc  # no default calibration: the table is commented out
    for key in CALIBRATION_KEY_DOCS:
        assert f"# {key} = " in text


def test_check_prints_effective_settings_and_refuses_bad_files(tmp_path, capsys):
    good = tmp_path / "s.toml"
    good.write_text('[classify]\nionic_fraction_min = 0.8\n[analysis]\ntip_radius = "50nm"\n'
                    '[logamp]\nvolts_per_decade = 0.5\nreference_current = 1e-7\n'
                    'reference_voltage = 0.0\nfloor_current = 1e-13\nsaturation_current = 1e-3\n')
    assert main(["config", "--check", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {good}: valid")
    eff = tomllib.loads(out)
    assert eff["classify"]["ionic_fraction_min"] == 0.8
    assert eff["transport"]["noise_decades"] == 0.03  # defaults filled in
    assert eff["logamp"]["volts_per_decade"] == 0.5
    assert eff["transport"]["tip_radius"] == pytest.approx(50e-9)  # the option wins
    assert load_config(eff).classify == load_config(good).classify
    for text, message in (
        ("[classify]\nionic_fraction_minimum = 0.8\n", "unknown key"),
        ("[logamp]\nvolts_per_decade = 0.2\n", "missing key"),
        ("[transport]\ntip_radius = 0.01\n", "tip_radius"),
        ("[analysis]\ntip_radius = 100\n", "tip_radius"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        assert main(["config", "--check", str(bad)]) == 1
        err = capsys.readouterr().err
        assert str(bad) in err and message in err and "Traceback" not in err


def test_settings_toml_round_trip_of_options():
    opts = AnalysisOptions(bias_plus=0.8, shift=(1.5, -2.0), profile=(1e-6, 1e-6, 8e-6, 8e-6),
                           optical_center=(4e-5, 3.55e-5), force_registration=True,
                           current_channel="Input1", logamp="ad8304")
    doc = tomllib.loads(settings_toml(AnalysisConfig(), opts))
    assert options_from_table(doc["analysis"]) == opts
    assert load_config(doc).transport == AnalysisConfig().transport


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("settings_pair")
    paths = write_pair(d, simulate_pair("degraded", seed=31, shape=(64, 64)))
    return paths


def _result(out: Path):
    s = json.loads((out / "summary.json").read_text())
    with h5py.File(out / "result.h5") as f:
        maps = {k: f["maps"][k][()] for k in f["maps"]}
    for key in ("seconds", "notes", "files"):
        s.pop(key)
    s["settings"].pop("source")
    s["calibration"].pop("name")
    return s, maps


def test_rerun_with_the_written_settings_gives_identical_outputs(pair_files, tmp_path, capsys):
    cfg = tmp_path / "my.toml"
    cfg.write_text("[classify]\nshunt_current_min = 3e-12\n[domains]\nmin_area_um2 = 0.1\n")
    a, b = tmp_path / "a", tmp_path / "b"
    args = [str(pair_files["plus"]), str(pair_files["minus"]), "--no-figures"]
    assert main(["analyze", *args, "-o", str(a), "--config", str(cfg), "--tip-radius", "60nm",
                 "--profile", "1um,1um,8um,6um", "--search-radius", "7"]) == 0
    written = (a / "settings.toml").read_text()
    assert "shunt_current_min = 3e-12" in written and "[logamp]" in written
    # again, with only the written settings (the calibration beside the file not used)
    (pair_files["logamp"]).rename(pair_files["logamp"].with_suffix(".away"))
    try:
        assert main(["analyze", *args, "-o", str(b), "--config", str(a / "settings.toml")]) == 0
    finally:
        pair_files["logamp"].with_suffix(".away").rename(pair_files["logamp"])
    capsys.readouterr()
    assert (b / "settings.toml").read_text() == written
    sa, ma = _result(a)
    sb, mb = _result(b)
    assert sa == sb
    assert ma.keys() == mb.keys()
    for k in ma:
        np.testing.assert_array_equal(ma[k], mb[k])
    assert sa["tip_radius_m"] == pytest.approx(60e-9)
    assert sa["thresholds"]["shunt_current_min_A"] == pytest.approx(3e-12)
