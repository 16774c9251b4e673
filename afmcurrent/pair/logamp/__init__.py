"""Log-amplifier physics: output volts <-> input current, floor, saturation, bandwidth, fitting.

A logarithmic current amplifier (translinear log amp) turns the probe current into an output
voltage that is linear in the decade of the current::

    V = V_ref + V_dec * log10(I / I_ref)          I = I_ref * 10**((V - V_ref) / V_dec)

(C.-S. Jiang et al., NREL, and the datasheets of the Analog Devices AD8304 / ADL5304 and the
Texas Instruments LOG100 / LOG104 / LOG200, all of which use this transfer function). Below a
floor current the output no longer follows the input (bias and leakage currents, noise): a
value there is only an upper bound. Above the saturation current the output is clipped: a value
there is only a lower bound. A log amplifier is unipolar, so currents are magnitudes.

The small-signal bandwidth of a translinear log amp falls in proportion to the input current
(the logging transistor's transconductance is proportional to its collector current; ADL5303 /
ADL5304 / AD8304 datasheets, "Bandwidth and Noise Considerations"), so at fA-pA currents the
output lags along the fast-scan axis; :func:`lagging_mask` flags where and :func:`lag_decades`
gives how far a lagging reading may be from the input (first-order response).

Calibrations come from a TOML file with a ``[logamp]`` table, from a preset in
``afmcurrent/presets/*.toml`` (see :func:`list_presets`), or from :func:`fit_calibration` on a
table of known currents and measured volts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ...core.config import read_toml
from ...core.errors import CalibrationError, ConfigError
from ...core.model import Channel

__all__ = [
    "LogAmpCalibration",
    "CurrentMap",
    "CalibrationFit",
    "convert_channel",
    "load_calibration",
    "list_presets",
    "PRESETS",
    "fit_calibration",
    "bandwidth_hz",
    "lagging_mask",
    "lag_decades",
    "pixel_rate_hz",
    "MAX_LAG_DECADES",
    "AD8304_HZ_PER_AMP",
    "CALIBRATION_KEYS",
    "OPTIONAL_CALIBRATION_KEYS",
]

logger = logging.getLogger(__name__)

#: The keys of a ``[logamp]`` table: exactly these, all required.
CALIBRATION_KEYS = (
    "volts_per_decade",
    "reference_current",
    "reference_voltage",
    "floor_current",
    "saturation_current",
)

#: Optional keys of a ``[logamp]`` table: the bandwidth model (``hz_per_amp``, Hz/A) and the
#: record of the calibration fit (``fit_rms_decades``, ``fit_min_current`` and
#: ``fit_max_current`` in A: the range of known currents the fit used).
OPTIONAL_CALIBRATION_KEYS = ("hz_per_amp", "fit_rms_decades", "fit_min_current",
                             "fit_max_current")

#: Bandwidth per ampere of input current for the AD8304-type model, Hz/A: ~20 MHz per mA, the
#: AD8304 data sheet's (Rev. A, "Bandwidth and Noise Considerations") evaluation of
#: ``g_m / (2 pi C_J)`` with C_J = 0.3 pF. The same paragraph then quotes "2 kHz at 100 pA" and
#: assumes "20 kHz at 1 nA", i.e. 2e13 Hz/A, which is what the ``ad8304`` preset carries
#: (``hz_per_amp``); the ADL5303 data sheet gives ~2 kHz at 1 nA (2e12 Hz/A). 2e10 Hz/A is the
#: slowest, most cautious of these readings; it is the default argument of
#: :func:`bandwidth_hz` only, never applied to data without being asked for.
AD8304_HZ_PER_AMP = 2e10

_PRESET_DIR = Path(__file__).with_name("presets")


# ------------------------------------------------------------------------------------------------
# calibration record
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogAmpCalibration:
    """Transfer function of one log amplifier: ``V = V_ref + V_dec * log10(I / I_ref)``.

    Parameters
    ----------
    volts_per_decade : float
        Slope ``V_dec`` in V per decade of current (0.2 for the AD8304, 0.25 LOG200, 0.5
        LOG104, 1 LOG100 at K = 1). Non-zero; negative for an inverting output stage.
    reference_current : float
        ``I_ref`` in A: the current at which the output equals ``reference_voltage``.
    reference_voltage : float, optional
        ``V_ref`` in V (default 0).
    floor_current : float, optional
        A. Below this the output no longer follows the input; converted values at the floor are
        upper bounds (default 1e-15 A, the fA sensitivity quoted by Jiang et al.).
    saturation_current : float, optional
        A. Above this the output is clipped; converted values there are lower bounds
        (default 1e-3 A, the mA top of the range quoted by Jiang et al.).
    name : str, optional
        Label (preset name or file).
    hz_per_amp : float, optional
        Bandwidth model: small-signal bandwidth per ampere of input current, Hz/A (see
        :func:`bandwidth_hz`); None when unknown (lag is then not checked).
    fit_rms_decades : float, optional
        RMS residual of the fit that produced this calibration, decades of current
        (:func:`fit_calibration`); None when not recorded.
    fit_min_current, fit_max_current : float, optional
        A. Range of the known currents the fit used; currents outside it are extrapolated.

    Raises
    ------
    CalibrationError
        If a value is not finite, a current is not positive, the slope is zero, or
        ``floor_current >= saturation_current``.
    """

    volts_per_decade: float
    reference_current: float
    reference_voltage: float = 0.0
    floor_current: float = 1e-15
    saturation_current: float = 1e-3
    name: str = ""
    hz_per_amp: float | None = None
    fit_rms_decades: float | None = None
    fit_min_current: float | None = None
    fit_max_current: float | None = None

    def __post_init__(self) -> None:
        label = f"log-amp calibration {self.name!r}" if self.name else "log-amp calibration"
        for key in CALIBRATION_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise CalibrationError(f"{label}: {key} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise CalibrationError(f"{label}: {key} must be finite, got {value!r}")
            object.__setattr__(self, key, float(value))
        if self.volts_per_decade == 0.0:
            raise CalibrationError(f"{label}: volts_per_decade must not be zero")
        for key in ("reference_current", "floor_current", "saturation_current"):
            if getattr(self, key) <= 0.0:
                raise CalibrationError(
                    f"{label}: {key} must be a positive current in A, got {getattr(self, key)!r}"
                )
        if self.floor_current >= self.saturation_current:
            raise CalibrationError(
                f"{label}: floor_current ({self.floor_current:g} A) must be below "
                f"saturation_current ({self.saturation_current:g} A)"
            )
        for key in OPTIONAL_CALIBRATION_KEYS:
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not math.isfinite(value) or value < 0 \
                    or (value == 0 and key != "fit_rms_decades"):
                need = "non-negative" if key == "fit_rms_decades" else "positive"
                raise CalibrationError(
                    f"{label}: {key} must be a finite {need} number, got {value!r}"
                )
            object.__setattr__(self, key, float(value))
        if (self.fit_min_current is not None and self.fit_max_current is not None
                and self.fit_min_current > self.fit_max_current):
            raise CalibrationError(
                f"{label}: fit_min_current ({self.fit_min_current:g} A) is above "
                f"fit_max_current ({self.fit_max_current:g} A)"
            )

    # -- conversions ------------------------------------------------------------------------
    def to_current(self, volts: Any) -> np.ndarray:
        """Convert output volts to input current magnitude.

        Parameters
        ----------
        volts : array_like of float, any shape
            Log-amp output in V.

        Returns
        -------
        ndarray of float, same shape
            ``I = I_ref * 10**((V - V_ref) / V_dec)`` in A, clipped to
            ``[floor_current, saturation_current]``; NaN where ``volts`` is not finite.
        """
        v = np.asarray(volts, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            decades = (v - self.reference_voltage) / self.volts_per_decade
            lo, hi = math.log10(self.floor_current), math.log10(self.saturation_current)
            logi = np.clip(decades + math.log10(self.reference_current), lo, hi)
            out = np.array(10.0**logi, dtype=np.float64)
        out[~np.isfinite(v)] = np.nan
        # exact bounds (avoid 10**log10 round-off so floor/saturation tests can use ==)
        out[logi <= lo] = self.floor_current
        out[logi >= hi] = self.saturation_current
        return out

    def to_voltage(self, current: Any) -> np.ndarray:
        """Convert input current (magnitude) to the output volts, the inverse of :meth:`to_current`.

        Parameters
        ----------
        current : array_like of float, any shape
            Current in A; the magnitude is used (a log amp is unipolar) and clipped to
            ``[floor_current, saturation_current]`` first.

        Returns
        -------
        ndarray of float, same shape
            Output in V; NaN where ``current`` is not finite.
        """
        i = np.abs(np.asarray(current, dtype=np.float64))
        finite = np.isfinite(i)
        i = np.clip(np.where(finite, i, self.floor_current), self.floor_current,
                    self.saturation_current)
        v = np.array(
            self.reference_voltage
            + self.volts_per_decade * np.log10(i / self.reference_current),
            dtype=np.float64,
        )
        v[~finite] = np.nan
        return v

    @property
    def floor_voltage(self) -> float:
        """Output in V at the floor current."""
        return float(self.to_voltage(self.floor_current))

    @property
    def saturation_voltage(self) -> float:
        """Output in V at the saturation current."""
        return float(self.to_voltage(self.saturation_current))

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[logamp]`` keys (SI units): the five required ones and those optional
        ones that are set (:data:`OPTIONAL_CALIBRATION_KEYS`); the label is :attr:`name`."""
        out = {k: float(getattr(self, k)) for k in CALIBRATION_KEYS}
        out.update({k: float(getattr(self, k)) for k in OPTIONAL_CALIBRATION_KEYS
                    if getattr(self, k) is not None})
        return out

    def to_toml(self) -> str:
        """Return a TOML ``[logamp]`` table that :func:`load_calibration` reads back."""
        lines = [f"# {self.name}"] if self.name else []
        lines.append("[logamp]")
        units = {"reference_voltage": "V", "volts_per_decade": "V/decade", "hz_per_amp": "Hz/A",
                 "fit_rms_decades": "decades"}
        for k, v in self.to_dict().items():
            lines.append(f"{k} = {v!r}    # {units.get(k, 'A')}")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# current maps
