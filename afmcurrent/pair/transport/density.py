"""Current density under the probe, ``J = I / (pi r^2)``."""

from __future__ import annotations

import numpy as np

__all__ = [
    "current_density",
]


def current_density(current: np.ndarray | float, tip_radius: float = 100e-9) -> np.ndarray:
    """Current density under the probe, ``J = I / (pi r^2)``.

    Parameters
    ----------
    current : array_like of float
        Current in A.
    tip_radius : float, optional
        Contact radius in m (default 100 nm, the nominal radius of the DDESP probes used by
        Jiang et al.).

    Returns
    -------
    ndarray of float
        Current density in A/m^2 (1 A/m^2 = 0.1 mA/cm^2). Example from the paper: 2.5 pA over
        r = 100 nm gives ~80 A/m^2 = ~8 mA/cm^2.

    Raises
    ------
    ValueError
        If ``tip_radius`` is not positive.
    """
    if not tip_radius > 0:
        raise ValueError(f"tip_radius must be positive (m), got {tip_radius}")
    return np.asarray(current, dtype=np.float64) / (np.pi * tip_radius**2)
