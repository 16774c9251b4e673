"""The public contract pinned: output files, summary.json keys, result.h5 layout, CSV columns and
CLI flags as main wrote them before the modules moved (``tests/contract/pinned.json``, generated
from that code). A refactor that changes any of them fails here."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from afmcurrent import analyze_pair
from afmcurrent.cli import build_parser
from afmcurrent.outputs import write_result
from afmcurrent.sets.tables import SUMMARY_COLUMNS, aggregate_samples
from afmcurrent.sim import simulate_optical, simulate_pair

PINNED = json.loads((Path(__file__).parent / "contract" / "pinned.json").read_text())


def key_paths(obj, prefix=""):
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{prefix}.{k}" if prefix else k
            out.add(p)
            out |= key_paths(v, p)
    return out


def h5_tree(path):
    items = {}
    with h5py.File(path, "r") as f:
        items["/"] = {"attrs": sorted(f.attrs)}

        def visit(name, obj):
            d = {"attrs": sorted(obj.attrs)}
            if isinstance(obj, h5py.Dataset):
                d["dtype"] = str(obj.dtype)
                d["ndim"] = obj.ndim
            items["/" + name] = d

        f.visititems(visit)
    return items


@pytest.fixture(scope="module")
def pair():
    return simulate_pair("degraded", seed=3, shape=(64, 64))


def _write(result, outdir, **kw):
    write_result(result, outdir, **kw)
    return outdir


@pytest.fixture(scope="module")
def written(pair, tmp_path_factory):
    """(without optical, with optical) result folders, figures off."""
    opt = simulate_optical(pair, seed=1)
    base = tmp_path_factory.mktemp("contract")
    plain = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    optical = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration, optical=opt.image,
                           optical_pixel_size=opt.pixel_size, optical_box=opt.box_px)
    return (_write(plain, base / "plain", figures=False),
            _write(optical, base / "optical", figures=False))


def test_summary_json_keys(written):
    plain, optical = written
    s = json.loads((plain / "summary.json").read_text())
    assert sorted(key_paths(s)) == PINNED["summary_json_keys_without_optical"]
    assert s["optical"] is None
    s = json.loads((optical / "summary.json").read_text())
    assert sorted(key_paths(s)) == PINNED["summary_json_keys"]


def test_result_h5_layout(written):
    for d in written:
        assert h5_tree(d / "result.h5") == PINNED["result_h5"]
        with h5py.File(d / "result.h5") as f:
            rows, cols = f["maps/class"].shape
            assert f["registration/row_displacement"].shape == (rows, 2)
            assert f["registration/row_uncertainty"].shape == (rows,)
            assert set(np.unique(f["maps/class"][()])) <= {0, 1, 2, 3, 4}


def test_csv_columns_and_files(written):
    plain, optical = written
    head = (plain / "domains.csv").read_text().splitlines()[0].split(",")
    assert head == PINNED["domains_csv_columns_without_optical"]
    head = (optical / "domains.csv").read_text().splitlines()[0].split(",")
    assert head == PINNED["domains_csv_columns"]
    head = (plain / "profile.csv").read_text().splitlines()[0].split(",")
    assert head == PINNED["profile_csv_columns_without_optical"]
    head = (optical / "profile.csv").read_text().splitlines()[0].split(",")
    assert head == PINNED["profile_csv_columns"]
    for d in written:
        assert sorted(p.name for p in d.iterdir()) == PINNED["files_without_figures"]


@pytest.mark.slow
def test_files_with_figures(pair, tmp_path):
    res = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)
    out = _write(res, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == PINNED["files"]


def _options(parser):
    sub = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    out = {"": sorted(o for a in parser._actions for o in a.option_strings)}
    for name, sp in sub.choices.items():
        out[name] = sorted([o for a in sp._actions for o in a.option_strings]
                           + [a.dest for a in sp._actions if not a.option_strings])
    return out


def test_cli_sub_commands_and_flags():
    now = _options(build_parser())
    for command, flags in PINNED["cli_options"].items():
        assert command in now, f"sub-command {command!r} is gone"
        missing = sorted(set(flags) - set(now[command]))
        assert not missing, f"afmcurrent {command}: flags gone: {missing}"


def test_batch_table_columns():
    assert list(SUMMARY_COLUMNS) == PINNED["summary_csv_columns"]
    assert aggregate_samples([])[1] == PINNED["samples_csv_columns"]