# ------------------------------------------------------------------------------------------------
@dataclass
class CurrentMap:
    """A current image with the pixels where the value is only a bound.

    Attributes
    ----------
    current : ndarray of float, shape (rows, cols)
        Current magnitude in A (NaN where the input was not finite).
    at_floor : ndarray of bool, shape (rows, cols)
        True where the value is at or below the amplifier floor: an upper bound.
    at_saturation : ndarray of bool, shape (rows, cols)
        True where the value is at the saturation: a lower bound.
    """

    current: np.ndarray
    at_floor: np.ndarray
    at_saturation: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask, True where the current is a finite value and not a bound."""
        return ~(self.at_floor | self.at_saturation) & np.isfinite(self.current)


def convert_channel(
    channel: Channel, calibration: LogAmpCalibration | None, margin_decades: float = 0.0
) -> CurrentMap:
    """Turn a current channel into a :class:`CurrentMap` of magnitudes in A.

    Parameters
    ----------
    channel : Channel
        Unit ``"A"`` (already a current) or ``"V"`` (log-amp output volts).
    calibration : LogAmpCalibration or None
        Needed for a ``"V"`` channel. For an ``"A"`` channel it only supplies the floor and
        saturation used to flag bounds.
    margin_decades : float, optional
        A reading within this many decades of the floor (saturation) is flagged as at the floor
        (saturation): its true value may lie beyond, so it is only a bound. The pipeline passes
        ``confidence_sigma * noise_decades``: with output noise, a floor-limited input reads
        anywhere within the noise above the floor, and only the readings that the noise pushed
        below it are clipped exactly to it.

    Returns
    -------
    CurrentMap

    Raises
    ------
    CalibrationError
        For a ``"V"`` channel without a calibration, or a channel of any other unit.
    """
    data = np.asarray(channel.data, dtype=np.float64)
    if channel.unit == "A":
        current = np.abs(data)
        if calibration is None:
            at_floor = np.zeros(current.shape, bool)
            at_sat = np.zeros(current.shape, bool)
        else:
            at_floor, at_sat = _bound_masks(current, calibration, margin_decades)
        return CurrentMap(current=current, at_floor=at_floor, at_saturation=at_sat)
    if channel.unit == "V":
        if calibration is None:
            raise CalibrationError(
                f"channel {channel.name!r} holds log-amplifier output volts (unit V); a "
                "calibration is needed to turn it into amps: give --logamp FILE (a TOML file "
                "with a [logamp] table: volts_per_decade, reference_current, reference_voltage, "
                "floor_current, saturation_current) or --logamp PRESET (one of "
                + ", ".join(list_presets()) + ")"
            )
        current = calibration.to_current(data)
        at_floor, at_sat = _bound_masks(current, calibration, margin_decades)
        return CurrentMap(current=current, at_floor=at_floor, at_saturation=at_sat)
    raise CalibrationError(
        f"channel {channel.name!r} has unit {channel.unit!r}: a current map needs a channel in "
        "A, or in V (log-amplifier output) together with a calibration (--logamp)"
    )


def _bound_masks(
    current: np.ndarray, calibration: LogAmpCalibration, margin_decades: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels within ``margin_decades`` of the floor and of the saturation (NaN: neither)."""
    if not (margin_decades >= 0 and math.isfinite(margin_decades)):
        raise CalibrationError(f"margin_decades must be finite and >= 0, got {margin_decades!r}")
    k = 10.0**margin_decades
    with np.errstate(invalid="ignore"):
        at_floor = current <= calibration.floor_current * max(k, 1 + 1e-9)
        at_sat = current >= calibration.saturation_current / max(k, 1 + 1e-9)
    if calibration.floor_current * k >= calibration.saturation_current / k:
        # a range narrower than two margins: a pixel near both ends goes to the nearer one
        near_floor = current <= math.sqrt(calibration.floor_current
                                          * calibration.saturation_current)
        both = at_floor & at_sat
        at_floor &= ~both | near_floor
        at_sat &= ~both | ~near_floor
    return at_floor, at_sat


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def _calibration_from_table(table: Any, where: str, name: str = "") -> LogAmpCalibration:
    """Validate a ``[logamp]`` table; every problem is a ConfigError naming ``where`` and key."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [logamp] must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(CALIBRATION_KEYS) - set(OPTIONAL_CALIBRATION_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: [logamp] has unknown key(s) {unknown}; the keys are "
            + ", ".join(CALIBRATION_KEYS) + " (all required) and optionally "
            + ", ".join(OPTIONAL_CALIBRATION_KEYS)
        )
    missing = [k for k in CALIBRATION_KEYS if k not in table]
    if missing:
        raise ConfigError(f"{where}: [logamp] is missing key(s) {missing}")
    values: dict[str, float] = {}
    for k in CALIBRATION_KEYS:
        v = table[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}: [logamp] key {k!r} must be a number, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise ConfigError(f"{where}: [logamp] key {k!r} must be finite, got {v!r}")
        values[k] = v
    for k in ("reference_current", "floor_current", "saturation_current"):
        if values[k] <= 0:
            raise ConfigError(
                f"{where}: [logamp] key {k!r} must be a positive current in A, got {values[k]!r}"
            )
    if values["volts_per_decade"] == 0:
        raise ConfigError(f"{where}: [logamp] key 'volts_per_decade' must not be zero")
    if values["floor_current"] >= values["saturation_current"]:
        raise ConfigError(
            f"{where}: [logamp] key 'floor_current' ({values['floor_current']:g} A) must be "
            f"below 'saturation_current' ({values['saturation_current']:g} A)"
        )
    for k in OPTIONAL_CALIBRATION_KEYS:
        if k not in table:
            continue
        v = table[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0 or (v == 0 and k != "fit_rms_decades"):
            raise ConfigError(
                f"{where}: [logamp] key {k!r} must be a finite "
                f"{'non-negative' if k == 'fit_rms_decades' else 'positive'} number, got {v!r}"
            )
        values[k] = float(v)
    try:
        return LogAmpCalibration(**values, name=name)
    except CalibrationError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _calibration_from_file(path: Path, name: str = "") -> LogAmpCalibration:
    doc = read_toml(path)
    if "logamp" not in doc:
        raise ConfigError(f"{path}: no [logamp] table (keys: {', '.join(CALIBRATION_KEYS)})")
    return _calibration_from_table(doc["logamp"], str(path), name or path.stem)


def _load_presets() -> dict[str, LogAmpCalibration]:
    presets: dict[str, LogAmpCalibration] = {}
    if _PRESET_DIR.is_dir():
        for p in sorted(_PRESET_DIR.glob("*.toml")):
            cal = _calibration_from_file(p, p.stem.upper())
            presets[p.stem.lower()] = cal
    return presets


#: Datasheet log amplifiers, preset name (lower case) -> calibration (read-only mapping).
PRESETS: Mapping[str, LogAmpCalibration] = MappingProxyType(_load_presets())


def list_presets() -> list[str]:
    """Return the preset names (lower case) available to :func:`load_calibration`."""
    return sorted(PRESETS)


def load_calibration(
    source: str | Path | Mapping[str, Any] | LogAmpCalibration,
) -> LogAmpCalibration:
    """Load a log-amplifier calibration.

    Parameters
    ----------
    source : str, Path, mapping or LogAmpCalibration
        A TOML file with a ``[logamp]`` table whose keys are exactly ``volts_per_decade``
        (V/decade), ``reference_current`` (A), ``reference_voltage`` (V), ``floor_current`` (A)
        and ``saturation_current`` (A), exactly these keys; or a preset name
        (case-insensitive, see :func:`list_presets`); or a mapping holding such a table,
        either as ``{"logamp": {...}}`` or the bare table; or a calibration (returned as is).

    Returns
    -------
    LogAmpCalibration

    Raises
    ------
    ConfigError
        If the file is missing or not TOML, has no ``[logamp]`` table, a key is unknown or
        missing, a value has the wrong type, a current is not positive, or the floor is not
        below the saturation; the message names the file and the key. An unknown preset name
        that is not a file either is also a ConfigError listing the presets.
    """
    if isinstance(source, LogAmpCalibration):
        return source
    if isinstance(source, Mapping):
        table = source["logamp"] if "logamp" in source else source
        return _calibration_from_table(table, "<mapping>")
    if isinstance(source, (str, Path)):
        text = str(source)
        key = text.strip().lower()
        path = Path(source)
        if isinstance(source, str) and key in PRESETS and not path.is_file():
            return PRESETS[key]
        if path.is_file() or path.suffix.lower() == ".toml" or "/" in text or "\\" in text:
            return _calibration_from_file(path)
        raise ConfigError(
            f"{text!r} is neither a log-amp calibration file nor a preset; presets: "
            + ", ".join(list_presets())
        )
    raise ConfigError(
        f"cannot make a log-amp calibration from a {type(source).__name__}; give a TOML file, "
        "a preset name, a mapping or a LogAmpCalibration"
    )


# ------------------------------------------------------------------------------------------------
# fitting
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationFit:
    """Result of :func:`fit_calibration`.

    Attributes
    ----------
    calibration : LogAmpCalibration
        Fitted slope and intercept, expressed with ``reference_voltage = 0`` (the current at
        which the output crosses 0 V) unless that current is not finite, then at the geometric
        mean of the points used; it records ``fit_rms_decades`` and the range of the known
        currents used (``fit_min_current``, ``fit_max_current``).
    residuals_decades : ndarray of float, shape (n,)
        Per input point: ``log10(I_fit(V) / I_known)``; NaN for points excluded from the fit.
    rms_decades : float
        Root mean square of the residuals of the points used.
    used : ndarray of bool, shape (n,)
        Points inside ``(floor_current, saturation_current)`` with finite values.
    """

    calibration: LogAmpCalibration
    residuals_decades: np.ndarray
    rms_decades: float
    used: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def fit_calibration(
    currents: Any,
    voltages: Any,
    *,
    floor_current: float | None = None,
    saturation_current: float | None = None,
) -> CalibrationFit:
    """Least-squares fit of ``V = V_ref + V_dec * log10(I / I_ref)`` to known currents.

    Parameters
    ----------
    currents : array_like of float, shape (n,)
        Known input currents in A (e.g. from a source meter through a resistor), all positive.
    voltages : array_like of float, shape (n,)
        Measured output volts.
    floor_current, saturation_current : float, optional
        A. Points at or below the floor or at or above the saturation are excluded from the
        fit and stored in the result; defaults 1e-15 A and 1e-3 A (those of
        :class:`LogAmpCalibration`).

    Returns
    -------
    CalibrationFit

    Raises
    ------
    CalibrationError
        If the arrays differ in length, a current is not positive, fewer than two usable points
        with distinct currents remain, or the fitted slope is zero.
    """
    i = np.asarray(currents, dtype=np.float64).ravel()
    v = np.asarray(voltages, dtype=np.float64).ravel()
    if i.shape != v.shape:
        raise CalibrationError(
            f"calibration table: {i.size} currents but {v.size} voltages; they must pair up"
        )
    if np.any(~np.isfinite(i)) or np.any(i <= 0):
        raise CalibrationError(
            "calibration table: every known current must be a positive finite value in A"
        )
    floor = 1e-15 if floor_current is None else float(floor_current)
    sat = 1e-3 if saturation_current is None else float(saturation_current)
    used = (i > floor) & (i < sat) & np.isfinite(v)
    x = np.log10(i[used])
    if used.sum() < 2 or np.ptp(x) == 0:
        raise CalibrationError(
            f"calibration table: need at least 2 points with distinct currents inside "
            f"({floor:g}, {sat:g}) A, got {int(used.sum())}"
        )
    slope, intercept = np.polyfit(x, v[used], 1)  # V = intercept + slope * log10(I)
    if slope == 0:
        raise CalibrationError("calibration table: the fitted slope is zero (no log response)")
    log_iref = -intercept / slope  # current at which V = 0
    if math.isfinite(log_iref) and -300 < log_iref < 300:
        ref_i, ref_v = 10.0**log_iref, 0.0
    else:
        ref_i = 10.0 ** float(np.mean(x))
        ref_v = float(intercept + slope * np.mean(x))
    resid = np.full(i.shape, np.nan)
    resid[used] = (v[used] - (intercept + slope * x)) / slope
    rms = float(np.sqrt(np.mean(resid[used] ** 2)))
    cal = LogAmpCalibration(
        volts_per_decade=float(slope),
        reference_current=float(ref_i),
        reference_voltage=float(ref_v),
        floor_current=floor,
        saturation_current=sat,
        name="fit",
        fit_rms_decades=rms,
        fit_min_current=float(10.0 ** x.min()),
        fit_max_current=float(10.0 ** x.max()),
    )
    return CalibrationFit(calibration=cal, residuals_decades=resid, rms_decades=rms, used=used)


# ------------------------------------------------------------------------------------------------
# bandwidth
# ------------------------------------------------------------------------------------------------
def bandwidth_hz(current: Any, hz_per_amp: float = AD8304_HZ_PER_AMP) -> np.ndarray:
    """Small-signal bandwidth of a translinear log amp at a given input current.

    The bandwidth of a translinear log amp is set by the logging transistor's
    transconductance ``g_m = I / V_T`` against its junction capacitance, so it grows in
    proportion to the input current (AD8304 data sheet, Rev. A, "Bandwidth and Noise
    Considerations"; ADL5303: ~2 kHz at 1 nA rising in proportion to the current; ADL5304:
    25 kHz at 1 nA, 350 kHz at 10 nA). The default constant is the SCIENCE.md AD8304 model,
    ~20 MHz per mA (see :data:`AD8304_HZ_PER_AMP` for the spread of readings).

    Parameters
    ----------
    current : array_like of float, any shape
        Current magnitude in A.
    hz_per_amp : float, optional
        Bandwidth per ampere, Hz/A.

    Returns
    -------
    ndarray of float, same shape
        -3 dB bandwidth in Hz.
    """
    if not hz_per_amp > 0:
        raise CalibrationError(f"hz_per_amp must be positive, got {hz_per_amp!r}")
    return np.abs(np.asarray(current, dtype=np.float64)) * float(hz_per_amp)


def lagging_mask(
    current: Any, pixel_rate_hz: float, hz_per_amp: float = AD8304_HZ_PER_AMP
) -> np.ndarray:
    """Flag pixels whose log-amp bandwidth is below the pixel rate (values lag the fast axis).

    Parameters
    ----------
    current : array_like of float, any shape
        Current magnitude in A.
    pixel_rate_hz : float
        Pixels per second along the fast axis: samples per line x lines per second x 2
        (trace and retrace), as in SCIENCE.md.
    hz_per_amp : float, optional
        Bandwidth per ampere, Hz/A (see :func:`bandwidth_hz`).

    Returns
    -------
    ndarray of bool, same shape
        True where ``bandwidth_hz(current) < pixel_rate_hz`` (NaN currents count as lagging).
    """
    if not pixel_rate_hz > 0:
        raise CalibrationError(f"pixel_rate_hz must be positive, got {pixel_rate_hz!r}")
    bw = bandwidth_hz(current, hz_per_amp)
    with np.errstate(invalid="ignore"):
        return ~(bw >= pixel_rate_hz)


def pixel_rate_hz(metadata: Mapping[str, Any]) -> float | None:
    """Pixel rate along the fast axis from a scan's header values.

    Parameters
    ----------
    metadata : mapping
        A scan's metadata with ``samples_per_line`` and ``scan_rate_hz`` (lines per second, one
        line = trace + retrace, as Bruker's ``\\Scan rate``).

    Returns
    -------
    float or None
        ``samples_per_line * scan_rate_hz * 2`` in Hz (trace and retrace, SCIENCE.md); None when
        either value is missing or not positive.
    """
    try:
        n = float(metadata.get("samples_per_line"))  # type: ignore[arg-type]
        rate = float(metadata.get("scan_rate_hz"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (n > 0 and rate > 0 and math.isfinite(n * rate)):
        return None
    return 2.0 * n * rate


#: Largest widening :func:`lag_decades` gives, decades: more than the fA..mA range, i.e. the
#: reading says nothing about the input.
MAX_LAG_DECADES = 20.0
#: Settling of a lagging reading counted by :func:`lag_decades`, in time constants.
_SETTLE = 5.0


def lag_decades(
    log_current: np.ndarray,
    hz_per_amp: float,
    pixel_rate: float,
    *,
    floor_current: float | None = None,
    direction: str | None = None,
    noise_decades: float = 0.0,
    confidence_sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far a reading may lag its input, below and above, and which pixels lag.

    Parameters
    ----------
    log_current : ndarray of float, shape (rows, cols)
        log10 of the current readings in A (NaN where there is no reading). Columns are the
        fast-scan axis.
    hz_per_amp : float
        Bandwidth per ampere, Hz/A (:func:`bandwidth_hz`).
    pixel_rate : float
        Pixels per second along the fast axis, Hz (:func:`pixel_rate_hz`).
    floor_current : float, optional
        A: the lowest current the input can have (the amplifier floor); default the lowest
        reading of the map.
    direction : {"trace", "retrace"} or None, optional
        Scan direction of the channel: trace runs from column 0 to the last column, retrace
        back; None (unknown) takes the larger widening of either neighbour.
    noise_decades : float, optional
        One-sigma noise of a reading, decades.
    confidence_sigma : float, optional
        Multiple of the noise allowed in the change from one pixel to the next.

    Returns
    -------
    below, above : ndarray of float, shape (rows, cols)
        Decades to add below and above each pixel's interval (at most
        :data:`MAX_LAG_DECADES`).
    lagging : ndarray of bool, shape (rows, cols)
        True where ``bandwidth_hz(current) < pixel_rate`` (SCIENCE.md) for the lowest current
        the pixel may have (its reading less ``below``).

    Notes
    -----
    A first-order low pass of bandwidth ``f`` read once per pixel dwell ``1 / pixel_rate``
    gives ``y[j] = y[j-1] + a (x[j] - y[j-1])`` with ``a = 1 - exp(-2 pi f / pixel_rate)``
    (``x`` the input, ``y`` the reading, both in decades: the log amp's output; ``f`` the
    bandwidth at the present input, as for a translinear log amp: steps up settle fast, steps
    down slowly; simulated the same way by :func:`afmcurrent.simulate.apply_bandwidth_lag`).
    Hence ``x[j] - y[j] = (y[j] - y[j-1]) / expm1(2 pi f(x[j]) / pixel_rate)``, with the
    change known to within the noise, ``c = confidence_sigma * sqrt(2) * noise_decades``:

    - a rising reading lags below an input at least as high, which is at least as fast:
      ``above = (max(rise, 0) + c) / expm1(2 pi f(y[j]) / pixel_rate)``;
    - a reading in the tail of a step down stays above its input for many pixels while its
      own bandwidth looks ample: the input is slow to reach, not fast. It settles to within
      ``e**-5`` of the input in ``n = 5 / a(floor)`` pixels at the slowest, the floor's
      bandwidth. ``below`` is the fall of the reading over the next ``n`` pixels in scan
      order (to their lowest reading; both sides when the direction is unknown) divided by
      ``1 - e**-5``, less the change noise alone gives (``c``). An input that rises again
      before the reading has settled is not bounded this way (tested: 98 % of simulated
      step inputs at 1e16 Hz/A inside the interval, 88 % at 1e15 Hz/A).

    Where the floor's bandwidth is well above the pixel rate, ``n`` is a few pixels and both
    widenings are about the noise.
    """
    if not (hz_per_amp > 0 and math.isfinite(hz_per_amp)):
        raise CalibrationError(f"hz_per_amp must be positive and finite, got {hz_per_amp!r}")
    if not (pixel_rate > 0 and math.isfinite(pixel_rate)):
        raise CalibrationError(f"pixel_rate must be positive and finite, got {pixel_rate!r}")
    lg = np.asarray(log_current, np.float64)
    allowance = confidence_sigma * math.sqrt(2.0) * noise_decades
    scale = math.log(2.0 * math.pi * hz_per_amp / pixel_rate)  # ln(2 pi f / rate) - ln(I)
    if floor_current is None:
        fin = lg[np.isfinite(lg)]
        log_floor = float(fin.min()) if fin.size else 0.0
    else:
        log_floor = math.log10(floor_current)
    a_floor = -math.expm1(-math.exp(log_floor * math.log(10.0) + scale))  # step per pixel
    cols = lg.shape[1]
    n = int(min(max(math.ceil(_SETTLE / a_floor), 1), cols)) if a_floor > 0 else cols
    below = np.zeros(lg.shape)
    above = np.zeros(lg.shape)
    if cols > 1:
        from scipy.ndimage import minimum_filter1d

        filled = np.where(np.isfinite(lg), lg, np.inf)
        with np.errstate(over="ignore"):
            fast = np.expm1(np.exp(lg * math.log(10.0) + scale))  # at the reading
        d = np.diff(lg, axis=1)  # d[:, j - 1] = lg[:, j] - lg[:, j - 1]
        d[~np.isfinite(d)] = 0.0
        sides = []
        if direction in ("trace", None):  # previous pixel in time: column j - 1
            sides.append((np.s_[:, 1:], d))
        if direction in ("retrace", None):  # column j + 1
            sides.append((np.s_[:, :-1], -d))
        for where, change in sides:
            with np.errstate(divide="ignore", invalid="ignore"):
                up = (np.maximum(change, 0.0) + allowance) / fast[where]
            np.fmax(above[where], up, out=above[where])
        # lowest reading over the next n pixels in scan order (window [j, j + n - 1] for a
        # trace; [j - n + 1, j] for a retrace; both for an unknown direction)
        if direction == "trace":
            low = minimum_filter1d(filled, n, axis=1, mode="nearest", origin=-(n // 2))
        elif direction == "retrace":
            low = minimum_filter1d(filled, n, axis=1, mode="nearest", origin=(n - 1) // 2)
        else:
            low = minimum_filter1d(filled, 2 * n - 1, axis=1, mode="nearest")
        with np.errstate(invalid="ignore"):
            np.subtract(lg, low, out=below)
        below *= 1.0 / -math.expm1(-_SETTLE)  # the reading gets within e**-5 of the input
        below -= allowance  # the spread of n noisy readings is not a fall
        np.maximum(below, 0.0, out=below)
    for w in (below, above):
        w[~np.isfinite(w)] = MAX_LAG_DECADES
        np.minimum(w, MAX_LAG_DECADES, out=w)
        w[~np.isfinite(lg)] = 0.0
    with np.errstate(invalid="ignore"):
        lagging = (lg - below) < math.log10(pixel_rate / hz_per_amp)
    return below, above, lagging
