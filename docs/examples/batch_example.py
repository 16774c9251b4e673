"""Batch example: a folder tree of scans -> pairs -> one table for the set.

Run it anywhere (it writes only below OUTDIR)::

    python docs/examples/batch_example.py [OUTDIR]     # default OUTDIR: batch_example_out/

It first writes a small set as an instrument would (simulated Bruker Nanoscope files, 96 x 96
px, ``logamp.toml`` beside them): sample ``S1`` with a degraded area, sample ``S2`` with a
pristine area scanned +V, -V, +V where the first +V scan lowered the ionic current of a disc
by two decades (the repeat scan shows what the measurement itself changed, with a warning).
Then it does what

    afmcurrent batch OUTDIR/scans -o OUTDIR/results --workers 0

does, from Python: pair the files by their headers (opposite bias, same area, nearest in time),
analyse every pair, classify the set with one pooled model and write ``summary.csv``,
``samples.csv``, ``summary.png`` and ``report.html``. It prints the pairing and one line per
pair. The tests run this script (tests/test_examples.py).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from afmcurrent.io import write_nanoscope
from afmcurrent.sets import BatchOptions, discover_pairs, run_batch
from afmcurrent.sim import simulate_pair
from afmcurrent.sim.repeat import SampleChange, simulate_repeat

N = 96  # pixels per line = lines: small, so that the example runs in seconds


def write_scans(root: Path) -> None:
    """The set as the instrument leaves it: one folder per area, the calibration beside."""
    degraded = simulate_pair("degraded", seed=1, shape=(N, N))
    area = root / "S1" / "area1"
    area.mkdir(parents=True, exist_ok=True)
    write_nanoscope(area / "scan_001.spm", degraded.plus)   # +1 V in the header
    write_nanoscope(area / "scan_002.spm", degraded.minus)  # -1 V
    (area / "logamp.toml").write_text(degraded.calibration.to_toml())

    rep = simulate_repeat("pristine", seed=2, shape=(N, N),
                          change=SampleChange((40, 50), 20, ionic_decades=-2.0))
    area = root / "S2" / "area1"
    area.mkdir(parents=True, exist_ok=True)
    write_nanoscope(area / "scan_001.spm", rep.pair.plus)
    write_nanoscope(area / "scan_002.spm", rep.pair.minus)
    write_nanoscope(area / "scan_003.spm", rep.plus_again)  # +V again: a repeat
    (area / "logamp.toml").write_text(rep.pair.calibration.to_toml())


def main(outdir: Path) -> int:
    scans, results = outdir / "scans", outdir / "results"
    write_scans(scans)

    pairing = discover_pairs(scans, workers=0)
    print(pairing.table())  # what `afmcurrent batch --dry-run` prints

    result = run_batch(pairing.pairs, results, BatchOptions(), workers=0, progress=False,
                       overwrite=True)
    with (results / "summary.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            line = (f"{row['name']:<26s} {row['status']:<6s} ionic-conducting "
                    f"{float(row['ionic_conducting'] or 'nan'):6.1%}")
            if row["repeat_pair"]:
                line += (f"; repeat with {row['repeat_pair']}: "
                         f"{float(row['repeat_class_change_fraction']):.1%} would change class")
            print(line)
            if row["warnings"]:
                print(f"    warnings: {row['warnings']}")
    for r in result.failed:
        print(f"failed: {r['name']}: {r['error']}")
    print(f"wrote {', '.join(sorted(result.files))} and pairs/ to {results}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "batch_example_out")
    sys.exit(main(out))
