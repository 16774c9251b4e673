"""``afmcurrent info``: what a scan file or session holds, the presets, the formats."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ..core.errors import AfmcurrentError
from ._args import session_or_none

__all__ = [
    "add_parser",
    "run",
]

logger = logging.getLogger("afmcurrent")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``info`` to the sub-commands."""
    i = sub.add_parser("info", help="channels, units, shape and metadata of a file",
                       description="Show what a scan file holds.")
    i.add_argument("file", type=Path, nargs="?")
    i.add_argument("--json", action="store_true", help="machine-readable, with all metadata")
    i.add_argument("--presets", action="store_true", help="list the log-amplifier presets")
    i.add_argument("--formats", action="store_true",
                   help="list the file formats afmcurrent reads (and those it refuses)")

    i.set_defaults(handler=run)
    return i


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




def run(args: argparse.Namespace) -> int:
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
    session = session_or_none(args.file)
    if session is not None:  # several scans: listed with their status
        print(json.dumps(session.to_dict(), indent=2, default=str) if args.json
              else session.table())
        return 0
    from ..io import load_scan

    scan = load_scan(args.file)
    info = _scan_info(scan)
    if args.json:
        info["metadata"] = {k: v for k, v in scan.metadata.items()}
        info["analyze_uses"] = _chosen_text(scan)
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
    print(f"  analyze uses: {_chosen_text(scan)}")
    return 0




def _chosen_text(scan: Any) -> str:
    """Which channels ``analyze`` takes from this file by default, and what the current
    channel needs (a calibration when it holds the log-amplifier output in V)."""
    from ..core.errors import AfmcurrentError
    from ..pair.inputs import select_channels

    try:
        height, current = select_channels(scan)
    except AfmcurrentError as exc:
        return f"no default ({exc})"
    what = ("log-amplifier output in V: analyze needs its calibration (--logamp, or "
            "logamp.toml beside the +V file)" if current.unit == "V" else f"in {current.unit}")
    return (f"height {height.name!r}, current {current.name!r} ({what}); "
            "--height-channel / --current-channel choose others")
