"""Acquire's session files as inputs of info, analyze and batch (issue 10, item 6).

Sessions are written with acquisition's own writer (tests may import acquisition; afmcurrent
never does) from simulated pairs with ground truth; a session left by a writer killed with
SIGKILL is opened without h5clear.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.cli import main
from afmcurrent.core.errors import ReadError
from afmcurrent.io import load_scan
from afmcurrent.io.session import load_session_pair, read_session, read_session_scan
from afmcurrent.sets.pairing import discover_pairs
from afmcurrent.sim import simulate_pair

PX = 64


def write_session(path: Path, scans, calibration, attrs=None) -> Path:
    """Write a session: ``scans`` = [(Scan, status, lines to write, reason)], in order."""
    from acquisition.session import HEIGHT, ScanPlan, SessionFile

    plans = [ScanPlan(s.bias, s.shape[0], s.shape[1], s.size, s.offset, 2.0) for s, *_ in scans]
    with SessionFile(path, plans, attrs or {"sample": "LICGC", "area": "A1"},
                     calibration) as f:
        for i, (scan, status, n, reason) in enumerate(scans):
            if status == "planned":
                continue
            f.start_scan(i)
            h = scan.channel(HEIGHT).data
            v = scan.find_channel({"V"}).data
            for r in range(n):
                f.write_line(i, r, h[r], v[r])
            if status != "running":
                f.finish_scan(i, status, reason)
    return path


@pytest.fixture(scope="module")
def sim():
    return simulate_pair("degraded", seed=21, shape=(PX, PX))


@pytest.fixture(scope="module")
def sessions(sim, tmp_path_factory):
    root = tmp_path_factory.mktemp("sessions")
    full = [(sim.plus, "complete", PX, ""), (sim.minus, "complete", PX, ""),
            (sim.plus, "complete", PX, "")]
    ok = write_session(root / "good" / "S_A1_ok.h5", full, sim.calibration)
    aborted = write_session(
        root / "bad" / "S_A1_aborted.h5",
        [(sim.plus, "complete", PX, ""),
         (sim.minus, "aborted", 40, "interlock: 1.2e-07 A for 5 consecutive pixels (a shunt)"),
         (sim.plus, "planned", 0, "")], sim.calibration)
    return {"ok": ok, "aborted": aborted, "root": root}


def test_info_lists_scans(sim, sessions, capsys):
    assert main(["info", str(sessions["aborted"])]) == 0
    out = capsys.readouterr().out
    lines = [ln.split() for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert [ln[:4] for ln in lines] == [["0", "+1", "V", "complete"], ["1", "-1", "V", "aborted"],
                                        ["2", "+1", "V", "planned"]]
    assert lines[0][4] == f"{PX}/{PX}" and lines[1][4] == f"40/{PX}" and lines[2][4] == f"0/{PX}"
    assert "interlock: 1.2e-07 A for 5 consecutive pixels" in out
    assert "complete +V/-V pairs (--pair PLUS,MINUS): none" in out
    assert main(["info", "--json", str(sessions["ok"])]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["pairs"] == [[0, 1], [2, 1]]
    assert [s["status"] for s in info["scans"]] == ["complete"] * 3
    assert info["calibration"]["logamp"] == sim.calibration.to_dict()


def test_analyze_session_equals_the_pair_and_the_truth(sim, sessions, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["analyze", str(sessions["ok"]), "-o", str(out), "--no-figures"]) == 0
    assert "+V scan 0, -V scan 1" in capsys.readouterr().out
    with h5py.File(out / "result.h5") as f:
        got = f["/maps/class"][()]
    # the same analysis of the simulated scans, with the same calibration: identical classes
    ref = analyze_pair(sim.plus, sim.minus, logamp=sim.calibration)
    np.testing.assert_array_equal(got, ref.class_map)
    k = got > 0
    # 64 x 64: the rows at the overlap edges are not registered (masked), ~3 % of this frame
    assert k.mean() > 0.75 and np.mean(got[k] == sim.truth.class_map[k]) > 0.9
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["plus"]["bias_V"] == 1.0
    assert summary["inputs"]["minus"]["bias_V"] == -1.0
    assert summary["calibration"]["volts_per_decade"] == sim.calibration.volts_per_decade
    # --pair 2,1: the second +V scan (same data here) with the -V scan
    out2 = tmp_path / "o2"
    assert main(["-q", "analyze", str(sessions["ok"]), "-o", str(out2), "--no-figures",
                 "--pair", "2,1"]) == 0
    with h5py.File(out2 / "result.h5") as f:
        np.testing.assert_array_equal(f["/maps/class"][()], got)
    # wrong order: the +V scan comes first
    assert main(["analyze", str(sessions["ok"]), "-o", str(tmp_path / "o3"), "--pair",
                 "1,0"]) == 1
    assert "not a +V scan" in capsys.readouterr().err


def test_aborted_scan_refused_then_partial_is_cropped(sim, sessions, tmp_path, capsys):
    path = str(sessions["aborted"])
    assert main(["analyze", path, "-o", str(tmp_path / "o"), "--pair", "0,1"]) == 1
    err = capsys.readouterr().err
    assert "aborted: interlock" in err and "--allow-partial" in err
    assert main(["analyze", path, "-o", str(tmp_path / "o")]) == 1  # no complete pair
    assert "no consecutive +V/-V pair of complete scans" in capsys.readouterr().err
    out = tmp_path / "p"
    assert main(["analyze", path, "-o", str(out), "--no-figures",
                 "--allow-partial"]) == 0
    assert "cropped to rows 0-39" in capsys.readouterr().out
    with h5py.File(out / "result.h5") as f:
        cls = f["/maps/class"][()]
        size = f.attrs["size_m"]
    assert cls.shape == (40, PX)
    np.testing.assert_allclose(size, [sim.plus.size[0] * 40 / PX, sim.plus.size[1]])
    truth = sim.truth.class_map[:40]
    k = cls > 0
    assert k.mean() > 0.7 and np.mean(cls[k] == truth[k]) > 0.9
    # Python: the same through load_session_pair
    pair = load_session_pair(path, allow_partial=True)
    assert pair.rows == (0, 40) and pair.plus.shape == (40, PX)
    assert pair.plus.metadata["rows"] == [0, 40] and pair.minus.metadata["session_scan"] == 1
    with pytest.raises(ReadError, match="not started"):
        read_session_scan(path, 2, allow_partial=True)


def test_load_scan_refuses_a_session_naming_its_scans(sessions):
    with pytest.raises(ReadError, match=r"--pair PLUS,MINUS") as e:
        load_scan(sessions["ok"])
    assert "3 scan(s)" in str(e.value)
    scan = read_session_scan(sessions["ok"], 1)
    assert scan.bias == -1.0 and scan.shape == (PX, PX) and scan.format == "acquire-session"
    assert [c.unit for c in scan.channel_list] == ["m", "V"]


def test_batch_discovers_session_pairs(sessions):
    p = discover_pairs(sessions["root"], workers=1)
    got = sorted((s.plus.name, s.plus_scan, s.minus_scan) for s in p.pairs)
    assert got == [("S_A1_ok.h5", 0, 1), ("S_A1_ok.h5", 2, 1)]
    why = {u.reason for u in p.unpaired if u.path == sessions["aborted"]}
    assert any("aborted: interlock" in w and "--allow-partial" in w for w in why)
    assert any("scan 2" in w and "not started" in w for w in why)
    p2 = discover_pairs(sessions["root"], workers=0, allow_partial=True)
    assert ("S_A1_aborted.h5", 0, 1) in {(s.plus.name, s.plus_scan, s.minus_scan)
                                         for s in p2.pairs}


@pytest.mark.slow
def test_batch_runs_session_pairs(sessions, capsys, tmp_path):
    out = tmp_path / "b"
    rc = main(["-q", "batch", str(sessions["root"]), "-o", str(out), "--no-figures",
               "--workers", "1", "--allow-partial"])
    assert rc == 0, capsys.readouterr().err
    import csv

    with open(out / "summary.csv") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows.values())
    assert {r["plus"].rsplit(" ", 2)[-1] for r in rows.values()} == {"0)", "2)"}
    partial = next(r for r in rows.values() if "aborted" in r["name"])
    assert float(partial["classified_area_um2"]) < 0.7 * float(
        next(r for r in rows.values() if "aborted" not in r["name"])["classified_area_um2"])


CHILD = r"""
import sys, time
import numpy as np
from acquisition.session import ScanPlan, SessionFile
from afmcurrent.pair.logamp import load_calibration
d = np.load(sys.argv[2])
plans = [ScanPlan(1.0, *d["h0"].shape, (1e-5, 1e-5)), ScanPlan(-1.0, *d["h1"].shape, (1e-5, 1e-5))]
f = SessionFile(sys.argv[1], plans, {"sample": "S", "area": "A"}, load_calibration(sys.argv[3]))
f.start_scan(0)
for r in range(d["h0"].shape[0]):
    f.write_line(0, r, d["h0"][r], d["v0"][r])
