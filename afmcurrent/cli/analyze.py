"""``afmcurrent analyze``: one +V / -V pair (or a pair of an acquire session file) to its files."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import AfmcurrentError
from ._args import add_option_flags, options_given, reporter, scan_pair, session_or_none

__all__ = [
    "add_parser",
    "run",
]

logger = logging.getLogger("afmcurrent")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``analyze`` to the sub-commands."""
    a = sub.add_parser(
        "analyze",
        help="analyse one +V / -V pair",
        description="Analyse one +V / -V pair of scans of the same area: co-register the -V scan "
        "onto the +V scan, separate ionic from electronic current, classify degradation "
        "domains, and write summary.json, result.h5, domains.csv, result.gwy and figure.png. "
        "Given one acquire session file (SESSION.h5) instead of two scans, its first "
        "consecutive +V/-V pair of complete scans is analysed (--pair to choose) with the "
        "calibration and biases stored in the session.",
    )
    a.add_argument("plus", type=Path, help="scan at positive sample bias (ionic + electronic), "
                   "or an acquire session file")
    a.add_argument("minus", type=Path, nargs="?",
                   help="scan at negative sample bias (electronic only); not with a session")
    a.add_argument("--pair", type=scan_pair, metavar="PLUS,MINUS",
                   help="session files: the +V and -V scan numbers as `afmcurrent info "
                   "SESSION.h5` lists them, e.g. 2,1 (default: the first complete pair)")
    a.add_argument("--allow-partial", action="store_true",
                   help="session files: analyse scans that did not finish (aborted, or left "
                   "by a killed process) on the lines recorded in both; the rows not recorded "
                   "are cropped (default: such a scan is refused with its reason)")
    a.add_argument("--repeat", type=Path, metavar="PLUS2",
                   help="a second +V scan of the same area, recorded after MINUS (+V, -V, +V): "
                   "registered onto PLUS and compared, to show what the measurement changed "
                   "(summary.json 'repeat', repeat.png; a warning above the [repeat] limits). "
                   "A session's repeated +V scan is found and compared without it")
    a.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    a.add_argument("--config", type=Path, metavar="FILE",
                   help="settings TOML file (its [analysis] table gives defaults of the "
                   "analysis options below)")
    a.add_argument("--no-drift", action="store_true",
                   help="one constant displacement for all rows (no creep or drift estimated)")
    a.add_argument("--reference", nargs=2, type=Path, metavar=("PLUS", "MINUS"),
                   help="pristine reference pair for [classify] mode = 'reference'")
    a.add_argument("--optical", type=Path, metavar="IMG",
                   help="optical micrograph (PNG, TIFF, JPEG) of a field containing the scan")
    add_option_flags(a, "analysis options (also keys of the [analysis] table of --config)")
    a.add_argument("--figure-format", choices=("png", "pdf", "svg"), default="png",
                   help="also write the figures in this vector format (PNG always)")
    a.add_argument("--no-figures", action="store_true", help="skip figure.png (faster)")
    a.add_argument("--overwrite", action="store_true", help="replace results in OUTDIR")

    a.set_defaults(handler=run)
    return a


def _no_drift_config(path: Path | None) -> Any:
    """The settings of ``path`` (or the defaults) with ``[registration] estimate_drift`` off."""
    from ..core.config import load_config

    return load_config(path, registration={"estimate_drift": False})


