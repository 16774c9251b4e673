"""Degradation classification of pixels, connected domains and area fractions.

Class codes (``uint8``, DESIGN.md), after C.-S. Jiang et al. (NREL):

=====  ======================================================================================
code   meaning
=====  ======================================================================================
0      undetermined or masked (outside the registration overlap, or a decision within noise)
1      ionic-conducting: the paper's type 1 (non-degraded)
2      ionic-blocked with electronic leakage: type 2 (I(+V) ~ I(-V), small)
3      electronic shunt: type 3 (I(+V) ~ I(-V), 1e2..1e3 pA)
4      ionic-blocked and insulating: neither current conducts (not in the paper)
=====  ======================================================================================

Rules (absolute mode, thresholds in :class:`~afmcurrent.config.ClassifySettings`): a pixel is
ionic-dominated where the ionic fraction ``I_ion / I(+V) >= ionic_fraction_min`` (0.9); among
those, class 1 where ``I_ion >= ionic_current_min`` (0.1 pA), else class 4. Electronic-dominated
pixels are class 3 where ``I_e(+V) >= shunt_current_min`` (1 pA), else class 2. Every comparison
is made on the pixel's uncertainty interval (:mod:`afmcurrent.transport`): a pixel whose interval
straddles a threshold is class 0, not a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..core.classes import (
    CLASS_LABELS,
    CLASS_NAMES,
    ELECTRONIC_SHUNT,
    IONIC_BLOCKED_INSULATING,
    IONIC_BLOCKED_LEAKY,
    IONIC_CONDUCTING,
    UNDETERMINED,
    area_fractions,
)
from ..core.config import ClassifySettings, DomainSettings
from .transport import TransportMaps

__all__ = [
    "UNDETERMINED",
    "IONIC_CONDUCTING",
    "IONIC_BLOCKED_LEAKY",
    "ELECTRONIC_SHUNT",
    "IONIC_BLOCKED_INSULATING",
    "CLASS_NAMES",
    "CLASS_LABELS",
    "Thresholds",
    "thresholds_from_reference",
    "classify",
    "area_fractions",
    "DomainTable",
    "find_domains",
    "same_class_components",
]

@dataclass(frozen=True)
class Thresholds:
    """Numeric thresholds of the classification, in SI units.

    Attributes
    ----------
    ionic_fraction_min : float
        Ionic-dominated where ``I_ion / I(+V)`` is at or above this.
    ionic_current_min : float
        A; class 1 above, class 4 below (ionic-dominated pixels).
    shunt_current_min : float
        A; class 3 above, class 2 below (electronic-dominated pixels).
    source : str
        ``"absolute"`` or a description of the reference pair.
    """

    ionic_fraction_min: float
    ionic_current_min: float
    shunt_current_min: float
    source: str = "absolute"

    @classmethod
    def from_settings(cls, settings: ClassifySettings) -> Thresholds:
        """Absolute thresholds straight from the ``[classify]`` settings."""
        return cls(
            settings.ionic_fraction_min,
            settings.ionic_current_min,
            settings.shunt_current_min,
            "absolute",
        )

    @property
    def log_ratio_min(self) -> float:
        """``log10(I(+V)/I_e)`` (decades) equivalent to ``ionic_fraction_min``."""
        return float(-np.log10(1.0 - self.ionic_fraction_min))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with units in the keys."""
        return {
            "ionic_fraction_min": self.ionic_fraction_min,
            "ionic_current_min_A": self.ionic_current_min,
            "shunt_current_min_A": self.shunt_current_min,
            "source": self.source,
        }