f.finish_scan(0, "complete")
f.start_scan(1)
for r in range(d["h1"].shape[0]):
    f.write_line(1, r, d["h1"][r], d["v1"][r])
    time.sleep(0.02)
f.finish_scan(1, "complete")
f.close()
"""


@pytest.mark.slow
def test_session_of_a_killed_writer_opens_without_h5clear(sim, tmp_path, capsys):
    """A real writer process killed with SIGKILL mid-scan: the file opens (SWMR read)."""
    data = tmp_path / "d.npz"
    np.savez(data, h0=sim.plus.channel("Height").data, v0=sim.plus.find_channel({"V"}).data,
             h1=sim.minus.channel("Height").data, v1=sim.minus.find_channel({"V"}).data)
    (tmp_path / "cal.toml").write_text(sim.calibration.to_toml())
    path = tmp_path / "killed.h5"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(data),
                             str(tmp_path / "cal.toml")], env=env)
    n = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and n < 40:
            time.sleep(0.02)
            if path.exists():
                try:  # read while it is written (SWMR)
                    n = read_session(path).scan(1).recorded
                except ReadError:
                    n = 0
        assert n >= 40, "the writer did not get far enough"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(OSError, match="h5clear"):  # the file is marked as still open for write
        h5py.File(path, "r")
    s = read_session(path)
    k = s.scan(1).recorded
    assert s.scan(0).complete and s.scan(1).status == "running" and 40 <= k < PX
    assert main(["info", str(path)]) == 0
    assert "writer stopped" in capsys.readouterr().out
    assert main(["analyze", str(path), "-o", str(tmp_path / "o")]) == 1
    assert "not finished" in capsys.readouterr().err
    out = tmp_path / "p"
    assert main(["-q", "analyze", str(path), "-o", str(out), "--no-figures",
                 "--allow-partial"]) == 0
    with h5py.File(out / "result.h5") as f:
        cls = f["/maps/class"][()]
    assert cls.shape == (k, PX)
    m = cls > 0
    assert np.mean(cls[m] == sim.truth.class_map[:k][m]) > 0.9
