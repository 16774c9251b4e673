"""After the scans: each consecutive +V/-V pair of complete scans analysed with
:func:`afmcurrent.analyze_pair` and written beside the session file
(``<session>_pairIII-JJJ/``); +V, -V, +V: the two +V scans compared (the repeat scan)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from afmcurrent.core.errors import AfmcurrentError

from .config import SessionConfig
from .result import SessionResult
from .storage import SessionFile

__all__ = ["analyze_pairs"]


def analyze_pairs(cfg: SessionConfig, store: SessionFile, result: SessionResult,
                  note: Callable[..., None]) -> None:
    """Analyse the complete +V/-V pairs; results into ``result.pairs`` / ``result.outdirs``,
    an ``analysis`` (or ``analysis_failed``) event per pair."""
    from afmcurrent import analyze_pair, write_result

    biases = cfg.biases
    analysed: dict[tuple[int, int], tuple[Any, int, int]] = {}
    for i in range(len(biases) - 1):
        j = i + 1
        if biases[i] * biases[j] >= 0:
            continue
        if result.statuses[i] != "complete" or result.statuses[j] != "complete":
            continue
        p, m = (i, j) if biases[i] > 0 else (j, i)
        try:
            res = analyze_pair(store.scan(p), store.scan(m), logamp=cfg.calibration,
                               bias_plus=biases[p], bias_minus=biases[m],
                               config=cfg.analysis.get("config"))
        except AfmcurrentError as exc:
            note("analysis_failed", f"pair {i}-{j}: {exc}")
            continue
        analysed[(i, j)] = (res, p, m)
    _compare_repeats(analysed, note)
    for (i, j), (res, p, m) in analysed.items():
        out = store.path.with_name(f"{store.path.stem}_pair{i:03d}-{j:03d}")
        try:
            write_result(res, out, figures=bool(cfg.analysis.get("figures", True)))
        except AfmcurrentError as exc:
            note("analysis_failed", f"pair {i}-{j}: {exc}")
            continue
        result.pairs[(i, j)] = res
        result.outdirs[(i, j)] = out
        fr = ", ".join(f"{k} {v * 100:.1f} %" for k, v in res.fractions.items() if v == v)
        note("analysis", f"pair {i}-{j} (+V scan {p}, -V scan {m}) -> {out.name}: {fr}")


def _compare_repeats(analysed: dict[tuple[int, int], tuple[Any, int, int]],
                     note: Callable[..., None]) -> None:
    """+V, -V, +V: the two pairs that share a -V scan compare their +V scans
    (:func:`afmcurrent.pair.repeat.compare_results`, the earlier pair's settings); the
    comparison goes into both results (``summary.json`` ``repeat``, its warning among theirs)
    and a ``repeat`` event."""
    from afmcurrent.pair.repeat import attach_repeat, compare_results

    by_minus: dict[int, list[tuple[int, int]]] = {}
    for key, (_, _p, m) in analysed.items():
        by_minus.setdefault(m, []).append(key)
    for m, keys in sorted(by_minus.items()):
        if len(keys) < 2:
            continue
        keys.sort(key=lambda k: analysed[k][1])  # by the +V scan: earlier first
        first, later = analysed[keys[0]][0], analysed[keys[1]][0]
        comparison = compare_results(first, later)
        attach_repeat(first, comparison)
        attach_repeat(later, comparison)
        p0, p1 = analysed[keys[0]][1], analysed[keys[1]][1]
        if comparison.compared:
            share = ("n/a" if comparison.class_change_fraction is None
                     else f"{comparison.class_change_fraction * 100:.1f} %")
            note("repeat", f"+V scan {p1} repeats +V scan {p0} (both with -V scan {m}): "
                 f"{share} of the pixels would change class"
                 + (f"; warning: {comparison.warning}" if comparison.warning else ""))
        else:
            note("repeat", f"+V scans {p0} and {p1} not compared: {comparison.reason}")