def thresholds_from_reference(
    reference_plus_median: float, settings: ClassifySettings, description: str = "reference pair"
) -> Thresholds:
    """Thresholds relative to a pristine reference pair.

    Parameters
    ----------
    reference_plus_median : float
        Median |I(+V)| of the pristine reference pair, in A.
    settings : ClassifySettings
        ``reference_ionic_decades`` and ``reference_shunt_decades`` place the two current
        thresholds at ``reference_plus_median * 10**decades``.
    description : str, optional
        Recorded in :attr:`Thresholds.source`.

    Returns
    -------
    Thresholds

    Raises
    ------
    ValueError
        If the reference median is not a positive finite current.
    """
    m = float(reference_plus_median)
    if not (np.isfinite(m) and m > 0):
        raise ValueError(f"reference median current must be positive and finite, got {m}")
    return Thresholds(
        settings.ionic_fraction_min,
        m * 10.0**settings.reference_ionic_decades,
        m * 10.0**settings.reference_shunt_decades,
        f"{description}: median I(+V) = {m:.3g} A",
    )


def classify(maps: TransportMaps, thresholds: Thresholds) -> np.ndarray:
    """Classify every pixel of a pair into the degradation classes 0-4.

    Parameters
    ----------
    maps : TransportMaps
        Output of :func:`afmcurrent.transport.separate` (bounds of log I(+V), log I_e and their
        ratio at the chosen confidence).
    thresholds : Thresholds

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        Class codes; 0 where the pixel is invalid or its interval straddles a threshold.
    """
    r_lo, r_hi = maps.log_ratio_bounds
    p_lo, p_hi = maps.log_plus_bounds
    e_lo, e_hi = maps.log_electronic_bounds
    out = np.zeros(r_lo.shape, np.uint8)
    with np.errstate(invalid="ignore", over="ignore"):
        ionic_dom = (r_lo >= thresholds.log_ratio_min) & maps.valid
        electronic_dom = (r_hi < thresholds.log_ratio_min) & maps.valid
        # I_ion interval: [I+_lo - Ie_hi, I+_hi - Ie_lo] (10**-inf = 0, 10**inf = inf).
        i = np.nonzero(ionic_dom)
        ion_lo = 10.0 ** p_lo[i] - 10.0 ** e_hi[i]
        ion_hi = 10.0 ** p_hi[i] - 10.0 ** e_lo[i]
        cls = np.zeros(ion_lo.shape, np.uint8)
        cls[ion_lo >= thresholds.ionic_current_min] = IONIC_CONDUCTING
        cls[ion_hi < thresholds.ionic_current_min] = IONIC_BLOCKED_INSULATING
        out[i] = cls
        # Electronic current bounds compared in log space.
        e = np.nonzero(electronic_dom)
        log_shunt = np.log10(thresholds.shunt_current_min)
        cls = np.zeros(e[0].shape, np.uint8)
        cls[e_lo[e] >= log_shunt] = ELECTRONIC_SHUNT
        cls[e_hi[e] < log_shunt] = IONIC_BLOCKED_LEAKY
        out[e] = cls
    return out


@dataclass
class DomainTable:
    """Connected domains of one class each, above a minimum area.

    Attributes
    ----------
    labels : ndarray of int32, shape (rows, cols)
        Domain label per pixel (0 = no listed domain); label ``k`` is row ``k - 1`` of the table.
    columns : dict of str to ndarray
        One array per column, one entry per domain; units in the names (``area_um2``,
        ``median_plus_current_pA``, ...).
    """

    labels: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns.get("domain", ()))

    def count_by_class(self) -> dict[str, int]:
        """Number of listed domains per class name."""
        cls = self.columns.get("class", np.zeros(0, int))
        return {name: int(np.sum(cls == code)) for code, name in CLASS_NAMES.items()}

    def to_csv(self, path: Any) -> None:
        """Write the table as CSV (one row per domain, header with units)."""
        import csv

        names = list(self.columns)
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            for i in range(len(self)):
                row = []
                for n in names:
                    v = self.columns[n][i]
                    if isinstance(v, (bool, np.bool_)):
                        row.append(str(bool(v)).lower())
                    elif isinstance(v, (float, np.floating)):
                        row.append("" if not np.isfinite(v) else f"{float(v):.6g}")
                    else:
                        row.append(v)
                writer.writerow(row)


