"""Values of Nanoscope header entries: numbers with units, ``@`` entries, quoted names, dates."""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from typing import Any

from ...core.units import parse_length_m, si_factor

logger = logging.getLogger(__name__)

__all__ = [
]


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "~m": 1e-6, "\u00b5m": 1e-6,
                 "\u03bcm": 1e-6, "nm": 1e-9, "pm": 1e-12, "a": 1e-10, "\u00c5": 1e-10}
#: SI units of Nanoscope sensitivities and scales (behind a prefix).
UNIT_BASES = ("m", "A", "V", "N", "Hz", "Pa", "s", "W", "F", "Ohm", "\u03a9")


# ----------------------------------------------------------------------------------------------
def _number_unit(text: str | None) -> tuple[float, str] | None:
    """Parse '15000 nm' -> (15000.0, 'nm'); None when there is no leading number."""
    if text is None:
        return None
    t = text.strip()
    m = _NUMBER.match(t)
    if not m:
        return None
    try:
        x = float(m.group(0))
    except (ValueError, OverflowError):
        return None
    return x, t[m.end():].strip()


def _at_value(text: str | None) -> dict[str, Any] | None:
    """Parse an '@' entry value ``T [soft] (hard scale) value unit``.

    Returns a dict with ``type``, ``soft`` (str or None), ``hard`` (str or None), ``value``
    (float or None), ``unit`` (str) and ``text`` (the value part), or None when the text is
    not of that form.
    """
    if text is None:
        return None
    t = text.strip()
    if not t or t[0] not in "VSC" or (len(t) > 1 and not t[1].isspace()):
        return None
    rest = t[1:].strip()
    soft = hard = None
    if rest.startswith("["):
        j = rest.find("]")
        if j < 0:
            return None
        soft = rest[1:j].strip() or None
        rest = rest[j + 1:].strip()
    if rest.startswith("("):
        depth, j = 0, -1
        for k, ch in enumerate(rest):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    j = k
                    break
        if j < 0:
            return None
        hard = rest[1:j].strip()
        rest = rest[j + 1:].strip()
    out: dict[str, Any] = {"type": t[0], "soft": soft, "hard": hard, "value": None, "unit": "",
                           "text": rest}
    nu = _number_unit(rest)
    if nu is not None:
        out["value"], out["unit"] = nu
    return out


def _quoted(text: str | None) -> str | None:
    if text is None:
        return None
    i = text.find('"')
    if i >= 0:
        j = text.find('"', i + 1)
        if j > i + 1 and text[i + 1:j].strip():
            return text[i + 1:j].strip()
    i = text.find("[")
    if i >= 0:
        j = text.find("]", i + 1)
        if j > i + 1:
            return text[i + 1:j].strip()
    return None


def _bracketed(text: str | None) -> str | None:
    a = _at_value(text)
    if a is not None and a["soft"]:
        return a["soft"]
    return _quoted(text)


def _prefix_factor(unit: str, base: str) -> float | None:
    """Factor of a prefixed unit relative to ``base`` (``"mV"``, ``"V"`` -> 1e-3)."""
    f = si_factor(unit, (base,))
    return None if f is None else f[0]


def _to_volts(entry: dict[str, Any] | None, lookup: Any = None) -> float | None:
    """A voltage entry in V (resolving a ``[Sens. X]`` of V/V through ``lookup``)."""
    if entry is None or entry["value"] is None:
        return None
    unit = entry["unit"] or "V"
    f = _prefix_factor(unit, "V")
    if f is None:
        return None
    v = entry["value"] * f
    if entry["soft"] and lookup is not None:
        sens = _at_value(lookup("@" + entry["soft"]))
        if sens is not None and sens["value"] is not None:
            su = sens["unit"].replace(" ", "")
            if su in ("", "V/V"):
                v *= sens["value"]
            else:
                return None  # a bias in some other unit: not a voltage we can report
    return v if math.isfinite(v) else None


def _parse_date(text: str) -> str | None:
    for fmt in ("%I:%M:%S %p %a %b %d %Y", "%H:%M:%S %a %b %d %Y", "%I:%M:%S %p %m/%d/%Y"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return None


def _length_m(text: str | None) -> float | None:
    nu = _number_unit(text)
    if nu is None:
        return None
    try:
        x = parse_length_m(nu[0], nu[1] or "nm")
    except ValueError:
        return None
    return x if math.isfinite(x) else None

