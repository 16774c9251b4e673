"""``afmcurrent batch``: every +V / -V pair of a folder tree or manifest, one pooled model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..core.errors import AfmcurrentError
from ._args import add_option_flags, options_given, reporter

__all__ = [
    "add_parser",
    "run",
]

logger = logging.getLogger("afmcurrent")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``batch`` to the sub-commands."""
    b = sub.add_parser(
        "batch", help="analyse every +V / -V pair of a folder tree or manifest",
        description="Find the +V / -V pairs below ROOT (by their headers: opposite bias sign, same "
        "scan size, pixels and offsets, same folder, nearest in time) or read them from "
        "--manifest, analyse each as `analyze` does into OUTDIR/pairs/<name>/, classify the set "
        "with one pooled model, and write summary.csv, samples.csv, summary.png and report.html. "
        "Acquire session files below ROOT give one pair per consecutive +V/-V pair of complete "
        "scans. A batch started again skips the pairs already complete with unchanged inputs; "
        "an OUTDIR holding another batch's results (other ROOT, manifest or settings) is "
        "refused unless --overwrite. Files are read in child processes: a file that crashes "
        "or hangs its reader fails its own pair (or is reported unreadable) and the batch "
        "goes on.",
    )
    b.add_argument("root", type=Path, nargs="?", help="folder tree of scans")
    b.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    b.add_argument("--manifest", type=Path, metavar="CSV",
                   help="pairs from a CSV (columns plus, minus [, sample, group, optical, "
                   "bias_plus, bias_minus]; paths relative to the CSV) instead of discovery")
    b.add_argument("--workers", type=int, metavar="N",
                   help="N >= 1: N local worker processes; a pair whose reading crashes or "
                   "overruns --timeout fails alone, the worker is replaced (default: number of "
                   "cores); 0: in this process, which does NOT isolate crashes or hangs (a "
                   "crashing reader ends the batch; for debugging)")
    b.add_argument("--timeout", type=float, metavar="S",
                   help="time limit of one pair in a worker process, s (default 1800, "
                   "sets.executors.PAIR_TIMEOUT; 0: none; not with --workers 0 or --scheduler)")
    b.add_argument("--overwrite", action="store_true",
                   help="replace the results of another batch found in OUTDIR")
    b.add_argument("--allow-partial", action="store_true",
                   help="also analyse session scans that did not finish, on the lines "
                   "recorded in both scans of a pair (the rest cropped)")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 "
                   "(needs afmcurrent[dask]; workers must see the same paths)")
    b.add_argument("--dry-run", action="store_true", help="print the pairing and stop")
    b.add_argument("--force", action="store_true", help="redo pairs that are already complete")
    b.add_argument("--figures", action="store_true",
                   help="also draw each pair's figures (figure.png, figure_paper.png, "
                   "profile.png; not drawn by default), every pair's current maps on the "
                   "set's one log colour scale (recorded in batch.json)")
    b.add_argument("--no-figures", action="store_true",
                   help="no figures per pair (the default; kept for scripts that pass it)")
    b.add_argument("--gwy", action="store_true",
                   help="also write each pair's result.gwy (~60 MB per 512 x 512 pair; "
                   "result.h5 holds the same maps, compressed, in ~3.5 MB)")
    b.add_argument("--config", type=Path, metavar="FILE",
                   help="settings TOML file (its [analysis] table gives defaults of the "
                   "analysis options below)")
    b.add_argument("--pooled-samples", type=int, default=2000, metavar="N",
                   help="pixels drawn from each pair for the pooled model (default 2000)")
    b.add_argument("--seed", type=int, default=0, help="seed of the pooled model")
    add_option_flags(b, "analysis options of every pair (also keys of the [analysis] table of "
                     "--config)")
    b.set_defaults(handler=run)
    return b


def run(args: argparse.Namespace) -> int:
    from ..sets.executors import PAIR_TIMEOUT, keep_freed_memory
    from ..sets.manifest import read_manifest
    from ..sets.options import BatchOptions
    from ..sets.pairing import discover_pairs
    from ..sets.run import run_batch

    if (args.root is None) == (args.manifest is None):
        raise AfmcurrentError("batch needs a ROOT folder or --manifest CSV (one of them)")
    if args.workers is not None and args.workers < 0:
        raise AfmcurrentError("--workers must be 0 or more")
    if args.manifest:
        pairing = read_manifest(args.manifest)
        source = {"manifest": str(args.manifest.resolve())}
    else:
        pairing = discover_pairs(args.root, workers=args.workers,
                                 allow_partial=args.allow_partial, bias_plus=args.bias_plus,
                                 bias_minus=args.bias_minus)
        source = {"root": str(args.root.resolve())}
    if args.dry_run:
        print(pairing.table())
        return 0
    for u in pairing.unpaired + pairing.ambiguous:
        logger.warning("not analysed: %s: %s", u.path, u.reason)
    if not pairing.pairs:
        raise AfmcurrentError(f"no +V / -V pair found in {args.root or args.manifest}")
    options = BatchOptions(
        **options_given(args), config=str(args.config) if args.config else None,
        figures=args.figures and not args.no_figures, gwy=args.gwy,
        allow_partial=args.allow_partial,
    )
    if args.workers == 0 and not args.scheduler:
        keep_freed_memory()  # this process analyses every pair: keep freed memory, as workers do
    result = run_batch(pairing.pairs, args.outdir, options, workers=args.workers,
                       scheduler=args.scheduler, force=args.force,
                       pooled_samples=args.pooled_samples, seed=args.seed,
                       progress=not args.quiet, timeout=_timeout(args.timeout, PAIR_TIMEOUT),
                       overwrite=args.overwrite, source=source)
    say = reporter(args)
    counts = {s: sum(r["status"] == s for r in result.rows) for s in ("ok", "skipped", "failed")}
    say(f"{len(result.rows)} pairs: {counts['ok']} analysed, {counts['skipped']} already "
          f"complete, {counts['failed']} failed; "
          f"{len(pairing.unpaired) + len(pairing.ambiguous)} files (or session scans) not "
          "paired")
    for channels, n in _channels_used(args.outdir, result.rows).items():
        say(f"channels: {channels} ({n} pair{'s' if n > 1 else ''})")
    dis = [r["pooled_disagreement"] for r in result.rows
           if r.get("pooled_disagreement") is not None]
    if dis:
        say(f"pooled vs per-pair classes: {100 * sum(dis) / len(dis):.1f} % of pixels differ "
              "(mean over pairs)")
    say(f"wrote {', '.join(sorted(result.files))} and pairs/ to {args.outdir}")
    return 1 if result.failed else 0


def _channels_used(outdir: Path, rows: list[dict[str, Any]]) -> dict[str, int]:
    """The channels the analysed pairs used (from their ``summary.json``), with how many
    pairs used each combination."""
    import json

    used: dict[str, int] = {}
    for r in rows:
        if r["status"] == "failed":
            continue
        try:
            inputs = json.loads((outdir / "pairs" / r["name"] / "summary.json").read_text(
                encoding="utf-8"))["inputs"]
            text = f"height {inputs['plus']['height_channel']!r}, current " \
                f"{inputs['plus']['current_channel']!r}"
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a result of another version: its channels are in its own files
        used[text] = used.get(text, 0) + 1
    return used


def _timeout(given: float | None, default: float) -> float | None:
    """The time limit of one pair: the default when not given, none for 0 or less."""
    if given is None:
        return default
    return given if given > 0 else None
