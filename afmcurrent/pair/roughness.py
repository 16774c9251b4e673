"""Roughness of the topography: Rq and Ra, of an image, a region, or each labelled domain.

The parameters of ISO 4287 (profiles; ISO 25178 Sq and Sa for areas), computed about the mean
of the pixels considered: Rq is the root-mean-square height deviation, Ra the arithmetic mean
deviation (for a Gaussian surface Ra ~ 0.80 Rq). NaN heights are left out. One definition for
the whole package: the domain table (``rms_roughness_nm``, ``mean_roughness_nm``) and the
topography per class in ``summary.json`` (``rq_nm``, ``ra_nm``) use these functions.
"""

from __future__ import annotations

import numpy as np

from .level import as_image, fit_mask

__all__ = ["rms_roughness", "mean_roughness", "roughness_by_label"]


def rms_roughness(z: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root-mean-square roughness Rq (ISO 4287 / ISO 25178 Sq) about the mean.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Leveled height image (m); NaN pixels are ignored.
    mask : ndarray of bool, optional
        Pixels to include (True = use).

    Returns
    -------
    float
        Rq in the unit of ``z``; NaN if no pixel is valid.
    """
    dev = _deviations(z, mask)
    return float(np.sqrt(np.mean(dev**2))) if dev.size else float("nan")


def mean_roughness(z: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Arithmetic mean roughness Ra (ISO 4287 / ISO 25178 Sa) about the mean.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Leveled height image (m); NaN pixels are ignored.
    mask : ndarray of bool, optional
        Pixels to include (True = use).

    Returns
    -------
    float
        Ra in the unit of ``z``; NaN if no pixel is valid.
    """
    dev = _deviations(z, mask)
    return float(np.mean(np.abs(dev))) if dev.size else float("nan")


def _deviations(z: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Heights of the finite (and masked-in) pixels less their mean, flat."""
    z = as_image(z)
    v = z[fit_mask(z, mask)]
    return v - v.mean() if v.size else v


def roughness_by_label(
    z: np.ndarray, labels: np.ndarray, n: int, *, ra: bool = True,
    counts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rq and Ra of each labelled region, about the region's own mean.

    Parameters
    ----------
    z : ndarray of float, shape (rows, cols)
        Leveled height (m); NaN pixels are left out.
    labels : ndarray of int, shape (rows, cols)
        Region labels 1..n (0: none).
    n : int
        Number of labels.
    ra : bool, optional
        Also compute Ra (else None is returned for it: one pass over the image less).
    counts : ndarray of int, shape (n,), optional
        Pixels of each label 1..n, when the caller knows them (used when every height is
        finite).

    Returns
    -------
    rq, ra : ndarray of float, shape (n,)
        In the unit of ``z``; NaN for a label without a finite pixel.
    """
    z = np.asarray(z, np.float64)
    fin = np.isfinite(z)
    if fin.all():
        # every pixel takes part (label 0 goes to a bin of its own): the same sums, in the
        # same order, as over the labelled pixels alone, without gathering them
        lab = labels.ravel().astype(np.intp, copy=False)
        v = z.ravel()
        if counts is not None:
            counts = np.asarray(counts, np.float64)
            if counts.shape != (n,):
                raise ValueError(f"counts of {counts.shape} for {n} labels")
    else:
        counts = None
        fin &= labels > 0
        lab = labels[fin].astype(np.intp, copy=False)
        v = z[fin]
    if counts is None:
        cnt = np.bincount(lab, minlength=n + 1)[:n + 1].astype(np.float64)
    else:
        cnt = np.concatenate([[float(lab.size - counts.sum())], counts])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(lab, v, minlength=n + 1)[:n + 1] / cnt
        mean[0] = 0.0
        dev = v - np.nan_to_num(mean).take(lab)
        rq = np.sqrt(np.bincount(lab, dev * dev, minlength=n + 1)[1:n + 1] / cnt[1:])
        if not ra:
            return rq, None
        np.abs(dev, out=dev)
        return rq, np.bincount(lab, dev, minlength=n + 1)[1:n + 1] / cnt[1:]
