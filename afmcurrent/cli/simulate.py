"""``afmcurrent simulate``: a virtual +V / -V pair with ground truth, written as the instrument
would write it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

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
        "log-amp calibration (logamp.toml) and the ground truth.",
    )
    s.add_argument("-o", "--outdir", type=Path, required=True)
    s.add_argument("--preset", default="degraded", help="pristine, degraded or coated")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pixels", type=int, default=256, help="pixels per line = lines")
    s.add_argument("--prefix", help="file name prefix (default: PRESET_seedN)")
    s.add_argument("--overwrite", action="store_true")

    s.set_defaults(handler=run)
    return s


def run(args: argparse.Namespace) -> int:
    from ..sim import simulate_pair, write_pair

    pair = simulate_pair(args.preset, seed=args.seed, shape=(args.pixels, args.pixels))
    paths = write_pair(args.outdir, pair, prefix=args.prefix, overwrite=args.overwrite)
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0
