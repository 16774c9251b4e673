"""Pairing the scans of a folder tree into +V / -V pairs by their headers.

Two scans form a pair when their headers say they image the same area at opposite sample-bias
polarities: opposite bias sign, the same scan size and pixels, offsets within a tolerance, in the
same folder; among the candidates, the -V scan nearest in time to the +V scan. A repeated
polarity (+V, -V, +V) gives one pair per +V scan, the -V scan shared. Files that cannot be paired
(no bias, no partner, two equally near partners, unreadable) are reported, never guessed.

Files are found by the name endings of the formats in the registry
(:func:`afmcurrent.io.registry.matches_suffix`) and recognised by their content
(:func:`~afmcurrent.io.registry.detect_format`), so any mix of formats pairs by the same header
fields (bias, size, pixels, offsets, date: ``Scan`` typed fields and ``Scan.metadata``). The same
capture saved in two formats beside itself (``X.spm`` and Gwyddion's ``X.gwy``) is read once.
Acquire's session files pair inside themselves: each consecutive +V / -V pair of complete scans
becomes a pair (with ``allow_partial`` also pairs of scans that did not finish).

Headers are read in child processes (:mod:`.headers`, through
:class:`afmcurrent.sets.isolation.IsolatedPool`) with a time limit per file: a file that
crashes its reading library or makes it loop is reported as unreadable, and discovery goes on.

A manifest CSV overrides discovery (:mod:`.manifest`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import io  # noqa: F401  (imported once here, inherited by the forked readers)
from ..io.registry import FORMATS
from .headers import HEADER_TIMEOUT, ScanHeader, find_scan_files, read_headers

__all__ = [
    "PairSpec",
    "Unpaired",
    "Pairing",
    "pair_scans",
    "discover_pairs",
    "pair_name",
    "polarity_from_name",
]

logger = logging.getLogger(__name__)


@dataclass
class PairSpec:
    """One +V / -V pair to analyse.

    Attributes
    ----------
    name : str
        Unique name, used as the folder ``pairs/<name>/``.
    plus, minus : Path
    sample, group : str
    optical : Path or None
    bias_plus, bias_minus : float or None
        Biases to use where the files lack them (V).
    plus_scan, minus_scan : int or None
        Scan numbers inside an acquire session file (``plus`` and ``minus`` are then that
        session file); None for ordinary scan files.
    """

    name: str
    plus: Path
    minus: Path
    sample: str = ""
    group: str = ""
    optical: Path | None = None
    bias_plus: float | None = None
    bias_minus: float | None = None
    plus_scan: int | None = None
    minus_scan: int | None = None

    @property
    def session(self) -> bool:
        """Whether the pair is two scans of one acquire session file."""
        return self.plus_scan is not None and self.minus_scan is not None


@dataclass(frozen=True)
class Unpaired:
    """A file left out of the pairing, and why."""

    path: Path
    reason: str


@dataclass
class Pairing:
    """Result of discovery: the pairs, the files left unpaired and the ambiguous ones."""

    pairs: list[PairSpec] = field(default_factory=list)
    unpaired: list[Unpaired] = field(default_factory=list)
    ambiguous: list[Unpaired] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text table of the pairing for ``--dry-run``."""
        lines = [f"{len(self.pairs)} pair(s):"]
        for p in self.pairs:
            bias = ""
            if p.bias_plus is not None or p.bias_minus is not None:
                bias = f"  (bias {p.bias_plus} / {p.bias_minus} V)"
            if p.session:
                lines.append(f"  {p.name}: {p.plus} scans {p.plus_scan} (+V) <-> {p.minus_scan} "
                             f"(-V)  [{p.sample}/{p.group}]{bias}")
            else:
                lines.append(f"  {p.name}: {p.plus}  <->  {p.minus}  [{p.sample}/{p.group}]"
                             f"{bias}")
        for title, items in (("unpaired", self.unpaired), ("ambiguous", self.ambiguous)):
            if items:
                lines.append(f"{len(items)} {title}:")
                lines.extend(f"  {u.path}: {u.reason}" for u in items)
        return "\n".join(lines)



def _same_area(a: ScanHeader, b: ScanHeader, size_rtol: float, offset_tol: float) -> bool:
    if a.shape != b.shape:
        return False
    for x, y in zip(a.size, b.size, strict=True):
        if abs(x - y) > size_rtol * max(x, y):
            return False
    tol = offset_tol * max(a.size)
    return all(abs(x - y) <= tol for x, y in zip(a.offset, b.offset, strict=True))


def pair_name(path: Path, root: Path) -> str:
    """A pair's folder name from its +V file: the path below ``root`` without the suffix, its
    parts joined by ``__`` and every run of other characters than ``A-Za-z0-9._-`` made ``_``
    (``root/S1/a1/x_plus.spm`` -> ``S1__a1__x_plus``); the file's stem when it is not below
    ``root``, ``pair`` when nothing is left."""
    rel = path.relative_to(root).with_suffix("") if path.is_relative_to(root) else Path(path.stem)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(rel.parts)).strip("_") or "pair"


