"""One bad file never takes down a batch (issue 10, item 8): fault injection with files that
really crash or hang their reader, a worker that dies, another batch's output folder, and
symlinks where atomic writes put their temporary files.

Crashing and hanging readers: real damaged files (a Nanoscope header with 1e400, a truncated
.gwy on which gwyfile loops for ever, an HDF5 file on which libhdf5 segfaults), and test-only
formats registered by monkeypatching the registry (forked worker processes inherit the patch):
``.crash`` whose reader calls ``os.abort()``, ``.hang`` whose reader never returns, ``.rawh5``
whose reader walks an HDF5 file with h5py directly (so libhdf5's segfault is real).
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

import afmcurrent.io.registry as registry
from afmcurrent.cli import main
from afmcurrent.core.errors import OutputExistsError
from afmcurrent.io import write_gwy
from afmcurrent.outputs.writers import atomic_path
from afmcurrent.sets import BatchOptions, PairSpec, discover_pairs, read_manifest, run_batch
from afmcurrent.sets.isolation import IsolatedPool, TaskTimeout, WorkerDied
from afmcurrent.sim import simulate_pair, write_pair

PX = 48


def _abort_reader(path: Path):
    os.abort()  # SIGABRT: the interpreter dies as in a libhdf5 segfault


def _hang_reader(path: Path):
    while True:
        time.sleep(0.05)


def _h5_walk(path) -> int:
    """Read every dataset and attribute of an HDF5 file with h5py (no checks of ours)."""
    import h5py

    n = 0
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            nonlocal n
            for k in obj.attrs:
                obj.attrs[k]
            if isinstance(obj, h5py.Dataset):
                obj[()]
                n += 1
        f.visititems(visit)
    return n


def _fake_format(name: str, magic: bytes, reader) -> registry.ScanFormat:
    return registry.ScanFormat(
        name=name, vendor="test", description="test-only", suffixes=(f".{name}",),
        sniff=lambda head: head.startswith(magic), read=reader, library="-")


@pytest.fixture
def bad_formats(monkeypatch):
    """Registry with two extra test formats: ``.crash`` (reader aborts), ``.hang`` (loops)."""
    monkeypatch.setattr(registry, "FORMATS", (
        _fake_format("crash", b"CRASH", _abort_reader),
        _fake_format("hang", b"HANG", _hang_reader),
        _fake_format("rawh5", b"\x89HDF", _h5_walk),
        *registry.FORMATS))


def _segfaulting_hdf5(path: Path) -> Path:
    """An HDF5 file on which libhdf5 segfaults: one byte of a file written by h5py changed
    (found by a mutation search of this project; position 2001 of h5py 3.16 / HDF5 2.0's
    file). Skips the test when this libhdf5 does not crash on it (another library version)."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        ds = f.create_dataset("maps/height", data=np.arange(256.0).reshape(16, 16))
        ds.attrs["units"] = "m"
        f.attrs["format"] = "test"
    data = bytearray(path.read_bytes())
    data[2001] = 255
    path.write_bytes(bytes(data))
    with IsolatedPool(1, timeout=10) as pool:
        err = pool.submit(_h5_walk, path).exception()
    if not (isinstance(err, WorkerDied) and "SIGSEGV" in str(err)):
        pytest.skip(f"this libhdf5 does not crash on the mutant ({err!r})")
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    pair = simulate_pair("degraded", seed=7, shape=(PX, PX))
    return write_pair(root / "ok", pair, prefix="g"), pair


