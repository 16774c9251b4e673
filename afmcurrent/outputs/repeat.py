"""The repeat scan in a pair's files: the ``/repeat`` group of ``result.h5`` and ``repeat.png``.

``/repeat`` (present only with a repeat comparison that was made; ``docs/outputs.md``):
``change`` (float32, decades: log10 I(later) - log10 I(earlier) in the +V frame, NaN where not
measured in both), ``significant`` (uint8: 1 where the change exceeds the noise),
``class_changed`` (uint8: 1 where the class would change); attribute ``repeat_json`` the
``repeat`` entry of ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..io._common import atomic_path
from ..pair.repeat import RepeatComparison
from .figures.repeat import plot_repeat

__all__ = ["write_repeat_group", "write_repeat_figure"]


def write_repeat_group(path: str | Path, comparison: RepeatComparison) -> None:
    """Add (or replace) the ``/repeat`` group of a ``result.h5`` file."""
    with h5py.File(path, "a") as f:
        if "repeat" in f:
            del f["repeat"]
        g = f.create_group("repeat")
        g.attrs["repeat_json"] = json.dumps(_finite(comparison.to_dict()))
        if not comparison.compared:
            return
        d = g.create_dataset("change", data=np.asarray(comparison.change, np.float32))
        d.attrs["units"] = "decades"
        d.attrs["meaning"] = "log10 I(later) - log10 I(earlier) of the repeated polarity"
        for name, data in (("significant", comparison.significant),
                           ("class_changed", comparison.class_changed)):
            ds = g.create_dataset(name, data=np.asarray(data, np.uint8))
            ds.attrs["units"] = ""


def write_repeat_figure(path: str | Path, comparison: RepeatComparison,
                        size_m: tuple[float, float], formats: tuple[str, ...] = ("png",)
                        ) -> list[Path]:
    """Draw ``repeat.png`` (and the same in each further format); returns the files."""
    fig = plot_repeat(comparison, size_m)
    out = []
    for fmt in formats:
        target = Path(path).with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=200)
        out.append(target)
    return out


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if np.isfinite(v) else None
    return obj