#: Words of a file name that say its polarity, for files that record no bias (with
#: ``--bias-plus`` / ``--bias-minus``): the name is split at every non-alphanumeric character.
PLUS_WORDS = frozenset({"plus", "pos", "positive"})
MINUS_WORDS = frozenset({"minus", "neg", "negative"})


def polarity_from_name(path: Path) -> int | None:
    """+1 or -1 when exactly one polarity word (:data:`PLUS_WORDS`, :data:`MINUS_WORDS`) is in
    the file's name (without its suffix), else None."""
    words = {w.lower() for w in re.split(r"[^A-Za-z0-9]+", path.stem) if w}
    plus, minus = bool(words & PLUS_WORDS), bool(words & MINUS_WORDS)
    return None if plus == minus else (1 if plus else -1)


def _given_bias(h: ScanHeader, bias_plus: float | None, bias_minus: float | None
                ) -> tuple[ScanHeader | None, str]:
    """A header without a bias with the bias given for its polarity (from its name), or None
    and why not."""
    why = "no sample bias recorded"
    if bias_plus is None and bias_minus is None:
        return None, why + " (give --bias-plus/--bias-minus, or a manifest with bias columns)"
    sign = polarity_from_name(h.path)
    if sign is None:
        return None, (why + " and the name does not say the polarity (a word plus/pos/"
                      "positive or minus/neg/negative in it), so --bias-plus/--bias-minus "
                      "cannot apply; rename it or use a manifest")
    bias = bias_plus if sign > 0 else bias_minus
    if bias is None or bias * sign <= 0:
        return None, (why + f"; its name says {'+V' if sign > 0 else '-V'} but no "
                      f"{'positive --bias-plus' if sign > 0 else 'negative --bias-minus'} "
                      "is given")
    return dataclasses.replace(h, bias=bias), ""


def pair_scans(
    headers: Iterable[ScanHeader],
    root: str | Path,
    *,
    size_rtol: float = 0.01,
    offset_tol: float = 0.05,
    time_tie_s: float = 1.0,
    bias_plus: float | None = None,
    bias_minus: float | None = None,
) -> Pairing:
    """Pair +V with -V scans from their headers.

    Parameters
    ----------
    headers : iterable of ScanHeader
    root : str or Path
        Root of the tree: names and samples are taken from paths relative to it (the sample is
        the first folder below the root; the group is the sample unless a manifest says
        otherwise).
    size_rtol : float, optional
        Relative tolerance on the scan size.
    offset_tol : float, optional
        Tolerance on the scan offsets, as a fraction of the scan size.
    time_tie_s : float, optional
        Two -V candidates whose time distances differ by less than this (s) are a tie: the
        +V scan is reported ambiguous.
    bias_plus, bias_minus : float, optional
        V, for files that record no bias: a file whose name says its polarity
        (:func:`polarity_from_name`: ``area3_plus.spm``, ``A1-neg.ibw``) takes the bias of
        that polarity and pairs as if its header recorded it (the pair's spec carries the
        bias given). Other files without a bias are reported, never guessed.

    Returns
    -------
    Pairing
    """
    root = Path(root)
    result = Pairing()
    by_folder: dict[Path, list[ScanHeader]] = {}
    given: set[Path] = set()  # files whose bias is the one given, not their header's
    for h in headers:
        if h.bias is None:
            with_bias, why = _given_bias(h, bias_plus, bias_minus)
            if with_bias is None:
                result.unpaired.append(Unpaired(h.path, why))
                continue
            h = with_bias
            given.add(h.path)
        if h.bias == 0:
            result.unpaired.append(Unpaired(h.path, "sample bias is 0 V (use a manifest "
                                            "with bias columns)"))
            continue
        by_folder.setdefault(h.path.parent, []).append(h)

    for folder in sorted(by_folder):
        scans = by_folder[folder]
        plus = [h for h in scans if h.bias > 0]
        minus = [h for h in scans if h.bias < 0]
        used: dict[Path, int] = {}
        for p in sorted(plus, key=lambda h: (h.date or _dt.datetime.min, str(h.path))):
            cands = [m for m in minus if _same_area(p, m, size_rtol, offset_tol)]
            if not cands:
                why = "no -V scan of the same area (scan size, pixels, offsets) in its folder"
                if not minus:
                    why = "no -V scan in its folder"
                result.unpaired.append(Unpaired(p.path, why))
                continue
            if len(cands) > 1:
                if p.date is None or any(m.date is None for m in cands):
                    result.ambiguous.append(Unpaired(
                        p.path, "several -V candidates and no capture times to choose: "
                        + ", ".join(m.path.name for m in cands)))
                    continue
                cands.sort(key=lambda m: abs((m.date - p.date).total_seconds()))
                d0 = abs((cands[0].date - p.date).total_seconds())
                d1 = abs((cands[1].date - p.date).total_seconds())
                if d1 - d0 < time_tie_s:
                    result.ambiguous.append(Unpaired(
                        p.path, f"-V scans {cands[0].path.name} and {cands[1].path.name} are "
                        "equally near in time"))
                    continue
            m = cands[0]
            used[m.path] = used.get(m.path, 0) + 1
            rel = p.path.relative_to(root).parts if p.path.is_relative_to(root) else ()
            sample = rel[0] if len(rel) > 1 else root.name
            name = pair_name(p.path, root)
            if used[m.path] > 1:  # +V, -V, +V: the -V scan again, a repeat of the area
                name += f"_repeat{used[m.path]}"
            result.pairs.append(PairSpec(
                name=name, plus=p.path, minus=m.path, sample=sample, group=sample,
                bias_plus=p.bias if p.path in given else None,
                bias_minus=m.bias if m.path in given else None))
        for m in minus:
            if m.path not in used:
                result.unpaired.append(Unpaired(
                    m.path, "no +V scan of the same area paired with it" if plus
                    else "no +V scan in its folder"))
    return result


