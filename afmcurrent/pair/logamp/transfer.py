"""The transfer function of a log amplifier: output volts <-> input current, floor, saturation.

A logarithmic current amplifier (translinear log amp) turns the probe current into an output
voltage that is linear in the decade of the current::

    V = V_ref + V_dec * log10(I / I_ref)          I = I_ref * 10**((V - V_ref) / V_dec)

(``docs/science.md``; the datasheets of the Analog Devices AD8304 / ADL5304 and the Texas
Instruments LOG100 / LOG104 / LOG200 all use this transfer function). Below a floor current the
output no longer follows the input (bias and leakage currents, noise): a value there is only an
upper bound. Above the saturation current the output is clipped: a value there is only a lower
bound. A log amplifier is unipolar, so currents are magnitudes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import CalibrationError

__all__ = ["LogAmpCalibration", "CALIBRATION_KEYS", "OPTIONAL_CALIBRATION_KEYS",
           "CALIBRATION_KEY_DOCS"]

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
#: Unit, example value and meaning of every ``[logamp]`` key (the settings reference,
#: ``docs/settings.md``, and the commented defaults are generated from it).
CALIBRATION_KEY_DOCS: dict[str, tuple[str, float, str]] = {
    "volts_per_decade": ("V/decade", 0.2, "slope V_dec of V = V_ref + V_dec log10(I / I_ref); "
                         "negative for an inverting output stage"),
    "reference_current": ("A", 1e-7, "I_ref: the current at which the output is "
                          "reference_voltage"),
    "reference_voltage": ("V", 0.0, "V_ref"),
    "floor_current": ("A", 1e-15, "below it the output no longer follows the input: readings "
                      "there are upper bounds"),
    "saturation_current": ("A", 1e-3, "above it the output is clipped: readings there are "
                           "lower bounds"),
    "hz_per_amp": ("Hz/A", 2e13, "optional: bandwidth per ampere of input current (lag check)"),
    "fit_rms_decades": ("decades", 0.01, "optional: RMS residual of the calibration fit (a "
                        "warning when above twice the pixel noise)"),
    "fit_min_current": ("A", 1e-13, "optional: lowest known current of the fit (a warning "
                        "when most data lie outside the fitted range)"),
    "fit_max_current": ("A", 1e-5, "optional: highest known current of the fit"),
}
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
        return self.to_current_and_log(volts)[0]

    def to_current_and_log(self, volts: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`to_current` and the log10 of the current it is computed from.

        Returns
        -------
        current : ndarray of float64, same shape
            As :meth:`to_current`.
        log_current : ndarray of float64, same shape
            ``log10(I / A)``, clipped to the floor and saturation decades (``current`` is
            ``10**log_current`` with the floor and saturation exact); NaN where ``volts`` is
            not finite.
        """
        v = np.asarray(volts, dtype=np.float64)
        lo, hi = math.log10(self.floor_current), math.log10(self.saturation_current)
        with np.errstate(over="ignore", invalid="ignore"):
            logi = np.array(v, dtype=np.float64)  # a copy, also of a 0-d array
            logi -= self.reference_voltage
            logi /= self.volts_per_decade
            logi += math.log10(self.reference_current)
            np.clip(logi, lo, hi, out=logi)
            out = np.asarray(np.power(10.0, logi))
        finite = np.isfinite(v)
        if not finite.all():
            out[~finite] = np.nan
            logi[~finite] = np.nan
        # exact bounds (avoid 10**log10 round-off so floor/saturation tests can use ==)
        out[logi <= lo] = self.floor_current
        out[logi >= hi] = self.saturation_current
        return out, logi

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
