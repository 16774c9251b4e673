"""One options record (AnalysisOptions): every option is a keyword of analyze_pair, a flag of
`afmcurrent analyze` and `afmcurrent batch`, a key of the [analysis] table and a batch option,
with the same value through each route; the precedence of the routes."""

from __future__ import annotations

import dataclasses

import pytest

from afmcurrent import analyze_pair
from afmcurrent.cli import build_parser
from afmcurrent.cli._args import options_given
from afmcurrent.core.config import load_config
from afmcurrent.core.errors import ConfigError
from afmcurrent.core.options import OPTION_NAMES, AnalysisOptions, option_fields
from afmcurrent.outputs import summary
from afmcurrent.sets import BatchOptions, PairSpec
from afmcurrent.sets.options import pair_options
from afmcurrent.sim import simulate_pair

FIELDS = {f.name: f.metadata["option"] for f in option_fields()}


def cli_text(example):
    """The flag text of a TOML example value (lists: comma-separated)."""
    return ",".join(str(v) for v in example) if isinstance(example, list) else str(example)


@pytest.mark.parametrize("name", OPTION_NAMES)
def test_every_option_is_a_flag_a_toml_key_and_a_batch_option(name, tmp_path):
    spec = FIELDS[name]
    from_toml = getattr(load_config({"analysis": {name: spec.example}}).analysis, name)
    assert from_toml != getattr(AnalysisOptions(), name), "the example must differ from the default"
    flag = [spec.flag] if spec.parse is None else [spec.flag, cli_text(spec.example)]
    parser = build_parser()
    args = parser.parse_args(["analyze", "p.spm", "m.spm", "-o", str(tmp_path), *flag])
    assert options_given(args) == {name: from_toml}
    args = parser.parse_args(["batch", str(tmp_path), "-o", str(tmp_path / "b"), *flag])
    assert options_given(args) == {name: from_toml}
    batch = BatchOptions(**options_given(args))
    assert getattr(batch, name) == from_toml
    assert batch.analysis_given() == {name: from_toml}
    # and a keyword of analyze_pair (through the same record)
    assert getattr(AnalysisOptions().replace(**{name: from_toml}), name) == from_toml


def test_the_fields_are_exactly_the_options():
    assert set(FIELDS) == set(OPTION_NAMES)
    assert {f.name for f in dataclasses.fields(BatchOptions)} == {
        *OPTION_NAMES, "config", "figures", "gwy", "allow_partial"}


def test_bad_options_are_refused_with_the_key():
    with pytest.raises(ConfigError, match="unknown key.*tip_radios"):
        load_config({"analysis": {"tip_radios": "100nm"}})
    with pytest.raises(ConfigError, match="'tip_radius'.*no unit"):
        load_config({"analysis": {"tip_radius": "100"}})
    with pytest.raises(ConfigError, match="'shift'.*list of 2"):
        load_config({"analysis": {"shift": [1.0]}})
    with pytest.raises(ConfigError, match="search_radius"):
        AnalysisOptions(search_radius=-1)
    with pytest.raises(ConfigError, match="unknown option.*tip_radios"):
        analyze_pair("a.spm", "b.spm", tip_radios=1e-7)
    with pytest.raises(ConfigError, match="shift"):
        BatchOptions(shift=(1.0,))


@pytest.fixture(scope="module")
def pair():
    return simulate_pair("degraded", seed=2, shape=(48, 48))


def test_precedence_toml_then_record_then_keywords(pair):
    kw = dict(shift=(pair.truth.shift_px), logamp=pair.calibration)
    toml = {"analysis": {"tip_radius": "50nm"}, "registration": {"estimate_drift": False}}
    tip = lambda res: summary(res)["tip_radius_m"]  # noqa: E731
    assert tip(analyze_pair(pair.plus, pair.minus, config=toml, **kw)) == pytest.approx(5e-8)
    res = analyze_pair(pair.plus, pair.minus, config=toml,
                       options=AnalysisOptions(tip_radius=2e-7), **kw)
    assert tip(res) == pytest.approx(2e-7)
    assert res.options.tip_radius == pytest.approx(2e-7)
    res = analyze_pair(pair.plus, pair.minus, config=toml,
                       options=AnalysisOptions(tip_radius=2e-7), tip_radius=3e-8, **kw)
    assert tip(res) == pytest.approx(3e-8)


def test_batch_biases_apply_to_files_without_one_and_toml_fills_in(pair, tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[analysis]\ntip_radius = "80nm"\nbias_minus = -2.0\n')
    recorded = pair.plus
    unrecorded = dataclasses.replace(pair.minus, bias=None)
    spec = PairSpec(name="p", plus=tmp_path / "a", minus=tmp_path / "b", bias_minus=-1.5)
    opts = pair_options(BatchOptions(config=str(cfg), bias_plus=3.0), spec, recorded,
                        unrecorded)
    assert opts.tip_radius == pytest.approx(8e-8)  # from the [analysis] table
    assert opts.bias_plus is None  # the +V file records its bias: the header's stands
    assert opts.bias_minus == -1.5  # the manifest's first, then the options'
    spec = dataclasses.replace(spec, bias_minus=None)
    assert pair_options(BatchOptions(config=str(cfg)), spec, recorded,
                        unrecorded).bias_minus == -2.0
    # placement options only for pairs with an optical image
    opts = pair_options(BatchOptions(optical_pixel_size=5e-7), spec, recorded, unrecorded)
    assert opts.optical_pixel_size is None and opts.optical_center is None


def test_batch_fingerprint_of_the_old_options_is_unchanged():
    """Pairs written by a batch before the options record existed stay complete: options not
    given are left out of the hash of a pair's inputs."""
    old = {"height_channel": None, "current_channel": None, "bias_plus": None,
           "bias_minus": None, "logamp": None, "config": None, "tip_radius": None,
           "optical_pixel_size": None}
    assert BatchOptions(figures=False).fingerprint() == old
    assert BatchOptions(allow_partial=True).fingerprint() == {**old, "allow_partial": True}
    assert BatchOptions(search_radius=8.0).fingerprint() == {**old, "search_radius": 8.0}
    assert BatchOptions().settings() == {**old, "allow_partial": False}
