"""Connected domains of one class each: their size, position, currents and roughness.

Pure functions over class maps (:mod:`afmcurrent.core.classes`) in the +V frame; the area
fractions are :func:`afmcurrent.core.classes.area_fractions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..core.arrays import middle_values
from ..core.classes import (
    CLASS_NAMES,
)
from ..core.config import DomainSettings
from ..io.csv_table import write_csv
from .roughness import roughness_by_label
from .transport import TransportMaps, current_density

__all__ = [
    "DomainTable",
    "LabelGroups",
    "find_domains",
    "same_class_components",
]


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

    def with_columns(self, columns: dict[str, np.ndarray]) -> DomainTable:
        """A table with more columns (one entry per domain each), this one unchanged.

        Raises
        ------
        ValueError
            If a column does not have one entry per domain.
        """
        n = len(self)
        for name, values in columns.items():
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} entries for {n} domains")
        return DomainTable(self.labels, {**self.columns, **columns})

    def to_csv(self, path: Any) -> None:
        """Write the table as CSV (one row per domain, header with units;
        :func:`afmcurrent.io.csv_table.write_csv`)."""
        names = list(self.columns)
        write_csv(path, names, ([self.columns[n][i] for n in names] for i in range(len(self))))


class LabelGroups:
    """Pixels grouped by label, for statistics per domain (one stable integer sort, shared by
    every quantity).

    Parameters
    ----------
    labels : ndarray of int, shape (rows, cols)
        Labels 0..n (0: no domain, left out).
    n : int
        Number of labels.

    Notes
    -----
    The sort is a radix sort when the labels fit in 16 bits (NumPy's stable sort of small
    integer types), linear in the pixels.
    """

    def __init__(self, labels: np.ndarray, n: int, counts: np.ndarray | None = None) -> None:
        flat = labels.ravel()
        if n < 2**16 and flat.dtype != np.uint16:
            flat = flat.astype(np.uint16)
        order = np.argsort(flat, kind="stable")
        if counts is None:
            counts = np.bincount(flat, minlength=n + 1)[1:n + 1]
        else:  # pixels per label 1..n, known to the caller
            counts = np.asarray(counts, np.intp)
        #: flat pixel indices of labels 1..n, label by label, in raster order within each
        self.order = order[flat.size - int(counts.sum()):]  # drop label 0
        self.counts = counts
        self.bounds = np.cumsum(self.counts)
        self.n = n

    def grouped(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the labelled pixels, label by label (a new array, flat)."""
        return values.ravel().take(self.order)

    def median(self, values: np.ndarray) -> np.ndarray:
        """Median of ``values`` per label 1..n over finite values (NaN for an empty group).

        The same numbers as ``np.median`` of each group's finite values (the middle value, or
        the mean of the two middle values).
        """
        return self.median_of_grouped(self.grouped(values))[0]

    def median_of_grouped(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Medians of values already grouped (:meth:`grouped`; partitioned in place), and the
        two middle values of each group (NaN for an empty group).

        Returns
        -------
        median, low, high : ndarray of float, shape (n,)
            ``median = (low + high) / 2``; ``low == high`` for a group of odd size.
        """
        counts = self.counts
        nan = np.isnan(v)
        if np.isinf(v).any():  # left out as NaN is (NaN sorts after every number)
            inf = np.isinf(v)
            v[inf] = np.nan
            nan |= inf
        if nan.any():
            # values that are not NaN in each group (an empty group keeps its place)
            starts = self.bounds - counts
            n_ok = np.add.reduceat(~nan, np.minimum(starts, max(v.size - 1, 0)),
                                   dtype=np.intp) if v.size else np.zeros_like(counts)
            n_ok = np.where(counts > 0, n_ok, 0)
        else:
            n_ok = counts
        ends = self.bounds
        lo = np.full(self.n, np.nan)
        hi = np.full(self.n, np.nan)
        for k in np.flatnonzero(n_ok):
            e = int(ends[k])
            lo[k], hi[k] = middle_values(v[e - int(counts[k]):e], int(n_ok[k]))
        with np.errstate(invalid="ignore"):
            med = np.where(lo == hi, lo, (lo + hi) / 2)
        return med, lo, hi


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


def _group_sums(grouped: np.ndarray, groups: LabelGroups) -> np.ndarray:
    """Per-label sums of integer values already grouped label by label (exact)."""
    out = np.zeros(groups.n, np.float64)
    has = groups.counts > 0
    if grouped.size and has.any():
        out[has] = np.add.reduceat(grouped, (groups.bounds - groups.counts)[has])
    return out


def _eroded(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_erosion(mask, structure)`` of a 3 x 3 structure (pixels beyond
    the frame count as False) by shifted slices."""
    out = mask.copy()
    rows, cols = mask.shape
    for dy, dx in zip(*np.nonzero(structure), strict=True):
        dy, dx = int(dy) - 1, int(dx) - 1
        if dy == dx == 0:
            continue
        src = mask[max(dy, 0):rows + min(dy, 0), max(dx, 0):cols + min(dx, 0)]
        out[max(-dy, 0):rows + min(-dy, 0), max(-dx, 0):cols + min(-dx, 0)] &= src
        # the pixels whose neighbour lies beyond the frame
        if dy:
            out[0 if dy < 0 else rows - 1, :] = False
        if dx:
            out[:, 0 if dx < 0 else cols - 1] = False
    return out


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
        domain's median ionic current over ``pi r^2`` (:func:`afmcurrent.pair.transport.
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
    rows, cols = class_map.shape
    groups = LabelGroups(labels, n, counts=sizes[kept])
    # pixel coordinates summed per domain (integers: exact in any order), one at a time
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = _group_sums(groups.order // cols, groups) / area_px
        cx = _group_sums(groups.order % cols, groups) / area_px
    area_um2 = area_px * pixel_area_um2

    edge = np.zeros(class_map.shape, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    if valid is not None:
        v = np.asarray(valid, bool)
        edge |= v & ~_eroded(v, structure)
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
        columns["median_plus_current_pA"] = groups.median(maps.plus_current) * 1e12
        columns["median_minus_current_pA"] = groups.median(maps.minus_current) * 1e12
        columns["median_ionic_current_pA"] = groups.median(maps.ionic_current) * 1e12
        columns["median_electronic_current_pA"] = groups.median(maps.electronic_current) * 1e12
        columns["median_ionic_fraction"] = groups.median(maps.ionic_fraction)
        if tip_radius is not None:
            columns["median_ionic_current_density_mA_cm2"] = current_density(
                columns["median_ionic_current_pA"] * 1e-12, tip_radius) * 0.1
    if height is not None:
        columns["rms_roughness_nm"] = roughness_by_label(height, labels, n, ra=False,
                                                       counts=groups.counts)[0] * 1e9
    columns["touches_edge"] = touches[1:]
    return DomainTable(labels=labels, columns=columns)
