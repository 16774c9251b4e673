"""The degradation classes: codes, the keys used in files, and the labels of figures.

One definition for the whole package (``docs/conventions.md``, ``docs/science.md``). Class
maps are ``uint8`` arrays of these codes; after C.-S. Jiang et al. (NREL):

- 0: undetermined or masked (outside the registration overlap, or a decision within the noise);
- 1 ``ionic_conducting``: the paper's type 1 (non-degraded);
- 2 ``ionic_blocked_leaky``: type 2, ionic current blocked, electronic leakage (I(+V) ~ I(-V),
  small);
- 3 ``electronic_shunt``: type 3, I(+V) ~ I(-V) at 1e2..1e3 pA;
- 4 ``ionic_blocked_insulating``: neither current conducts (not in the paper, but it must be
  representable).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = [
    "ClassCode",
    "UNDETERMINED",
    "IONIC_CONDUCTING",
    "IONIC_BLOCKED_LEAKY",
    "ELECTRONIC_SHUNT",
    "IONIC_BLOCKED_INSULATING",
    "CLASSES",
    "N_CODES",
    "CLASS_NAMES",
    "CLASS_LABELS",
    "FRACTION_KEYS",
    "class_counts",
    "area_fractions",
]


class ClassCode(IntEnum):
    """Code of a pixel's degradation class (the values stored in class maps)."""

    UNDETERMINED = 0
    IONIC_CONDUCTING = 1
    IONIC_BLOCKED_LEAKY = 2
    ELECTRONIC_SHUNT = 3
    IONIC_BLOCKED_INSULATING = 4

    @property
    def key(self) -> str:
        """Key of the class in ``summary.json`` and the CSV tables ("" for code 0)."""
        return "" if self is ClassCode.UNDETERMINED else self.name.lower()

    @property
    def label(self) -> str:
        """Label of the class in figures."""
        return _LABELS[self]


_LABELS = {
    ClassCode.UNDETERMINED: "undetermined",
    ClassCode.IONIC_CONDUCTING: "1 ionic-conducting",
    ClassCode.IONIC_BLOCKED_LEAKY: "2 ionic-blocked, electronic leakage",
    ClassCode.ELECTRONIC_SHUNT: "3 electronic shunt",
    ClassCode.IONIC_BLOCKED_INSULATING: "4 ionic-blocked, insulating",
}

UNDETERMINED = ClassCode.UNDETERMINED
IONIC_CONDUCTING = ClassCode.IONIC_CONDUCTING
IONIC_BLOCKED_LEAKY = ClassCode.IONIC_BLOCKED_LEAKY
ELECTRONIC_SHUNT = ClassCode.ELECTRONIC_SHUNT
IONIC_BLOCKED_INSULATING = ClassCode.IONIC_BLOCKED_INSULATING

#: The four classes a pixel can be assigned (codes 1-4), in code order.
CLASSES = tuple(c for c in ClassCode if c is not ClassCode.UNDETERMINED)
#: Number of codes, 0 included: the length of a per-code count (``np.bincount(minlength=)``).
N_CODES = len(ClassCode)
#: Class -> key in ``summary.json`` and the CSV tables (classes 1-4).
CLASS_NAMES = {c: c.key for c in CLASSES}
#: Code -> label in figures (0-4).
CLASS_LABELS = {c: c.label for c in ClassCode}
#: The keys of the area fractions, in code order (``summary.json`` ``fractions``, CSV columns).
FRACTION_KEYS = tuple(c.key for c in CLASSES)


def class_counts(class_map: np.ndarray) -> np.ndarray:
    """Pixels per code.

    Parameters
    ----------
    class_map : ndarray of uint8, any shape
        Class codes (other values are not counted).

    Returns
    -------
    ndarray of int, shape (N_CODES,)
        ``counts[code]``.
    """
    cm = np.asarray(class_map).ravel()
    return np.bincount(cm[cm < N_CODES], minlength=N_CODES)


def area_fractions(class_map: np.ndarray) -> dict[str, float]:
    """Area fraction of each class among the classified pixels (class != 0).

    Parameters
    ----------
    class_map : ndarray of uint8, shape (rows, cols)

    Returns
    -------
    dict
        ``{"ionic_conducting": f1, "ionic_blocked_leaky": f2, "electronic_shunt": f3,
        "ionic_blocked_insulating": f4}``; the values sum to 1, or are all NaN when no pixel is
        classified.
    """
    counts = class_counts(class_map)
    total = counts[1:].sum()
    return {c.key: (float(counts[c] / total) if total else float("nan")) for c in CLASSES}
