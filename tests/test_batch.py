"""Batch classification of map sets: pairing, pooled model, executors, faults, resume, tables."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from afmcurrent.cli import main
from afmcurrent.io.nanoscope import write_nanoscope
from afmcurrent.outputs import write_result
from afmcurrent.sets import SUMMARY_COLUMNS, BatchOptions, discover_pairs, read_manifest, run_batch
from afmcurrent.sim import simulate_pair, write_pair

PX = 64


T0 = dt.datetime(2026, 11, 2, 9, 0, 0)


def _at(scan, minutes=0.0, bias=None, size=None):
    """A copy of a simulated scan captured ``minutes`` after T0, with another bias / size."""
    t = T0 + dt.timedelta(minutes=minutes)
    meta = dict(scan.metadata, date=t.isoformat())
    return dataclasses.replace(
        scan, metadata=meta, bias=scan.bias if bias is None else bias,
        size=scan.size if size is None else size)


def _pair(root: Path, folder: str, preset: str, seed: int) -> dict:
    pair = simulate_pair(preset, seed=seed, shape=(PX, PX))
    return write_pair(root / folder, pair, prefix=f"{preset}{seed}")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Good pairs in two samples, plus decoys."""
    root = tmp_path_factory.mktemp("tree") / "runs"
    _pair(root, "cycled/area1", "degraded", 1)
    _pair(root, "cycled/area2", "degraded", 2)
    _pair(root, "coated/area1", "coated", 3)
    pair = simulate_pair("degraded", seed=4, shape=(PX, PX))
    d = root / "cycled" / "decoys"
    d.mkdir(parents=True)
    # +V, -V, +V of one area: two pairs sharing the -V scan.
    write_nanoscope(d / "rep_a_plus.spm", _at(pair.plus, 0))
    write_nanoscope(d / "rep_b_minus.spm", _at(pair.minus, 0))
    write_nanoscope(d / "rep_c_plus.spm", _at(pair.plus, 30))
    # Same scan area of another size at -V: not a partner of anything (different size).
    write_nanoscope(d / "big_minus.spm", _at(pair.minus, 2, size=(20e-6, 20e-6)))
    (d / "logamp.toml").write_text((root / "cycled/area1/logamp.toml").read_text())
    e = root / "cycled" / "samesign"
    e.mkdir()
    write_nanoscope(e / "x_plus.spm", _at(pair.plus, 0))
    write_nanoscope(e / "y_plus.spm", _at(pair.plus, 20))
    f = root / "cycled" / "tie"
    f.mkdir()
    write_nanoscope(f / "p_plus.spm", _at(pair.plus, 10))
    write_nanoscope(f / "m1_minus.spm", _at(pair.minus, 5))
    write_nanoscope(f / "m2_minus.spm", _at(pair.minus, 15))
    return root


def test_pairing_with_decoys(tree):
    p = discover_pairs(tree)
    got = {(x.plus.name, x.minus.name) for x in p.pairs}
    assert ("degraded1_plus.spm", "degraded1_minus.spm") in got
    assert ("coated3_plus.spm", "coated3_minus.spm") in got
    assert ("rep_a_plus.spm", "rep_b_minus.spm") in got
    assert ("rep_c_plus.spm", "rep_b_minus.spm") in got
    assert len(p.pairs) == 5
    repeat = [x for x in p.pairs if x.plus.name == "rep_c_plus.spm"][0]
    assert repeat.name.endswith("_repeat2")
    unpaired = {u.path.name: u.reason for u in p.unpaired}
    assert "big_minus.spm" in unpaired
    assert {"x_plus.spm", "y_plus.spm"} <= set(unpaired)
    assert "no -V scan" in unpaired["x_plus.spm"]
    amb = {u.path.name: u.reason for u in p.ambiguous}
    assert "p_plus.spm" in amb and "equally near" in amb["p_plus.spm"]
    samples = {x.sample for x in p.pairs}
    assert samples == {"cycled", "coated"}


