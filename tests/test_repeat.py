"""The repeat scan (+V, -V, +V): what the measurement changed, against simulated truth.

The sample is changed between the two +V scans by a known amount (a disc whose ionic current
drops by 2 decades, as if the probe had blocked the ion conduction under it), or not at all
(only the noise and the displacement differ). Seeds 1-5 were looked at while writing
``afmcurrent.pair.repeat``; the seeds here are held out.
"""

from __future__ import annotations

import csv
import json

import h5py
import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.cli import main
from afmcurrent.core.config import load_config
from afmcurrent.io import read_result, write_nanoscope
from afmcurrent.pair.classify import Thresholds, rule_classes
from afmcurrent.pair.repeat import compare_results
from afmcurrent.sim import simulate_pair
from afmcurrent.sim.repeat import SampleChange, simulate_repeat

N = 96


def _analyse(rep):
    a = analyze_pair(rep.pair.plus, rep.pair.minus, logamp=rep.pair.calibration)
    b = analyze_pair(rep.plus_again, rep.pair.minus, logamp=rep.pair.calibration)
    return a, b, compare_results(a, b)


def _true_class_change(rep):
    """Share of the frame whose rule class changes with the true currents (noise-free)."""
    t = rep.pair.truth
    th = Thresholds.from_settings(load_config().classify)
    lp = np.log10(t.ionic_current + t.electronic_current).ravel()
    le = np.log10(t.electronic_current).ravel()
    before = rule_classes(np.c_[lp, le], th)
    after = rule_classes(np.c_[lp + rep.true_change_decades.ravel(), le], th)
    return float(np.mean(before != after))


@pytest.mark.parametrize("seed", [21, 22])
def test_a_known_change_is_found_where_it_is(seed):
    change = SampleChange((0.45 * N, 0.55 * N), 0.2 * N, ionic_decades=-2.0)
    rep = simulate_repeat("pristine", seed=seed, shape=(N, N), change=change)
    _, _, c = _analyse(rep)
    assert c.compared and c.warning is not None
    assert "would change class" in c.warning
    # where: the pixels beyond the noise are the changed disc
    measured = np.isfinite(c.change)
    inside, outside = rep.changed & measured, ~rep.changed & measured
    assert c.significant[inside].mean() > 0.95
    assert c.significant[outside].mean() < 0.03
    # how much: the median change in the disc is the true one
    assert np.median(c.change[inside]) == pytest.approx(
        np.median(rep.true_change_decades[rep.changed]), abs=0.1)
    assert c.decreased_fraction > 10 * c.increased_fraction
    # the class change: the disc's ionic-conducting pixels become insulating; the analysis
    # counts only pixels classified in both (undetermined ones are left out), so it finds
    # most, never more, of the true share
    true = _true_class_change(rep)
    assert 0.5 * true <= c.class_change_fraction <= 1.1 * true
    assert max(c.transitions, key=c.transitions.get) == \
        "ionic_conducting->ionic_blocked_insulating"


@pytest.mark.parametrize("preset, seed", [("pristine", 23), ("degraded", 24)])
def test_nothing_changed_no_warning(preset, seed):
    rep = simulate_repeat(preset, seed=seed, shape=(N, N))
    _, _, c = _analyse(rep)
    assert c.compared and c.warning is None
    assert c.class_change_fraction < 0.01
    assert c.changed_fraction < 0.05  # the noise's false positives at 2 sigma
    assert abs(c.median_change_decades) < 0.02
    # the registration of the repeat onto the first +V scan is the simulated one
    assert c.registration.shift == pytest.approx(rep.shift_px, abs=0.25)


def test_scans_that_cannot_be_registered_are_not_compared():
    one = simulate_pair("pristine", seed=25, shape=(N, N))
    a = analyze_pair(one.plus, one.minus, logamp=one.calibration)
    other = simulate_pair("degraded", seed=26, shape=(N, N))
    b = analyze_pair(other.plus, other.minus, logamp=other.calibration)
    c = compare_results(a, b)
    assert not c.compared and "could not be registered" in c.reason
    d = c.to_dict()
    assert d["changed_fraction"] is None and d["class_change_fraction"] is None
    assert d["warning"] is None


@pytest.fixture(scope="module")
def repeat_files(tmp_path_factory):
    """+V, -V, +V of a changed area (A1) and of an unchanged one (A2), as files."""
    root = tmp_path_factory.mktemp("repeat_files")
    out = {}
    for area, seed, change in (("A1", 27, SampleChange((40, 50), 20, ionic_decades=-2.0)),
                               ("A2", 28, None)):
        rep = simulate_repeat("pristine", seed=seed, shape=(N, N), change=change)
        d = root / "S" / area
        d.mkdir(parents=True)
        write_nanoscope(d / "p1.spm", rep.pair.plus)
        write_nanoscope(d / "m.spm", rep.pair.minus)
        write_nanoscope(d / "p2.spm", rep.plus_again)
        (d / "logamp.toml").write_text(rep.pair.calibration.to_toml())
        out[area] = d
    out["root"] = root
    return out


