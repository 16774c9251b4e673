"""The main job: one +V / -V pair from files (or loaded scans) to classes and domains.

Data flow, one step per module of :mod:`afmcurrent.pair`::

    inputs      load_scan(+V), load_scan(-V), polarity order, channels, geometry, calibration
    logamp      log-amp volts -> amps (floor and saturation masks kept)
    coregister  register -V onto +V, resample -V into the +V frame
    lag         amplifier lag of both maps (where the bandwidth model is known)
    transport   separate ionic / electronic current (intervals of log current)
    classify    degradation class of every pixel (the one rule)
    level       leveled topography
    domains     connected domains and their table
    optical     the optical image tied to the scan (optional)
    medians     median currents and which are bounds

:func:`analyze_pair` returns a :class:`~afmcurrent.pair.result.PairResult` holding all of it;
the correlation (topography, cross-talk, connectivity, representative area; ``correlate``) is
an explicit step that the record runs on first use (``PairResult.correlation``), as writing
the files does. Nothing is written (:func:`afmcurrent.write_result` writes the files).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import AnalysisConfig, load_config
from ..core.errors import AfmcurrentError, ConfigError
from ..core.model import Channel, Scan
from ..core.options import AnalysisOptions, merge_options
from .checks import fit_warnings
from .classify import Thresholds, classify, thresholds_from_reference
from .coregister import electronic_uncertainty, register_pair, resample_minus_maps
from .correlate import line_profile
from .domains import find_domains
from .inputs import (
    check_distinct,
    check_geometry,
    find_calibration,
    load,
    resolve_biases,
    select_channels,
)
from .lag import lag_widening
from .level import level_topography
from .logamp import CurrentMap, LogAmpCalibration, convert_channel, load_calibration
from .medians import medians_with_bounds
from .optical import OpticalResult, analyze_optical
from .registration import Registration
from .result import PairResult
from .transport import TransportMaps, separate

__all__ = ["PairResult", "analyze_pair", "select_channels", "resolve_biases"]

logger = logging.getLogger(__name__)


def analyze_pair(
    plus: str | Path | Scan,
    minus: str | Path | Scan,
    *,
    config: str | Path | Mapping[str, Any] | AnalysisConfig | None = None,
    options: AnalysisOptions | None = None,
    reference: tuple[str | Path | Scan, str | Path | Scan] | PairResult | None = None,
    optical: str | Path | np.ndarray | None = None,
    **kwargs: Any,
) -> PairResult:
    """Analyse one +V / -V pair: ionic and electronic current maps, classes and domains.

    Parameters
    ----------
    plus, minus : str, Path or Scan
        The scans at positive and negative sample bias (files or loaded scans). Given in the
        wrong order, they are put right by their recorded biases, with a note.
    config : str, Path, mapping or AnalysisConfig, optional
        Settings (TOML file with ``[transport]``, ``[classify]``, ``[domains]``,
        ``[registration]``, ``[logamp]``, ``[analysis]``); see :mod:`afmcurrent.core.config`.
    options : AnalysisOptions, optional
        The per-call options as a record; replaces the settings' ``[analysis]`` table.
    reference : pair of scans or PairResult, optional
        A pristine reference pair for ``[classify] mode = "reference"`` (analysed with the
        same channels and calibration, absolute thresholds).
    optical : str, Path or ndarray, optional
        Optical micrograph of a field containing the scan (PNG, TIFF, JPEG, or an array); see
        :func:`afmcurrent.pair.optical.analyze_optical`. Placed with ``optical_box`` or
        ``optical_pixel_size`` and ``optical_center``, refined by mutual information between
        brightness and the class map.
    **kwargs
        Any option of :class:`~afmcurrent.core.options.AnalysisOptions`, overriding
        ``options`` and the ``[analysis]`` table: ``height_channel``, ``current_channel``,
        ``bias_plus``, ``bias_minus`` (V), ``force_bias``, ``logamp`` (file, preset, mapping
        or calibration), ``tip_radius`` (m), ``shift``, ``expect_shift`` (px),
        ``search_radius`` (px), ``force_registration``, ``optical_pixel_size`` (m),
        ``optical_box`` (optical px), ``optical_center`` (m), ``profile`` (m).

    Returns
    -------
    PairResult
        Its ``warnings`` say where a number may not be what it seems (see
        :class:`~afmcurrent.pair.result.PairResult`); nothing is logged at warning level for
        them, the caller shows them.

    Raises
    ------
    ReadError
        If a file cannot be read.
    ChannelNotFoundError
        If a channel is missing (the message lists the channels that exist).
    CalibrationError
        If the current channel is in V and no calibration is given or found.
    ConfigError
        If an option is unknown or invalid, a bias is missing or the biases do not have
        opposite signs, a given bias contradicts the sign recorded in the file (without
        ``force_bias``), the same file is given as both scans, or a setting is invalid.
    RegistrationError
        If the scans cannot be co-registered (different pixel size) or the registration is not
        trustworthy and ``force_registration`` is False.
    """
    t0 = time.perf_counter()
    clock = _Clock(t0)
    cfg = load_config(config)
    opts = merge_options(options if options is not None else cfg.analysis, kwargs)
    if opts.tip_radius is not None:
        cfg = load_config(cfg, transport={"tip_radius": opts.tip_radius})
    ts = cfg.transport

    # inputs: scans in polarity order, channels, geometry
    check_distinct(plus, minus)
    warnings: list[str] = []
    plus_scan, minus_scan, bp, bm, notes = resolve_biases(
        load(plus), load(minus), opts.bias_plus, opts.bias_minus, force_bias=opts.force_bias,
        warnings=warnings)
    for n in notes:  # in result.notes: shown by the caller (the CLI prints each once)
        logger.info(n)
    h_plus, c_plus = select_channels(plus_scan, opts.height_channel, opts.current_channel)
    h_minus, c_minus = select_channels(
        minus_scan, opts.height_channel or h_plus.name, opts.current_channel or c_plus.name)
    check_geometry(plus_scan, minus_scan)
    clock.lap("load")

    # log amplifier: volts to amps (a reading within the noise of the floor or saturation is
    # only a bound)
    calibration = _calibration(opts.logamp, cfg, plus_scan, c_plus, c_minus, notes)
    bound_margin = ts.confidence_sigma * ts.noise_decades
    cur_plus = convert_channel(c_plus, calibration, bound_margin)
    cur_minus = convert_channel(c_minus, calibration, bound_margin)
    clock.lap("logamp")

    # -V into the +V frame, separation of ionic and electronic current
    reg = register_pair(plus_scan, minus_scan, h_plus.data, h_minus.data, cur_plus.current,
                        cur_minus.current, cfg, shift=opts.shift, expect_shift=opts.expect_shift,
                        search_radius=opts.search_radius,
                        force_registration=opts.force_registration, warnings=warnings)
    clock.lap("register")
    maps, lag = _transport(cur_plus, cur_minus, reg, calibration, bound_margin, cfg, bp, bm,
                           (plus_scan, minus_scan), (c_plus, c_minus), notes)
    warnings.extend(fit_warnings(maps, calibration, cur_plus, cur_minus, ts, lag))
    # the log currents served the resampling and the separation: the record keeps the
    # currents and their bound masks only (less memory on large pairs)
    cur_plus = dataclasses.replace(cur_plus, log10=None)
    cur_minus = dataclasses.replace(cur_minus, log10=None)
    clock.lap("transport")

    # classes, domains, optical image (the correlation is computed on first use:
    # PairResult.correlation)
    thresholds = _thresholds(cfg, reference, opts)
    class_map = classify(maps, thresholds)
    if opts.profile is not None:  # validates the line before the slower steps
        line_profile({"class": class_map}, plus_scan.pixel_size, opts.profile)
    clock.lap("classify")
    height = level_topography(h_plus.data)
    clock.lap("level")
    table = find_domains(class_map, plus_scan.pixel_size, maps=maps, height=height,
                         valid=maps.valid, settings=cfg.domains, tip_radius=ts.tip_radius)
    clock.lap("domains")
    optical_result = _optical(optical, opts, class_map, plus_scan, maps.valid, notes)
    clock.lap("optical")
    medians, median_bounds = medians_with_bounds(maps)
    clock.lap("medians")
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
        domain_base=table,
        config=cfg,
        medians=medians,
        median_bounds=median_bounds,
        options=opts,
        plus_bounds=cur_plus,
        minus_bounds=cur_minus,
        notes=notes,
        seconds=time.perf_counter() - t0,
        optical=optical_result,
        profile_line=opts.profile,
        warnings=warnings,
        lag=lag,
        timings=clock.laps,
    )


class _Clock:
    """Wall time of each stage (``PairResult.timings``)."""

    def __init__(self, t0: float) -> None:
        self.last = t0
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self.last)
        self.last = now


def _calibration(logamp: Any, cfg: AnalysisConfig, plus: Scan, c_plus: Channel,
                 c_minus: Channel, notes: list[str]) -> LogAmpCalibration | None:
    """The calibration: needed (and found) when a current channel is in V; a given one is
    loaded for channels in A too (its floor and saturation flag the bounds)."""
    if "V" in (c_plus.unit, c_minus.unit):
        return find_calibration(logamp, cfg, plus, notes)
    if logamp is not None:
        return load_calibration(logamp)
    return None


def _transport(
    cur_plus: CurrentMap,
    cur_minus: CurrentMap,
    reg: Registration,
    calibration: LogAmpCalibration | None,
    bound_margin: float,
    cfg: AnalysisConfig,
    bias_plus: float,
    bias_minus: float,
    scans: tuple[Scan, Scan],
    channels: tuple[Channel, Channel],
    notes: list[str],
) -> tuple[TransportMaps, dict[str, Any]]:
    """Resample -V into the +V frame, widen for resampling and lag, separate the currents."""
    ts = cfg.transport
    rm = resample_minus_maps(cur_minus, reg, calibration, bound_margin)
    e_sigma, e_below, e_above = electronic_uncertainty(rm.log10, reg, ts)
    lag, plus_lag, minus_lag, lagging = lag_widening(
        ts, calibration, scans[0], scans[1], channels[0], channels[1], cur_plus.current,
        rm.log10, notes)
    maps = separate(
        cur_plus.current,
        rm.current,
        bias_plus,
        bias_minus,
        plus_at_floor=cur_plus.at_floor,
        plus_at_saturation=cur_plus.at_saturation,
        minus_at_floor=rm.at_floor,
        minus_at_saturation=rm.at_saturation,
        valid=rm.overlap,
        settings=ts,
        electronic_sigma=e_sigma,
        electronic_widening=(e_below, e_above),
        plus_lag=plus_lag,
        minus_lag=minus_lag,
        lagging=lagging,
        log_plus=cur_plus.log10,
        log_minus=rm.log10,
    )
    if lag["checked"]:
        n_valid = int(np.count_nonzero(maps.valid))
        lag["lagging_fraction"] = (float(np.count_nonzero(maps.lagging) / n_valid)
                                   if n_valid else None)
    return maps, lag


def _thresholds(cfg: AnalysisConfig, reference: Any, opts: AnalysisOptions) -> Thresholds:
    """Absolute thresholds, or thresholds from the pristine reference pair (reference mode)."""
    if cfg.classify.mode != "reference":
        return Thresholds.from_settings(cfg.classify)
    if reference is None:
        raise ConfigError(
            "[classify] mode = 'reference' needs a pristine reference pair "
            "(--reference PLUS MINUS)"
        )
    ref = reference if isinstance(reference, PairResult) else analyze_pair(
        reference[0], reference[1], config=load_config(cfg, classify={"mode": "absolute"}),
        options=AnalysisOptions(height_channel=opts.height_channel,
                                current_channel=opts.current_channel, logamp=opts.logamp),
    )
    ref_median = ref.median_currents()["plus_current"]
    if ref_median is None:
        raise AfmcurrentError("the reference pair has no valid +V current pixel")
    return thresholds_from_reference(ref_median, cfg.classify, f"reference {ref.plus.label}")


def _optical(optical: Any, opts: AnalysisOptions, class_map: np.ndarray, plus: Scan,
             valid: np.ndarray, notes: list[str]) -> OpticalResult | None:
    """The optical image tied to the scan, with a note when its placement is uncertain."""
    if optical is None:
        if any(v is not None for v in (opts.optical_pixel_size, opts.optical_box,
                                       opts.optical_center)):
            raise ConfigError("optical_pixel_size, optical_box and optical_center need an "
                              "optical image (--optical IMG)")
        return None
    result = analyze_optical(optical, class_map, plus.size, pixel_size=opts.optical_pixel_size,
                             box=opts.optical_box, center=opts.optical_center, valid=valid)
    pl = result.placement
    if pl.confidence < 0.3 or pl.at_search_edge:
        notes.append(
            f"optical placement is uncertain (confidence {pl.confidence:.2f}"
            f"{', at the edge of the search window' if pl.at_search_edge else ''}); check "
            "the scan square in the figure"
        )
        logger.info(notes[-1])
    return result
