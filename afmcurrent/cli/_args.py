"""Argument helpers shared by the sub-commands: typed values (lengths with units, pixel pairs)
and what an input file is."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..core import units
from ..core.errors import AfmcurrentError

__all__ = [
    "parse_length",
    "lengths",
    "pixel_pair",
    "scan_pair",
    "floats",
    "session_or_none",
]

logger = logging.getLogger("afmcurrent")


def _length(text: str, positive: bool) -> float:
    try:
        return units.parse_length(text, positive=positive)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_length(text: str) -> float:
    """Parse a positive length with its unit, such as ``"100nm"``, ``"0.5 um"`` or ``"1e-7m"``.

    Returns
    -------
    float
        The length in m.

    Raises
    ------
    argparse.ArgumentTypeError
        If the text is not a positive finite length or has no unit (a bare number is refused:
        ``--tip-radius 100`` must not become 100 m); the message shows the accepted forms.
    """
    return _length(text, positive=True)


def lengths(n: int, what: str) -> Any:
    """Parser of ``n`` comma-separated lengths, each with its unit; returns metres."""

    def parse(text: str) -> tuple[float, ...]:
        parts = text.split(",")
        if len(parts) != n:
            raise argparse.ArgumentTypeError(
                f"expected {what}: {n} comma-separated lengths with units, e.g. "
                + ",".join(["1.5um"] * n) + f"; got {text!r}"
            )
        return tuple(_length(t, positive=False) for t in parts)

    return parse


def pixel_pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DY,DX in pixels, got {text!r}") from None
    return a, b


def scan_pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PLUS,MINUS scan numbers, e.g. 2,1, got {text!r}") from None
    return a, b


def floats(n: int, what: str) -> Any:
    def parse(text: str) -> tuple[float, ...]:
        try:
            vals = tuple(float(v) for v in text.split(","))
        except ValueError:
            vals = ()
        if len(vals) != n:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return vals

    return parse




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