def _bad_tree(root: Path, good) -> Path:
    """A folder tree with one good pair and every kind of bad file, each in its own folder."""
    paths, pair = good
    ok = root / "ok"
    ok.mkdir(parents=True)
    for key in ("plus", "minus", "logamp"):
        (ok / paths[key].name).write_bytes(paths[key].read_bytes())
    # Nanoscope header whose scan size is 1e400 (an OverflowError in int() of it, once)
    d = root / "overflow"
    d.mkdir()
    text = paths["plus"].read_bytes()
    assert text.count(b"\\Scan size: 10000 10000 nm") == 2  # same length: data offsets hold
    (d / "o_plus.spm").write_bytes(text.replace(b"10000 10000 nm", b"1e400 1e400 nm"))
    # .gwy truncated inside a string (no terminating NUL)
    d = root / "gwy"
    d.mkdir()
    write_gwy(d / "full.gwy", pair.plus)
    data = (d / "full.gwy").read_bytes()
    cut = data.index(b"si_unit_xy") + 5
    (d / "t_plus.gwy").write_bytes(data[:cut])
    (d / "full.gwy").unlink()
    # the test-only formats
    d = root / "crash"
    d.mkdir()
    (d / "x.crash").write_bytes(b"CRASH" + bytes(100))
    (d / "y.hang").write_bytes(b"HANG" + bytes(100))
    d = root / "hdf5"
    d.mkdir()
    seg = _segfaulting_hdf5(d / "s.rawh5")
    (d / "s_plus.h5").write_bytes(seg.read_bytes())
    return root


def test_discovery_survives_crashing_and_hanging_readers(bad_formats, good, tmp_path):
    root = _bad_tree(tmp_path / "tree", good)
    t0 = time.monotonic()
    p = discover_pairs(root, workers=2, timeout=1.0)
    took = time.monotonic() - t0
    assert [(s.plus.name, s.minus.name) for s in p.pairs] == [("g_plus.spm", "g_minus.spm")]
    why = {u.path.name: u.reason for u in p.unpaired}
    assert "unreadable" in why["o_plus.spm"]
    assert "unreadable" in why["t_plus.gwy"]
    assert "crashed or hung" in why["x.crash"] and "SIGABRT" in why["x.crash"]
    assert "crashed or hung" in why["y.hang"] and "time limit" in why["y.hang"]
    assert "crashed or hung" in why["s.rawh5"] and "SIGSEGV" in why["s.rawh5"]
    assert "unreadable" in why["s_plus.h5"]  # our HDF5 reader: a ReadError or a crash
    assert took < 10