def test_pairing_across_formats_and_duplicate_captures(tmp_path):
    """+V in a Nanoscope file pairs with -V in a .gwy or an afmcurrent .h5 (by bias, size,
    pixels, offsets and date from the registry's readers); a capture saved beside itself in a
    second format is read once."""
    from afmcurrent.io import write_gwy, write_hdf5

    pair = simulate_pair("degraded", seed=5, shape=(PX, PX))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write_nanoscope(a / "s1_plus.spm", _at(pair.plus, 0))
    write_gwy(a / "s1_minus.gwy", _at(pair.minus, 4))
    write_hdf5(b / "s2_minus.h5", _at(pair.minus, 4))
    write_nanoscope(b / "s2_plus.spm", _at(pair.plus, 0))
    write_gwy(b / "s2_plus.gwy", _at(pair.plus, 0))  # Gwyddion's copy of the same capture
    (b / "notes.txt").write_text("not a scan")  # no registered suffix: not looked at
    p = discover_pairs(tmp_path, workers=0)
    got = sorted((x.plus.name, x.minus.name) for x in p.pairs)
    assert got == [("s1_plus.spm", "s1_minus.gwy"), ("s2_plus.spm", "s2_minus.h5")]
    why = {u.path.name: u.reason for u in p.unpaired}
    assert set(why) == {"s2_plus.gwy"} and "same capture as s2_plus.spm" in why["s2_plus.gwy"]


def test_nanoscope_header_fast_path_equals_the_reader():
    """Discovery reads a Nanoscope file's text header only; the fields equal a full read."""
    from afmcurrent.io import load_scan
    from afmcurrent.sets.headers import _from_scan, _nanoscope_header

    real = Path(__file__).resolve().parents[1] / "data_samples" / "real"
    files = [real / "old_bruker.002", real / "old_bruker.004"]
    for f in files:
        assert _nanoscope_header(f) == _from_scan(load_scan(f)), f.name
    # a header without pixel data: no fast answer, the reader decides
    assert _nanoscope_header(real / "pyspm_bruker_data_header.000") is None


