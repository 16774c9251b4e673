"""The registration record: per-row displacement of the moving scan, confidence, provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.errors import RegistrationError


def centre_value(curve: np.ndarray) -> tuple[float, float]:
    """Value of a per-row curve at the centre row ``(rows - 1) / 2`` (interpolated)."""
    rows = curve.shape[0]
    c = (rows - 1) / 2.0
    i0 = int(np.floor(c))
    i1 = min(i0 + 1, rows - 1)
    f = c - i0
    v = (1 - f) * curve[i0] + f * curve[i1]
    return float(v[0]), float(v[1])


def linear_part(curve: np.ndarray) -> tuple[float, float]:
    """Slope in px/row of the least-squares line through a per-row curve (per axis)."""
    rows = curve.shape[0]
    if rows < 2:
        return 0.0, 0.0
    t = np.arange(rows, dtype=np.float64) - (rows - 1) / 2.0
    s = (t @ curve) / float(t @ t)
    return float(s[0]), float(s[1])


@dataclass
class Registration:
    """Result of registering a moving (-V) scan onto a reference (+V) scan.

    Convention: ``reference[r, c] ~ moving[r - dy(r), c - dx(r)]`` for every reference row
    ``r``; with a constant displacement this is ``scipy.ndimage.shift(moving, (dy, dx))``.

    Parameters
    ----------
    shift : tuple of float
        ``(dy, dx)`` in px at the reference frame's centre row ``(rows - 1) / 2``.
    drift_per_line : tuple of float
        ``(ddy, ddx)``: the linear part of the displacement, px per reference row (slope of
        the least-squares line through ``row_displacement``).
    confidence : float
        In [0, 1]; how far the estimate can be trusted (see :func:`register`). NaN for a
        manual registration.
    trustworthy : bool
        False when the registration must not be used without a known shift; ``reason`` says
        why.
    method : str
        Channel(s) the bands were matched on: ``"height"``, ``"current"``,
        ``"height+current"`` (height bands, current bands where the height is featureless) or
        ``"manual"``.
    overlap : float
        Fraction of the reference frame whose source pixel lies inside the moving frame.
    reason : str
        Why the registration is not trustworthy (empty when it is).
    shape : tuple of int
        Reference frame shape ``(rows, cols)``.
    ncc : float
        Median NCC of the bands that agree with the curve.
    peak_ratio : float
        Height of the best competing peak of the whole-frame NCC surface relative to the main
        peak (above the median); near 1 for periodic or featureless images.
    strips : list of tuple
        Band estimates ``(centre_row, dy, dx, ncc)`` of the bands that agree with the curve.
    candidates : list of tuple
        The strongest local maxima of the whole-frame NCC surface, ``(dy, dx, ncc)`` with
        integer shifts in full-resolution px, best first (up to 8).
    row_displacement : ndarray of float64, shape (rows, 2)
        ``[dy(r), dx(r)]`` in px for every reference row ``r``. Default (None): the straight
        line ``shift + drift_per_line * (r - (rows - 1) / 2)``.
    uncertainty_px : float
        1-sigma error of the displacement in px, typical (median) over the rows (0.0 for a
        manual shift given without drift estimation).
    rejected_bands : int
        Bands whose estimate disagreed with the smooth curve (outliers, not used).
    row_uncertainty : ndarray of float64, shape (rows,), optional
        1-sigma error of ``row_displacement`` at every reference row, px (Euclidean over dy,
        dx); larger towards the frame ends and where rows carry little texture. ``inf`` marks
        a row whose displacement is not known well enough to be used (see
        :attr:`row_registered`): its pixels are masked by :func:`apply_registration`.
        Default: the constant ``uncertainty_px``.
    """

    shift: tuple[float, float]
    drift_per_line: tuple[float, float]
    confidence: float
    trustworthy: bool
    method: str
    overlap: float
    reason: str = ""
    shape: tuple[int, int] = (0, 0)
    ncc: float = float("nan")
    peak_ratio: float = float("nan")
    strips: list[tuple[float, float, float, float]] = field(default_factory=list)
    candidates: list[tuple[int, int, float]] = field(default_factory=list)
    row_displacement: np.ndarray | None = field(default=None, repr=False, compare=False)
    uncertainty_px: float = float("nan")
    rejected_bands: int = 0
    row_uncertainty: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = int(self.shape[0])
        if self.row_uncertainty is None:
            self.row_uncertainty = np.full(rows, float(self.uncertainty_px))
        else:
            self.row_uncertainty = np.asarray(self.row_uncertainty, dtype=np.float64).reshape(
                rows)
        if self.row_displacement is None:
            r = np.arange(rows, dtype=np.float64) - (rows - 1) / 2.0
            d = np.empty((rows, 2))
            d[:, 0] = self.shift[0] + self.drift_per_line[0] * r
            d[:, 1] = self.shift[1] + self.drift_per_line[1] * r
            self.row_displacement = d
        else:
            d = np.array(self.row_displacement, dtype=np.float64)
            if d.shape != (rows, 2):
                raise RegistrationError(
                    f"row_displacement must have shape ({rows}, 2), got {d.shape}")
            self.row_displacement = d

    @classmethod
    def from_curve(cls, curve: np.ndarray, shape: tuple[int, int], **kw: Any) -> Registration:
        """A registration whose ``shift`` and ``drift_per_line`` are derived from ``curve``.

        Parameters
        ----------
        curve : ndarray, shape (rows, 2)
            ``[dy(r), dx(r)]`` per reference row, px.
        shape : tuple of int
            Reference frame shape.
        **kw
            The other fields.
        """
        curve = np.asarray(curve, dtype=np.float64)
        return cls(centre_value(curve), linear_part(curve), shape=(int(shape[0]),
                                                                   int(shape[1])),
                   row_displacement=curve, **kw)

    @classmethod
    def manual(
        cls,
        shift: tuple[float, float],
        shape: tuple[int, int],
        drift_per_line: tuple[float, float] = (0.0, 0.0),
    ) -> Registration:
        """A registration given by the user (a known shift), not estimated.

        Parameters
        ----------
        shift : tuple of float
            ``(dy, dx)`` in px at the centre row, in the module's convention.
        shape : tuple of int
            Reference frame shape ``(rows, cols)``.
        drift_per_line : tuple of float, optional
            ``(ddy, ddx)`` in px per reference row.

        Returns
        -------
        Registration
            ``method="manual"``, trustworthy, confidence NaN (nothing was measured),
            ``uncertainty_px`` 0.

        Raises
        ------
        RegistrationError
            If the shift or drift is not a pair of finite numbers.
        """
        try:
            shift = (float(shift[0]), float(shift[1]))
            drift = (float(drift_per_line[0]), float(drift_per_line[1]))
        except (TypeError, ValueError, IndexError):
            raise RegistrationError(
                f"a known shift must be two numbers (dy, dx), got {shift!r}") from None
        if not np.all(np.isfinite([*shift, *drift])):
            raise RegistrationError(f"a known shift must be finite, got {shift!r}")
        shape = (int(shape[0]), int(shape[1]))
        reg = cls(shift, drift, float("nan"), True, "manual", 0.0, "", shape,
                  uncertainty_px=0.0)
        reg.overlap = reg.overlap_fraction()
        return reg

    @property
    def row_registered(self) -> np.ndarray:
        """Rows whose displacement is known (bool, shape (rows,)).

        False where ``row_uncertainty`` is ``inf``: rows the data do not register well
        enough (e.g. the first rows of a current-only registration, before the first domain
        boundary). Resampled maps are masked on these rows.
        """
        return ~np.isposinf(np.asarray(self.row_uncertainty, dtype=np.float64))

    def overlap_fraction(self) -> float:
        """Fraction of the reference frame whose source lies inside the moving frame, on the
        registered rows."""
        from ._resample import inside_counts

        if self.shape[0] == 0:
            return 0.0
        n = inside_counts(self.row_displacement, self.shape) * self.row_registered
        return float(n.sum() / (self.shape[0] * self.shape[1]))

    def rows_not_registered(self) -> list[tuple[int, int]]:
        """Row ranges ``[start, stop)`` not registered (see :attr:`row_registered`)."""
        bad = np.concatenate([[False], ~self.row_registered, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(bad))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]

    def displacement(self, rows: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Displacement ``(dy, dx)`` in px at reference row(s) ``rows``.

        Parameters
        ----------
        rows : float or ndarray
            Reference row index (or indices); between rows the curve is interpolated
            linearly, beyond the frame it is continued with its end slopes.

        Returns
        -------
        tuple of ndarray
            ``dy(rows), dx(rows)`` in px.
        """
        r = np.asarray(rows, dtype=np.float64)
        d = self.row_displacement
        n = d.shape[0]
        if n < 2:
            c = r - (self.shape[0] - 1) / 2.0
            return (self.shift[0] + self.drift_per_line[0] * c,
                    self.shift[1] + self.drift_per_line[1] * c)
        grid = np.arange(n, dtype=np.float64)
        out = []
        for k in (0, 1):
            v = np.interp(r, grid, d[:, k])
            v = np.where(r < 0, d[0, k] + (d[1, k] - d[0, k]) * r, v)
            v = np.where(r > n - 1, d[-1, k] + (d[-1, k] - d[-2, k]) * (r - (n - 1)), v)
            out.append(v)
        return out[0], out[1]

    def require_trustworthy(self) -> Registration:
        """Return ``self`` if trustworthy, else raise.

        Raises
        ------
        RegistrationError
            With the reason, when ``trustworthy`` is False.
        """
        if not self.trustworthy:
            raise RegistrationError(f"registration not trustworthy: {self.reason}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (plain floats, lists, str, bool).

        Returns
        -------
        dict
            Keys ``shift_px``, ``drift_px_per_line``, ``row_displacement_px`` (one
            ``[dy, dx]`` per reference row), ``uncertainty_px``, ``confidence``,
            ``trustworthy``, ``method``, ``overlap_fraction``, ``reason``, ``ncc``,
            ``peak_ratio``, ``rejected_bands``, ``reference_shape``, ``candidates``
            (competing integer shifts with their NCC; for a periodic sample these are the
            lattice-equivalent solutions), ``rows_not_registered`` (``[start, stop)`` row
            ranges whose displacement is not known well enough; masked in every map).
        """
        def f(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "shift_px": [float(self.shift[0]), float(self.shift[1])],
            "drift_px_per_line": [float(self.drift_per_line[0]), float(self.drift_per_line[1])],
            "row_displacement_px": [[round(float(a), 4), round(float(b), 4)]
                                    for a, b in self.row_displacement],
            "uncertainty_px": f(self.uncertainty_px),
            "confidence": f(self.confidence),
            "trustworthy": bool(self.trustworthy),
            "method": str(self.method),
            "overlap_fraction": float(self.overlap),
            "reason": str(self.reason),
            "ncc": f(self.ncc),
            "peak_ratio": f(self.peak_ratio),
            "rejected_bands": int(self.rejected_bands),
            "reference_shape": [int(self.shape[0]), int(self.shape[1])],
            "candidates": [
                {"shift_px": [int(dy), int(dx)], "ncc": f(v)} for dy, dx, v in self.candidates
            ],
            "rows_not_registered": [[a, b] for a, b in self.rows_not_registered()],
        }
