"""The public Python API: names, the result record, deprecated aliases and old module paths."""

from __future__ import annotations

import importlib
import json
import warnings

import numpy as np
import pytest

import afmcurrent
from afmcurrent import PairResult, analyze_pair, write_result
from afmcurrent.outputs import summary
from afmcurrent.pair.correlate import PairCorrelation
from afmcurrent.sim import simulate_pair


@pytest.fixture(scope="module")
def result():
    pair = simulate_pair("degraded", seed=7, shape=(48, 48))
    return analyze_pair(pair.plus, pair.minus, logamp=pair.calibration,
                        shift=pair.truth.shift_px, config={"registration":
                                                           {"estimate_drift": False}})


def test_public_names_are_listed_and_importable():
    for name in afmcurrent.__all__:
        assert getattr(afmcurrent, name) is not None, name
    shown = dir(afmcurrent)
    assert {"analyze_pair", "load_scan", "write_result", "PairResult", "Scan",
            "__version__"} <= set(shown)
    assert set(afmcurrent.__all__) <= set(shown)
    assert {"core", "io", "pair", "sim", "outputs", "sets", "cli"} <= set(shown)
    assert afmcurrent.load_scan is importlib.import_module("afmcurrent.io").load_scan


def test_result_is_a_complete_record(result):
    assert isinstance(result, PairResult)
    # computed by the pipeline: the domain table has its topography columns without any
    # later call (they came from summary() before)
    for col in ("mean_roughness_nm", "mean_slope_deg", "mean_height_nm"):
        assert col in result.domains.columns
        assert len(result.domains.columns[col]) == len(result.domains)
    assert isinstance(result.correlation, PairCorrelation)
    assert set(result.medians) == {"plus_current", "minus_current", "ionic_current",
                                   "electronic_current"}
    before = {k: np.array(v, copy=True) for k, v in result.domains.columns.items()}
    s = summary(result)
    assert set(result.domains.columns) == set(before)  # summary() changes nothing
    assert s["topography"] == result.correlation.topography
    assert s["median_currents_A"] == result.median_currents()


def test_repr_is_a_few_lines(result):
    text = repr(result)
    assert text.startswith("PairResult(") and 3 <= len(text.splitlines()) <= 6
    assert "registration" in text and "classified" in text
    assert max(len(line) for line in text.splitlines()) < 200


def test_deprecated_aliases_warn_and_still_work(result, tmp_path):
    with pytest.warns(DeprecationWarning, match="write_result"):
        written = result.write(tmp_path / "a", figures=False)
    assert (tmp_path / "a" / "summary.json").exists() and "result.h5" in written
    with pytest.warns(DeprecationWarning, match="summary"):
        s = result.summary()
    assert s.keys() == summary(result).keys()
    with pytest.warns(DeprecationWarning, match="correlation"):
        c = result.correlation()
    assert c["topography"] == result.correlation.topography
    new = write_result(result, tmp_path / "b", figures=False)
    assert json.loads(new["summary.json"].read_text())["domains"] == s["domains"]


@pytest.mark.parametrize("old, name", [
    ("afmcurrent.pipeline", "analyze_pair"),
    ("afmcurrent.logamp", "LogAmpCalibration"),
    ("afmcurrent.domains", "CLASS_NAMES"),
    ("afmcurrent.domains", "classify"),
    ("afmcurrent.batch", "run_batch"),
    ("afmcurrent.batch", "BatchOptions"),
    ("afmcurrent.simulate", "simulate_pair"),
    ("afmcurrent.output", "write_result"),
    ("afmcurrent.plotting", "plot_pair"),
    ("afmcurrent.errors", "ReadError"),
    ("afmcurrent.registration", "register"),
    ("afmcurrent.registration._resample", "inside_mask"),
])
def test_old_module_paths_warn_and_resolve(old, name):
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
        mod = importlib.import_module(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(mod, name) is not None
    with pytest.raises(AttributeError, match="no attribute"):
        mod.surely_not_there  # noqa: B018
