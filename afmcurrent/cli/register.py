"""``afmcurrent register``: co-registration of two scans only, as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..core.errors import ChannelNotFoundError
from ..core.options import parse_pixel_pair
from ._args import argument_type

__all__ = [
    "add_parser",
    "run",
]

logger = logging.getLogger("afmcurrent")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``register`` to the sub-commands."""
    r = sub.add_parser(
        "register", help="co-register MOVING onto REF; prints JSON",
        description="Estimate the displacement of MOVING onto REF row by row (creep and "
        "drift): row_displacement_px[r] = [dy, dx] with ref[r, c] ~ moving[r - dy, c - dx]; "
        "shift_px is its value at the centre row (scipy.ndimage.shift(moving, shift_px) lies on "
        "ref there), drift_px_per_line its linear part, uncertainty_px its 1-sigma error.",
    )
    r.add_argument("ref", type=Path)
    r.add_argument("moving", type=Path)
    r.add_argument("--channel", help="channel to register on (default: topography, plus the "
                   "current channel where one exists)")
    r.add_argument("--no-drift", action="store_true",
                   help="one constant displacement (no creep or drift estimated)")
    r.add_argument("--expect-shift", type=argument_type(parse_pixel_pair), metavar="DY,DX",
                   help="approximate shift in pixels; the estimate is searched near it")
    r.add_argument("--search-radius", type=float, default=5.0, metavar="PX")

    r.set_defaults(handler=run)
    return r


def run(args: argparse.Namespace) -> int:
    from ..io import load_scan
    from ..pair.registration import register

    ref, mov = load_scan(args.ref), load_scan(args.moving)
    kw = {"estimate_drift": not args.no_drift, "expected_shift": args.expect_shift,
          "search_radius": args.search_radius}
    if args.channel:
        a, b = ref.channel(args.channel), mov.channel(args.channel)
        if a.unit == "A":  # currents only: matched on the edges of log |I|
            reg = register(None, None, a.data, b.data, **kw)
        else:
            reg = register(a.data, b.data, **kw)
    else:
        h_ref = ref.find_channel({"m"}, prefer=("height",))
        h_mov = mov.find_channel({"m"}, prefer=("height",))
        if h_ref is None or h_mov is None:
            raise ChannelNotFoundError(
                f"no topography channel (unit m) in {ref.label if h_ref is None else mov.label}; "
                "name a channel with --channel"
            )
        c_ref, c_mov = ref.find_channel({"A"}), mov.find_channel({"A"})
        if c_ref is not None and c_mov is not None:
            reg = register(h_ref.data, h_mov.data, c_ref.data, c_mov.data, **kw)
        else:
            reg = register(h_ref.data, h_mov.data, **kw)
    out = reg.to_dict()
    out.update(ref=str(args.ref), moving=str(args.moving))
    print(json.dumps(out, indent=2))
    if not reg.trustworthy:
        print(f"afmcurrent register: registration not trustworthy: {reg.reason}",
              file=sys.stderr)
    return 0 if reg.trustworthy else 3