def _manifest(root: Path, good, bad: list[str]) -> Path:
    paths, _ = good
    rows = [("ok", paths["plus"], paths["minus"])]
    for name in bad:
        f = root / name
        if name.endswith(".rawh5"):
            _segfaulting_hdf5(f)
        else:
            f.write_bytes((b"CRASH" if name.endswith(".crash") else b"HANG") + bytes(64))
        rows.append((f.stem, f, paths["minus"]))
    man = root / "pairs.csv"
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["plus", "minus", "sample"])
        for sample, plus, minus in rows:
            w.writerow([plus, minus, sample])
    return man


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_that_dies_fails_its_pair_alone(bad_formats, good, tmp_path, workers):
    man = _manifest(tmp_path, good, ["a.crash", "b.rawh5"])
    out = tmp_path / "o"
    res = run_batch(read_manifest(man).pairs, out, BatchOptions(figures=False, logamp=str(
        good[0]["logamp"])), workers=workers, progress=False, report=False)
    status = {r["sample"]: (r["status"], r["error"]) for r in res.rows}
    assert status["ok"] == ("ok", "")
    for s, sig in (("a", "SIGABRT"), ("b", "SIGSEGV")):  # os.abort(), libhdf5's segfault
        assert status[s][0] == "failed" and "WorkerDied" in status[s][1] and sig in status[s][1]
    with open(out / "summary.csv") as fh:
        assert [r["status"] for r in csv.DictReader(fh)].count("ok") == 1
    assert res.pooled is not None  # the pooled model of the pair that worked
    assert not [p for p in (out / "pairs").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_pair_that_hangs_is_killed_at_the_time_limit(bad_formats, good, tmp_path, capsys):
    man = _manifest(tmp_path, good, ["h.hang"])
    out = tmp_path / "o"
    t0 = time.monotonic()
    rc = main(["-q", "batch", "--manifest", str(man), "-o", str(out), "--no-figures",
               "--workers", "1", "--timeout", "2", "--logamp", str(good[0]["logamp"])])
    assert rc == 1 and time.monotonic() - t0 < 30
    assert "TaskTimeout" in capsys.readouterr().err
    with open(out / "summary.csv") as fh:
        rows = {r["sample"]: r for r in csv.DictReader(fh)}
    assert rows["ok"]["status"] == "ok" and rows["h"]["status"] == "failed"
    assert "time limit of 2 s" in rows["h"]["error"]


def test_isolated_pool_contract(good, tmp_path):
    import gwyfile

    # gwyfile itself loops for ever on a .gwy truncated inside a string (no terminating NUL)
    full = tmp_path / "f.gwy"
    write_gwy(full, good[1].plus)
    data = full.read_bytes()
    trunc = tmp_path / "t.gwy"
    trunc.write_bytes(data[:data.index(b"si_unit_xy") + 5])
    with IsolatedPool(1, timeout=1.0) as pool:
        crash = pool.submit(os.abort)
        hang = pool.submit(gwyfile.load, str(trunc))
        fine = pool.submit(divmod, 7, 2)
        bad = pool.submit(int, "x")
        assert fine.result() == (3, 1)  # after two replacements of the one worker
        with pytest.raises(WorkerDied, match="SIGABRT"):
            crash.result()
        with pytest.raises(TaskTimeout):
            hang.result()
        with pytest.raises(ValueError):
            bad.result()
        assert pool.replaced == 2


def test_other_batch_in_outdir_is_refused(good, tmp_path, capsys):
    paths, _ = good
    spec = PairSpec("p", paths["plus"], paths["minus"])
    out = tmp_path / "o"
    opts = BatchOptions(figures=False)
    run_batch([spec], out, opts, workers=0, progress=False, report=False)
    # the same batch again: resumed (skipped), tables rewritten
    res = run_batch([spec], out, opts, workers=0, progress=False, report=False)
    assert res.rows[0]["status"] == "skipped"
    # other settings: refused, nothing touched
    with pytest.raises(OutputExistsError, match="tip_radius"):
        run_batch([spec], out, BatchOptions(figures=False, tip_radius=50e-9), workers=0,
                  progress=False, report=False)
    # other inputs (the pair list): refused
    other = PairSpec("q", paths["plus"], paths["minus"])
    with pytest.raises(OutputExistsError, match="another batch"):
        run_batch([other], out, opts, workers=0, progress=False, report=False)
    assert (out / "pairs" / "p" / "summary.json").is_file()
    # --overwrite: the other batch's results are removed, the new one written
    res = run_batch([other], out, opts, workers=0, progress=False, report=False,
                    overwrite=True)
    assert res.rows[0]["status"] == "ok" and not (out / "pairs" / "p").exists()
    # a folder of an earlier version (no batch.json): its pair folders must be of these pairs
    (out / "batch.json").unlink()
    res = run_batch([other], out, opts, workers=0, progress=False, report=False)
    assert res.rows[0]["status"] == "skipped"
    (out / "batch.json").unlink()
    with pytest.raises(OutputExistsError, match="pair q of other inputs"):
        run_batch([spec], out, opts, workers=0, progress=False, report=False)
    # CLI: another ROOT into the same OUTDIR
    rc = main(["-q", "batch", str(paths["plus"].parent), "-o", str(out), "--workers", "0"])
    assert rc == 1 and "--overwrite" in capsys.readouterr().err


def test_atomic_writes_never_follow_symlinks(tmp_path, monkeypatch):
    import secrets

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    # a symlink planted at the temporary name that would be drawn first
    names = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
    (out / ".summary.csv.aaaaaaaaaaaa.partial").symlink_to(victim)
    # and the file itself is a symlink to the victim: replaced, not written through
    (out / "summary.csv").symlink_to(victim)
    with atomic_path(out / "summary.csv") as tmp:
        assert tmp.name == ".summary.csv.bbbbbbbbbbbb.partial" and not tmp.is_symlink()
        tmp.write_text("new")
    assert victim.read_text() == "keep"
    assert not (out / "summary.csv").is_symlink() and (out / "summary.csv").read_text() == "new"


def test_help_says_how_workers_isolate(capsys):
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "does NOT isolate crashes" in text and "--timeout" in text
