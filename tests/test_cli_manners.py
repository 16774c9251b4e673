"""CLI manners: -q / -v on either side of the sub-command, a closed pipe ends quietly, every
message once, the channels used printed, several simulated pairs in one folder, and batch
biases for files whose headers record none."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from afmcurrent.cli import main
from afmcurrent.io import write_nanoscope
from afmcurrent.sim import simulate_pair

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("manners")
    assert main(["-q", "simulate", "-o", str(d), "--seed", "3", "4", "--pixels", "64"]) == 0
    return d


def test_several_pairs_in_one_folder(sim_dir, capsys):
    names = sorted(p.name for p in sim_dir.iterdir())
    assert names == ["degraded_seed3_minus.spm", "degraded_seed3_plus.spm",
                     "degraded_seed3_truth.json", "degraded_seed3_truth.npz",
                     "degraded_seed4_minus.spm", "degraded_seed4_plus.spm",
                     "degraded_seed4_truth.json", "degraded_seed4_truth.npz", "logamp.toml"]
    # recorded an hour apart: batch pairs each +V scan with its own -V scan by time
    assert main(["batch", str(sim_dir), "-o", str(sim_dir.parent / "dry"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "2 pair(s)" in text and "ambiguous" not in text
    for seed in (3, 4):
        assert (f"degraded_seed{seed}_plus.spm  <->  {sim_dir}/degraded_seed{seed}_minus.spm"
                in text)
    # one more pair of the same calibration: no --overwrite needed, logamp.toml shared
    assert main(["simulate", "-o", str(sim_dir), "--seed", "5", "--pixels", "32",
                 "--prefix", "extra"]) == 0
    assert "extra_truth.json" in capsys.readouterr().out
    # a pair of another calibration is refused there (it would change the others')
    from afmcurrent.sim import write_pair

    other = simulate_pair("degraded", seed=6, shape=(32, 32), calibration="log104")
    with pytest.raises(FileExistsError, match="another log-amplifier calibration"):
        write_pair(sim_dir, other, prefix="other")
    for p in sim_dir.glob("extra_*"):
        p.unlink()


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_on_either_side_silences_analyze(sim_dir, tmp_path, capsys, where):
    args = ["analyze", str(sim_dir / "degraded_seed3_plus.spm"),
            str(sim_dir / "degraded_seed3_minus.spm"), "-o", str(tmp_path / "o"),
            "--no-figures"]
    argv = ["-q", *args] if where == "before" else [*args, "-q"]
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert cap.out == ""
    assert (tmp_path / "o" / "summary.json").is_file()


def test_verbose_after_the_sub_command(sim_dir, capsys):
    assert main(["info", str(sim_dir / "degraded_seed3_plus.spm"), "-vv"]) == 0
    assert logging.getLogger("afmcurrent").level == logging.DEBUG
    assert main(["-v", "info", str(sim_dir / "degraded_seed3_plus.spm")]) == 0
    assert logging.getLogger("afmcurrent").level == logging.INFO  # given before: it stands
    capsys.readouterr()


def test_channels_printed_and_every_message_once(sim_dir, tmp_path):
    """As a user sees it (a separate process: the logging handlers as installed): the swapped
    order gives a note (polarity put right); every note and warning is said once."""
    proc = subprocess.run(
        [sys.executable, "-m", "afmcurrent", "analyze", str(sim_dir / "degraded_seed4_minus.spm"),
         str(sim_dir / "degraded_seed4_plus.spm"), "-o", str(tmp_path / "o"), "--no-figures"],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "channels: height 'Height', current 'Input1' (log-amplifier output in V" in proc.stdout
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    said = [ln.split(": ", 1)[1] if ln.startswith("note: ") else ln.split("warning: ", 1)[1]
            for ln in lines if ln.startswith("note: ") or "warning: " in ln]
    assert any("order" in t for t in said) and len(said) >= 2
    for text in said:
        assert sum(text in ln for ln in lines) == 1, text
    assert all(not ln.startswith("note: ") for ln in proc.stderr.splitlines())


def test_closed_pipe_ends_quietly(sim_dir):
    """The reader of stdout goes away before the output is written (as `| head` does)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "afmcurrent", "info", str(sim_dir / "degraded_seed3_plus.spm"),
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_batch_biases_for_files_without_bias(tmp_path, capsys):
    p = simulate_pair("degraded", seed=8, shape=(48, 48))
    d = tmp_path / "root" / "S"
    d.mkdir(parents=True)
    write_nanoscope(d / "area1_pos.spm", dataclasses.replace(p.plus, bias=None))
    write_nanoscope(d / "area1_neg.spm", dataclasses.replace(p.minus, bias=None))
    write_nanoscope(d / "area2_first.spm", dataclasses.replace(p.plus, bias=None))
    (d / "logamp.toml").write_text(p.calibration.to_toml())
    out = tmp_path / "out"
    # without biases nothing pairs, and the files are reported with the way out
    assert main(["batch", str(tmp_path / "root"), "-o", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "0 pair(s)" in text and "give --bias-plus/--bias-minus" in text
    assert main(["batch", str(tmp_path / "root"), "-o", str(out), "--dry-run",
                 "--bias-plus", "1", "--bias-minus", "-1"]) == 0
    text = capsys.readouterr().out
    assert "1 pair(s)" in text and "area1_pos.spm  <->" in text and "(bias 1.0 / -1.0 V)" in text
    assert "area2_first.spm: no sample bias recorded and the name does not say" in text
    assert main(["batch", str(tmp_path / "root"), "-o", str(out), "--workers", "0",
                 "--no-figures", "--bias-plus", "1", "--bias-minus", "-1"]) == 0
    assert "channels: height 'Height', current 'Input1' (1 pair)" in capsys.readouterr().out
    import json

    s = json.loads((out / "pairs" / "S__area1_pos" / "summary.json").read_text())
    assert s["inputs"]["plus"]["bias_V"] == 1.0 and s["inputs"]["minus"]["bias_V"] == -1.0
    assert s["warnings"] == [] or all("bias" not in w for w in s["warnings"])
    capsys.readouterr()


def test_info_names_the_channels_analyze_uses(sim_dir, capsys, repo_root):
    assert main(["info", str(sim_dir / "degraded_seed3_plus.spm")]) == 0
    out = capsys.readouterr().out
    assert "analyze uses: height 'Height', current 'Input1' (log-amplifier output in V" in out
    # a file with a topography channel only: no default, and how to name one
    assert main(["info", str(repo_root / "data_samples" / "real" / "old_bruker.002")]) == 0
    out = capsys.readouterr().out
    assert "analyze uses: no default" in out and "--current-channel" in out
    # a tapping-mode file: its channels in V (amplitude, phase) do not say current, so none is
    # taken as the log-amplifier output by default; info says so and how to name one
    nid = repo_root / "data_samples" / "real" / "nanosurf_image_NSFopen.nid"
    assert main(["info", str(nid)]) == 0
    out = capsys.readouterr().out
    assert "analyze uses: no default" in out and "whose name says it is the current" in out
    assert "--current-channel" in out and "current 'Amplitude'" not in out


def test_analyze_refuses_a_channel_in_v_that_does_not_say_current(tmp_path, repo_root, capsys):
    """A tapping-mode pair has channels in V (amplitude) but no current: analyze refuses it by
    default rather than treating the amplitude as the log-amplifier output."""
    nid = repo_root / "data_samples" / "real" / "nanosurf_image_NSFopen.nid"
    from afmcurrent.core.errors import ChannelNotFoundError
    from afmcurrent.io import load_scan
    from afmcurrent.pair.inputs import select_channels

    scan = load_scan(nid)
    with pytest.raises(ChannelNotFoundError, match="--current-channel") as exc:
        select_channels(scan)
    assert str(nid.name) in str(exc.value) and "Amplitude" in str(exc.value)
    # named explicitly, the same channel is taken (the user's decision)
    _, current = select_channels(scan, current_channel="Amplitude")
    assert current.unit == "V"
