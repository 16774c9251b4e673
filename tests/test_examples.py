"""The examples and the how-to run as written: ``docs/examples/tutorial.py``,
``docs/examples/batch_example.py`` and every shell and Python block of
``docs/howto_lab_files.md``, each in a scratch folder, as a user would run them (the installed
``afmcurrent`` command, a separate Python process)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HOWTO = REPO / "docs" / "howto_lab_files.md"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def _env() -> dict[str, str]:
    """The environment of a user whose shell finds this interpreter's ``afmcurrent``."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (f"{cmd[:3]} failed ({proc.returncode}):\n{proc.stdout}\n"
                                  f"{proc.stderr}")
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.slow
def test_tutorial_gives_the_numbers_and_a_figure(tmp_path):
    out = tmp_path / "tut"
    proc = _run([sys.executable, str(REPO / "docs" / "examples" / "tutorial.py"), str(out)],
                cwd=tmp_path)
    text = proc.stdout
    assert "channels: height 'Height', current 'Input1'" in text
    # the numbers printed are those of the written result
    summary = json.loads((out / "result" / "summary.json").read_text())
    for name, frac in summary["fractions"].items():
        assert re.search(rf"{name}\s+{frac * 100:.1f}%", text), name
    assert "median ionic_current        < " in text  # a bound is printed as a bound
    assert (out / "tutorial.png").stat().st_size > 20_000


@pytest.mark.slow
def test_batch_example_pairs_analyses_and_compares_the_repeat(tmp_path):
    proc = _run([sys.executable, str(REPO / "docs" / "examples" / "batch_example.py"),
                 str(tmp_path / "b")], cwd=tmp_path)
    assert "3 pair(s)" in proc.stdout
    rows = {r["name"]: r for r in csv.DictReader(
        (tmp_path / "b" / "results" / "summary.csv").open(newline=""))}
    assert sorted(rows) == ["S1__area1__scan_001", "S2__area1__scan_001",
                            "S2__area1__scan_003_repeat2"]
    assert all(r["status"] == "ok" for r in rows.values())
    first = rows["S2__area1__scan_001"]
    assert first["repeat_pair"] == "S2__area1__scan_003_repeat2"
    assert float(first["repeat_class_change_fraction"]) > 0.05
    assert "the repeated +V scan" in first["warnings"]
    assert (tmp_path / "b" / "results" / "report.html").is_file()


def _blocks() -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in FENCE.findall(HOWTO.read_text(encoding="utf-8"))
            if lang in ("sh", "python")]


def test_howto_blocks_are_found():
    blocks = _blocks()
    langs = [lang for lang, _ in blocks]
    assert langs.count("sh") >= 6 and langs.count("python") >= 2
    text = "\n".join(body for _, body in blocks)
    for command in ("afmcurrent info", "afmcurrent calibrate", "afmcurrent config",
                    "afmcurrent analyze", "read_result", "to_xarray", "result.gwy"):
        assert command in text, command


@pytest.mark.slow
def test_every_howto_block_runs(tmp_path):
    """Each block in order, in a folder holding the repository's data_samples/ and docs/;
    later blocks use what earlier ones wrote (my_lab/, out/)."""
    for name in ("data_samples", "docs"):
        (tmp_path / name).symlink_to(REPO / name)
    ran = []
    for lang, body in _blocks():
        if "gwyddion-thumbnailer" in body and shutil.which("gwyddion-thumbnailer") is None:
            continue  # Debian's gwyddion not installed here: the only block that needs it
        if lang == "sh":
            # as a user's shell runs it: `afmcurrent ... | head` ends afmcurrent by the closed
            # pipe (exit 141, as any program), so no pipefail; its errors show on stderr
            proc = _run(["bash", "-e", "-c", body], cwd=tmp_path)
            assert "error" not in proc.stderr, proc.stderr
        else:
            proc = _run([sys.executable, "-c", body], cwd=tmp_path)
        ran.append((body, proc.stdout))
    out = "\n".join(stdout for _, stdout in ran)
    assert "analyze uses: height 'Height', current 'Input1'" in out
    assert "usable range: 1e-10 .. 0.00316 A" in out
    assert (tmp_path / "my_lab" / "calibration.png").is_file()
    assert "[logamp]" in (tmp_path / "my_lab" / "logamp.toml").read_text()
    assert "# my_lab/settings.toml: valid" in out
    assert "channels: height 'Height', current 'Input1'" in out
    assert (tmp_path / "out" / "settings.toml").is_file()
    assert "flag_meanings" not in out and "undetermined ionic_conducting" in out
    if shutil.which("gwyddion-thumbnailer"):
        assert (tmp_path / "out" / "result_thumbnail.png").stat().st_size > 1000
    assert "pair(s)" in out