def test_dry_run_prints_pairing(tree, capsys, tmp_path):
    assert main(["batch", str(tree), "-o", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "5 pair(s)" in out and "ambiguous" in out and "unpaired" in out
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def manifest_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    rows = []
    for i, (preset, sample) in enumerate([("degraded", "cycled"), ("degraded", "cycled"),
                                          ("pristine", "pristine"), ("coated", "coated")]):
        paths = _pair(root, f"p{i}", preset, 10 + i)
        rows.append((paths["plus"].relative_to(root), paths["minus"].relative_to(root), sample,
                     "LICGC" if preset != "coated" else "PAN"))
    man = root / "pairs.csv"
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["plus", "minus", "sample", "group"])
        w.writerows(rows)
    return man


def _classes(outdir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for d in sorted((outdir / "pairs").iterdir()):
        with h5py.File(d / "result.h5") as f, h5py.File(d / "pooled_class.h5") as g:
            out[d.name] = (f["/maps/class"][()], g["/maps/pooled_class"][()])
    return out


@pytest.fixture(scope="module")
def serial_run(manifest_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    res = run_batch(read_manifest(manifest_set).pairs, out, BatchOptions(figures=False),
                    workers=1, progress=False)
    return out, res


def test_tables_and_report(serial_run):
    out, res = serial_run
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        fr = sum(float(r[k]) for k in ("ionic_conducting", "ionic_blocked_leaky",
                                       "electronic_shunt", "ionic_blocked_insulating"))
        assert fr == pytest.approx(1.0, abs=1e-4)
    with open(out / "samples.csv") as fh:
        samples = {(r["sample"], r["group"]): r for r in csv.DictReader(fh)}
    cyc = samples[("cycled", "LICGC")]
    assert int(cyc["n_maps"]) == 2
    # Area-weighted fraction lies between the two maps' fractions.
    f = sorted(float(r["ionic_blocked_leaky"]) for r in rows if r["sample"] == "cycled")
    assert f[0] - 1e-9 <= float(cyc["ionic_blocked_leaky"]) <= f[1] + 1e-9
    assert float(samples[("pristine", "LICGC")]["ionic_conducting"]) > 0.9
    html = (out / "report.html").read_text()
    assert html.count("<img src=\"pairs/") == 4 and "class=\"sortable\"" in html
    assert (out / "summary.png").stat().st_size > 10_000
    pooled = json.loads((out / "pooled.json").read_text())
    assert pooled["n_components"] >= 2
    import imageio.v3 as iio

    from afmcurrent.outputs.figures import CLASS_COLORS

    name = rows[0]["name"]
    thumb = iio.imread(out / "pairs" / name / "thumbnail.png")
    with h5py.File(out / "pairs" / name / "result.h5") as f:
        cls = f["/maps/class"][()]
    assert thumb.shape == (*cls.shape, 3)  # 64 px: one thumbnail pixel per map pixel
    want = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLORS])[cls]
    np.testing.assert_array_equal(thumb, want)


def test_pooled_classes_agree_with_truth(serial_run, manifest_set):
    out, res = serial_run
    for spec in read_manifest(manifest_set).pairs:
        truth = np.load(str(spec.plus).replace("_plus.spm", "_truth.npz"))["class_map"]
        _, pooled = _classes(out)[spec.name]
        k = pooled > 0
        assert k.mean() > 0.85  # all but the strip outside the registration overlap
        assert np.mean(pooled[k] == truth[k]) > 0.9, spec.name
    dis = [r["pooled_disagreement"] for r in res.rows]
    assert all(d is not None and d < 0.1 for d in dis)


@pytest.mark.slow
def test_executors_give_identical_class_maps(serial_run, manifest_set, tmp_path):
    distributed = pytest.importorskip("distributed")
    out1, _ = serial_run
    ref = _classes(out1)
    pairs = read_manifest(manifest_set).pairs
    out2 = tmp_path / "pool"
    run_batch(pairs, out2, BatchOptions(figures=False), workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        out3 = tmp_path / "dask"
        run_batch(pairs, out3, BatchOptions(figures=False), scheduler=cluster.scheduler_address,
                  progress=False)
    for out in (out2, out3):
        got = _classes(out)
        assert got.keys() == ref.keys()
        for name in ref:
            np.testing.assert_array_equal(got[name][0], ref[name][0])
            np.testing.assert_array_equal(got[name][1], ref[name][1])


def test_corrupt_file_fails_its_pair_only(manifest_set, tmp_path, capsys):
    root = tmp_path / "set"
    shutil.copytree(manifest_set.parent, root)
    bad = next(root.glob("p1/*_plus.spm"))
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # truncated capture
    out = tmp_path / "o"
    rc = main(["-q", "batch", "--manifest", str(root / "pairs.csv"), "-o", str(out),
               "--workers", "1", "--no-figures"])
    assert rc == 1
    err = capsys.readouterr().err
    assert bad.name in err
    with open(out / "summary.csv") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    failed = [r for r in rows.values() if r["status"] == "failed"]
    assert len(failed) == 1 and bad.name in failed[0]["error"]
    assert sum(r["status"] == "ok" for r in rows.values()) == 3
    assert not (out / "pairs" / failed[0]["name"]).exists()


@pytest.mark.slow
def test_kill_and_resume(manifest_set, tmp_path):
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "afmcurrent", "-q", "batch", "--manifest", str(manifest_set),
           "-o", str(out), "--workers", "1"]  # with figures: slow enough to kill mid-way
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if len(list(out.glob("pairs/*/batch.json"))) >= 1:
                break
            if proc.poll() is not None:
                pytest.fail("batch finished before it could be killed")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done_before = {p.parent.name for p in out.glob("pairs/*/batch.json")}
    assert 1 <= len(done_before) < 4
    # Inputs of one complete pair change: it must be redone, not skipped.
    changed = sorted(done_before)[0]
    spec = {s.name: s for s in read_manifest(manifest_set).pairs}[changed]
    saved = spec.plus.read_bytes()
    try:
        with open(spec.plus, "ab") as fh:
            fh.write(b"\0")
        r = subprocess.run(cmd + ["--no-figures"], capture_output=True, text=True, timeout=300)
    finally:
        spec.plus.write_bytes(saved)
    assert r.returncode == 0, r.stderr
    with open(out / "summary.csv") as fh:
        rows = {x["name"]: x for x in csv.DictReader(fh)}
    assert len(rows) == 4
    for name, row in rows.items():
        expected = "skipped" if name in done_before and name != changed else "ok"
        assert row["status"] == expected, name
    assert not [p for p in (out / "pairs").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_manifest_optical_column(tmp_path):
    import imageio.v3 as iio

    from afmcurrent.sim import simulate_optical

    pair = simulate_pair("degraded", seed=21, shape=(PX, PX))
    write_pair(tmp_path / "a", pair, prefix="d")
    # The scan (10 um = 50 optical px) near the image centre, as the paper's images show it.
    opt = simulate_optical(pair, pixel_size=0.2e-6, shape=(160, 200), box_origin_px=(77.0, 57.0))
    iio.imwrite(tmp_path / "a" / "optical.png", opt.image)
    man = tmp_path / "m.csv"
    man.write_text("plus,minus,optical\na/d_plus.spm,a/d_minus.spm,a/optical.png\n")
    out = tmp_path / "o"
    assert main(["-q", "batch", "--manifest", str(man), "-o", str(out), "--workers", "1",
                 "--no-figures", "--optical-pixel-size", "0.2um"]) == 0
    with open(out / "summary.csv") as fh:
        row = next(csv.DictReader(fh))
    assert row["status"] == "ok", row["error"]
    s = json.loads((out / "pairs" / row["name"] / "summary.json").read_text())
    x0, y0, x1, y1 = s["optical"]["box_px"]
    assert abs(x0 - opt.box_px[0]) < 1 and abs(y0 - opt.box_px[1]) < 1
    # Without the pixel size the pair fails with a clear reason.
    assert main(["-q", "batch", "--manifest", str(man), "-o", str(tmp_path / "o2"),
                 "--workers", "1", "--no-figures"]) == 1
    with open(tmp_path / "o2" / "summary.csv") as fh:
        assert "--optical-pixel-size" in next(csv.DictReader(fh))["error"]


def test_pooled_predict_matches_scikit_learn(serial_run):
    """The column-wise log-density in PooledModel.predict is GaussianMixture.predict."""
    from sklearn.mixture import GaussianMixture

    from afmcurrent.core.config import load_config
    from afmcurrent.pair.classify import Thresholds
    from afmcurrent.sets.pooled import PooledModel

    rng = np.random.default_rng(3)
    centres = np.array([[-11.0, -13.5], [-11.5, -11.6], [-13.2, -13.4], [-10.2, -10.4]])
    x = np.concatenate([c + rng.normal(0, 0.3, (3000, 2)) @ rng.normal(0, 1, (2, 2))
                        for c in centres])
    gm = GaussianMixture(4, covariance_type="full", random_state=0).fit(x)
    model = PooledModel.from_mixture(gm, np.arange(1, 5, dtype=np.uint8),
                        Thresholds.from_settings(load_config().classify), len(x))
    grid = np.stack(np.meshgrid(np.linspace(-16, -8, 300), np.linspace(-16, -8, 300)),
                    -1).reshape(-1, 2)
    for pts in (x, grid):
        np.testing.assert_array_equal(model.predict(pts), model.classes[gm.predict(pts)])
    assert model.predict(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        model.predict(np.zeros(5))


def test_pooled_sample_from_memory_equals_sample_read_back(manifest_set, tmp_path):
    """A resumed batch reads its finished pairs' pixels from result.h5: the same draw."""
    from afmcurrent.io.hdf5 import read_hdf5
    from afmcurrent.pair.pipeline import analyze_pair
    from afmcurrent.sets.pooled import (
        RESULT_CHANNELS,
        draw_sample,
        features,
        pair_features,
        pair_sample,
    )

    spec = read_manifest(manifest_set).pairs[0]
    res = analyze_pair(spec.plus, spec.minus)
    write_result(res, tmp_path / "r", figures=False)
    mem, idx_mem = features(res.maps.plus_current, res.maps.electronic_current)
    disk, idx_disk, rule = pair_features(read_hdf5(tmp_path / "r" / "result.h5",
                                                   channels=RESULT_CHANNELS))
    np.testing.assert_array_equal(idx_mem, idx_disk)
    np.testing.assert_array_equal(mem, disk)
    np.testing.assert_array_equal(rule, res.class_map)
    np.testing.assert_array_equal(draw_sample(mem, "a", 500, 1), draw_sample(disk, "a", 500, 1))
    for n in (500, 10**7):  # the shortcut the batch uses: logs of the drawn pixels only
        np.testing.assert_array_equal(
            pair_sample(res.maps.plus_current, res.maps.electronic_current, "a", n, 1),
            draw_sample(mem, "a", n, 1))
    # the usable pixels are those the float64 route finds finite
    with np.errstate(all="ignore"):
        ref = np.isfinite(np.log10(res.maps.plus_current.astype(np.float32).astype(float)))
        ref &= np.isfinite(np.log10(res.maps.electronic_current.astype(np.float32).astype(float)))
    np.testing.assert_array_equal(idx_mem, np.flatnonzero(ref))
    assert not np.array_equal(draw_sample(mem, "a", 500, 1), draw_sample(mem, "b", 500, 1))


def test_failed_pooled_fit_and_figure_keep_the_tables(manifest_set, tmp_path, monkeypatch,
                                                      caplog):
    """Neither a pooled model that cannot be fitted nor a figure that fails loses the rows."""
    import afmcurrent.sets.run
    from afmcurrent.core.errors import AfmcurrentError

    def no_fit(*args, **kwargs):
        raise AfmcurrentError("pooled classification: too few usable pixels in the set")

    def no_figure(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(afmcurrent.sets.run, "fit_pooled", no_fit)
    monkeypatch.setattr(afmcurrent.sets.run, "write_summary_figure", no_figure)
    out = tmp_path / "o"
    pairs = read_manifest(manifest_set).pairs[:2]
    # in this process: the patched functions are local objects, which cannot be sent to a
    # worker process
    res = run_batch(pairs, out, BatchOptions(figures=False), workers=0, progress=False)
    assert [r["status"] for r in res.rows] == ["ok", "ok"]
    assert res.pooled is None and not (out / "pooled.json").exists()
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(r["pooled_disagreement"] == "" for r in rows)
    assert "summary.png" not in res.files and not (out / "summary.png").exists()
    assert "no summary figure" in (out / "report.html").read_text()
    assert "too few usable pixels" in caplog.text and "renderer exploded" in caplog.text


def test_malformed_batch_json_redoes_its_pair(manifest_set, tmp_path):
    pairs = read_manifest(manifest_set).pairs[:2]
    out = tmp_path / "o"
    run_batch(pairs, out, BatchOptions(figures=False), workers=1, progress=False, report=False)
    marker = out / "pairs" / pairs[0].name / "batch.json"
    stored = json.loads(marker.read_text())
    del stored["row"]  # same input hash, but no row: not a complete result
    marker.write_text(json.dumps(stored))
    res = run_batch(pairs, out, BatchOptions(figures=False), workers=1, progress=False,
                    report=False)
    assert [r["status"] for r in res.rows] == ["ok", "skipped"]
    assert res.pooled is not None and (out / "pairs" / pairs[1].name / "pooled_class.h5").exists()


def _rule_clusters(rng, n=3000):
    """Feature clouds (log10 I(+V), log10 I_e) in the four rule regions, class 4 small."""
    centres = {1: (-11.5, -14.9), 2: (-14.1, -14.3), 3: (-9.6, -9.7), 4: (-13.6, -14.95)}
    sizes = {1: n, 2: 4 * n, 3: n // 2, 4: n // 8}
    x = [np.array(centres[c]) + rng.normal(0, [0.25, 0.05], (sizes[c], 2)) for c in centres]
    return np.concatenate(x)


def test_pooled_model_represents_every_class_deterministically():
    from scipy.stats import multivariate_normal

    from afmcurrent.core.config import load_config
    from afmcurrent.pair.classify import Thresholds
    from afmcurrent.sets.pooled import fit_pooled, missing_classes, rule_classes

    th = Thresholds.from_settings(load_config().classify)
    x = _rule_clusters(np.random.default_rng(2))
    labels = rule_classes(x, th)
    assert np.bincount(labels, minlength=5)[4] > 100  # class 4 present in the pooled pixels
    a = fit_pooled({"a": x[::2], "b": x[1::2]}, th, seed=0)
    b = fit_pooled({"a": x[::2], "b": x[1::2]}, th, seed=7)  # no thinning: seed irrelevant
    assert sorted(a.classes.tolist()) == [1, 2, 3, 4]
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.weights, b.weights)
    # predict = the most probable component by an independent density (scipy)
    grid = np.stack(np.meshgrid(np.linspace(-16, -8, 120), np.linspace(-16, -8, 120)),
                    -1).reshape(-1, 2)
    for pts in (x, grid):
        logp = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(pts)
                         for w, m, c in zip(a.weights, a.means, a.covariances, strict=True)])
        np.testing.assert_array_equal(a.predict(pts), a.classes[np.argmax(logp, axis=0)])
    # the pooled classes agree with the rules on these well separated clouds
    assert np.mean(a.predict(x) == labels) > 0.97
    # a class the per-pair rules found without a component is named
    rows = [{"ionic_conducting": 0.1, "ionic_blocked_leaky": 0.9, "electronic_shunt": 0.0,
             "ionic_blocked_insulating": 0.02}]
    assert missing_classes(a, rows) == []
    no4 = fit_pooled({"a": x[labels != 4]}, th)
    msg = missing_classes(no4, rows)
    assert len(msg) == 1 and "class 4 (ionic_blocked_insulating)" in msg[0]


def test_pooled_class4_on_simulated_set():
    """Simulated degraded maps with 3 % true class 4: the pooled model finds it (issue 9:
    0 % before) and agrees with the truth on most pixels."""
    from afmcurrent.core.config import load_config
    from afmcurrent.pair.classify import Thresholds
    from afmcurrent.pair.pipeline import analyze_pair
    from afmcurrent.sets.pooled import features, fit_pooled, pair_sample
    from afmcurrent.sim import simulate_pair

    results = []
    for seed in (31, 32):
        p = simulate_pair("degraded", seed=seed, shape=(128, 128))
        results.append((p, analyze_pair(p.plus, p.minus, logamp=p.calibration)))
    samples = {str(i): pair_sample(r.maps.plus_current, r.maps.electronic_current, str(i))
               for i, (_, r) in enumerate(results)}
    model = fit_pooled(samples, Thresholds.from_settings(load_config().classify))
    assert 4 in model.classes
    for p, r in results:
        f, idx = features(r.maps.plus_current, r.maps.electronic_current)
        pooled = np.zeros(r.class_map.size, np.uint8)
        pooled[idx] = model.predict(f)
        truth = p.truth.class_map.ravel()
        share4 = np.mean(pooled[pooled > 0] == 4)
        assert 0.01 < share4 < 0.05, share4
        both = pooled > 0
        assert np.mean(pooled[both] == truth[both]) > 0.97


def test_batch_outputs_compact_by_default_gwy_and_figures_opt_in(manifest_set, tmp_path):
    pairs = read_manifest(manifest_set).pairs[:1]
    out = tmp_path / "o"
    run_batch(pairs, out, BatchOptions(), workers=0, progress=False, report=False)
    d = out / "pairs" / pairs[0].name
    assert (d / "result.h5").is_file() and (d / "summary.json").is_file()
    assert not (d / "result.gwy").exists() and not (d / "figure.png").exists()
    with h5py.File(d / "result.h5") as f:
        assert f["maps/ionic_current"].chunks is not None
    # asking for result.gwy later redoes the pair (its inputs are unchanged, its files not)
    res = run_batch(pairs, out, BatchOptions(gwy=True), workers=0, progress=False,
                    report=False)
    assert res.rows[0]["status"] == "ok" and (d / "result.gwy").is_file()
    res = run_batch(pairs, out, BatchOptions(gwy=True), workers=0, progress=False,
                    report=False)
    assert res.rows[0]["status"] == "skipped"
