#!/usr/bin/env python3
"""Mutation fuzzer for every afmcurrent reader: no hang, no crash, no foreign exception.

Usage::

    python tests/fuzz/fuzz_readers.py --mutants 3000 --jobs 2 [--seed 1] [--keep DIR]
                                      [--formats nanoscope,gwyddion,...] [--timeout 10]

For each format in the registry (``afmcurrent.io.registry.FORMATS``) it builds seed files
(real files from ``data_samples/real`` and small files written at run time), then mutants:
byte flips and random bytes, truncations, cut / duplicated / inserted chunks, header edits
for the text-header formats (numbers replaced by 0, -1, 1e400, nan, 2**31, huge counts;
lines duplicated thousands of times), structural ``.gwy`` mutants (strings without their NUL,
sizes past the parent, inconsistent data fields, absurd geometry) and structural HDF5 mutants
(external links, external raw storage, virtual datasets, soft links, a 100000 x 100000
dataset, attributes of the wrong type / count / value, nested JSON). Each mutant is read in a
forked child under ``RLIMIT_AS`` (4 GiB by default) and a time limit (10 s): the child calls
:func:`afmcurrent.io.load_scan` (the Gwyddion route off) and the ``afmcurrent info`` summary,
and for acquire session files ``read_session`` and ``load_session_pair`` as well.

Outcome per mutant: ``ok`` (read), ``ReadError`` (refused with a ReadError naming the file),
``hang`` (killed at the time limit), ``crash`` (the child died by a signal or without a
report), ``foreign`` (any other exception escaped, or a ReadError whose message does not
name the file, or an "internal error" ReadError from load_scan's last line of defence).
Prints a table per format; exits 1 when any hang, crash or foreign exception occurred.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from afmcurrent.core.errors import ReadError  # noqa: E402
from afmcurrent.core.model import Channel, Scan  # noqa: E402
from afmcurrent.io import load_scan  # noqa: E402
from afmcurrent.io.registry import FORMATS  # noqa: E402

REAL = REPO / "data_samples" / "real"
OUTCOMES = ("ok", "ReadError", "hang", "crash", "foreign")


# ----------------------------------------------------------------------------------------------
# seeds
# ----------------------------------------------------------------------------------------------
def _scan(rows=24, cols=32, seed=0) -> Scan:
    rng = np.random.default_rng(seed)
    return Scan([Channel("Height", rng.normal(0, 1e-8, (rows, cols)), "m", "trace"),
                 Channel("Height (retrace)", rng.normal(0, 1e-8, (rows, cols)), "m",
                         "retrace", quantity="Height"),
                 Channel("Current", rng.uniform(0, 1e-9, (rows, cols)), "A", "trace")],
                size=(3e-6, 4e-6), bias=-0.5, offset=(1e-7, 2e-7),
                metadata={"date": "2024-01-02T03:04:05", "scan_rate_hz": 1.0})


def _session_seed(path: Path, complete: bool = False) -> Path | None:
    try:
        from acquisition.session import ScanPlan, SessionFile
        from afmcurrent.pair.logamp import PRESETS
    except Exception:
        return None
    cal = next(iter(PRESETS.values()))
    plans = [ScanPlan(1.0, 8, 8, (1e-6, 1e-6)), ScanPlan(-1.0, 8, 8, (1e-6, 1e-6))]
    rng = np.random.default_rng(0)
    with SessionFile(path, plans, {"sample": "S", "area": "A"}, cal) as f:
        for i in range(2):
            f.start_scan(i)
            done = i == 0 or complete
            for r in range(8 if done else 5):
                f.write_line(i, r, rng.normal(0, 1e-9, 8), rng.uniform(-1, 1, 8))
            f.finish_scan(i, "complete" if done else "aborted",
                          "" if done else "stopped by the user")
    return path


def build_seeds(tmp: Path) -> dict[str, list[Path]]:
    from afmcurrent.io import write_gwy, write_hdf5, write_nanoscope

    s = _scan()
    seeds: dict[str, list[Path]] = defaultdict(list)
    seeds["nanoscope"] += [REAL / "old_bruker.002", write_nanoscope(tmp / "w.spm", s),
                           REAL / "bruker_v730_DimensionV_tapping_header.000"]
    # a 9.x-style file: real 9.70 header, 4-byte samples whose channel header says 2
    hdr = (REAL / "pyspm_bruker_data_header.002").read_bytes()
    end = hdr.index(b"\\*File list end") + len(b"\\*File list end")
    head = hdr[:end].replace(b"\n", b"\r\n")
    for a, b in ((b"Number of lines: 358", b"Number of lines: 4"),
                 (b"Number of lines: 359", b"Number of lines: 4"),
                 (b"Samps/line: 512", b"Samps/line: 8")):
        head = head.replace(a, b)
    offs = [int(x) for x in re.findall(rb"\\Data offset: (\d+)", head)]
    n_img = len(offs)
    new_offs = [80960 + 128 * k for k in range(n_img)]
    for o, no in zip(offs, new_offs, strict=True):
        head = head.replace(b"\\Data offset: %d\r" % o, b"\\Data offset: %d\r" % no, 1)
    head = re.sub(rb"\\Data length: (733184|735232)", b"\\\\Data length: 128", head)
    pf = bytearray(head + b"\r\n\x1a")
    pf += bytes(80960 - len(pf))
    pf += np.random.default_rng(1).integers(-2**31, 2**31 - 1, 32 * n_img).astype("<i4").tobytes()
    (tmp / "pf97.spm").write_bytes(bytes(pf))
    seeds["nanoscope"].append(tmp / "pf97.spm")
    seeds["nanoscope-force"] += [REAL / "scifi_force_bruker.001"]
    seeds["gwyddion"] += [REAL / "gwyfile_test.gwy", write_gwy(tmp / "w.gwy", s)]
    seeds["gwyddion-old"] += [REAL / "scifi_bipm.gwy"]
    seeds["hdf5"] += [write_hdf5(tmp / "w.h5", s)]
    seeds["park-tiff"] += [REAL / "park_NCM_topography_Park_20210916_034.tiff"]
    seeds["asylum-ibw"] += [REAL / "scifi_P0089OP0027.ibw"]
    seeds["ntmdt-mdt"] += [REAL / "ntmdt_ssrm_GaAs_Iprobe_BV2V_256px_3um.mdt"]
    seeds["nanonis-sxm"] += [REAL / "nanonis_STM_Au111_Current_pySPM_test.sxm"]
    seeds["nanosurf-nid"] += [REAL / "nanosurf_image_NSFopen.nid"]
    # one session with a complete +V/-V pair (reads succeed) and one whose -V scan was aborted
    for name, complete in (("session.h5", True), ("session-aborted.h5", False)):
        sess = _session_seed(tmp / name, complete)
        if sess is not None:
            seeds["acquire-session"] += [sess]
    return {k: [p for p in v if p.exists()] for k, v in seeds.items()}


# ----------------------------------------------------------------------------------------------
# byte-level mutators
# ----------------------------------------------------------------------------------------------
_NUMS = [b"0", b"-1", b"1e400", b"-1e400", b"nan", b"inf", b"2147483648", b"4294967296",
         b"999999999", b"0.0", b"1e-320", b"65537", b"100000", b"-0"]
_TEXT_FORMATS = {"nanoscope", "nanoscope-force", "nanonis-sxm", "nanosurf-nid"}


def _header_len(data: bytes, fmt: str) -> int:
    for marker in (b"\\*File list end", b":SCANIT_END:", b"#!"):
        i = data.find(marker)
        if i > 0:
            return i
    return min(len(data), 65536)


def mutate_bytes(data: bytes, fmt: str, rng: random.Random) -> tuple[str, bytes]:
    n = len(data)
    kind = rng.choice(["flip", "flip", "bytes", "truncate", "cut", "dup", "insert", "zero",
                       "header", "header", "lines"] if fmt in _TEXT_FORMATS else
                      ["flip", "flip", "bytes", "truncate", "cut", "dup", "insert", "zero",
                       "ints", "ints"])
    b = bytearray(data)
    hl = _header_len(data, fmt)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n) if rng.random() < 0.3 else rng.randrange(max(1, min(n, hl)))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(max(1, min(n, hl)))] = rng.randrange(256)
    elif kind == "truncate":
        b = b[:rng.randrange(n)]
    elif kind == "cut":
        i = rng.randrange(n)
        b = b[:i] + b[i + rng.randint(1, 4096):]
    elif kind == "dup":
        i = rng.randrange(n)
        b = b[:i] + b[i:i + rng.randint(1, 512)] * rng.randint(2, 50) + b[i:]
    elif kind == "insert":
        i = rng.randrange(max(1, min(n, hl)))
        b = b[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + b[i:]
    elif kind == "zero":
        i, ln = rng.randrange(n), rng.randint(1, 256)
        b[i:i + ln] = bytes(len(b[i:i + ln]))
    elif kind == "ints":  # binary headers: overwrite a 4- or 8-byte field with an extreme value
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(max(1, min(n - 8, 4096)))
            val = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 65536, 100000])
            width = rng.choice([2, 4, 8])
            b[i:i + width] = (val % (1 << (8 * width))).to_bytes(width, "little")
    elif kind == "header":
        head = bytes(b[:hl])
        nums = list(re.finditer(rb"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", head))
        if nums:
            for _ in range(rng.randint(1, 3)):
                m = rng.choice(nums)
                rep = rng.choice(_NUMS)
                head = head[:m.start()] + rep + head[m.end():]
                nums = list(re.finditer(rb"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", head))
                if not nums:
                    break
        b = bytearray(head) + b[hl:]
    elif kind == "lines":  # duplicate a header line many times (linear-time parsing)
        head = bytes(b[:hl])
        lines = head.split(b"\n")
        if len(lines) > 2:
            k = rng.randrange(1, len(lines) - 1)
            lines = lines[:k] + [lines[k]] * rng.choice([100, 2000, 8000]) + lines[k:]
        b = bytearray(b"\n".join(lines)) + b[hl:]
    return kind, bytes(b)


# ----------------------------------------------------------------------------------------------
# structural mutants
# ----------------------------------------------------------------------------------------------
def gwy_structural(tmp: Path, rng: random.Random, k: int) -> tuple[str, Path]:
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    kind = rng.choice(["geometry", "mismatch", "nostring", "bigsize", "units", "nested",
                       "meta", "title"])
    p = tmp / f"s{k}.gwy"
    data = np.random.default_rng(k).normal(size=(6, 5))
    xreal = rng.choice([1e-6, 0.0, -1e-6, float("nan"), float("inf"), 1e300])
    field = GwyDataField(data, xreal=xreal if kind == "geometry" else 1e-6,
                         yreal=rng.choice([1e-6, 0.0, float("nan")]) if kind == "geometry"
                         else 1e-6, si_unit_xy=GwySIUnit(unitstr="m"),
                         si_unit_z=GwySIUnit(unitstr=rng.choice(["m", "A", "", "kA", "\u00b5m"])
                                             if kind == "units" else "m"))
    obj = GwyContainer()
    obj["/0/data"] = field
    obj["/0/data/title"] = "Height" if kind != "title" else "x" * rng.randint(0, 5000)
    if kind == "meta":
        obj["/0/meta"] = GwyContainer({"afmcurrent.bias_V": rng.choice(["nan", "inf", "1e400",
                                                                         "abc", "-0.5"])})
    if kind == "nested":
        inner = GwyContainer({"a": "b"})
        for _ in range(rng.randint(5, 60)):
            inner = GwyContainer({"c": inner})
        obj["/1/meta"] = inner
    obj.tofile(str(p))
    raw = bytearray(p.read_bytes())
    if kind == "mismatch":  # xres / yres disagree with the data array
        i = raw.find(b"xres\x00i")
        if i > 0:
            raw[i + 6:i + 10] = rng.choice([7, 0, 100000, 2**31 - 1]).to_bytes(4, "little")
    elif kind == "nostring":  # a string whose NUL is gone (gwyfile loops for ever on it)
        i = raw.find(b"Height\x00")
        if i > 0:
            raw[i + 6] = ord("X")
        raw = raw[:rng.randrange(len(raw))] if rng.random() < 0.5 else raw
    elif kind == "bigsize":  # an object size past its parent
        i = raw.find(b"GwyDataField\x00")
        if i > 0:
            raw[i + 13:i + 17] = rng.choice([2**31, 2**32 - 1, len(raw) * 2]).to_bytes(4, "little")
    p.write_bytes(bytes(raw))
    return f"gwy-{kind}", p


def hdf5_structural(tmp: Path, rng: random.Random, k: int, seed: Path) -> tuple[str, Path]:
    import shutil

    import h5py

    kind = rng.choice(["extlink", "external", "virtual", "softlink", "huge", "size_m",
                       "order", "dtype", "json", "version", "maps", "bias", "empty", "shape3"])
    p = tmp / f"s{k}.h5"
    shutil.copy(seed, p)
    other = tmp / f"o{k}.h5"
    with h5py.File(other, "w") as o:
        o["x"] = np.ones((4, 4))
    with h5py.File(p, "a") as f:
        maps = f["maps"]
        name = next(iter(maps.keys()))
        if kind == "extlink":
            del maps[name]
            maps[name] = h5py.ExternalLink(str(other), "/x")
        elif kind == "external":
            del maps[name]
            target = "/etc/passwd" if Path("/etc/passwd").exists() else str(other)
            maps.create_dataset(name, shape=(4, 4), dtype="u1", external=[(target, 0, 16)])
        elif kind == "virtual":
            del maps[name]
            layout = h5py.VirtualLayout(shape=(4, 4), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "x", shape=(4, 4))
            maps.create_virtual_dataset(name, layout)
        elif kind == "softlink":
            del maps[name]
            maps[name] = h5py.SoftLink(f"/maps/{name}")
        elif kind == "huge":
            del maps[name]
            maps.create_dataset(name, shape=(100000, 100000), dtype="f8", chunks=(64, 64))
        elif kind == "size_m":
            f.attrs["size_m"] = rng.choice([np.array([1.0]), np.array([np.nan, 1e-6]),
                                            np.array([-1e-6, 1e-6]), np.array([0.0, 0.0]),
                                            np.array([np.inf, 1.0]), "abc",
                                            np.ones((2, 2))])
        elif kind == "order":
            f.attrs["channel_order"] = rng.choice(["{}", "[1, 2]", "not json", "null",
                                                   json.dumps(["a"] * 3)])
        elif kind == "dtype":
            del maps[name]
            maps.create_dataset(name, data=np.array([[b"ab", b"cd"]]))
        elif kind == "json":
            f.attrs["metadata_json"] = "[" * rng.choice([100, 5000, 100000]) + "]" * 10
        elif kind == "version":
            f.attrs["format_version"] = rng.choice(["1", np.array([1, 2]), 1e300, -1])
        elif kind == "maps":
            del f["maps"]
            f["maps"] = np.zeros(3)
        elif kind == "bias":
            f.attrs["bias_V"] = rng.choice([np.inf, np.array([1.0, 2.0]), "x", -np.inf])
        elif kind == "empty":
            del maps[name]
            maps.create_dataset(name, shape=(0, 5), dtype="f4")
        elif kind == "shape3":
            del maps[name]
            maps.create_dataset(name, data=np.zeros((2, 3, 4)))
    return f"h5-{kind}", p


# ----------------------------------------------------------------------------------------------
# the child: read one file under limits and report
# ----------------------------------------------------------------------------------------------
def _child_read(path: Path, fmt: str) -> tuple[str, str]:
    try:
        if fmt == "acquire-session":
            from afmcurrent.io.session import load_session_pair, read_session

            # A session is not a single scan (load_scan refuses it by design): reading its
            # table and its +V/-V pair is the whole read.
            read_session(path).table()
            load_session_pair(path, allow_partial=True)
            return "ok", ""
        scan = load_scan(path, gwyddion=False)
        from afmcurrent.cli.info import _scan_info

        info = _scan_info(scan)
        json.dumps(info, default=str)
        _ = (scan.pixel_size, scan.date, scan.scan_rate_hz)
        return "ok", ""
    except ReadError as exc:
        msg = str(exc)
        if "internal error in the" in msg:
            return "foreign", msg[:300]
        if str(path) not in msg:
            return "foreign", f"ReadError without the file name: {msg[:300]}"
        return "ReadError", msg[:200]
    except BaseException as exc:  # noqa: BLE001 - the point is to see everything
        return "foreign", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"


def _spawn(path: Path, fmt: str, mem_bytes: int) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setpgid(0, 0)
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            sys.stdout = io.StringIO()
            sys.stderr = io.StringIO()
            import logging

            logging.disable(logging.CRITICAL)
            outcome, detail = _child_read(path, fmt)
            os.write(w, json.dumps([outcome, detail]).encode()[:60000])
        finally:
            os._exit(0)
    os.close(w)
    return pid, r


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    wanted = set(args.formats.split(",")) if args.formats else None
    registered = [f.name for f in FORMATS]
    with tempfile.TemporaryDirectory(prefix="afmcurrent-fuzz-") as tmpd:
        tmp = Path(tmpd)
        seeds = build_seeds(tmp)
        fmts = [f for f in registered if f in seeds and (wanted is None or f in wanted)]
        missing = [f for f in registered if f not in seeds]
        if missing:
            print(f"no seed for: {', '.join(missing)}")
        # weights: structural formats get extra structural mutants
        # the same number of mutants per format; half of them structural for the formats
        # with structural mutators
        plan: list[tuple[str, str]] = []
        per = max(1, args.mutants // max(1, len(fmts)))
        for f in fmts:
            n_struct = per // 2 if f in ("gwyddion", "hdf5", "acquire-session") else 0
            plan += [(f, "struct")] * n_struct + [(f, "bytes")] * (per - n_struct)
        rng.shuffle(plan)
        counts: dict[str, Counter] = defaultdict(Counter)
        examples: dict[tuple[str, str], str] = {}
        keep = Path(args.keep) if args.keep else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
        running: dict[int, tuple[int, float, str, str, Path]] = {}
        data_cache = {p: p.read_bytes() for ps in seeds.values() for p in ps}
        t0 = time.monotonic()
        mem = int(args.memory_gb * 1024 ** 3)

        def finish(pid: int, status: int, timed_out: bool) -> None:
            r, _, fmt, kind, path = running.pop(pid)
            try:
                raw = b""
                while True:
                    chunk = os.read(r, 65536) if not timed_out else b""
                    if not chunk:
                        break
                    raw += chunk
            finally:
                os.close(r)
            if timed_out:
                outcome, detail = "hang", f"over {args.timeout} s"
            elif os.WIFSIGNALED(status):
                outcome, detail = "crash", f"signal {os.WTERMSIG(status)}"
            elif not raw:
                outcome, detail = "crash", "no report (died)"
            else:
                outcome, detail = json.loads(raw)
            counts[fmt][outcome] += 1
            counts[fmt]["mutants"] += 1
            if outcome in ("hang", "crash", "foreign"):
                key = (fmt, outcome)
                examples.setdefault(key, f"{kind}: {detail}")
                if keep:
                    dst = keep / f"{fmt}-{outcome}-{counts[fmt]['mutants']}{path.suffix}"
                    try:
                        dst.write_bytes(path.read_bytes())
                    except OSError:
                        pass
            try:
                path.unlink()
            except OSError:
                pass

        for k, (fmt, mode) in enumerate(plan):
            while len(running) >= args.jobs:
                _reap(running, args.timeout, finish)
            seed = rng.choice(seeds[fmt])
            if mode == "struct" and fmt == "gwyddion":
                kind, path = gwy_structural(tmp, rng, k)
            elif mode == "struct" and fmt in ("hdf5", "acquire-session"):
                kind, path = hdf5_structural(tmp, rng, k, seeds["hdf5"][0]) if fmt == "hdf5" \
                    else _session_structural(tmp, rng, k, seed)
            else:
                kind, blob = mutate_bytes(data_cache[seed], fmt, rng)
                path = tmp / f"m{k}{seed.suffix}"
                path.write_bytes(blob)
            pid, r = _spawn(path, fmt, mem)
            running[pid] = (r, time.monotonic(), fmt, kind, path)
        while running:
            _reap(running, args.timeout, finish)
        elapsed = time.monotonic() - t0
    print(f"{'format':<16s} {'mutants':>8s} " + " ".join(f"{o:>9s}" for o in OUTCOMES))
    total = Counter()
    for f in fmts:
        c = counts[f]
        total.update(c)
        print(f"{f:<16s} {c['mutants']:>8d} " + " ".join(f"{c[o]:>9d}" for o in OUTCOMES))
    print(f"{'all':<16s} {total['mutants']:>8d} " + " ".join(f"{total[o]:>9d}" for o in OUTCOMES))
    print(f"{elapsed:.1f} s, {args.jobs} jobs, limit {args.timeout} s / {args.memory_gb} GiB")
    for (f, o), ex in sorted(examples.items()):
        print(f"-- {f} {o}: {ex[:1200]}")
    bad = sum(total[o] for o in ("hang", "crash", "foreign"))
    return 1 if bad else 0


def _session_structural(tmp: Path, rng: random.Random, k: int, seed: Path) -> tuple[str, Path]:
    import shutil

    import h5py

    kind = rng.choice(["extlink", "external", "virtual", "huge", "attrs", "status", "lines"])
    p = tmp / f"ss{k}.h5"
    shutil.copy(seed, p)
    other = tmp / f"so{k}.h5"
    with h5py.File(other, "w") as o:
        o["x"] = np.ones((8, 8))
    with h5py.File(p, "a") as f:
        g = f["scans/000"]
        name = "Height" if "Height" in g else next(iter(g.keys()))
        if kind == "extlink":
            del g[name]
            g[name] = h5py.ExternalLink(str(other), "/x")
        elif kind == "external":
            del g[name]
            target = "/etc/passwd" if Path("/etc/passwd").exists() else str(other)
            g.create_dataset(name, shape=(8, 8), dtype="u1", external=[(target, 0, 64)])
        elif kind == "virtual":
            del g[name]
            layout = h5py.VirtualLayout(shape=(8, 8), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "x", shape=(8, 8))
            g.create_virtual_dataset(name, layout)
        elif kind == "huge":
            del g[name]
            g.create_dataset(name, shape=(100000, 100000), dtype="f8", chunks=(64, 64))
        elif kind == "attrs":
            key = rng.choice(["bias", "size_m", "offset_m", "lines", "samples_per_line"])
            g.attrs[key] = rng.choice([np.nan, np.inf, -1, 0, "x", np.array([1.0]), 10**12])
        elif kind == "status":
            if "status" in g:
                del g["status"]
            g["status"] = np.array([rng.choice([b"weird", b"", b"complete" * 10])])
        elif kind == "lines":
            if "lines_recorded" in g:
                del g["lines_recorded"]
            g["lines_recorded"] = np.array([rng.choice([-5, 0, 10**9, 7])])
    return f"session-{kind}", p


def _reap(running: dict, timeout: float, finish) -> None:
    now = time.monotonic()
    for pid, (_r, started, *_rest) in list(running.items()):
        if now - started > timeout:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            finish(pid, 0, True)
            return
    fds = [v[0] for v in running.values()]
    select.select(fds, [], [], 0.05)
    for pid in list(running):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            finish(pid, status, False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=2000, help="number of mutants (default 2000)")
    ap.add_argument("--jobs", type=int, default=2, help="children at a time (default 2)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--timeout", type=float, default=10.0, help="time limit per mutant, s")
    ap.add_argument("--memory-gb", type=float, default=4.0, help="RLIMIT_AS per child, GiB")
    ap.add_argument("--formats", help="comma-separated registry names (default: all)")
    ap.add_argument("--keep", help="copy failing mutants into this folder")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