@pytest.mark.slow
def test_analyze_with_repeat_writes_map_figure_and_warning(repeat_files, tmp_path, capsys):
    d = repeat_files["A1"]
    out = tmp_path / "out"
    assert main(["analyze", str(d / "p1.spm"), str(d / "m.spm"), "--repeat", str(d / "p2.spm"),
                 "-o", str(out)]) == 0
    cap = capsys.readouterr()
    assert "repeat: " in cap.out and "would change class" in cap.out
    assert cap.err.count("the repeated +V scan") == 1  # the warning once, on stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["repeat"]["compared"] and s["repeat"]["warning"] in s["warnings"]
    assert s["repeat"]["later"].endswith("p2.spm")
    assert "repeat.png" in s["files"] and (out / "repeat.png").stat().st_size > 20_000
    with h5py.File(out / "result.h5") as f:
        change = f["repeat/change"][()]
        assert change.shape == (N, N) and f["repeat/change"].attrs["units"] == "decades"
        assert np.nanmin(change) < -1.5
    stored = read_result(out)
    assert set(stored.repeat_maps) == {"change", "significant", "class_changed"}


@pytest.mark.slow
def test_batch_compares_repeated_scans(repeat_files, tmp_path, capsys):
    out = tmp_path / "batch"
    assert main(["batch", str(repeat_files["root"]), "-o", str(out), "--workers", "0",
                 "--no-figures"]) == 0
    capsys.readouterr()
    rows = {r["name"]: r for r in csv.DictReader((out / "summary.csv").open())}
    changed, same = rows["S__A1__p1"], rows["S__A2__p1"]
    assert changed["repeat_pair"] == "S__A1__p2_repeat2"
    assert rows["S__A1__p2_repeat2"]["repeat_pair"] == "S__A1__p1"
    assert float(changed["repeat_class_change_fraction"]) > 0.05
    assert "the repeated +V scan" in changed["warnings"]
    assert float(same["repeat_class_change_fraction"]) < 0.01
    assert "the repeated +V scan" not in same["warnings"]
    s = json.loads((out / "pairs" / "S__A1__p1" / "summary.json").read_text())
    assert s["repeat"]["compared"] and s["repeat"]["warning"] in s["warnings"]
    assert json.loads((out / "pairs" / "S__A2__p1" / "summary.json").read_text()
                      )["repeat"]["warning"] is None


def test_analyze_session_compares_its_repeated_plus_scan(tmp_path, capsys):
    from test_session_input import write_session

    rep = simulate_repeat("pristine", seed=29, shape=(64, 64))
    full = [(rep.pair.plus, "complete", 64, ""), (rep.pair.minus, "complete", 64, ""),
            (rep.plus_again, "complete", 64, "")]
    session = write_session(tmp_path / "S_A1.h5", full, rep.pair.calibration)
    out = tmp_path / "out"
    assert main(["analyze", str(session), "-o", str(out), "--no-figures"]) == 0
    cap = capsys.readouterr()
    assert "+V scan 2 repeats +V scan 0" in cap.out
    s = json.loads((out / "summary.json").read_text())
    r = s["repeat"]
    assert r["compared"] and r["warning"] is None
    assert r["earlier"].endswith("S_A1.h5 (scan 0)") and r["later"].endswith("(scan 2)")
    assert r["class_change_fraction"] < 0.01


def test_three_scans_of_one_area_are_compared_in_a_chain_one_writer_per_folder(tmp_path):
    """+V, -V, +V, +V: three pairs share the -V scan. Each +V scan is compared with the next,
    so no pair's folder is written by two comparisons (they run at once on the workers), and
    the rows do not depend on the order in which the comparisons finish."""
    from itertools import permutations

    from afmcurrent.sets.pairing import PairSpec
    from afmcurrent.sets.repeat import apply_repeat_rows, repeat_groups

    m = tmp_path / "m.spm"
    specs = [PairSpec(n, tmp_path / f"{n}.spm", m) for n in ("p1", "p2_repeat2", "p3_repeat3")]
    other = PairSpec("q1", tmp_path / "q1.spm", tmp_path / "m2.spm")
    groups = repeat_groups([specs[0], other, *specs[1:]])
    assert [(a.name, b.name) for a, b in groups] == [("p1", "p2_repeat2"),
                                                       ("p2_repeat2", "p3_repeat3")]
    writers = [a.name for a, _ in groups]
    assert len(writers) == len(set(writers))  # one comparison writes into a folder
    earlier = frozenset(writers)
    outcomes = [{"first": a.name, "later": b.name, "warning": None,
                 "comparison": {"compared": True, "changed_fraction": k,
                                "class_change_fraction": k, "median_change_decades": k}}
                for k, (a, b) in enumerate(groups)]
    seen = set()
    for order in permutations(outcomes):
        rows = {s.name: {"status": "ok"} for s in specs}
        for o in order:
            apply_repeat_rows(rows, o, earlier)
        seen.add(tuple((n, r["repeat_pair"], r["repeat_changed_fraction"])
                       for n, r in sorted(rows.items())))
    assert seen == {(("p1", "p2_repeat2", 0), ("p2_repeat2", "p3_repeat3", 1),
                     ("p3_repeat3", "p2_repeat2", 1))}
