"""Optical micrographs read as brightness in [0, 1].

PNG, TIFF and JPEG images through ``imageio`` (which uses Pillow and tifffile); colour images
weighted by the Rec. ITU-R BT.709 luma weights 0.2126, 0.7152, 0.0722.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from ...core.errors import ReadError

__all__ = ["LUMA_WEIGHTS", "read_optical", "as_brightness"]

logger = logging.getLogger(__name__)


#: Rec. ITU-R BT.709 luma weights for R, G, B.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

def read_optical(path: str | Path) -> np.ndarray:
    """Read an optical micrograph as brightness in [0, 1].

    Parameters
    ----------
    path : str or Path
        PNG, TIFF or JPEG file (anything ``imageio.v3.imread`` reads); the first page of a
        multi-page TIFF; integer images are scaled by their type's maximum, float images by
        their own range.

    Returns
    -------
    ndarray of float64, shape (rows, cols)

    Raises
    ------
    ReadError
        If the file is missing, cannot be decoded, or is not a 2-D grey or colour image.
    """
    import imageio.v3 as iio

    p = Path(path)
    if not p.is_file():
        raise ReadError(f"{p}: optical image not found")
    try:
        with warnings.catch_warnings():  # imageio's plug-in probing warns about DICOM
            warnings.simplefilter("ignore", DeprecationWarning)
            img = (iio.imread(p, index=0) if p.suffix.lower() in (".tif", ".tiff")
                   else iio.imread(p))
    except Exception as exc:  # imageio raises many types for undecodable files
        raise ReadError(f"{p}: cannot read as an image ({type(exc).__name__}: {exc})") from None
    return as_brightness(img, str(p))


def as_brightness(img: np.ndarray, label: str = "optical image") -> np.ndarray:
    """Convert a grey ``(rows, cols)`` or colour ``(rows, cols, 3|4)`` array to [0, 1] floats.

    Raises
    ------
    ReadError
        If the array is not such an image or holds no finite value.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        scale = _type_max(a)
        rgb = a[..., :3].astype(np.float64) / scale
        a = rgb @ np.asarray(LUMA_WEIGHTS)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0].astype(np.float64) / _type_max(a)
    elif a.ndim == 2:
        a = a.astype(np.float64) / _type_max(a)
    else:
        raise ReadError(f"{label}: not a grey or RGB image (array shape {a.shape})")
    if a.shape[0] < 8 or a.shape[1] < 8:
        raise ReadError(f"{label}: image of {a.shape[0]} x {a.shape[1]} pixels is too small")
    fin = np.isfinite(a)
    if not fin.any():
        raise ReadError(f"{label}: image holds no finite value")
    if not np.issubdtype(np.asarray(img).dtype, np.integer):
        lo, hi = float(a[fin].min()), float(a[fin].max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _type_max(a: np.ndarray) -> float:
    if np.issubdtype(a.dtype, np.integer):
        return float(np.iinfo(a.dtype).max)
    if a.dtype == bool:
        return 1.0
    return 1.0
