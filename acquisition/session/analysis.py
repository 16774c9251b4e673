"""After the scans: each consecutive +V/-V pair of complete scans analysed with
:func:`afmcurrent.analyze_pair` and written beside the session file
(``<session>_pairIII-JJJ/``)."""

from __future__ import annotations

from collections.abc import Callable

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
            out = store.path.with_name(f"{store.path.stem}_pair{i:03d}-{j:03d}")
            write_result(res, out, figures=bool(cfg.analysis.get("figures", True)))
        except AfmcurrentError as exc:
            note("analysis_failed", f"pair {i}-{j}: {exc}")
            continue
        result.pairs[(i, j)] = res
        result.outdirs[(i, j)] = out
        fr = ", ".join(f"{k} {v * 100:.1f} %" for k, v in res.fractions.items() if v == v)
        note("analysis", f"pair {i}-{j} (+V scan {p}, -V scan {m}) -> {out.name}: {fr}")
