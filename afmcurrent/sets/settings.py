"""The settings of a batch (``OUTDIR/settings.toml``): the settings file and the options given
(each pair's folder holds the settings it was made with, its calibration included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.config import load_config
from ..core.options import merge_options
from ..io._common import atomic_path
from ..outputs.settings_file import settings_toml

__all__ = ["batch_settings_toml", "write_batch_settings"]


def batch_settings_toml(options: Any) -> str:
    """The batch's settings as a TOML file (:func:`afmcurrent.outputs.settings_file.
    settings_toml`): the settings file's tables with every key and the analysis options given
    as ``[analysis]``.

    Parameters
    ----------
    options : BatchOptions
    """
    config = load_config(options.config)
    given = merge_options(config.analysis, options.analysis_given())
    header = ["settings of this batch: the settings file "
              f"({options.config or 'none: the defaults'}) and the options given; each pair's "
              "folder",
              "holds the settings it was made with (pairs/<name>/settings.toml, its "
              "calibration included)"]
    return settings_toml(config, given, None, header)


def write_batch_settings(outdir: Path, options: Any) -> Path:
    """Write ``OUTDIR/settings.toml`` atomically; returns its path."""
    path = Path(outdir) / "settings.toml"
    with atomic_path(path) as tmp:
        tmp.write_text(batch_settings_toml(options), encoding="utf-8")
    return path
