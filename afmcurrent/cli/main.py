"""The ``afmcurrent`` command: the parser, logging, plug-in sub-commands and exit codes.

Sub-commands, one module each: ``analyze`` (one +V / -V pair, :mod:`.analyze`), ``info`` (what
a file holds, :mod:`.info`), ``register`` (co-registration of two scans only,
:mod:`.register`), ``simulate`` (a virtual pair with ground truth, :mod:`.simulate`), ``batch``
(map sets, :mod:`.batch`), ``calibrate`` (a log amplifier from known currents,
:mod:`.calibrate`), ``config`` (the settings file, :mod:`.config`); other packages add theirs
through an entry point (``acquire``). Run ``afmcurrent COMMAND --help`` for the options of each.

Each sub-command imports the layers it runs when it runs (``afmcurrent --help``, ``--version``
and the commands of plug-ins start without loading SciPy, h5py and the analysis: about half a
second less per start); the import-graph test reads those imports too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..core.errors import AfmcurrentError
from ..core.version import __version__
from . import analyze, batch, calibrate, config, info, register, simulate
from ._args import parse_length

__all__ = ["main", "build_parser", "parse_length"]

logger = logging.getLogger("afmcurrent")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``afmcurrent`` command."""
    p = argparse.ArgumentParser(
        prog="afmcurrent",
        description="Conductive-AFM conduction mapping of solid-state electrolytes: +V/-V "
        "log-amplifier current maps -> ionic and electronic current, degradation domains.",
    )
    p.add_argument("--version", action="version", version=f"afmcurrent {__version__}")
    _add_verbosity(p, 0)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    for command in (analyze, info, register, simulate, batch, calibrate, config):
        command.add_parser(sub)
    _add_plugin_commands(sub)
    for name, sp in sub.choices.items():  # -q / -v also after the sub-command
        try:
            _add_verbosity(sp, argparse.SUPPRESS)
        except argparse.ArgumentError:  # a plug-in that has its own -q or -v
            logger.debug("command %s keeps its own -q/-v", name)
    return p


def _add_verbosity(parser: argparse.ArgumentParser, default: Any) -> None:
    """``-v`` / ``-q`` on the main parser and (with a suppressed default, so that one given
    before the sub-command stands) on every sub-command."""
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        default=False if default == 0 else default,
                        help="quiet: no progress and no report on stdout; only errors and "
                        "the warnings about a result (stderr)")


#: Entry-point group through which other packages add sub-commands (``acquisition`` adds
#: ``acquire``), so that ``afmcurrent`` never imports them itself. An entry point names a
#: callable ``register(subparsers)`` that adds its parser with ``set_defaults(handler=f)``,
#: ``f(args) -> int``.
COMMAND_GROUP = "afmcurrent.commands"


def _add_plugin_commands(sub: Any) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plug-in must not take the analysis CLI down
            logger.warning("command %r from %s not available: %s", ep.name, ep.value, exc)


def _setup_logging(verbose: int, quiet: bool) -> None:
    levels = (logging.WARNING, logging.INFO, logging.DEBUG)
    level = logging.ERROR if quiet else levels[min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("afmcurrent")
    root.handlers[:] = [handler]
    root.setLevel(level)



def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``afmcurrent`` command; returns the exit status.

    Exit status: 0 success, 1 an afmcurrent error (message on stderr), 2 bad usage,
    3 a registration that is not trustworthy (``register``), 130 interrupted, 141 the reader
    of stdout went away (a closed pipe: ``afmcurrent info --json | head``; no traceback).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    try:
        status = int(args.handler(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        # the reader of stdout went away (`afmcurrent info --json | head`): stop quietly;
        # stdout is pointed at /dev/null so that the flush at exit does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a program killed by the closed pipe
    except AfmcurrentError as exc:
        print(f"afmcurrent {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"afmcurrent {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
