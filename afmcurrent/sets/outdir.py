"""The output folder of a batch: whose it is, and what is left of an interrupted run.

``OUTDIR/batch.json`` records what the batch is (its source: a folder, a manifest or the list
of pairs, and the settings); a run into a folder holding another batch's results is refused
unless ``overwrite`` (which removes them first). Leftovers of a killed run (temporary pair
folders and files of atomic writes) are removed when the next run starts (run one batch per
OUTDIR).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ..core.errors import OutputExistsError
from ..core.version import __version__
from ..io._common import atomic_path
from .options import BatchOptions
from .pairing import PairSpec
from .tables import input_label

__all__ = [
    "BATCH_OUTPUTS",
    "batch_identity",
    "claim_outdir",
    "remove_leftovers",
]

logger = logging.getLogger(__name__)

#: What a batch writes into OUTDIR (removed by ``overwrite`` when OUTDIR held another batch).
BATCH_OUTPUTS = ("pairs", "summary.csv", "samples.csv", "pooled.json", "summary.png",
                 "currents.png", "report.html", "batch.json", "settings.toml")


def batch_identity(specs: list[PairSpec], options: BatchOptions, pooled_samples: int,
                    seed: int, source: dict[str, Any] | None) -> dict[str, Any]:
    """What a batch folder was made from, as ``OUTDIR/batch.json`` records it.

    Parameters
    ----------
    specs : list of PairSpec
        The pairs of the set (their names, files and session scan numbers are the source
        unless ``source`` is given).
    options : BatchOptions
    pooled_samples, seed : int
        Pixels drawn per pair for the pooled model and its seed.
    source : dict, optional
        How the set was given (e.g. the folder or manifest); None: the list of pairs.

    Returns
    -------
    dict
        ``source`` and ``settings`` (the options' settings, ``pooled_samples``, ``seed``):
        a later run into the same folder must have the same identity, or ``--overwrite``.
    """
    if source is None:
        source = {"pairs": sorted([s.name, str(s.plus), str(s.minus), s.plus_scan,
                                   s.minus_scan] for s in specs)}
    return {"source": source,
            "settings": {**options.settings(), "pooled_samples": pooled_samples, "seed": seed}}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    if old.get("source") != new["source"]:
        out.append(f"inputs {_short(old.get('source'))} (now {_short(new['source'])})")
    old_s, new_s = old.get("settings") or {}, new["settings"]
    for key in sorted(set(old_s) | set(new_s)):
        if old_s.get(key) != new_s.get(key):
            out.append(f"{key} = {old_s.get(key)!r} (now {new_s.get(key)!r})")
    return out


def _short(source: Any) -> str:
    if isinstance(source, dict) and isinstance(source.get("pairs"), list) and len(source) == 1:
        names = [p[0] for p in source["pairs"] if isinstance(p, list) and p]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"pairs {shown or 'none'}"
    return json.dumps(source, default=str)


def claim_outdir(outdir: Path, identity: dict[str, Any], specs: list[PairSpec],
                  overwrite: bool) -> None:
    """Make ``outdir`` this batch's folder: refuse (or with ``overwrite`` clear) another's.

    Raises
    ------
    OutputExistsError
        If ``outdir`` holds another batch's results and ``overwrite`` is False.
    """

    if outdir.exists() and not outdir.is_dir():
        raise OutputExistsError(f"{outdir}: exists and is not a folder")
    marker = outdir / "batch.json"
    problem = None
    if marker.exists() or marker.is_symlink():
        try:
            stored = json.loads(marker.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            problem = f"its batch.json is unreadable ({exc})"
        else:
            diff = _differences(stored, identity)
            if diff:
                problem = "it holds the results of another batch: " + "; ".join(diff)
    elif (outdir / "pairs").is_dir():  # a batch of an earlier version, without batch.json
        problem = _legacy_conflict(outdir, specs)
    if problem is not None:
        if not overwrite:
            raise OutputExistsError(
                f"{outdir}: {problem}; pass --overwrite (overwrite=True) to replace its results, "
                "or choose another output folder")
        logger.warning("%s: %s: its results are replaced (--overwrite)", outdir, problem)
        for name in BATCH_OUTPUTS:
            p = outdir / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps({**identity, "version": __version__}, indent=1,
                                  default=str) + "\n")


def _legacy_conflict(outdir: Path, specs: list[PairSpec]) -> str | None:
    """For a batch folder without batch.json (an earlier version): a stored pair that is not
    one of these pairs, if any."""
    now = {s.name: [input_label(s, "plus"), input_label(s, "minus")] for s in specs}
    for marker in sorted((outdir / "pairs").glob("*/batch.json")):
        name = marker.parent.name
        try:
            row = json.loads(marker.read_text())["row"]
            stored = [row["plus"], row["minus"]]
        except (OSError, ValueError, KeyError, TypeError):
            return f"pairs/{name}/batch.json is unreadable"
        if sorted(now.get(name) or []) != sorted(stored):  # (+V, -V as the files say)
            return f"it holds pair {name} of other inputs ({stored[0]}, {stored[1]})"
    return None


def remove_leftovers(outdir: Path) -> None:
    """Remove what a run killed while writing left in ``outdir``: temporary pair folders
    (``pairs/.<name>.partial-*``) and temporary files of atomic writes (``.*.partial``). Never
    results (run one batch at a time per OUTDIR)."""
    for stale in (outdir / "pairs").glob(".*.partial-*"):
        logger.info("removing incomplete %s left by an interrupted run", stale.name)
        shutil.rmtree(stale, ignore_errors=True)
    for stale in (*outdir.glob(".*.partial"), *(outdir / "pairs").glob("*/.*.partial")):
        if stale.is_file() or stale.is_symlink():
            stale.unlink(missing_ok=True)
