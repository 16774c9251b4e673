"""``afmcurrent analyze``: one +V / -V pair (or a pair of an acquire session file) to its files."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ..core.errors import AfmcurrentError
from ._args import floats, lengths, parse_length, pixel_pair, scan_pair, session_or_none

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
    a.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    a.add_argument("--height-channel", help="topography channel (default: first channel in m)")
    a.add_argument(
        "--current-channel",
        help="current channel (default: first channel in A, else the log-amp output in V)",
    )
    a.add_argument("--bias-plus", type=float, metavar="V",
                   help="sample bias of PLUS in V (overriding the header's gives a warning)")
    a.add_argument("--bias-minus", type=float, metavar="V", help="sample bias of MINUS in V")
    a.add_argument("--force-bias", action="store_true",
                   help="accept --bias-plus/--bias-minus whose sign contradicts the header "
                   "(refused otherwise: the files may be swapped)")
    a.add_argument(
        "--logamp",
        metavar="FILE|PRESET",
        help="log-amplifier calibration: TOML file with a [logamp] table, or a preset name "
        "(see `afmcurrent info --presets`); default: logamp.toml beside PLUS",
    )
    a.add_argument("--config", type=Path, metavar="FILE", help="settings TOML file")
    a.add_argument(
        "--tip-radius", type=parse_length, metavar="LENGTH",
        help="probe radius for the current density I / (pi r^2), with its unit, e.g. 100nm "
        "(default 100 nm)",
    )
    a.add_argument("--shift", type=pixel_pair, metavar="DY,DX",
                   help="known shift of MINUS onto PLUS in pixels at the centre row; creep and "
                   "drift around it are still estimated unless --no-drift")
    a.add_argument("--no-drift", action="store_true",
                   help="one constant displacement for all rows (no creep or drift estimated)")
    a.add_argument("--expect-shift", type=pixel_pair, metavar="DY,DX",
                   help="approximate shift in pixels; the estimate is searched near it "
                   "(resolves periodic samples such as calibration gratings)")
    a.add_argument("--search-radius", type=float, default=5.0, metavar="PX",
                   help="radius of the search window around --expect-shift (default 5 px)")
    a.add_argument("--force-registration", action="store_true",
                   help="use a registration reported as not trustworthy")
    a.add_argument("--reference", nargs=2, type=Path, metavar=("PLUS", "MINUS"),
                   help="pristine reference pair for [classify] mode = 'reference'")
    a.add_argument("--optical", type=Path, metavar="IMG",
                   help="optical micrograph (PNG, TIFF, JPEG) of a field containing the scan")
    a.add_argument("--optical-pixel-size", type=parse_length, metavar="LENGTH",
                   help="optical pixel size with its unit, e.g. 0.5um")
    place = a.add_mutually_exclusive_group()
    place.add_argument("--optical-box", type=floats(4, "X0,Y0,X1,Y1 in optical pixels"),
                       metavar="X0,Y0,X1,Y1",
                       help="scan area in the optical image, pixels (refined by mutual "
                       "information)")
    place.add_argument("--optical-center", type=lengths(2, "X,Y"), metavar="X,Y",
                       help="scan centre in the optical image from its top-left corner, "
                       "lengths with units, e.g. 40um,35.5um")
    a.add_argument("--profile", type=lengths(4, "X0,Y0,X1,Y1"), metavar="X0,Y0,X1,Y1",
                   help="line profile from the scan's top-left corner, lengths with units, "
                   "e.g. 1um,1um,8um,8um (default: middle row); written to profile.csv and "
                   "profile.png")
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
    from ..outputs.writers import prepare_outdir
    from ..pair.pipeline import analyze_pair

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
        print(f"session {args.plus}: +V scan {sp.plus_index}, -V scan {sp.minus_index}")
        if logamp is None:
            if sp.calibration is None:
                raise AfmcurrentError(f"{args.plus}: no calibration stored in the session; "
                                      "give one with --logamp")
            logamp = sp.calibration
        else:
            notes.append(f"log-amplifier calibration from --logamp {args.logamp}, not the "
                         "one stored in the session")
    result = analyze_pair(
        plus,
        minus,
        height_channel=args.height_channel,
        current_channel=args.current_channel,
        bias_plus=args.bias_plus,
        bias_minus=args.bias_minus,
        logamp=logamp,
        config=_no_drift_config(args.config) if args.no_drift else args.config,
        tip_radius=args.tip_radius,
        shift=args.shift,
        expect_shift=args.expect_shift,
        search_radius=args.search_radius,
        force_registration=args.force_registration,
        force_bias=args.force_bias,
        reference=tuple(args.reference) if args.reference else None,
        optical=args.optical,
        optical_pixel_size=args.optical_pixel_size,
        optical_box=args.optical_box,
        optical_center=args.optical_center,
        profile=args.profile,
    )
    result.notes[:0] = notes
    for note in result.notes:
        print(f"note: {note}")
    sys.stdout.flush()
    for warning in result.warnings:
        print(f"afmcurrent analyze: warning: {warning}", file=sys.stderr)
    written = result.write(args.outdir, figures=not args.no_figures, overwrite=True,
                           figure_format=args.figure_format)
    reg = result.registration
    print(f"+V {result.plus.label} ({result.bias_plus:+g} V), "
          f"-V {result.minus.label} ({result.bias_minus:+g} V)")
    print(f"registration: shift (dy, dx) = ({reg.shift[0]:.2f}, {reg.shift[1]:.2f}) px, "
          f"drift ({reg.drift_per_line[0]:.4f}, {reg.drift_per_line[1]:.4f}) px/line, "
          f"confidence {reg.confidence:.2f}, method {reg.method}")
    print(f"classified: {result.classified_fraction * 100:.1f} % of the +V frame")
    for name, frac in result.fractions.items():
        shown = "n/a" if frac != frac else f"{frac * 100:5.1f} %"
        print(f"  {name:<26s} {shown}")
    print("median currents: " + ", ".join(
        f"{k} {text}" for k, text in _median_texts(result).items()))
    dens = result.median_current_densities()
    bounds = result.median_current_bounds()
    print(f"median current density (tip radius {result.config.transport.tip_radius * 1e9:g} "
          "nm): " + ", ".join(
              f"{k.replace('_current', '')} "
              f"{_bound_prefix(bounds.get(k))}{'n/a' if v is None else f'{v * 0.1:.3g} mA/cm²'}"
              for k, v in dens.items()))
    lag = result.lag
    if lag.get("checked"):
        print(f"lag: {lag['lagging_fraction'] * 100:.1f} % of the valid pixels have an amplifier "
              f"bandwidth below the pixel rate (intervals widened)")
    if result.optical is not None:
        o = result.optical
        print(f"optical: box {', '.join(f'{v:.1f}' for v in o.placement.box_px)} px, "
              f"confidence {o.placement.confidence:.2f}, Cramer's V {o.cramers_v:.2f}, "
              f"field bright {o.field_bright_fraction * 100:.1f} %")
    print(f"domains: {len(result.domains)}; wrote {', '.join(sorted(written))} to {args.outdir}")
    return 0


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
