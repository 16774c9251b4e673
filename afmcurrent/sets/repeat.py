"""Repeat scans in a batch: pairs that share their -V scan are the same area scanned at +V twice
or more (+V, -V, +V; :func:`afmcurrent.sets.pairing.pair_scans` names the later pairs
``_repeatN``, a session gives pairs ``(0, 1)`` and ``(2, 1)``). After the pairs are written, each
+V scan of such a group is compared with the next one in the batch's order
(:func:`afmcurrent.pair.repeat.compare_repeat`, from the written results): the change that each
further scan made. The comparison goes into the earlier pair's folder (``summary.json``
``repeat``, the ``/repeat`` group of ``result.h5``, ``repeat.png``), so every folder is written by
one comparison only (no two tasks write one file), and into the rows (``repeat_*`` columns of
``summary.csv``: a pair's own comparison with the next scan, the last pair of a group its
comparison with the previous one; the warning in the earlier pair's ``warnings``).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from ..core.config import load_config
from ..io._common import atomic_path
from ..io.result import read_result
from ..outputs.repeat import write_repeat_figure, write_repeat_group
from ..outputs.summary import summary_json
from ..pair.repeat import compare_repeat, repeat_scan_from_stored
from .pairing import PairSpec
from .tables import input_label

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["REPEAT_COLUMNS", "repeat_groups", "repeat_task", "apply_repeat_rows"]

logger = logging.getLogger(__name__)

#: Columns of summary.csv filled for the pairs of an area scanned twice at +V.
REPEAT_COLUMNS = ("repeat_pair", "repeat_changed_fraction", "repeat_class_change_fraction",
                  "repeat_median_change_decades")


def repeat_groups(specs: list[PairSpec]) -> list[tuple[PairSpec, PairSpec]]:
    """``(earlier, next)`` pairs of specs sharing their -V scan, consecutive in the batch's order:
    a group of n pairs gives n - 1 comparisons, and no pair is the earlier one of two."""
    groups: dict[tuple[str, int | None], list[PairSpec]] = {}
    for s in specs:
        groups.setdefault((str(Path(s.minus).resolve()), s.minus_scan), []).append(s)
    return [(g[i], g[i + 1]) for g in groups.values() for i in range(len(g) - 1)]


def repeat_task(outdir: str, first: PairSpec, later: PairSpec, figures: bool
                ) -> dict[str, Any]:
    """Compare the +V scans of two written pairs of one area; write the comparison into the
    first pair's folder (the only task that writes there: :func:`repeat_groups`).

    Returns
    -------
    dict
        ``first``, ``later`` (names), ``comparison`` (the ``summary.json`` ``repeat`` entry)
        and ``warning``.
    """
    pairs = Path(outdir) / "pairs"
    ref, oth = read_result(pairs / first.name), read_result(pairs / later.name)
    settings = tomllib.loads(ref.settings_toml) if ref.settings_toml else None
    config = load_config(settings)
    a = dataclasses.replace(repeat_scan_from_stored(ref), label=input_label(first, "plus"))
    b = dataclasses.replace(repeat_scan_from_stored(oth), label=input_label(later, "plus"))
    comp = compare_repeat(a, b, config, later_is_other=True)
    folder = pairs / first.name
    write_repeat_group(folder / "result.h5", comp)
    summary = dict(ref.summary)
    summary["repeat"] = comp.to_dict()
    if comp.warning and comp.warning not in summary.get("warnings", []):
        summary["warnings"] = [*summary.get("warnings", []), comp.warning]
    if figures:
        write_repeat_figure(folder / "repeat.png", comp, ref.size)
        summary["files"] = sorted({*summary.get("files", []), "repeat.png"})
    with atomic_path(folder / "summary.json") as tmp:
        tmp.write_text(summary_json(summary))
    return {"first": first.name, "later": later.name, "comparison": comp.to_dict(),
            "warning": comp.warning}


def apply_repeat_rows(rows: dict[str, dict[str, Any]], outcome: dict[str, Any],
                      earlier: frozenset[str] = frozenset()) -> None:
    """Fill the ``repeat_*`` columns of the pairs' rows from a :func:`repeat_task` outcome (and
    the warning into the first pair's ``warnings``).

    The first pair's row always takes the comparison; the later pair's row takes it only when
    that pair is not itself the earlier pair of another comparison (``earlier``: the names of
    all pairs compared with a next scan), whatever the order in which the comparisons finish.
    """
    c = outcome["comparison"]
    values = {"repeat_changed_fraction": c.get("changed_fraction"),
              "repeat_class_change_fraction": c.get("class_change_fraction"),
              "repeat_median_change_decades": c.get("median_change_decades")}
    first, later = rows[outcome["first"]], rows[outcome["later"]]
    first.update(values, repeat_pair=outcome["later"])
    if outcome["later"] not in earlier:
        later.update(values, repeat_pair=outcome["first"])
    if outcome["warning"]:
        known = first.get("warnings") or ""
        if outcome["warning"] not in known:
            first["warnings"] = " | ".join(w for w in (known, outcome["warning"]) if w)
    if not c.get("compared"):
        logger.warning("repeat scan of %s not compared: %s", outcome["first"], c.get("reason"))


def repeat_pass(runner: Any, specs: list[PairSpec], rows: dict[str, dict[str, Any]],
                outdir: Path, figures: bool) -> int:
    """Compare every repeated +V scan of the batch whose two pairs succeeded (on the
    executor); returns the number compared. A comparison that fails is logged, never fatal."""
    ok = {n for n, r in rows.items() if r["status"] in ("ok", "skipped")}
    # consecutive among the pairs that succeeded: a failed middle pair is skipped over
    tasks = [(str(outdir), a, b, figures)
             for a, b in repeat_groups([s for s in specs if s.name in ok])]
    earlier = frozenset(t[1].name for t in tasks)
    done = 0
    for task, out, error in runner.map(repeat_task, tasks):
        if error is None:
            apply_repeat_rows(rows, out, earlier)
            done += 1
            if out["warning"]:
                logger.warning("%s: %s", out["first"], out["warning"])
        else:
            logger.error("repeat scan of %s and %s not compared: %s", task[1].name,
                         task[2].name, error)
    return done
