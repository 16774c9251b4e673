"""``afmcurrent config``: the settings file: its defaults, a check of a file, the reference."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..core.errors import AfmcurrentError

__all__ = [
    "add_parser",
    "run",
]

logger = logging.getLogger("afmcurrent")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``config`` to the sub-commands."""
    c = sub.add_parser(
        "config", help="print the default settings, or check a settings file",
        description="The settings TOML file of --config: --defaults prints every table and key "
        "with its default, unit and meaning (a file to start from: afmcurrent config --defaults "
        "> settings.toml); --check FILE validates a file (every table, key and value, the "
        "[logamp] calibration included) and prints the effective settings, the defaults filled "
        "in. Every output folder holds the settings.toml it was made with. docs/settings.md is "
        "the reference of every key (--markdown prints it).",
    )
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--defaults", action="store_true",
                   help="print the complete settings file with every default, commented")
    g.add_argument("--check", type=Path, metavar="FILE",
                   help="validate a settings file and print the effective settings")
    g.add_argument("--markdown", action="store_true",
                   help="print the settings reference (docs/settings.md)")
    c.set_defaults(handler=run)
    return c


def run(args: argparse.Namespace) -> int:
    from ..outputs.settings_file import (
        check_settings,
        defaults_toml,
        settings_markdown,
        settings_toml,
    )

    if args.defaults:
        print(defaults_toml(), end="")
    elif args.markdown:
        print(settings_markdown(), end="")
    else:
        if args.check.is_dir():
            raise AfmcurrentError(f"{args.check}: is a folder, not a settings file")
        config, calibration = check_settings(args.check)
        print(settings_toml(config, config.analysis, calibration,
                            header=[f"{args.check}: valid"]), end="")
    return 0