def discover_pairs(root: str | Path, *, workers: int | None = None,
                   timeout: float | None = HEADER_TIMEOUT, allow_partial: bool = False,
                   **tolerances: float) -> Pairing:
    """Find scan files below ``root``, read their headers and pair them.

    Unreadable files are reported as unpaired with the reason; so is a file whose reading
    crashed or did not finish within ``timeout``.

    Parameters
    ----------
    root : str or Path
    workers : int, optional
        Child processes reading headers (default: the number of cores, at most one per
        file). 0 reads in this process, without protection against a crashing or hanging
        reader.
    timeout : float or None, optional
        Time limit per file, s (default :data:`HEADER_TIMEOUT`).
    allow_partial : bool, optional
        Also pair the scans of acquire sessions that did not finish (analysed on the lines
        recorded in both).
    **tolerances
        Passed to :func:`pair_scans`: the tolerances, and ``bias_plus`` / ``bias_minus`` for
        files that record no bias (their names say the polarity).

    Returns
    -------
    Pairing
    """
    root = Path(root)
    files = find_scan_files(root)
    found = dict(zip(files, read_headers(files, workers, timeout), strict=True))
    headers, bad, sessions = [], [], []
    for path, (kind, value) in found.items():
        if kind == "scan":
            headers.append(value)
        elif kind == "session":
            sessions.append(value)
        else:
            bad.append(Unpaired(path, f"unreadable: {value}"))
    headers, dupes = _drop_duplicate_captures(headers)
    result = pair_scans(headers, root, **tolerances)
    for session in sessions:
        _pair_session(session, root, allow_partial, result)
    result.unpaired = bad + dupes + result.unpaired
    return result



def _drop_duplicate_captures(headers: list[ScanHeader]) -> tuple[list[ScanHeader],
                                                                   list[Unpaired]]:
    """Keep one of the files of the same capture in several formats (same folder and stem,
    same bias, pixels, size and date), the one whose format comes first in the registry."""

    rank = {f.name: i for i, f in enumerate(FORMATS)}
    groups: dict[tuple[Path, str], list[ScanHeader]] = {}
    for h in headers:
        groups.setdefault((h.path.parent, h.path.stem), []).append(h)
    keep, dupes = [], []
    for group in groups.values():
        group.sort(key=lambda h: (rank.get(h.format, len(rank)), str(h.path)))
        kept: list[ScanHeader] = []
        for h in group:
            same = next((k for k in kept if (k.bias, k.shape, k.date) == (h.bias, h.shape, h.date)
                         and all(abs(a - b) <= 1e-3 * max(abs(a), abs(b))
                                 for a, b in zip(k.size, h.size, strict=True))), None)
            if same is None:
                kept.append(h)
            else:
                dupes.append(Unpaired(h.path, f"the same capture as {same.path.name} (bias, "
                                      "pixels, size and date agree): read once"))
        keep.extend(kept)
    keep.sort(key=lambda h: str(h.path))
    return keep, dupes


def _pair_session(session: Any, root: Path, allow_partial: bool, result: Pairing) -> None:
    """Add the consecutive +V / -V pairs of a session; report the scans left out and why."""
    path = session.path
    rel = path.relative_to(root).parts if path.is_relative_to(root) else ()
    sample = rel[0] if len(rel) > 1 else root.name
    pairs = session.pairs(allow_partial=allow_partial)
    used = {i for pair in pairs for i in pair}
    for p, m in pairs:
        result.pairs.append(PairSpec(
            name=f"{pair_name(path, root)}__scan{p:03d}-{m:03d}", plus=path, minus=path,
            sample=sample, group=sample, plus_scan=p, minus_scan=m))
    partial_ok = set() if allow_partial else {i for pair in session.pairs(allow_partial=True)
                                               for i in pair}
    for s in session.scans:
        if s.index in used:
            continue
        if not s.complete:
            why = s.describe()
            if s.index in partial_ok:
                why += " (--allow-partial analyses the lines recorded)"
        else:
            why = f"{s.describe()}: no consecutive scan of the opposite polarity to pair with"
        result.unpaired.append(Unpaired(path, why))
