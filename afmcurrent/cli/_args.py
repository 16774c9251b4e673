"""Argument helpers shared by the sub-commands: the analysis options as flags, typed values,
and what an input file is."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core import units
from ..core.errors import AfmcurrentError
from ..core.options import option_fields

__all__ = [
    "argument_type",
    "parse_length",
    "scan_pair",
    "add_option_flags",
    "options_given",
    "session_or_none",
    "reporter",
]

logger = logging.getLogger("afmcurrent")


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type``: the parser's ValueError becomes a usage error with its message."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def parse_length(text: str) -> float:
    """Parse a positive length with its unit, such as ``"100nm"``, ``"0.5 um"`` or ``"1e-7m"``.

    Returns
    -------
    float
        The length in m (:func:`afmcurrent.core.units.parse_length`).

    Raises
    ------
    argparse.ArgumentTypeError
        If the text is not a positive finite length or has no unit (a bare number is refused:
        ``--tip-radius 100`` must not become 100 m); the message shows the accepted forms.
    """
    return argument_type(units.parse_length)(text)


def scan_pair(text: str) -> tuple[int, int]:
    """``"PLUS,MINUS"`` scan numbers of a session -> ``(plus, minus)``."""
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PLUS,MINUS scan numbers, e.g. 2,1, got {text!r}") from None
    return a, b


def add_option_flags(parser: argparse.ArgumentParser, title: str) -> None:
    """Add one flag per field of :class:`~afmcurrent.core.options.AnalysisOptions`.

    Every flag defaults to None (not given), so that the ``[analysis]`` table of the settings
    applies where a flag is absent (:func:`options_given`). Flags of one ``group`` exclude
    each other.
    """
    g = parser.add_argument_group(title)
    groups: dict[str, Any] = {}
    for f in option_fields():
        spec = f.metadata["option"]
        target = g
        if spec.group is not None:
            if spec.group not in groups:
                groups[spec.group] = g.add_mutually_exclusive_group()
            target = groups[spec.group]
        if spec.parse is None:
            target.add_argument(spec.flag, dest=f.name, action="store_true", default=None,
                                help=spec.help)
        else:
            target.add_argument(spec.flag, dest=f.name, type=argument_type(spec.parse),
                                default=None, metavar=spec.metavar, help=spec.help)


def options_given(args: argparse.Namespace) -> dict[str, Any]:
    """The analysis options given on the command line (name -> value)."""
    return {f.name: getattr(args, f.name) for f in option_fields()
            if getattr(args, f.name, None) is not None}


def reporter(args: argparse.Namespace) -> Callable[..., None]:
    """``print`` for a sub-command's report on stdout, or nothing with ``-q`` (errors and the
    warnings about a result go to stderr either way)."""
    if getattr(args, "quiet", False):
        return lambda *a, **k: None
    return print


def session_or_none(path: Path) -> Any:
    """The session record when ``path`` is an acquire session file, else None."""
    from ..io.registry import detect_format

    try:
        fmt = detect_format(path)
    except AfmcurrentError:
        return None  # missing or unreadable: the reader that follows says why
    if fmt is None or fmt.name != "acquire-session":
        return None
    from ..io.session import read_session

    return read_session(path)