def run(args: argparse.Namespace) -> int:
    from ..outputs.writers import prepare_outdir, write_result
    from ..pair.pipeline import analyze_pair

    say = reporter(args)
    plus, minus, logamp, notes = args.plus, args.minus, args.logamp, []
    session = session_or_none(args.plus)
    if session is None and (args.pair is not None or args.allow_partial):
        raise AfmcurrentError("--pair and --allow-partial apply to an acquire session file "
                              f"only; {args.plus} is not one")
    if session is None and args.minus is None:
        raise AfmcurrentError("analyze needs PLUS and MINUS scans, or one acquire session file")
    if session is not None and args.minus is not None:
        raise AfmcurrentError(f"{args.plus} is an acquire session file: give it alone "
                              "(choose its scans with --pair PLUS,MINUS)")
    prepare_outdir(args.outdir, args.overwrite)  # refuse early, before any work
    if session is not None:
        from ..io.session import load_session_pair

        sp = load_session_pair(args.plus, args.pair, allow_partial=args.allow_partial)
        plus, minus, notes = sp.plus, sp.minus, list(sp.notes)
        say(f"session {args.plus}: +V scan {sp.plus_index}, -V scan {sp.minus_index}")
        if logamp is None:
            if sp.calibration is None:
                raise AfmcurrentError(f"{args.plus}: no calibration stored in the session; "
                                      "give one with --logamp")
            logamp = sp.calibration
        else:
            notes.append(f"log-amplifier calibration from --logamp {args.logamp}, not the "
                         "one stored in the session")
    options = options_given(args)
    if logamp is not None:
        options["logamp"] = logamp
    result = analyze_pair(
        plus,
        minus,
        config=_no_drift_config(args.config) if args.no_drift else args.config,
        reference=tuple(args.reference) if args.reference else None,
        optical=args.optical,
        **options,
    )
    result.notes[:0] = notes
    other = _repeat_scan(args, session, sp if session is not None else None, say)
    if other is not None:
        _compare_repeat(result, other[0], other[1], say)
    for note in result.notes:
        say(f"note: {note}")
    sys.stdout.flush()
    for warning in result.warnings:
        print(f"afmcurrent analyze: warning: {warning}", file=sys.stderr)
    written = write_result(result, args.outdir, figures=not args.no_figures, overwrite=True,
                           figure_format=args.figure_format)
    reg = result.registration
    say(f"+V {result.plus.label} ({result.bias_plus:+g} V), "
          f"-V {result.minus.label} ({result.bias_minus:+g} V)")
    cal = result.calibration
    unit = next((c.unit for c in result.plus.channel_list if c.name == result.current_channel),
                "")
    how = (f"log-amplifier output in V, calibration {cal.name or 'given'}" if unit == "V"
           else f"in {unit}" if unit else "")
    say(f"channels: height {result.height_channel!r}, current {result.current_channel!r}"
        + (f" ({how})" if how else ""))
    say(f"registration: shift (dy, dx) = ({reg.shift[0]:.2f}, {reg.shift[1]:.2f}) px, "
          f"drift ({reg.drift_per_line[0]:.4f}, {reg.drift_per_line[1]:.4f}) px/line, "
          f"confidence {reg.confidence:.2f}, method {reg.method}")
    say(f"classified: {result.classified_fraction * 100:.1f} % of the +V frame")
    for name, frac in result.fractions.items():
        shown = "n/a" if frac != frac else f"{frac * 100:5.1f} %"
        say(f"  {name:<26s} {shown}")
    say("median currents: " + ", ".join(
        f"{k} {text}" for k, text in _median_texts(result).items()))
    dens = result.median_current_densities()
    bounds = result.median_current_bounds()
    say(f"median current density (tip radius {result.config.transport.tip_radius * 1e9:g} "
          "nm): " + ", ".join(
              f"{k.replace('_current', '')} "
              f"{_bound_prefix(bounds.get(k))}{'n/a' if v is None else f'{v * 0.1:.3g} mA/cm²'}"
              for k, v in dens.items()))
    lag = result.lag
    if lag.get("checked"):
        say(f"lag: {lag['lagging_fraction'] * 100:.1f} % of the valid pixels have an amplifier "
              f"bandwidth below the pixel rate (intervals widened)")
    if result.optical is not None:
        o = result.optical
        say(f"optical: box {', '.join(f'{v:.1f}' for v in o.placement.box_px)} px, "
              f"confidence {o.placement.confidence:.2f}, Cramer's V {o.cramers_v:.2f}, "
              f"field bright {o.field_bright_fraction * 100:.1f} %")
    say(f"domains: {len(result.domains)}; wrote {', '.join(sorted(written))} to {args.outdir}")
    return 0


