"""The ``afmcurrent`` command.

Sub-commands: ``analyze`` (one +V / -V pair), ``info`` (what a file holds), ``register``
(co-registration of two scans only) and ``simulate`` (a virtual pair with ground truth).
Run ``afmcurrent COMMAND --help`` for the options of each.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core import units
from ..core.errors import AfmcurrentError
from ..core.version import __version__

__all__ = ["main", "build_parser", "parse_length"]

logger = logging.getLogger("afmcurrent")


def _length(text: str, positive: bool) -> float:
    try:
        return units.parse_length(text, positive=positive)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_length(text: str) -> float:
    """Parse a positive length with its unit, such as ``"100nm"``, ``"0.5 um"`` or ``"1e-7m"``.

    Returns
    -------
    float
        The length in m.

    Raises
    ------
    argparse.ArgumentTypeError
        If the text is not a positive finite length or has no unit (a bare number is refused:
        ``--tip-radius 100`` must not become 100 m); the message shows the accepted forms.
    """
    return _length(text, positive=True)


def _lengths(n: int, what: str) -> Any:
    """Parser of ``n`` comma-separated lengths, each with its unit; returns metres."""

    def parse(text: str) -> tuple[float, ...]:
        parts = text.split(",")
        if len(parts) != n:
            raise argparse.ArgumentTypeError(
                f"expected {what}: {n} comma-separated lengths with units, e.g. "
                + ",".join(["1.5um"] * n) + f"; got {text!r}"
            )
        return tuple(_length(t, positive=False) for t in parts)

    return parse


def _pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DY,DX in pixels, got {text!r}") from None
    return a, b


def _scan_pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PLUS,MINUS scan numbers, e.g. 2,1, got {text!r}") from None
    return a, b


def _floats(n: int, what: str) -> Any:
    def parse(text: str) -> tuple[float, ...]:
        try:
            vals = tuple(float(v) for v in text.split(","))
        except ValueError:
            vals = ()
        if len(vals) != n:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return vals

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``afmcurrent`` command."""
    p = argparse.ArgumentParser(
        prog="afmcurrent",
        description="Conductive-AFM conduction mapping of solid-state electrolytes: +V/-V "
        "log-amplifier current maps -> ionic and electronic current, degradation domains.",
    )
    p.add_argument("--version", action="version", version=f"afmcurrent {__version__}")
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

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
    a.add_argument("--pair", type=_scan_pair, metavar="PLUS,MINUS",
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
    a.add_argument("--shift", type=_pair, metavar="DY,DX",
                   help="known shift of MINUS onto PLUS in pixels at the centre row; creep and "
                   "drift around it are still estimated unless --no-drift")
    a.add_argument("--no-drift", action="store_true",
                   help="one constant displacement for all rows (no creep or drift estimated)")
    a.add_argument("--expect-shift", type=_pair, metavar="DY,DX",
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
    place.add_argument("--optical-box", type=_floats(4, "X0,Y0,X1,Y1 in optical pixels"),
                       metavar="X0,Y0,X1,Y1",
                       help="scan area in the optical image, pixels (refined by mutual "
                       "information)")
    place.add_argument("--optical-center", type=_lengths(2, "X,Y"), metavar="X,Y",
                       help="scan centre in the optical image from its top-left corner, "
                       "lengths with units, e.g. 40um,35.5um")
    a.add_argument("--profile", type=_lengths(4, "X0,Y0,X1,Y1"), metavar="X0,Y0,X1,Y1",
                   help="line profile from the scan's top-left corner, lengths with units, "
                   "e.g. 1um,1um,8um,8um (default: middle row); written to profile.csv and "
                   "profile.png")
    a.add_argument("--figure-format", choices=("png", "pdf", "svg"), default="png",
                   help="also write the figures in this vector format (PNG always)")
    a.add_argument("--no-figures", action="store_true", help="skip figure.png (faster)")
    a.add_argument("--overwrite", action="store_true", help="replace results in OUTDIR")

    i = sub.add_parser("info", help="channels, units, shape and metadata of a file",
                       description="Show what a scan file holds.")
    i.add_argument("file", type=Path, nargs="?")
    i.add_argument("--json", action="store_true", help="machine-readable, with all metadata")
    i.add_argument("--presets", action="store_true", help="list the log-amplifier presets")
    i.add_argument("--formats", action="store_true",
                   help="list the file formats afmcurrent reads (and those it refuses)")

    r = sub.add_parser(
        "register", help="co-register MOVING onto REF; prints JSON",
        description="Estimate the displacement of MOVING onto REF row by row (creep and "
        "drift): row_displacement_px[r] = [dy, dx] with ref[r, c] ~ moving[r - dy, c - dx]; "
        "shift_px is its value at the centre row (scipy.ndimage.shift(moving, shift_px) lies on "
        "ref there), drift_px_per_line its linear part, uncertainty_px its 1-sigma error.",
    )
    r.add_argument("ref", type=Path)
    r.add_argument("moving", type=Path)
    r.add_argument("--channel", help="channel to register on (default: topography, plus the "
                   "current channel where one exists)")
    r.add_argument("--no-drift", action="store_true",
                   help="one constant displacement (no creep or drift estimated)")
    r.add_argument("--expect-shift", type=_pair, metavar="DY,DX",
                   help="approximate shift in pixels; the estimate is searched near it")
    r.add_argument("--search-radius", type=float, default=5.0, metavar="PX")

    s = sub.add_parser(
        "simulate", help="write a simulated +V / -V pair with ground truth",
        description="Simulate a virtual electrolyte scanned at both polarities and write the two "
        "captures as Bruker Nanoscope files (log-amp output in V through an auxiliary input), the "
        "log-amp calibration (logamp.toml) and the ground truth.",
    )
    s.add_argument("-o", "--outdir", type=Path, required=True)
    s.add_argument("--preset", default="degraded", help="pristine, degraded or coated")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--pixels", type=int, default=256, help="pixels per line = lines")
    s.add_argument("--prefix", help="file name prefix (default: PRESET_seedN)")
    s.add_argument("--overwrite", action="store_true")

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
    b.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                   help="time limit of one pair in a worker process, s (default 1800; "
                   "not with --workers 0 or --scheduler)")
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
    b.add_argument("--no-figures", action="store_true", help="skip each pair's figure.png")
    b.add_argument("--height-channel")
    b.add_argument("--current-channel")
    b.add_argument("--bias-plus", type=float, metavar="V",
                   help="bias of every +V scan whose file and manifest row lack one")
    b.add_argument("--bias-minus", type=float, metavar="V")
    b.add_argument("--logamp", metavar="FILE|PRESET",
                   help="calibration for every pair (default: logamp.toml beside each +V file)")
    b.add_argument("--config", type=Path, metavar="FILE", help="settings TOML file")
    b.add_argument("--tip-radius", type=parse_length, metavar="LENGTH",
                   help="probe radius with its unit, e.g. 100nm (default 100 nm)")
    b.add_argument("--optical-pixel-size", type=parse_length, metavar="LENGTH",
                   help="pixel size of the manifest's optical images with its unit, e.g. 0.5um "
                   "(the scan "
                   "area is placed at the image centre, then refined)")
    b.add_argument("--pooled-samples", type=int, default=2000, metavar="N",
                   help="pixels drawn from each pair for the pooled model (default 2000)")
    b.add_argument("--seed", type=int, default=0, help="seed of the pooled model")
    b.set_defaults(handler=_cmd_batch)

    a.set_defaults(handler=_cmd_analyze)
    i.set_defaults(handler=_cmd_info)
    r.set_defaults(handler=_cmd_register)
    s.set_defaults(handler=_cmd_simulate)
    _add_plugin_commands(sub)
    return p


#: Entry-point group through which other packages add sub-commands (``acquisition`` adds
#: ``acquire``), so that ``afmcurrent`` never imports them itself. An entry point names a
#: callable ``register(subparsers)`` that adds its parser with ``set_defaults(handler=f)``,
#: ``f(args) -> int``.
COMMAND_GROUP = "afmcurrent.commands"


def _add_plugin_commands(sub: Any) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plug-in must not take the analysis CLI down
            logger.warning("command %r from %s not available: %s", ep.name, ep.value, exc)


def _setup_logging(verbose: int, quiet: bool) -> None:
    levels = (logging.WARNING, logging.INFO, logging.DEBUG)
    level = logging.ERROR if quiet else levels[min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("afmcurrent")
    root.handlers[:] = [handler]
    root.setLevel(level)


def _no_drift_config(path: Path | None) -> Any:
    """The settings of ``path`` (or the defaults) with ``[registration] estimate_drift`` off."""
    from ..core.config import load_config

    return load_config(path, registration={"estimate_drift": False})


def _cmd_analyze(args: argparse.Namespace) -> int:
    from ..outputs.writers import prepare_outdir
    from ..pair.pipeline import analyze_pair

    plus, minus, logamp, notes = args.plus, args.minus, args.logamp, []
    session = _session_or_none(args.plus)
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


def _scan_info(scan: Any) -> dict[str, Any]:
    keys = ("vendor", "instrument", "operating_mode", "date", "bias_source", "scan_rate_hz",
            "scan_angle_deg", "samples_per_line", "lines", "slow_scan_direction",
            "current_sensitivity_A_per_V")
    return {
        "file": str(scan.path),
        "format": scan.format,
        "shape": list(scan.shape),
        "size_m": list(scan.size),
        "pixel_size_m": list(scan.pixel_size),
        "offset_m": list(scan.offset),
        "bias_V": scan.bias,
        "channels": [
            {"name": c.name, "unit": c.unit, "direction": c.direction, "quantity": c.quantity}
            for c in scan.channel_list
        ],
        **{k: scan.metadata[k] for k in keys if k in scan.metadata},
    }


def _print_formats(as_json: bool) -> None:
    from ..io.registry import FORMATS

    rows = [{"name": f.name, "vendor": f.vendor, "description": f.description,
             "suffixes": [s.replace(".###", ".000-.999") for s in f.suffixes],
             "library": f.library, "writes": f.write is not None,
             "refused_reason": f.refused_reason} for f in FORMATS]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        what = "refused: " + r["refused_reason"] if r["refused_reason"] else r["description"]
        rw = "read/write" if r["writes"] else ("-" if r["refused_reason"] else "read")
        print(f"{r['name']:<16s} {r['vendor']:<22s} {' '.join(r['suffixes']):<18s} "
              f"{rw:<10s} {r['library']}")
        print(f"{'':<16s} {what}")


def _session_or_none(path: Path) -> Any:
    """The session record when ``path`` is an acquire session file, else None."""
    from ..io.registry import detect_format

    try:
        fmt = detect_format(path)
    except AfmcurrentError:
        return None  # missing or unreadable: the reader that follows says why
    if fmt is None or fmt.name != "acquire-session":
        return None
    from ..io.session import read_session

    return read_session(path)


def _cmd_info(args: argparse.Namespace) -> int:
    if getattr(args, "formats", False):
        _print_formats(args.json)
        if args.file is None and not args.presets:
            return 0
    if args.presets:
        from ..pair.logamp import PRESETS

        for name, cal in sorted(PRESETS.items()):
            bw = (f", bandwidth {cal.hz_per_amp:g} Hz/A" if cal.hz_per_amp
                  else ", bandwidth not known")
            print(f"{name:<10s} {cal.volts_per_decade:g} V/decade, {cal.reference_voltage:g} V at "
                  f"{cal.reference_current:g} A, floor {cal.floor_current:g} A, "
                  f"saturation {cal.saturation_current:g} A{bw}")
        if args.file is None:
            return 0
    if args.file is None:
        raise AfmcurrentError("info needs a FILE (or --presets)")
    session = _session_or_none(args.file)
    if session is not None:  # several scans: listed with their status
        print(json.dumps(session.to_dict(), indent=2, default=str) if args.json
              else session.table())
        return 0
    from ..io import load_scan

    scan = load_scan(args.file)
    info = _scan_info(scan)
    if args.json:
        info["metadata"] = {k: v for k, v in scan.metadata.items()}
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['file']}  ({scan.format})")
    rows, cols = scan.shape
    print(f"  {rows} lines x {cols} samples/line, {scan.size[0] * 1e6:.4g} x "
          f"{scan.size[1] * 1e6:.4g} µm, pixel {scan.pixel_size[0] * 1e9:.4g} x "
          f"{scan.pixel_size[1] * 1e9:.4g} nm")
    src = f" ({info['bias_source']})" if info.get("bias_source") else ""
    print(f"  sample bias: {'not recorded' if scan.bias is None else f'{scan.bias:+g} V'}{src}")
    for k in ("instrument", "operating_mode", "date", "scan_rate_hz", "scan_angle_deg",
              "current_sensitivity_A_per_V"):
        if k in info:
            print(f"  {k}: {info[k]}")
    print("  channels:")
    for c in info["channels"]:
        kind = "  current" if c["unit"] == "A" else ""
        print(f"    {c['name']:<28s} [{c['unit'] or '-'}] {c['direction'] or ''}{kind}")
    return 0


def _cmd_register(args: argparse.Namespace) -> int:
    from ..core.errors import ChannelNotFoundError
    from ..io import load_scan
    from ..pair.registration import register

    ref, mov = load_scan(args.ref), load_scan(args.moving)
    kw = {"estimate_drift": not args.no_drift, "expected_shift": args.expect_shift,
          "search_radius": args.search_radius}
    if args.channel:
        a, b = ref.channel(args.channel), mov.channel(args.channel)
        if a.unit == "A":  # currents only: matched on the edges of log |I|
            reg = register(None, None, a.data, b.data, **kw)
        else:
            reg = register(a.data, b.data, **kw)
    else:
        h_ref = ref.find_channel({"m"}, prefer=("height",))
        h_mov = mov.find_channel({"m"}, prefer=("height",))
        if h_ref is None or h_mov is None:
            raise ChannelNotFoundError(
                f"no topography channel (unit m) in {ref.label if h_ref is None else mov.label}; "
                "name a channel with --channel"
            )
        c_ref, c_mov = ref.find_channel({"A"}), mov.find_channel({"A"})
        if c_ref is not None and c_mov is not None:
            reg = register(h_ref.data, h_mov.data, c_ref.data, c_mov.data, **kw)
        else:
            reg = register(h_ref.data, h_mov.data, **kw)
    out = reg.to_dict()
    out.update(ref=str(args.ref), moving=str(args.moving))
    print(json.dumps(out, indent=2))
    if not reg.trustworthy:
        print(f"afmcurrent register: registration not trustworthy: {reg.reason}",
              file=sys.stderr)
    return 0 if reg.trustworthy else 3


def _cmd_batch(args: argparse.Namespace) -> int:
    from ..sets.executors import keep_freed_memory
    from ..sets.manifest import read_manifest
    from ..sets.pairing import discover_pairs
    from ..sets.run import run_batch
    from ..sets.tasks import BatchOptions

    if (args.root is None) == (args.manifest is None):
        raise AfmcurrentError("batch needs a ROOT folder or --manifest CSV (one of them)")
    if args.workers is not None and args.workers < 0:
        raise AfmcurrentError("--workers must be 0 or more")
    if args.manifest:
        pairing = read_manifest(args.manifest)
        source = {"manifest": str(args.manifest.resolve())}
    else:
        pairing = discover_pairs(args.root, workers=args.workers,
                                 allow_partial=args.allow_partial)
        source = {"root": str(args.root.resolve())}
    if args.dry_run:
        print(pairing.table())
        return 0
    for u in pairing.unpaired + pairing.ambiguous:
        logger.warning("not analysed: %s: %s", u.path, u.reason)
    if not pairing.pairs:
        raise AfmcurrentError(f"no +V / -V pair found in {args.root or args.manifest}")
    options = BatchOptions(
        height_channel=args.height_channel, current_channel=args.current_channel,
        bias_plus=args.bias_plus, bias_minus=args.bias_minus, logamp=args.logamp,
        config=str(args.config) if args.config else None, tip_radius=args.tip_radius,
        optical_pixel_size=args.optical_pixel_size,
        figures=not args.no_figures, allow_partial=args.allow_partial,
    )
    if args.workers == 0 and not args.scheduler:
        keep_freed_memory()  # this process analyses every pair: keep freed memory, as workers do
    result = run_batch(pairing.pairs, args.outdir, options, workers=args.workers,
                       scheduler=args.scheduler, force=args.force,
                       pooled_samples=args.pooled_samples, seed=args.seed,
                       progress=not args.quiet, timeout=args.timeout if args.timeout > 0
                       else None, overwrite=args.overwrite, source=source)
    counts = {s: sum(r["status"] == s for r in result.rows) for s in ("ok", "skipped", "failed")}
    print(f"{len(result.rows)} pairs: {counts['ok']} analysed, {counts['skipped']} already "
          f"complete, {counts['failed']} failed; "
          f"{len(pairing.unpaired) + len(pairing.ambiguous)} files (or session scans) not "
          "paired")
    dis = [r["pooled_disagreement"] for r in result.rows
           if r.get("pooled_disagreement") is not None]
    if dis:
        print(f"pooled vs per-pair classes: {100 * sum(dis) / len(dis):.1f} % of pixels differ "
              "(mean over pairs)")
    print(f"wrote {', '.join(sorted(result.files))} and pairs/ to {args.outdir}")
    for r in result.failed:
        print(f"failed: {r['name']}: {r['error']}", file=sys.stderr)
    return 1 if result.failed else 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ..sim import simulate_pair, write_pair

    pair = simulate_pair(args.preset, seed=args.seed, shape=(args.pixels, args.pixels))
    paths = write_pair(args.outdir, pair, prefix=args.prefix, overwrite=args.overwrite)
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``afmcurrent`` command; returns the exit status.

    Exit status: 0 success, 1 an afmcurrent error (message on stderr), 2 bad usage,
    3 a registration that is not trustworthy (``register``), 130 interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(args.handler(args))
    except AfmcurrentError as exc:
        print(f"afmcurrent {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"afmcurrent {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
