"""``afmcurrent simulate``: a virtual +V / -V pair with ground truth, written as the instrument
would write it."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import logging
from pathlib import Path
from typing import Any

from ._args import reporter

__all__ = [
    "add_parser",
    "run",
]


logger = logging.getLogger("afmcurrent")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to the sub-commands."""
    s = sub.add_parser(
        "simulate", help="write a simulated +V / -V pair with ground truth",
        description="Simulate a virtual electrolyte scanned at both polarities and write the two "
        "captures as Bruker Nanoscope files (log-amp output in V through an auxiliary input), the "
        "log-amp calibration (logamp.toml, shared by the pairs of one folder) and the ground "
        "truth (PREFIX_truth.npz, PREFIX_truth.json). Several seeds write several pairs into "
        "one folder.",
    )
    s.add_argument("-o", "--outdir", type=Path, required=True)
    s.add_argument("--preset", default="degraded", help="pristine, degraded or coated")
    s.add_argument("--seed", type=int, nargs="+", default=[0], metavar="SEED",
                   help="seed(s): one pair per seed, all into OUTDIR (default 0)")
    s.add_argument("--pixels", type=int, default=256, help="pixels per line = lines")
    s.add_argument("--prefix", help="file name prefix (default: PRESET_seedN; with several "
                   "seeds PREFIX_seedN); several seeds are recorded an hour apart, so that "
                   "batch pairs them by time")
    s.add_argument("--overwrite", action="store_true")

    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    from ..sim import simulate_pair, write_pair

    say = reporter(args)
    seeds = list(dict.fromkeys(args.seed))
    for k, seed in enumerate(seeds):
        pair = _later(simulate_pair(args.preset, seed=seed, shape=(args.pixels, args.pixels)),
                      hours=k)
        prefix = args.prefix if args.prefix and len(seeds) == 1 else (
            f"{args.prefix}_seed{seed}" if args.prefix else None)
        paths = write_pair(args.outdir, pair, prefix=prefix, overwrite=args.overwrite)
        for key, path in paths.items():
            say(f"{key}: {path}")
    return 0


def _later(pair: Any, hours: int) -> Any:
    """The pair as recorded ``hours`` later: the pairs of one folder are captured one after
    another (an hour apart), so that ``batch`` pairs each +V scan with its own -V scan by
    time, as a lab's folder is paired."""
    if hours == 0:
        return pair

    def shift(scan: Any) -> Any:
        date = _dt.datetime.fromisoformat(scan.metadata["date"])
        meta = {**scan.metadata, "date": (date + _dt.timedelta(hours=hours)).isoformat()}
        return dataclasses.replace(scan, metadata=meta)

    return dataclasses.replace(pair, plus=shift(pair.plus), minus=shift(pair.minus))