def _repeat_scan(args: argparse.Namespace, session: Any, sp: Any,
                 say: Callable[..., None]) -> tuple[Any, Any] | None:
    """The repeated +V scan and the -V scan to pair it with: ``--repeat``, or the session's
    other complete +V scan paired with the same -V scan (+V, -V, +V); None without one."""
    if args.repeat is not None:
        if session is not None:
            raise AfmcurrentError("--repeat takes a scan file; a session's repeated +V scan is "
                                  "found in the session")
        return args.repeat, args.minus
    if session is None:
        return None
    from ..io.session import load_session_pair

    others = [p for p, m in session.pairs(allow_partial=args.allow_partial)
              if m == sp.minus_index and p != sp.plus_index]
    if not others:
        return None
    sp2 = load_session_pair(args.plus, (others[0], sp.minus_index),
                            allow_partial=args.allow_partial)
    say(f"session {args.plus}: +V scan {others[0]} repeats +V scan {sp.plus_index} "
          f"(both with -V scan {sp.minus_index}): compared")
    return sp2.plus, sp2.minus


def _compare_repeat(result: Any, plus2: Any, minus: Any, say: Callable[..., None]) -> None:
    """Analyse the repeated +V scan with the same -V scan, settings and thresholds, and attach
    the comparison of the two +V scans to ``result`` (:mod:`afmcurrent.pair.repeat`)."""
    from ..core.config import load_config
    from ..pair.pipeline import analyze_pair
    from ..pair.repeat import attach_repeat, compare_results

    t = result.thresholds  # the same thresholds (in reference mode: the reference pair's)
    config = load_config(result.config, classify={
        "mode": "absolute", "ionic_fraction_min": t.ionic_fraction_min,
        "ionic_current_min": t.ionic_current_min, "shunt_current_min": t.shunt_current_min})
    second = analyze_pair(plus2, minus, config=config, options=result.options)
    attach_repeat(result, compare_results(result, second))
    rep = result.repeat
    if rep.compared:
        def share(v: float | None) -> str:
            return "n/a" if v is None else f"{v * 100:.1f} %"

        say(f"repeat: {rep.later} against {rep.earlier}: {share(rep.changed_fraction)} of the "
              f"pixels changed beyond the noise (median {rep.median_change_decades:+.3f} "
              f"decade), {share(rep.class_change_fraction)} would change class")


#: Why a median is a bound, as the CLI says it.
_BOUND_REASONS = {
    ("upper", "plus_current"): "amplifier floor",
    ("upper", "minus_current"): "amplifier floor",
    ("upper", "electronic_current"): "amplifier floor",
    ("lower", "plus_current"): "amplifier saturation",
    ("lower", "minus_current"): "amplifier saturation",
    ("lower", "electronic_current"): "amplifier saturation",
    ("upper", "ionic_current"): "not resolved from I_e(+V)",
    ("lower", "ionic_current"): "I(+V) saturated",
}


def _bound_prefix(bound: str | None) -> str:
    return {"upper": "< ", "lower": "> "}.get(bound or "", "")


def _median_texts(result: Any) -> dict[str, str]:
    """Median currents as the CLI prints them: "0.25 pA", "< 0.001 pA (amplifier floor)"."""
    med, bounds = result.median_currents(), result.median_current_bounds()
    out = {}
    for k, v in med.items():
        if v is None:
            out[k] = "n/a"
            continue
        text = f"{_bound_prefix(bounds.get(k))}{v * 1e12:.3g} pA"
        if k in bounds:
            text += f" ({_BOUND_REASONS[(bounds[k], k)]})"
        out[k] = text
    return out
