"""The record of one analysed pair: arrays, tables and settings, computed by the pipeline.

A :class:`PairResult` holds what :func:`afmcurrent.pair.pipeline.analyze_pair` computed when it
returns: maps, classes, the domain table, the medians and their bounds. Two statistics that
the classes do not need are computed on first use and kept (so the live preview and a batch
pay for them only where they are read): :attr:`PairResult.correlation`
(:func:`afmcurrent.pair.correlate.correlate`: topography per class, rank correlations,
cross-talk, connectivity, representative area) and the topography columns of
:attr:`PairResult.domains`. Both are functions of the record alone, so when they are computed
does not change them. Nothing here writes: ``summary.json`` is
:func:`afmcurrent.outputs.summary.summary`, the files
:func:`afmcurrent.outputs.writers.write_result`, the figures :mod:`afmcurrent.outputs.figures`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.classes import area_fractions
from ..core.config import AnalysisConfig
from ..core.model import Scan
from ..core.options import AnalysisOptions
from ..core.version import __version__
from ..core.xarray_maps import maps_to_xarray
from .classify import Thresholds
from .correlate import PairCorrelation, Profile, correlate, pair_profile, slope_map
from .correlate.topography import topography_by_domain
from .domains import DomainTable, LabelGroups
from .logamp import CurrentMap, LogAmpCalibration
from .medians import bound_fractions
from .optical import OpticalResult
from .registration import Registration
from .repeat import RepeatComparison
from .transport import TransportMaps, bound_code, current_density

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PairResult"]


@dataclass(repr=False)
class PairResult:
    """Everything the analysis of one +V / -V pair produced.

    Maps are arrays of shape ``(rows, cols)`` in the +V frame (the +V scan's shape), SI units.

    Attributes
    ----------
    plus, minus : Scan
        The input scans (+V is the reference frame).
    bias_plus, bias_minus : float
        Sample biases used, V.
    height_channel, current_channel : str
        Channel names used in both scans.
    calibration : LogAmpCalibration or None
        Log-amplifier calibration used (None when the current channel was already in A).
    registration : Registration
        -V onto +V: shift, drift, confidence, overlap.
    maps : TransportMaps
        +V, registered -V, electronic and ionic current, ionic fraction, bounds.
    height : ndarray of float
        Leveled +V topography, m.
    class_map : ndarray of uint8
        Degradation classes 0-4 (:mod:`afmcurrent.core.classes`).
    thresholds : Thresholds
        Thresholds used for the classes.
    domain_base : DomainTable
        The connected domains as :func:`afmcurrent.pair.domains.find_domains` gives them (size,
        position, median currents, roughness); :attr:`domains` adds the topography columns.
    config : AnalysisConfig
        Settings used.
    medians, median_bounds : dict
        Median currents in A over the valid pixels and which of them are bounds
        (:mod:`afmcurrent.pair.medians`; :meth:`median_currents`).
    options : AnalysisOptions
        The per-call options used.
    plus_bounds, minus_bounds : CurrentMap or None
        The converted readings of each scan in its own frame.
    notes : list of str
        Notices for the user (polarity order put right, calibration found beside the file, ...).
    seconds : float
        Wall time of the analysis.
    optical : OpticalResult or None
        The optical image tied to the scan.
    profile_line : tuple of float or None
        ``(x0, y0, x1, y1)`` in m of the line profile (None: the middle row).
    warnings : list of str
        Sentences saying that a number may not be what it seems: the calibration does not fit
        the data (many pixels at the floor or saturation, large fit residuals, readings outside
        the calibrated range), a bias given by hand overrides the header's, a registration was
        accepted with ``force_registration``, lag affects many pixels.
    lag : dict
        Whether lag was checked: ``checked``, ``hz_per_amp`` (Hz/A), ``pixel_rate_hz`` (+V, -V),
        ``lagging_fraction`` (share of the valid pixels; None when not checked).
    timings : dict of str to float
        Wall time of each stage of the analysis, s (``load``, ``logamp``, ``register``,
        ``transport``, ``classify``, ``level``, ``domains``, ``optical``, ``medians``): a
        profile for benchmarks, not part of any output file.
    repeat : RepeatComparison or None
        The comparison with a second scan of the same polarity of the area (+V, -V, +V;
        :mod:`afmcurrent.pair.repeat`), when there is one: set by the caller that has it
        (``afmcurrent analyze`` of a session or with ``--repeat``, a batch); its warning is in
        :attr:`warnings` too.

    Notes
    -----
    :attr:`domains` and :attr:`correlation` are computed on first access and kept (see the
    module docstring); :func:`afmcurrent.write_result` and
    :func:`afmcurrent.outputs.summary.summary` read them.
    """

    plus: Scan
    minus: Scan
    bias_plus: float
    bias_minus: float
    height_channel: str
    current_channel: str
    calibration: LogAmpCalibration | None
    registration: Registration
    maps: TransportMaps
    height: np.ndarray
    class_map: np.ndarray
    thresholds: Thresholds
    domain_base: DomainTable
    config: AnalysisConfig
    medians: dict[str, float | None]
    median_bounds: dict[str, str]
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    plus_bounds: CurrentMap | None = None
    minus_bounds: CurrentMap | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    optical: OpticalResult | None = None
    profile_line: tuple[float, float, float, float] | None = None
    warnings: list[str] = field(default_factory=list)
    lag: dict[str, Any] = field(default_factory=lambda: {"checked": False})
    timings: dict[str, float] = field(default_factory=dict)
    repeat: RepeatComparison | None = None

    # -- computed on first use, then kept -------------------------------------------------------
    @cached_property
    def domains(self) -> DomainTable:
        """Connected domains with their properties, the topography columns
        (``mean_roughness_nm``, ``mean_slope_deg``, ``mean_height_nm``:
        :func:`afmcurrent.pair.correlate.topography.topography_by_domain`) and, with an
        optical image, ``median_optical_brightness``."""
        table = self.domain_base
        extra = dict(self._domain_topography)
        if self.optical is not None and len(table):
            extra["median_optical_brightness"] = LabelGroups(table.labels, len(table)).median(
                self.optical.patch)
        return table.with_columns(extra)

    @cached_property
    def correlation(self) -> PairCorrelation:
        """Topography per class, rank correlations, cross-talk, connectivity, representative
        area (:func:`afmcurrent.pair.correlate.correlate`)."""
        return correlate(self, slope=self._slope, domain_columns=self._domain_topography)

    @cached_property
    def _slope(self) -> np.ndarray:
        """Slope angle of the leveled topography, rad (shared by the domain table and the
        correlation)."""
        return slope_map(self.height, self.pixel_size)

    @cached_property
    def _domain_topography(self) -> dict[str, np.ndarray]:
        return topography_by_domain(self.height, self.domain_base.labels, self._slope)

    def __repr__(self) -> str:
        reg = self.registration
        rows, cols = self.class_map.shape
        fr = ", ".join(f"{k} {v * 100:.1f} %" for k, v in self.fractions.items() if v == v)
        return (
            f"PairResult(+V {self.plus.label} ({self.bias_plus:+g} V), -V {self.minus.label} "
            f"({self.bias_minus:+g} V), {rows} x {cols} px\n"
            f"  registration: shift (dy, dx) = ({reg.shift[0]:.2f}, {reg.shift[1]:.2f}) px, "
            f"confidence {reg.confidence:.2f}{'' if reg.trustworthy else ', NOT trustworthy'}\n"
            f"  classified {self.classified_fraction * 100:.1f} %: {fr or 'none'}\n"
            f"  {len(self.domain_base)} domains, {len(self.warnings)} warning(s), "
            f"{len(self.notes)} note(s))"
        )

    # -- views of the record (no computation that changes it, no I/O) --------------------------
    @property
    def pixel_size(self) -> tuple[float, float]:
        """``(dy, dx)`` of the +V frame, m."""
        return self.plus.pixel_size

    @property
    def fractions(self) -> dict[str, float]:
        """Area fraction of each class among the classified pixels."""
        return area_fractions(self.class_map)

    @property
    def classified_fraction(self) -> float:
        """Share of the +V frame with a class other than 0."""
        return float(np.mean(self.class_map > 0))

    def median_currents(self) -> dict[str, float | None]:
        """Median currents in A over the valid pixels (None where no number can be given).

        All four medians are taken over the same pixels, the valid ones (both maps measured
        inside the registration overlap). An entry may be a bound rather than a measurement;
        :meth:`median_current_bounds` says which (:mod:`afmcurrent.pair.medians`).
        """
        return dict(self.medians)

    def median_current_bounds(self) -> dict[str, str]:
        """Entries of :meth:`median_currents` that are bounds: key -> "upper" or "lower".

        ``plus_current`` / ``minus_current`` / ``electronic_current`` are bounds when at least
        half the valid pixels are at the amplifier floor ("upper") or saturation ("lower");
        ``ionic_current`` is an upper bound when unresolved pixels decide its median.
        """
        return dict(self.median_bounds)

    def median_current_densities(self) -> dict[str, float | None]:
        """Median ionic and electronic current densities, A/m^2 (``I / (pi r^2)``).

        The median currents (:meth:`median_currents`, same bounds) over the probe's contact
        area with ``tip_radius`` from the settings
        (:func:`afmcurrent.pair.transport.current_density`).
        """
        r = self.config.transport.tip_radius
        return {
            k: (None if self.medians[k] is None else float(current_density(self.medians[k], r)))
            for k in ("ionic_current", "electronic_current")
        }

    def current_density_maps(self) -> dict[str, np.ndarray]:
        """Ionic and electronic current density maps, A/m^2, shape (rows, cols), NaN as the
        current maps (:func:`afmcurrent.pair.transport.current_density` with the settings' tip
        radius)."""
        r = self.config.transport.tip_radius
        return {
            "current_density_ionic": current_density(self.maps.ionic_current, r),
            "current_density_electronic": current_density(self.maps.electronic_current, r),
        }

    def bound_fractions(self) -> dict[str, float | None]:
        """Share of the valid pixels whose reading is only a bound, per map and kind
        (:func:`afmcurrent.pair.medians.bound_fractions`)."""
        return bound_fractions(self.maps)

    def map_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The maps of ``result.h5`` (``docs/outputs.md``) as arrays in the +V frame, and
        their units: ``class``, the currents (A), ``ionic_fraction``, ``height`` (m), ``valid``,
        the current densities (A/m^2), the bound codes and ``lagging``."""
        m = self.maps
        shape = m.valid.shape
        maps = {
            "class": self.class_map,
            "ionic_current": m.ionic_current,
            "electronic_current": m.electronic_current,
            "ionic_fraction": m.ionic_fraction,
            "plus_current": m.plus_current,
            "minus_current": m.minus_current,
            "height": self.height,
            "valid": m.valid.astype(np.uint8),
            **self.current_density_maps(),
            "plus_bound": bound_code(m.plus_at_floor, m.plus_at_saturation, shape),
            "minus_bound": bound_code(m.minus_at_floor, m.minus_at_saturation, shape),
            "lagging": (np.zeros(shape, np.uint8) if m.lagging is None
                        else m.lagging.astype(np.uint8)),
        }
        units = {k: "" for k in maps}
        units.update({k: "A" for k in ("ionic_current", "electronic_current", "plus_current",
                                       "minus_current")})
        units.update(height="m", current_density_ionic="A/m^2",
                     current_density_electronic="A/m^2")
        return maps, units

    def to_xarray(self) -> Any:
        """The maps as an :class:`xarray.Dataset` (the optional extra
        ``pip install 'afmcurrent[xarray]'``).

        Returns
        -------
        xarray.Dataset
            Dimensions ``("y", "x")`` with coordinates in m (pixel centres from the +V frame's
            offset, y downwards from the top row); the variables of :meth:`map_arrays`, each
            with its ``units``; the class map with its codes as ``flag_values`` /
            ``flag_meanings`` (CF convention) and ``labels``; dataset attributes: the biases
            (V), the registration shift (px), the area fractions, the tip radius (m), the
            warnings and the software version.

        Raises
        ------
        ImportError
            If xarray is not installed (the message says how to install it).
        """
        maps, units = self.map_arrays()
        attrs = {
            "software": f"afmcurrent {__version__}",
            "plus": str(self.plus.path or self.plus.label),
            "minus": str(self.minus.path or self.minus.label),
            "bias_plus_V": self.bias_plus,
            "bias_minus_V": self.bias_minus,
            "shift_px": list(self.registration.shift),
            "tip_radius_m": self.config.transport.tip_radius,
            "classified_fraction": self.classified_fraction,
            **{f"fraction_{k}": v for k, v in self.fractions.items()},
            "warnings": list(self.warnings),
        }
        return maps_to_xarray(maps, units, self.plus.size, self.plus.offset, attrs)

    def profile(self) -> Profile:
        """The line profile along :attr:`profile_line` (default: the middle row;
        :func:`afmcurrent.pair.correlate.profile.pair_profile`)."""
        return pair_profile(self, self.profile_line)

    # -- deprecated --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Deprecated: use :func:`afmcurrent.outputs.summary.summary` (``summary(result)``)."""
        from ..outputs.summary import summary  # the layer above: only for the deprecated alias

        warnings.warn("PairResult.summary() is deprecated: use afmcurrent.outputs.summary."
                      "summary(result)", DeprecationWarning, stacklevel=2)
        return summary(self)

    def write(self, outdir: str | Path, **kwargs: Any) -> dict[str, Path]:
        """Deprecated: use :func:`afmcurrent.write_result` (``write_result(result, outdir)``),
        which takes the same keywords (``figures``, ``overwrite``, ``figure_format``,
        ``scales``)."""
        from ..outputs.writers import write_result  # the layer above: only for the alias

        warnings.warn("PairResult.write() is deprecated: use afmcurrent.write_result(result, "
                      "outdir)", DeprecationWarning, stacklevel=2)
        return write_result(self, outdir, **kwargs)