class _Groups:
    """Pixels grouped by domain label (one stable integer sort, shared by every quantity)."""

    def __init__(self, labels: np.ndarray, n: int) -> None:
        flat = labels.ravel()
        order = np.argsort(flat, kind="stable")
        counts = np.bincount(flat, minlength=n + 1)
        self.order = order[counts[0]:]  # drop label 0
        self.bounds = np.cumsum(counts[1:])
        self.n = n

    def median(self, values: np.ndarray) -> np.ndarray:
        """Median of ``values`` per label 1..n over finite values (NaN for an empty group)."""
        v = values.ravel()[self.order]  # a copy: partitioned in place below
        fin = np.isfinite(v)
        bounds = self.bounds
        if not fin.all():
            v = v[fin]
            # finite values up to each group's end (an empty group keeps its place)
            bounds = np.concatenate(([0], np.cumsum(fin)))[bounds]
        out = np.full(self.n, np.nan)
        for k, part in enumerate(np.split(v, bounds[:-1])):
            if part.size:
                out[k] = np.median(part, overwrite_input=True)
        return out


def same_class_components(
    class_map: np.ndarray, connectivity: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected regions of equal class, all classes labelled in one pass.

    Parameters
    ----------
    class_map : ndarray of uint8, shape (rows, cols)
        Class codes (0 = unclassified, not labelled; codes outside 1-4 are treated as 0).
    connectivity : {1, 2}, optional
        1: 4-connectivity, 2: 8-connectivity (as ``scipy.ndimage.generate_binary_structure``).

    Returns
    -------
    labels : ndarray of int, shape (rows, cols)
        Component ids 1..k in raster order of each component's first pixel
        (``skimage.measure.label``); 0 on unclassified pixels.
    sizes : ndarray of int, shape (k + 1,)
        Pixels per id (``sizes[0]``: unclassified pixels).
    classes : ndarray of uint8, shape (k + 1,)
        Class of each id (``classes[0] = 0``).

    Notes
    -----
    The components of one class are those ``scipy.ndimage.label(class_map == code)`` finds,
    in the same order; one pass over the map instead of one per class.
    """
    from skimage.measure import label

    cm = np.asarray(class_map)
    if cm.size and (cm.min() < 0 or cm.max() > max(CLASS_NAMES)):
        cm = np.where(np.isin(cm, list(CLASS_NAMES)), cm, 0)
    labels = label(cm, background=0, connectivity=connectivity)
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=1)
    classes = np.zeros(sizes.size, np.uint8)
    classes[flat] = cm.ravel()  # every pixel of a component has its class; id 0 has class 0
    return labels, sizes, classes


def find_domains(
    class_map: np.ndarray,
    pixel_size: tuple[float, float],
    *,
    maps: TransportMaps | None = None,
    height: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    settings: DomainSettings | None = None,
    tip_radius: float | None = None,
) -> DomainTable:
    """Connected regions of one class, their size, position, currents and roughness.

    Parameters
    ----------
    class_map : ndarray of uint8, shape (rows, cols)
        Class codes from :func:`classify`.
    pixel_size : tuple of float
        ``(dy, dx)`` in m.
    maps : TransportMaps, optional
        For the per-domain median currents (pA) and ionic fraction.
    height : ndarray of float, shape (rows, cols), optional
        Leveled topography in m, for the per-domain RMS roughness (nm, about the domain's mean).
    valid : ndarray of bool, optional
        Analysed region; a domain touching its border or the frame's border "touches the edge"
        (its true extent is unknown).
    settings : DomainSettings, optional
        Minimum area (um^2) and connectivity.
    tip_radius : float, optional
        Probe radius in m; with ``maps``, adds ``median_ionic_current_density_mA_cm2``: the
        domain's median ionic current over ``pi r^2`` (:func:`afmcurrent.transport.
        current_density`), in mA/cm^2 (1 A/m^2 = 0.1 mA/cm^2).

    Returns
    -------
    DomainTable
        Columns: ``domain``, ``class``, ``class_name``, ``area_um2``, ``equivalent_diameter_um``,
        ``centroid_x_um``, ``centroid_y_um`` (from the top-left corner, y downwards),
        ``median_plus_current_pA``, ``median_minus_current_pA``,
        ``median_ionic_current_pA``, ``median_electronic_current_pA``,
        ``median_ionic_fraction``, (``median_ionic_current_density_mA_cm2``),
        ``rms_roughness_nm``, ``touches_edge``. Medians are over the domain's pixels with a
        value (the ionic current over those where it is resolved).
    """
    s = settings or DomainSettings()
    dy, dx = pixel_size
    pixel_area_um2 = dy * dx * 1e12
    structure = ndimage.generate_binary_structure(2, s.connectivity)
    min_px = s.min_area_um2 / pixel_area_um2
    comp, sizes, comp_cls = same_class_components(class_map, s.connectivity)
    keep = sizes >= max(min_px, 1)
    keep[0] = False
    kept = np.flatnonzero(keep)
    kept = kept[np.argsort(comp_cls[kept], kind="stable")]  # class by class, raster order
    n = kept.size
    remap = np.zeros(sizes.size, np.int32)
    remap[kept] = np.arange(1, n + 1, dtype=np.int32)
    labels = remap[comp]

    cls = comp_cls[kept].astype(np.int64)
    idx = np.arange(1, n + 1)
    area_px = sizes[kept].astype(float)
    yy, xx = np.indices(class_map.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(labels.ravel(), yy.ravel(), minlength=n + 1)[1:] / area_px
        cx = np.bincount(labels.ravel(), xx.ravel(), minlength=n + 1)[1:] / area_px
    area_um2 = area_px * pixel_area_um2

    edge = np.zeros(class_map.shape, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    if valid is not None:
        inner = ndimage.binary_erosion(np.asarray(valid, bool), structure=structure)
        edge |= np.asarray(valid, bool) & ~inner
    touches = np.zeros(n + 1, bool)
    touches[np.unique(labels[edge])] = True

    columns: dict[str, np.ndarray] = {
        "domain": idx,
        "class": cls,
        "class_name": np.array([CLASS_NAMES[int(c)] for c in cls], dtype=object),
        "area_um2": area_um2,
        "equivalent_diameter_um": np.sqrt(4.0 * area_um2 / np.pi),
        "centroid_x_um": (cx + 0.5) * dx * 1e6,
        "centroid_y_um": (cy + 0.5) * dy * 1e6,
    }
    if maps is not None:
        groups = _Groups(labels, n)
        for key, arr in (
            ("median_plus_current_pA", maps.plus_current),
            ("median_minus_current_pA", maps.minus_current),
            ("median_ionic_current_pA", maps.ionic_current),
            ("median_electronic_current_pA", maps.electronic_current),
        ):
            columns[key] = groups.median(arr) * 1e12
        columns["median_ionic_fraction"] = groups.median(maps.ionic_fraction)
        if tip_radius is not None:
            from .transport import current_density

            columns["median_ionic_current_density_mA_cm2"] = current_density(
                columns["median_ionic_current_pA"] * 1e-12, tip_radius) * 0.1
    if height is not None:
        h = np.asarray(height, np.float64)
        h = h - np.nanmean(h) if np.isfinite(h).any() else h
        fin = np.isfinite(h) & (labels > 0)
        lab = labels[fin]
        cnt = np.bincount(lab, minlength=n + 1)[1:]
        s1 = np.bincount(lab, h[fin], minlength=n + 1)[1:]
        s2 = np.bincount(lab, h[fin] ** 2, minlength=n + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / cnt
            var = np.maximum(s2 / cnt - mean**2, 0.0)
        columns["rms_roughness_nm"] = np.sqrt(var) * 1e9
    columns["touches_edge"] = touches[1:]
    return DomainTable(labels=labels, columns=columns)
