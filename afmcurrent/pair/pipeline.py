"""The main job: one +V / -V pair from files (or loaded scans) to classes and domains.

Data flow (DESIGN.md)::

    load_scan(+V), load_scan(-V) -> log-amp volts to amps -> level topography
    -> register (-V onto +V) -> separate ionic / electronic -> classify pixels
    -> domains and area fractions

:func:`analyze_pair` returns a :class:`PairResult`; nothing is written unless
:meth:`PairResult.write` is called (the CLI and the batch runner do).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.classes import area_fractions
from ..core.config import AnalysisConfig, load_config
from ..core.errors import AfmcurrentError, ChannelNotFoundError, ConfigError, RegistrationError
from ..core.model import Channel, Scan
from ..core.version import __version__
from .classify import Thresholds, classify, thresholds_from_reference
from .domains import DomainTable, find_domains
from .level import level_topography
from .logamp import (
    CurrentMap,
    LogAmpCalibration,
    convert_channel,
    lag_decades,
    load_calibration,
    pixel_rate_hz,
)
from .optical import OpticalResult
from .registration import Registration, apply_registration, apply_registration_mask, register
from .transport import (
    TransportMaps,
    current_density,
    log10_current,
    resampling_uncertainty,
    separate,
)

__all__ = ["PairResult", "analyze_pair", "select_channels", "resolve_biases"]

logger = logging.getLogger(__name__)

#: A warning is given when more than this share of the valid pixels of either map is at the
#: amplifier floor or at saturation (the calibration does not fit the data).
BOUND_SHARE_WARNING = 0.25
#: A warning is given when more than this share of the valid pixels lags (bandwidth below the
#: pixel rate).
LAG_SHARE_WARNING = 0.10
#: Registration error assumed (px, one sigma) when a registration reports none.
DEFAULT_UNCERTAINTY_PX = 0.5
#: Smallest registration error used for the uncertainty of I_e(+V) (px, one sigma): below it,
#: sub-pixel NCC peaks (parabola refinement, ~0.05-0.1 px peak-locking bias) and the spline
#: resampling of structure at the pixel scale are not better than this, even where the band
#: estimates agree more closely (held out against simulated truth: with the registration's own
#: 0.07-0.18 px, 0.4-2 % of true shunt pixels got an ionic current; with 0 px, 9-11 %).
MIN_UNCERTAINTY_PX = 0.1

ScanLike = "str | Path | Scan"

_HEIGHT_HINTS = ("height", "topography", "z")
_CURRENT_A_HINTS = ("current", "tuna", "i")
_CURRENT_V_HINTS = ("log", "current", "input", "aux", "in")


@dataclass
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
        Degradation classes 0-4 (DESIGN.md).
    thresholds : Thresholds
        Thresholds used for the classes.
    domains : DomainTable
        Connected domains with their properties.
    config : AnalysisConfig
        Settings used.
    notes : list of str
        Notices for the user (polarity order put right, calibration found beside the file, ...).
    warnings : list of str
        Sentences saying that a number may not be what it seems: the calibration does not fit
        the data (many pixels at the floor or saturation, large fit residuals, readings outside
        the calibrated range), a bias given by hand overrides the header's, a registration was
        accepted with ``force_registration``, lag affects many pixels.
    lag : dict
        Whether lag was checked: ``checked``, ``hz_per_amp`` (Hz/A), ``pixel_rate_hz`` (+V, -V),
        ``lagging_fraction`` (share of the valid pixels; None when not checked).
    seconds : float
        Wall time of the analysis.
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
    domains: DomainTable
    config: AnalysisConfig
    plus_bounds: CurrentMap | None = None
    minus_bounds: CurrentMap | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    optical: OpticalResult | None = None
    profile_line: tuple[float, float, float, float] | None = None
    warnings: list[str] = field(default_factory=list)
    lag: dict[str, Any] = field(default_factory=lambda: {"checked": False})
    _correlation: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _medians: dict[str, float | None] | None = field(default=None, repr=False, compare=False)
    _median_bounds: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def correlation(self) -> dict[str, Any]:
        """Topography, cross-talk, connectivity and representative area (computed on first use).

        See :func:`afmcurrent.correlate.pair_correlation`. The first call also adds the columns
        ``mean_roughness_nm``, ``mean_slope_deg``, ``mean_height_nm`` (and, with an optical
        image, ``median_optical_brightness``) to :attr:`domains`.
        """
        if self._correlation is None:
            from .correlate import pair_correlation

            corr = pair_correlation(self)
            cols = self.domains.columns
            for key, values in corr.pop("domain_columns").items():
                if len(values) == len(self.domains):
                    cols[key] = values
            if self.optical is not None and len(self.domains):
                from .domains import LabelGroups

                cols["median_optical_brightness"] = LabelGroups(
                    self.domains.labels, len(self.domains)).median(self.optical.patch)
            self._correlation = corr
        return self._correlation

    def profile(self) -> Any:
        """The line profile along :attr:`profile_line` (default: the middle row).

        Returns
        -------
        afmcurrent.correlate.Profile
        """
        from .correlate import pair_profile

        return pair_profile(self, self.profile_line)

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
        :meth:`median_current_bounds` says which. Computed once (the maps are not changed after
        the analysis) and reused by :meth:`summary`, the figures and the batch rows.

        Notes
        -----
        A pixel at the amplifier floor carries only an upper bound, a saturated pixel only a
        lower bound, a pixel whose ionic current is not resolved from zero only the interval
        ``[0, upper end]``. The median of the pixels' lower ends and the median of their upper
        ends bracket the median of the true values (the median is monotone). Where they agree
        (the bounds all lie on one side of the median) the median is a measurement; where not,
        it is the upper bound (the median of the upper ends) or, with no finite upper end, the
        lower bound. For I(+V) and I(-V) this means: a bound once at least half the valid
        pixels are at the floor (saturation). The ionic median uses, for each unresolved
        pixel, the upper end ``I(+V)_hi - I_e(+V)_lo`` of its interval; it is never larger
        than the median of the upper ends of I(+V).
        """
        if self._medians is None:
            self._medians, self._median_bounds = _medians_with_bounds(self.maps)
        return dict(self._medians)

    def median_current_bounds(self) -> dict[str, str]:
        """Entries of :meth:`median_currents` that are bounds: key -> "upper" or "lower".

        ``plus_current`` / ``minus_current`` / ``electronic_current`` are bounds when at least
        half the valid pixels are at the amplifier floor ("upper") or saturation ("lower");
        ``ionic_current`` is an upper bound when unresolved pixels decide its median.
        """
        self.median_currents()
        assert self._median_bounds is not None
        return dict(self._median_bounds)

    def median_current_densities(self) -> dict[str, float | None]:
        """Median ionic and electronic current densities, A/m^2 (``I / (pi r^2)``).

        The median currents (:meth:`median_currents`, same bounds) over the probe's contact
        area with ``tip_radius`` from the settings (:func:`afmcurrent.transport.current_density`).
        """
        med = self.median_currents()
        r = self.config.transport.tip_radius
        return {
            k: (None if med[k] is None else float(current_density(med[k], r)))
            for k in ("ionic_current", "electronic_current")
        }

    def current_density_maps(self) -> dict[str, np.ndarray]:
        """Ionic and electronic current density maps, A/m^2, shape (rows, cols), NaN as the
        current maps (:func:`afmcurrent.transport.current_density` with the settings' tip
        radius)."""
        r = self.config.transport.tip_radius
        return {
            "current_density_ionic": current_density(self.maps.ionic_current, r),
            "current_density_electronic": current_density(self.maps.electronic_current, r),
        }

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` contract as a JSON-safe dict (SI units; docs/outputs.md)."""

        def scan_info(scan: Scan, bias: float) -> dict[str, Any]:
            return {
                "path": str(scan.path) if scan.path else None,
                "bias_V": bias,
                "height_channel": self.height_channel,
                "current_channel": self.current_channel,
                "shape": list(scan.shape),
                "pixel_size_m": list(scan.pixel_size),
                "size_m": list(scan.size),
                "date": scan.metadata.get("date"),
            }

        fractions = {k: _json_float(v) for k, v in self.fractions.items()}
        corr = self.correlation()
        notes = list(self.notes)
        warning = corr["topography"]["crosstalk"]["warning"]
        if warning and warning not in notes:
            notes.append(warning)
        return {
            "software": {"name": "afmcurrent", "version": __version__},
            "inputs": {
                "plus": scan_info(self.plus, self.bias_plus),
                "minus": scan_info(self.minus, self.bias_minus),
            },
            "calibration": (
                {**self.calibration.to_dict(), "name": self.calibration.name}
                if self.calibration else None
            ),
            "registration": self.registration.to_dict(),
            "fractions": fractions,
            "classified_fraction": self.classified_fraction,
            "median_currents_A": self.median_currents(),
            "median_current_bounds": self.median_current_bounds(),
            "median_current_density_A_m2": self.median_current_densities(),
            "bound_fractions": self.bound_fractions(),
            "lag": dict(self.lag),
            "thresholds": self.thresholds.to_dict(),
            "domains": {
                "count": len(self.domains),
                "by_class": self.domains.count_by_class(),
                "min_area_um2": self.config.domains.min_area_um2,
            },
            "bias_ratio": self.maps.bias_ratio,
            "tip_radius_m": self.config.transport.tip_radius,
            "settings": self.config.to_dict(),
            "topography": corr["topography"],
            "connectivity": corr["connectivity"],
            "fractions_converged": corr["representative_area"]["converged"],
            "representative_area": corr["representative_area"],
            "optical": self.optical.to_dict() if self.optical is not None else None,
            "profile_line_m": list(self.profile_line) if self.profile_line else None,
            "notes": notes,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }

    def bound_fractions(self) -> dict[str, float | None]:
        """Share of the valid pixels whose reading is only a bound, per map and kind.

        Returns
        -------
        dict
            ``plus_at_floor``, ``plus_at_saturation``, ``minus_at_floor``,
            ``minus_at_saturation`` (None when no pixel is valid).
        """
        m = self.maps
        n = int(np.count_nonzero(m.valid))
        out: dict[str, float | None] = {}
        for key in ("plus_at_floor", "plus_at_saturation", "minus_at_floor",
                    "minus_at_saturation"):
            mask = getattr(m, key)
            out[key] = (float(np.count_nonzero(mask) / n) if n and mask is not None else None)
        return out

    def write(
        self,
        outdir: str | Path,
        *,
        figures: bool = True,
        overwrite: bool = False,
        figure_format: str = "png",
        scales: Any = None,
    ) -> dict[str, Path]:
        """Write summary.json, result.h5, domains.csv, result.gwy, profile.csv and the figures.

        Parameters
        ----------
        outdir : str or Path
            Output folder; created if needed. A non-empty folder is refused unless ``overwrite``.
        figures : bool, optional
            Render ``figure.png`` (the slowest part).
        overwrite : bool, optional
            Replace earlier results in ``outdir``.
        figure_format : {"png", "pdf", "svg"}, optional
            Vector copies of the figures besides the PNGs (``"png"``: PNG only).
        scales : afmcurrent.plotting.FigureScales, optional
            Colour scales shared across a batch (default: from this pair).

        Returns
        -------
        dict of str to Path
            The files written.

        Raises
        ------
        OutputExistsError
            If ``outdir`` holds files and ``overwrite`` is False.
        """
        from ..outputs.writers import write_result

        return write_result(self, outdir, figures=figures, overwrite=overwrite,
                            figure_format=figure_format, scales=scales)


def _json_float(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _median(v: np.ndarray) -> float:
    return float(np.median(v, overwrite_input=True))


def _medians_with_bounds(maps: TransportMaps) -> tuple[dict[str, float | None], dict[str, str]]:
    """Medians over the valid pixels and which of them are bounds (see
    :meth:`PairResult.median_currents`)."""
    valid = maps.valid
    n = int(np.count_nonzero(valid))
    keys = ("plus_current", "minus_current", "ionic_current", "electronic_current")
    meds: dict[str, float | None] = dict.fromkeys(keys)
    bounds: dict[str, str] = {}
    if n == 0:
        return meds, bounds
    for key, floor, sat in (
        ("plus_current", maps.plus_at_floor, maps.plus_at_saturation),
        ("minus_current", maps.minus_at_floor, maps.minus_at_saturation),
        ("electronic_current", maps.minus_at_floor, maps.minus_at_saturation),
    ):
        meds[key] = _median(getattr(maps, key)[valid])  # a copy, partitioned in place
        if floor is not None and 2 * np.count_nonzero(floor) >= n:
            bounds[key] = "upper"
        elif sat is not None and 2 * np.count_nonzero(sat) >= n:
            bounds[key] = "lower"
    ionic = maps.ionic_current
    resolved = np.isfinite(ionic)
    x = ionic[resolved]
    unresolved = valid & ~resolved
    n_un = int(np.count_nonzero(unresolved))
    if n_un == 0:
        meds["ionic_current"] = _median(x)
        return meds, bounds
    ln10 = np.log(10.0)
    with np.errstate(over="ignore", invalid="ignore"):
        hi = np.exp(maps.log_plus_bounds[1][unresolved] * ln10)
        hi -= np.exp(maps.log_electronic_bounds[0][unresolved] * ln10)
    np.maximum(hi, 0.0, out=hi)
    m_lo = _median(np.concatenate([x, np.zeros(n_un)]))
    m_hi = _median(np.concatenate([x, hi]))
    if m_lo == m_hi:
        meds["ionic_current"] = m_lo
    elif np.isfinite(m_hi):
        meds["ionic_current"], bounds["ionic_current"] = m_hi, "upper"
    elif m_lo > 0:
        meds["ionic_current"], bounds["ionic_current"] = m_lo, "lower"
    return meds, bounds


def _load(scan: str | Path | Scan) -> Scan:
    if isinstance(scan, Scan):
        return scan
    from ..io import load_scan

    return load_scan(scan)


def _describe(scan: Scan) -> str:
    return ", ".join(f"{c.name!r} [{c.unit or '-'}]" for c in scan.channel_list)


def select_channels(
    scan: Scan, height_channel: str | None = None, current_channel: str | None = None
) -> tuple[Channel, Channel]:
    """Pick the topography and current channels of a scan.

    Parameters
    ----------
    scan : Scan
    height_channel, current_channel : str, optional
        Names given by the user; by default the first trace channel in m (preferring a name with
        "height") and the first trace channel in A (preferring "current"), else in V (the
        log-amplifier output recorded through an auxiliary input).

    Returns
    -------
    (Channel, Channel)
        Height and current channels.

    Raises
    ------
    ChannelNotFoundError
        If a named channel does not exist or no suitable channel is found; the message lists the
        channels of the file with their units.
    """
    if height_channel:
        height = scan.channel(height_channel)
    else:
        height = scan.find_channel({"m"}, prefer=_HEIGHT_HINTS)
        if height is None:
            raise ChannelNotFoundError(
                f"{scan.label}: no topography channel (unit m); channels: {_describe(scan)}; "
                "name one with --height-channel"
            )
    if current_channel:
        current = scan.channel(current_channel)
    else:
        current = scan.find_channel({"A"}, prefer=_CURRENT_A_HINTS) or scan.find_channel(
            {"V"}, prefer=_CURRENT_V_HINTS
        )
        if current is None:
            raise ChannelNotFoundError(
                f"{scan.label}: no current channel (unit A, or the log-amplifier output in V); "
                f"channels: {_describe(scan)}; name one with --current-channel"
            )
    return height, current


def resolve_biases(
    plus: Scan,
    minus: Scan,
    bias_plus: float | None,
    bias_minus: float | None,
    *,
    force_bias: bool = False,
    warnings: list[str] | None = None,
) -> tuple[Scan, Scan, float, float, list[str]]:
    """Determine the sample biases and put the scans in +V, -V order.

    Parameters
    ----------
    plus, minus : Scan
        The scans as the user gave them.
    bias_plus, bias_minus : float, optional
        Biases (V) given by the user; they override the values recorded in the files.
    force_bias : bool, optional
        Accept a given bias whose sign contradicts the one recorded in the file (with a
        warning) instead of refusing it.
    warnings : list of str, optional
        Receives a sentence for every given bias that overrides a different recorded one.

    Returns
    -------
    plus, minus, bias_plus, bias_minus, notes
        Scans and biases in +V, -V order and the notices to show (e.g. that the order was swapped
        because the recorded biases said so).

    Raises
    ------
    ConfigError
        If a bias is neither recorded nor given, is 0 V, or both have the same sign; or a given
        bias has the opposite sign of the one recorded in the file (files swapped?) and
        ``force_bias`` is False.
    """
    notes: list[str] = []
    for given, scan, flag in ((bias_plus, plus, "--bias-plus"),
                              (bias_minus, minus, "--bias-minus")):
        recorded = scan.bias
        if given is None or recorded is None or not np.isfinite(recorded) \
                or abs(given - recorded) <= 1e-9 * max(abs(given), abs(recorded)):
            continue
        if np.sign(given) != np.sign(recorded):
            msg = (f"{flag} {given:+g} V contradicts the {recorded:+g} V recorded in "
                   f"{scan.label}")
            if not force_bias:
                raise ConfigError(
                    msg + ": are the files swapped? Without --bias-plus/--bias-minus the "
                    "recorded biases put the scans in order; pass --force-bias "
                    "(force_bias=True) if the header is wrong"
                )
            if warnings is not None:
                warnings.append(msg + " (used anyway: --force-bias)")
        elif warnings is not None:
            warnings.append(f"{flag} {given:+g} V overrides the {recorded:+g} V recorded in "
                            f"{scan.label}")
    bp = bias_plus if bias_plus is not None else plus.bias
    bm = bias_minus if bias_minus is not None else minus.bias
    for value, scan, flag in ((bp, plus, "--bias-plus"), (bm, minus, "--bias-minus")):
        if value is None:
            raise ConfigError(
                f"{scan.label}: the sample bias is not recorded in this file; give it with {flag}"
            )
        if value == 0 or not np.isfinite(value):
            raise ConfigError(
                f"{scan.label}: sample bias is {value} V, which cannot separate ionic from "
                f"electronic current; give the bias used with {flag}"
            )
    if bp < 0 < bm and bias_plus is None and bias_minus is None:
        notes.append(
            f"polarity order put right by the recorded biases: {minus.label} is the +V scan "
            f"({bm:+g} V), {plus.label} the -V scan ({bp:+g} V)"
        )
        plus, minus, bp, bm = minus, plus, bm, bp
    if not (bp > 0 > bm):
        raise ConfigError(
            f"the pair needs one positive and one negative sample bias; got {bp:+g} V "
            f"({plus.label}) and {bm:+g} V ({minus.label})"
        )
    return plus, minus, float(bp), float(bm), notes


def _calibration(
    logamp: Any, config: AnalysisConfig, plus: Scan, notes: list[str]
) -> LogAmpCalibration | None:
    if logamp is not None:
        return load_calibration(logamp)
    if config.logamp is not None:
        return load_calibration({"logamp": config.logamp})
    if plus.path is not None:
        beside = plus.path.parent / "logamp.toml"
        if beside.is_file():
            notes.append(f"log-amplifier calibration read from {beside} (beside the +V file)")
            return load_calibration(beside)
    return None


def analyze_pair(
    plus: str | Path | Scan,
    minus: str | Path | Scan,
    *,
    height_channel: str | None = None,
    current_channel: str | None = None,
    bias_plus: float | None = None,
    bias_minus: float | None = None,
    logamp: str | Path | Mapping[str, Any] | LogAmpCalibration | None = None,
    config: str | Path | Mapping[str, Any] | AnalysisConfig | None = None,
    tip_radius: float | None = None,
    shift: tuple[float, float] | None = None,
    expect_shift: tuple[float, float] | None = None,
    search_radius: float = 5.0,
    force_registration: bool = False,
    force_bias: bool = False,
    reference: tuple[str | Path | Scan, str | Path | Scan] | PairResult | None = None,
    optical: str | Path | np.ndarray | None = None,
    optical_pixel_size: float | None = None,
    optical_box: tuple[float, float, float, float] | None = None,
    optical_center: tuple[float, float] | None = None,
    profile: tuple[float, float, float, float] | None = None,
) -> PairResult:
    """Analyse one +V / -V pair: ionic and electronic current maps, classes and domains.

    Parameters
    ----------
    plus, minus : str, Path or Scan
        The scans at positive and negative sample bias (files or loaded scans). Given in the
        wrong order, they are put right by their recorded biases, with a note.
    height_channel, current_channel : str, optional
        Channel names (default: found by unit, see :func:`select_channels`).
    bias_plus, bias_minus : float, optional
        Sample biases in V, overriding or supplying what the headers record.
    logamp : str, Path, mapping or LogAmpCalibration, optional
        Log-amplifier calibration: a TOML file with a ``[logamp]`` table, a preset name (see
        ``afmcurrent.logamp.list_presets()``), or a calibration. Default: the config file's
        ``[logamp]`` table, else a ``logamp.toml`` beside the +V file. Needed when the current
        channel is the amplifier's output in V.
    config : str, Path, mapping or AnalysisConfig, optional
        Settings (TOML file with ``[transport]``, ``[classify]``, ``[domains]``,
        ``[registration]``, ``[logamp]``); see :mod:`afmcurrent.config`.
    tip_radius : float, optional
        Probe radius in m (overrides the config; default 100 nm).
    shift : tuple of float, optional
        Known shift ``(dy, dx)`` in px of the -V scan onto the +V scan at the centre row; the
        creep and drift around it are still estimated (within ``search_radius``) unless the
        config sets ``[registration] estimate_drift = false``.
    expect_shift : tuple of float, optional
        Approximate shift ``(dy, dx)`` in px (stage log, an earlier pair): the estimate is
        searched within ``search_radius`` px of it. Resolves the ambiguity of periodic samples.
    search_radius : float, optional
        Radius of that search window in px (default 5).
    force_registration : bool, optional
        Use a registration that is not trustworthy instead of raising (it is still reported as
        not trustworthy in the result, with a warning).
    force_bias : bool, optional
        Accept a ``bias_plus`` / ``bias_minus`` whose sign contradicts the one recorded in the
        file (with a warning) instead of raising.
    reference : pair of scans or PairResult, optional
        A pristine reference pair for ``[classify] mode = "reference"``.
    optical : str, Path or ndarray, optional
        Optical micrograph of a field containing the scan (PNG, TIFF, JPEG, or an array); see
        :func:`afmcurrent.optical.analyze_optical`. The placement is refined by mutual
        information between brightness and the class map.
    optical_pixel_size : float, optional
        Optical pixel size, m (needed with ``optical_center``).
    optical_box : tuple of float, optional
        ``(x0, y0, x1, y1)`` of the scan in optical pixels (starting placement).
    optical_center : tuple of float, optional
        ``(x, y)`` of the scan centre in m from the optical image's top-left corner; the scan
        size comes from the +V scan.
    profile : tuple of float, optional
        ``(x0, y0, x1, y1)`` in m of the line profile (default: the middle row).

    Returns
    -------
    PairResult
        Its ``warnings`` say where a number may not be what it seems (see
        :class:`PairResult`); nothing is logged at warning level for them, the caller shows them.

    Raises
    ------
    ReadError
        If a file cannot be read.
    ChannelNotFoundError
        If a channel is missing (the message lists the channels that exist).
    CalibrationError
        If the current channel is in V and no calibration is given or found.
    ConfigError
        If a bias is missing or the biases do not have opposite signs, a given bias contradicts
        the sign recorded in the file (without ``force_bias``), the same file is given as both
        scans, or a setting is invalid.
    RegistrationError
        If the scans cannot be co-registered (different pixel size) or the registration is not
        trustworthy and ``force_registration`` is False.
    """
    t0 = time.perf_counter()
    cfg = load_config(
        config, transport={"tip_radius": tip_radius} if tip_radius is not None else {}
    )
    _check_distinct(plus, minus)
    plus_scan, minus_scan = _load(plus), _load(minus)
    warnings: list[str] = []
    plus_scan, minus_scan, bp, bm, notes = resolve_biases(
        plus_scan, minus_scan, bias_plus, bias_minus, force_bias=force_bias, warnings=warnings
    )
    for n in notes:
        logger.warning(n)
    h_plus, c_plus = select_channels(plus_scan, height_channel, current_channel)
    h_minus, c_minus = select_channels(
        minus_scan, height_channel or h_plus.name, current_channel or c_plus.name
    )
    _check_geometry(plus_scan, minus_scan)

    calibration = None
    if "V" in (c_plus.unit, c_minus.unit):
        calibration = _calibration(logamp, cfg, plus_scan, notes)
    elif logamp is not None:
        calibration = load_calibration(logamp)
    ts = cfg.transport
    # a reading within the noise of the floor (saturation) is only a bound
    bound_margin = ts.confidence_sigma * ts.noise_decades
    cur_plus = convert_channel(c_plus, calibration, bound_margin)
    cur_minus = convert_channel(c_minus, calibration, bound_margin)

    if shift is not None and not cfg.registration.estimate_drift:
        reg = Registration.manual(shift, plus_scan.shape)
    elif shift is not None:
        # the known shift holds at the centre row; creep and drift around it are estimated
        reg = register(
            h_plus.data,
            h_minus.data,
            cur_plus.current,
            cur_minus.current,
            min_confidence=cfg.registration.min_confidence,
            known_shift=shift,
            search_radius=search_radius,
        )
    else:
        reg = register(
            h_plus.data,
            h_minus.data,
            cur_plus.current,
            cur_minus.current,
            estimate_drift=cfg.registration.estimate_drift,
            min_confidence=cfg.registration.min_confidence,
            expected_shift=expect_shift,
            search_radius=search_radius,
        )
    if not reg.trustworthy:
        msg = (
            f"registration of {minus_scan.label} onto {plus_scan.label} is not trustworthy: "
            f"{reg.reason}"
        )
        if not force_registration:
            raise RegistrationError(
                msg + "; give a known shift (--shift DY,DX) or accept it with "
                "--force-registration"
            )
        warnings.append(msg + " (used anyway: --force-registration)")

    minus_current, overlap = apply_registration(cur_minus.current, reg, log=True)
    minus_floor = apply_registration_mask(cur_minus.at_floor, reg)
    minus_sat = apply_registration_mask(cur_minus.at_saturation, reg)
    if calibration is not None:
        # a resampled value within the noise of the floor (saturation) is a bound as well
        k = 10.0**bound_margin
        with np.errstate(invalid="ignore"):
            minus_floor |= minus_current <= calibration.floor_current * k
            minus_sat |= minus_current >= calibration.saturation_current / k
    uncertainty = getattr(reg, "uncertainty_px", float("nan"))
    if not np.isfinite(uncertainty):
        uncertainty = DEFAULT_UNCERTAINTY_PX
    uncertainty = max(uncertainty, MIN_UNCERTAINTY_PX)
    lg_minus = log10_current(minus_current)
    e_sigma, e_below, e_above = resampling_uncertainty(
        lg_minus, uncertainty, ts.noise_decades, ts.confidence_sigma
    )
    lag, plus_lag, minus_lag, lagging = _lag(
        ts, calibration, plus_scan, minus_scan, c_plus, c_minus, cur_plus.current, lg_minus,
        notes,
    )
    del lg_minus
    maps = separate(
        cur_plus.current,
        minus_current,
        bp,
        bm,
        plus_at_floor=cur_plus.at_floor,
        plus_at_saturation=cur_plus.at_saturation,
        minus_at_floor=minus_floor,
        minus_at_saturation=minus_sat,
        valid=overlap,
        settings=ts,
        electronic_sigma=e_sigma,
        electronic_widening=(e_below, e_above),
        plus_lag=plus_lag,
        minus_lag=minus_lag,
        lagging=lagging,
    )
    del e_sigma, e_below, e_above, plus_lag, minus_lag
    if lag["checked"]:
        n_valid = int(np.count_nonzero(maps.valid))
        lag["lagging_fraction"] = (float(np.count_nonzero(maps.lagging) / n_valid)
                                   if n_valid else None)
    warnings.extend(_fit_warnings(maps, calibration, cur_plus, cur_minus, ts, lag))

    if cfg.classify.mode == "reference":
        if reference is None:
            raise ConfigError(
                "[classify] mode = 'reference' needs a pristine reference pair "
                "(--reference PLUS MINUS)"
            )
        ref = reference if isinstance(reference, PairResult) else analyze_pair(
            reference[0], reference[1],
            height_channel=height_channel, current_channel=current_channel,
            logamp=logamp, config=load_config(cfg, classify={"mode": "absolute"}),
        )
        ref_median = ref.median_currents()["plus_current"]
        if ref_median is None:
            raise AfmcurrentError("the reference pair has no valid +V current pixel")
        thresholds = thresholds_from_reference(
            ref_median, cfg.classify, f"reference {ref.plus.label}"
        )
    else:
        thresholds = Thresholds.from_settings(cfg.classify)

    class_map = classify(maps, thresholds)
    if profile is not None:
        from .correlate import line_profile

        line_profile({"class": class_map}, plus_scan.pixel_size, profile)  # validates the line
    height = level_topography(h_plus.data)
    table = find_domains(
        class_map,
        plus_scan.pixel_size,
        maps=maps,
        height=height,
        valid=maps.valid,
        settings=cfg.domains,
        tip_radius=ts.tip_radius,
    )
    optical_result = None
    if optical is not None:
        from .optical import analyze_optical

        optical_result = analyze_optical(
            optical, class_map, plus_scan.size, pixel_size=optical_pixel_size,
            box=optical_box, center=optical_center, valid=maps.valid,
        )
        pl = optical_result.placement
        if pl.confidence < 0.3 or pl.at_search_edge:
            notes.append(
                f"optical placement is uncertain (confidence {pl.confidence:.2f}"
                f"{', at the edge of the search window' if pl.at_search_edge else ''}); check "
                "the scan square in the figure"
            )
            logger.warning(notes[-1])
    elif any(v is not None for v in (optical_pixel_size, optical_box, optical_center)):
        raise ConfigError("optical_pixel_size, optical_box and optical_center need an optical "
                          "image (--optical IMG)")
    return PairResult(
        plus=plus_scan,
        minus=minus_scan,
        bias_plus=bp,
        bias_minus=bm,
        height_channel=h_plus.name,
        current_channel=c_plus.name,
        calibration=calibration,
        registration=reg,
        maps=maps,
        height=height,
        class_map=class_map,
        thresholds=thresholds,
        domains=table,
        config=cfg,
        plus_bounds=cur_plus,
        minus_bounds=cur_minus,
        notes=notes,
        seconds=time.perf_counter() - t0,
        optical=optical_result,
        profile_line=tuple(float(v) for v in profile) if profile is not None else None,
        warnings=warnings,
        lag=lag,
    )


def _check_distinct(plus: Any, minus: Any) -> None:
    """Refuse the same file (or the same loaded scan) given as both scans of a pair."""
    if isinstance(plus, Scan) and isinstance(minus, Scan):
        # one file may hold several scans (an acquisition session): the same path alone is
        # not the same scan; the same path with the same data is
        same = plus is minus or (
            plus.path is not None and minus.path is not None
            and Path(plus.path).resolve() == Path(minus.path).resolve()
            and plus.channels == minus.channels
            and all(np.array_equal(a.data, b.data, equal_nan=True)
                    for a, b in zip(plus.channel_list, minus.channel_list, strict=True))
        )
        if same:
            raise ConfigError(f"{plus.label} is given as both the +V and the -V scan")
    if isinstance(plus, (str, Path)) and isinstance(minus, (str, Path)):
        a, b = Path(plus), Path(minus)
        try:
            same = a.exists() and b.exists() and a.samefile(b)
        except OSError:
            same = False
        if same or a.resolve() == b.resolve():
            raise ConfigError(
                f"{a} is given as both the +V and the -V scan: a pair needs the two scans of "
                "one area at opposite sample biases"
            )


def _lag(
    ts: Any,
    calibration: LogAmpCalibration | None,
    plus: Scan,
    minus: Scan,
    c_plus: Channel,
    c_minus: Channel,
    plus_current: np.ndarray,
    lg_minus: np.ndarray,
    notes: list[str],
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None,
           tuple[np.ndarray, np.ndarray] | None, np.ndarray | None]:
    """Lag widening (below, above) of both maps (+V frame) where the bandwidth model and pixel
    rate are known, and the lagging pixels."""
    lag: dict[str, Any] = {"checked": False, "hz_per_amp": None, "pixel_rate_hz": None,
                           "lagging_fraction": None}
    if not ts.check_lag:
        return lag, None, None, None
    hz = ts.bandwidth_hz_per_amp or (calibration.hz_per_amp if calibration else None)
    if not hz:
        notes.append(
            "amplifier lag not checked: no bandwidth model (give hz_per_amp, Hz/A, in the "
            "[logamp] table or [transport] bandwidth_hz_per_amp in the settings)"
        )
        return lag, None, None, None
    rates = (pixel_rate_hz(plus.metadata), pixel_rate_hz(minus.metadata))
    lag.update(hz_per_amp=float(hz), pixel_rate_hz=list(rates))
    if None in rates:
        missing = [s.label for s, r in zip((plus, minus), rates, strict=True) if r is None]
        notes.append(
            f"amplifier lag not checked: no scan rate and samples per line recorded in "
            f"{', '.join(missing)}"
        )
        return lag, None, None, None
    kw = {"noise_decades": ts.noise_decades, "confidence_sigma": ts.confidence_sigma,
          "floor_current": calibration.floor_current if calibration else None}
    *plus_lag, lag_p = lag_decades(log10_current(plus_current), hz, rates[0],
                                   direction=c_plus.direction, **kw)
    *minus_lag, lag_m = lag_decades(lg_minus, hz, rates[1], direction=c_minus.direction, **kw)
    lag["checked"] = True
    return lag, tuple(plus_lag), tuple(minus_lag), lag_p | lag_m


def _fit_warnings(
    maps: TransportMaps,
    calibration: LogAmpCalibration | None,
    cur_plus: CurrentMap,
    cur_minus: CurrentMap,
    ts: Any,
    lag: dict[str, Any],
) -> list[str]:
    """Sentences for a calibration that does not fit the data, and for lag."""
    out: list[str] = []
    valid = maps.valid
    n = int(np.count_nonzero(valid))
    if n == 0:
        return out
    limits = (
        (calibration.floor_current, calibration.saturation_current) if calibration
        else (None, None)
    )
    for side, floor, sat in (("+V", maps.plus_at_floor, maps.plus_at_saturation),
                             ("-V", maps.minus_at_floor, maps.minus_at_saturation)):
        for what, mask, limit, meaning in (
            ("at the amplifier floor", floor, limits[0], "upper bounds"),
            ("at saturation", sat, limits[1], "lower bounds"),
        ):
            share = np.count_nonzero(mask) / n if mask is not None else 0.0
            if share > BOUND_SHARE_WARNING:
                at = f" ({limit:.3g} A)" if limit is not None else ""
                name = f" {calibration.name!r}" if calibration and calibration.name else ""
                out.append(
                    f"{share * 100:.0f} % of the valid {side} pixels are {what}{at}: their "
                    f"values are only {meaning} (the current is outside the amplifier's range "
                    f"there, or the calibration{name} does not fit these data: check its range, "
                    "reference current and sign of the slope)"
                )
    if calibration is not None and calibration.fit_rms_decades is not None \
            and calibration.fit_rms_decades > 2.0 * ts.noise_decades:
        out.append(
            f"the calibration's fit residuals are {calibration.fit_rms_decades:.3g} decades RMS, "
            f"more than twice the pixel noise ({ts.noise_decades:g} decades): currents may be "
            "off by more than the intervals allow"
        )
    if calibration is not None and (calibration.fit_min_current is not None
                                    or calibration.fit_max_current is not None):
        lo = calibration.fit_min_current or 0.0
        hi = calibration.fit_max_current or np.inf
        measured = 0
        outside = 0
        for cur in (cur_plus, cur_minus):
            ok = cur.valid
            measured += int(np.count_nonzero(ok))
            with np.errstate(invalid="ignore"):
                outside += int(np.count_nonzero(ok & ((cur.current < lo / 1.26)
                                                      | (cur.current > hi * 1.26))))
        if measured and outside / measured > BOUND_SHARE_WARNING:
            out.append(
                f"{outside / measured * 100:.0f} % of the measured pixels lie more than 0.1 "
                f"decade outside the range of known currents the calibration was fitted on "
                f"({lo:.3g}..{hi:.3g} A): their values are extrapolated"
            )
    frac = lag.get("lagging_fraction")
    if frac is not None and frac > LAG_SHARE_WARNING:
        out.append(
            f"{frac * 100:.0f} % of the valid pixels lag: the amplifier bandwidth at their "
            f"current ({lag['hz_per_amp']:.3g} Hz/A) is below the pixel rate; their intervals "
            "are widened (fewer of them are classified)"
        )
    return out


def _check_geometry(plus: Scan, minus: Scan) -> None:
    if plus.shape != minus.shape:
        raise RegistrationError(
            f"{plus.label} has {plus.shape[0]} x {plus.shape[1]} pixels but {minus.label} "
            f"{minus.shape[0]} x {minus.shape[1]}: the +V and -V scans must share the pixel grid"
        )
    for a, b in zip(plus.pixel_size, minus.pixel_size, strict=True):
        if abs(a - b) > 0.01 * max(a, b):
            raise RegistrationError(
                f"{plus.label} and {minus.label} differ in pixel size "
                f"({plus.pixel_size} m vs {minus.pixel_size} m): not scans of the same area"
            )
