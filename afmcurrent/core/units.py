"""Units at the edges: SI prefixes of instrument unit strings and lengths typed by a user.

Inside afmcurrent every value is in SI units (m, A, V, s; ``docs/conventions.md``); the
readers convert the prefixed units of the files (``"nm"``, ``"~m"``, ``"pA"``, ``"mV"``) with
:func:`si_factor` / :func:`to_si`, and the command line reads lengths that carry their unit
(``"100nm"``, ``"0.5 um"``) with :func:`parse_length`. A bare number is refused there:
``--tip-radius 100`` must not become 100 m.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "SI_PREFIXES",
    "SI_BASES",
    "DEGREE_UNITS",
    "LENGTH_UNITS",
    "LENGTH_FORMS",
    "si_factor",
    "to_si",
    "parse_length_m",
    "parse_length",
]

#: SI prefixes used in instrument unit strings ("~" is Nanoscope's micro; both micro signs).
SI_PREFIXES = {
    "": 1.0,
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "~": 1e-6,
    "\u00b5": 1e-6,
    "\u03bc": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
}
#: The SI units the readers recognise behind a prefix.
SI_BASES = ("m", "A", "V", "N", "Hz", "Pa", "s")
#: Spellings of the degree (angles, phase) in instrument files.
DEGREE_UNITS = ("\u00ba", "\u00b0", "deg")
#: Length units a user may type (command line, settings), in m.
LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "\u00b5m": 1e-6, "nm": 1e-9, "pm": 1e-12}
#: The accepted forms of a typed length, for messages.
LENGTH_FORMS = "e.g. 100nm, 0.5um, 1e-7m (units: m, mm, um or \u00b5m, nm, pm)"


def si_factor(unit: str, base_units: tuple[str, ...] = SI_BASES) -> tuple[float, str] | None:
    """Split a prefixed unit (``"nA"``, ``"mV"``, ``"~m"``) into (factor to SI, SI unit).

    Parameters
    ----------
    unit : str
        Unit as written in a file.
    base_units : tuple of str, optional
        The SI units recognised behind a prefix (longest tried first).

    Returns
    -------
    (float, str) or None
        ``None`` when ``unit`` is not a prefixed form of one of ``base_units``.
    """
    unit = unit.strip()
    for base in sorted(base_units, key=len, reverse=True):
        if unit.endswith(base) and unit[: -len(base)] in SI_PREFIXES:
            return SI_PREFIXES[unit[: -len(base)]], base
    return None


def to_si(unit: str, base_units: tuple[str, ...] = SI_BASES) -> tuple[float, str]:
    """(factor, SI unit) of a unit string; degrees as ``"deg"``; anything else kept as text.

    Parameters
    ----------
    unit : str
    base_units : tuple of str, optional
        As for :func:`si_factor`.

    Returns
    -------
    (float, str)
        The factor to SI and the SI unit; ``(1.0, "deg")`` for a degree sign; ``(1.0, unit)``
        (stripped) for an empty or unknown unit.
    """
    u = unit.strip()
    if u in DEGREE_UNITS:
        return 1.0, "deg"
    f = si_factor(u, base_units) if u else None
    return f if f is not None else (1.0, u)


def parse_length_m(value: float, unit: str) -> float:
    """Convert a length ``value`` given in ``unit`` (``"nm"``, ``"~m"``, ``"um"``, ...) to m.

    Raises
    ------
    ValueError
        If the unit is not a (prefixed) metre.
    """
    unit = unit.strip()
    if not unit.endswith("m") or unit[:-1] not in SI_PREFIXES:
        raise ValueError(f"not a length unit: {unit!r}")
    return float(value) * SI_PREFIXES[unit[:-1]]


_TYPED_LENGTH = re.compile(r"\s*([-+0-9.eE]+)\s*([a-z\u00b5]*)\s*")


def parse_length(text: str, positive: bool = True) -> float:
    """Parse a length with its unit, such as ``"100nm"``, ``"0.5 um"`` or ``"1e-7m"``.

    Parameters
    ----------
    text : str
    positive : bool, optional
        Refuse zero and negative lengths (default); with False, any finite length.

    Returns
    -------
    float
        The length in m.

    Raises
    ------
    ValueError
        If the text has no unit (a bare number is refused), an unknown unit, is not a
        number, or is not finite (or not positive); the message shows the accepted forms
        (:data:`LENGTH_FORMS`).
    """
    mt = _TYPED_LENGTH.fullmatch(text)
    if mt and mt.group(2) == "":
        raise ValueError(f"{text!r} has no unit: a length needs one, {LENGTH_FORMS}")
    if not mt or mt.group(2) not in LENGTH_UNITS:
        raise ValueError(f"not a length: {text!r} ({LENGTH_FORMS})")
    try:
        value = float(mt.group(1)) * LENGTH_UNITS[mt.group(2)]
    except ValueError:
        raise ValueError(f"not a length: {text!r} ({LENGTH_FORMS})") from None
    if not math.isfinite(value) or (positive and not value > 0):
        raise ValueError(f"length must be {'positive and ' if positive else ''}finite: {text!r}")
    return value
