"""Uncertainty of the -V map resampled into the +V frame: registration error and sub-pixel
structure, per pixel."""

from __future__ import annotations

import numpy as np

from ...core.arrays import BLOCK_PIXELS, row_blocks

__all__ = [
    "resampling_uncertainty",
]


def resampling_uncertainty(
    log_current: np.ndarray,
    uncertainty_px: float,
    noise_decades: float,
    confidence_sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncertainty of a resampled log-current map beyond its noise, per pixel.

    Parameters
    ----------
    log_current : ndarray of float, shape (rows, cols)
        log10 of the registered map (the -V map in the +V frame), NaN where undefined.
    uncertainty_px : float
        One-sigma error of the registration displacement, px
        (:attr:`afmcurrent.pair.registration.Registration.uncertainty_px`).
    noise_decades : float
        One-sigma noise of a reading, decades.
    confidence_sigma : float, optional
        Confidence multiple used for the noise allowance of the fluctuation term.

    Returns
    -------
    sigma : ndarray of float32, shape (rows, cols)
        One-sigma registration term ``uncertainty_px * |grad log I|``, decades (to add to the
        noise in quadrature).
    below, above : ndarray of float32, shape (rows, cols)
        Spatial-fluctuation widening of the interval below and above the value, decades (to
        add to the margin).

    Notes
    -----
    - **registration**: a displacement error ``delta`` moves the sampled point by ``delta``
      px, which changes the value by ``grad log I . delta`` to first order; with an isotropic
      one-sigma error ``u`` per axis this is ``u * |grad log I|`` (central differences,
      decades/px, one-sided at the borders).
    - **spatial fluctuation**: where the map changes by more than noise from one pixel to
      the next (a domain edge, a shunt a few pixels wide), the value between pixel centres is
      not known: interpolation cannot recover structure below the pixel scale, and the two
      scans sample it at different sub-pixel positions. The true value is then anywhere
      between the pixel's and its neighbours' values: along an axis where the changes to the
      two neighbours differ by more than noise gives (second difference above
      ``confidence_sigma * sqrt(6) * noise_decades``: a step or a spike, not a ramp), the
      interval reaches those neighbours' values plus their noise allowance
      (``confidence_sigma * sqrt(2) * noise_decades``). 0 inside smooth regions.
    """
    # float32: these are widths in decades (7 significant digits are plenty), half the memory
    # traffic of float64
    lg = np.asarray(log_current, np.float32)
    rows, cols = lg.shape
    sigma = np.zeros(lg.shape, np.float32)
    below = np.zeros(lg.shape, np.float32)
    above = np.zeros(lg.shape, np.float32)
    if rows < 2 or cols < 2:
        return sigma, below, above
    # row blocks that stay in the cache, each with the row above and below it (every value
    # depends on the pixel's neighbours only: the same numbers as the whole image at once)
    for blk in row_blocks(lg.shape, BLOCK_PIXELS // 2):
        a, b = max(blk.start - 1, 0), min(blk.stop + 1, rows)
        parts = _uncertainty_rows(lg[a:b], uncertainty_px, noise_decades, confidence_sigma)
        for out, part in zip((sigma, below, above), parts, strict=True):
            out[blk] = part[blk.start - a:blk.stop - a]
    return sigma, below, above


def _uncertainty_rows(lg: np.ndarray, uncertainty_px: float, noise_decades: float,
                      confidence_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`resampling_uncertainty` of a float32 image of at least 2 x 2 pixels."""
    allowance = np.float32(confidence_sigma * np.sqrt(2.0) * noise_decades)
    sigma = np.empty(lg.shape, np.float32)
    below = np.zeros(lg.shape, np.float32)
    above = np.zeros(lg.shape, np.float32)
    if lg.shape[0] < 2:  # a block of one row (an image of one row is handled by the caller)
        sigma[:] = 0.0
        return sigma, below, above

    dy = np.diff(lg, axis=0)  # lg[r + 1] - lg[r]
    np.copyto(dy, 0.0, where=~np.isfinite(dy))
    dx = np.diff(lg, axis=1)
    np.copyto(dx, 0.0, where=~np.isfinite(dx))
    # (u |grad|)^2 with central differences inside, one-sided at the borders (as np.gradient)
    g = np.empty(lg.shape, np.float32)
    g[0], g[-1] = dy[0], dy[-1]
    np.add(dy[1:], dy[:-1], out=g[1:-1])
    g[1:-1] *= 0.5
    gx = np.empty(lg.shape, np.float32)
    gx[:, 0], gx[:, -1] = dx[:, 0], dx[:, -1]
    np.add(dx[:, 1:], dx[:, :-1], out=gx[:, 1:-1])
    gx[:, 1:-1] *= 0.5
    np.multiply(g, g, out=g)
    np.multiply(gx, gx, out=gx)
    g += gx
    np.sqrt(g, out=g)
    np.multiply(g, np.float32(uncertainty_px), out=sigma)
    # Sub-pixel structure: along an axis where the two one-sided changes differ by more than
    # noise (a step, a spike; not a ramp, which the gradient term covers), the interval
    # reaches the neighbours' values.
    kink = np.float32(confidence_sigma * np.sqrt(6.0) * noise_decades)  # of a 2nd difference
    for d, ax in ((dy, 0), (dx, 1)):
        d = np.moveaxis(d, ax, -1)  # differences along the last axis: d[..., j] = v[j+1] - v[j]
        up = np.moveaxis(above, ax, -1)
        dn = np.moveaxis(below, ax, -1)
        # interior pixels j = 1..n-2: forward change d[j], backward change d[j - 1]
        fwd, bwd = d[..., 1:], d[..., :-1]
        curved = np.abs(fwd - bwd) > kink
        rise = np.maximum(fwd, -bwd)
        np.maximum(rise, 0.0, out=rise)
        rise *= curved
        np.maximum(up[..., 1:-1], rise, out=up[..., 1:-1])
        np.maximum(-fwd, bwd, out=rise)
        np.maximum(rise, 0.0, out=rise)
        rise *= curved
        np.maximum(dn[..., 1:-1], rise, out=dn[..., 1:-1])
        # the two border pixels have one neighbour: a change beyond the noise is a kink
        for j, change in ((0, d[..., 0]), (-1, -d[..., -1])):
            big = np.abs(change) > kink
            np.maximum(up[..., j], np.where(big, np.maximum(change, 0.0), 0.0), out=up[..., j])
            np.maximum(dn[..., j], np.where(big, np.maximum(-change, 0.0), 0.0), out=dn[..., j])
    for w in (below, above):
        np.add(w, allowance, out=w, where=w > 0)  # up to the neighbour's value and its noise
    return sigma, below, above


