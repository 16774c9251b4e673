"""The ``afmcurrent`` command: one module per sub-command."""

from .main import build_parser, main, parse_length

__all__ = ["build_parser", "main", "parse_length"]
