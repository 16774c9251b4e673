"""The ``afmcurrent acquire`` sub-command (registered through the entry-point group)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``acquire`` sub-parser to the ``afmcurrent`` command."""
    p = subparsers.add_parser(
        "acquire",
        help="run a +V/-V scan session on the instruments (or the simulator)",
        description="Run a dual-polarity session from a TOML session file.",
    )
    p.add_argument("session", type=Path, help="session TOML file")
    p.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    p.add_argument("--simulate", action="store_true", help="use virtual instruments")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the session; returns the exit status."""
    raise NotImplementedError("acquire is being built")
