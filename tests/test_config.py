"""Settings file: defaults, overrides and every error path naming the file and key."""

import pytest

from afmcurrent.core.config import AnalysisConfig, load_config
from afmcurrent.core.errors import ConfigError


def test_defaults_are_the_issue_rules():
    c = load_config()
    assert c.classify.ionic_fraction_min == 0.9
    assert c.classify.ionic_current_min == 1e-13
    assert c.classify.shunt_current_min == 1e-12
    assert c.transport.tip_radius == 100e-9
    assert c.transport.bias_exponent == 1.0


def test_file_and_overrides(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[classify]\nionic_fraction_min = 0.8\n[transport]\nbias_exponent = 2\n"
                 "[logamp]\nvolts_per_decade = 0.5\n")
    c = load_config(p, transport={"tip_radius": 50e-9})
    assert c.classify.ionic_fraction_min == 0.8
    assert c.transport.bias_exponent == 2.0 and c.transport.tip_radius == 50e-9
    assert c.logamp == {"volts_per_decade": 0.5}
    assert c.source == str(p)
    assert isinstance(load_config(c), AnalysisConfig)
    assert c.to_dict()["classify"]["ionic_fraction_min"] == 0.8


@pytest.mark.parametrize(
    "body, match",
    [
        ("[clasify]\nmode = 'absolute'\n", "unknown table"),
        ("[classify]\nthreshold = 1\n", "unknown key"),
        ("[classify]\nionic_fraction_min = 'high'\n", "ionic_fraction_min"),
        ("[classify]\nionic_fraction_min = 1.5\n", r"\(0, 1\)"),
        ("[classify]\nmode = 'relative'\n", "mode"),
        ("[transport]\ntip_radius = -1e-9\n", "tip_radius"),
        ("[domains]\nconnectivity = 3\n", "connectivity"),
        ("[registration]\nestimate_drift = 1\n", "estimate_drift"),
        ("[registration]\nmin_confidence = 1.5\n", r"\[registration\] min_confidence .*\[0, 1\]"),
        ("[registration]\nmin_confidence = -0.1\n", r"\[registration\] min_confidence"),
        ("[domains]\nmin_area_um2 = inf\n", r"\[domains\] min_area_um2 must be a finite"),
        ("[domains]\nmin_area_um2 = nan\n", r"\[domains\] min_area_um2"),
        ("[transport]\ntip_radius = 100.0\n", r"\[transport\] tip_radius .*100 nm = 1e-7"),
        ("[transport]\nnoise_decades = inf\n", r"\[transport\] noise_decades"),
        ("[transport]\nbandwidth_hz_per_amp = -1.0\n", r"\[transport\] bandwidth_hz_per_amp"),
        ("[classify]\nshunt_current_min = inf\n", r"\[classify\] shunt_current_min"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, body, match):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(ConfigError, match=match) as err:
        load_config(p)
    assert "bad.toml" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
