"""Connectivity of the class map: percolation of the ionic-conducting class, shunt spacing.

4-connectivity: the share of ionic-conducting area in components that span the classified
region from one side to the opposite one; the largest component's share of its class; the
nearest distance between electronic-shunt domains (pixel centre to pixel centre, through the
Euclidean distance transform, exact to within one pixel).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ...core.classes import CLASS_NAMES, ELECTRONIC_SHUNT, IONIC_CONDUCTING
from ..domains import same_class_components

__all__ = ["connectivity"]


def connectivity(
    class_map: np.ndarray, pixel_size: tuple[float, float], min_area_px: int = 1
) -> dict[str, Any]:
    """Percolation of the ionic-conducting class, largest domains, spacing of shunts.

    Parameters
    ----------
    class_map : ndarray of uint8, shape (rows, cols)
    pixel_size : tuple of float
        ``(dy, dx)``, m.
    min_area_px : int, optional
        Shunt components smaller than this are left out of the spacing (noise pixels).

    Returns
    -------
    dict
        ``ionic_spanning_share``: share of class-1 area in 4-connected components touching two
        opposite sides of the classified region's bounding box (0 when there is no class 1 area:
        None); ``ionic_spans``: whether any such component exists; ``largest_domain_share``: per
        class name, the largest component's share of the class area (None when absent);
        ``shunt_domains``: number of shunt components of at least ``min_area_px``;
        ``shunt_nearest_distance_um``: ``min``, ``median``, ``mean`` over shunt components of the
        distance to the nearest other one (None with fewer than two).
    """
    cm = np.asarray(class_map)
    out: dict[str, Any] = {"connectivity": 4}
    rows_any = np.flatnonzero((cm > 0).any(axis=1))
    cols_any = np.flatnonzero((cm > 0).any(axis=0))
    comp, sizes, comp_cls = same_class_components(cm, 1)  # every class in one pass
    largest: dict[str, float | None] = {}
    spanning_share = None
    spans = False
    for code, name in CLASS_NAMES.items():
        mine = comp_cls == code
        if not mine.any():
            largest[name] = None
            continue
        total = sizes[mine].sum()
        largest[name] = float(sizes[mine].max() / total)
        if code == IONIC_CONDUCTING and rows_any.size and cols_any.size:
            r0, r1, c0, c1 = rows_any[0], rows_any[-1], cols_any[0], cols_any[-1]
            top, bottom = _ids_on(comp[r0], mine), _ids_on(comp[r1], mine)
            left, right = _ids_on(comp[:, c0], mine), _ids_on(comp[:, c1], mine)
            span = (top & bottom) | (left & right)
            spans = bool(span)
            spanning_share = float(sizes[sorted(span)].sum() / total) if span else 0.0
    out["ionic_spanning_share"] = spanning_share
    out["ionic_spans"] = spans
    out["largest_domain_share"] = largest
    out.update(_shunt_spacing(comp, sizes, comp_cls, pixel_size, min_area_px))
    return out


def _ids_on(line: np.ndarray, mine: np.ndarray) -> set[int]:
    """Component ids met along a line of pixels that belong to the selected class."""
    u = np.unique(line)
    return set(u[mine[u]].tolist())


def _shunt_spacing(
    comp: np.ndarray, sizes: np.ndarray, comp_cls: np.ndarray,
    pixel_size: tuple[float, float], min_area_px: int
) -> dict[str, Any]:
    keep = (comp_cls == ELECTRONIC_SHUNT) & (sizes >= max(1, min_area_px))
    n = int(keep.sum())
    remap = np.zeros(sizes.size, np.int32)  # int32 maps: half the memory on large maps
    remap[keep] = np.arange(1, n + 1)
    lab = remap[comp]
    res: dict[str, Any] = {"shunt_domains": n, "shunt_nearest_distance_um": None}
    if n < 2:
        return res
    dist, (iy, ix) = ndimage.distance_transform_edt(
        lab == 0, sampling=pixel_size, return_indices=True
    )
    owner = lab[iy, ix]
    nearest = np.full(n + 1, np.inf)
    dy, dx = pixel_size
    for a, b, step in (
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1)), dx),
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None)), dy),
    ):
        oa, ob = owner[a], owner[b]
        diff = oa != ob
        d = dist[a][diff] + dist[b][diff] + step
        np.minimum.at(nearest, oa[diff], d)
        np.minimum.at(nearest, ob[diff], d)
    near = nearest[1:]
    near = near[np.isfinite(near)] * 1e6
    if near.size:
        res["shunt_nearest_distance_um"] = {
            "min": float(near.min()), "median": float(np.median(near)), "mean": float(near.mean())
        }
    return res
