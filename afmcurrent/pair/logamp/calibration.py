"""Log-amplifier calibrations from TOML files, mappings and the datasheet presets.

A calibration is a ``[logamp]`` table (``docs/outputs.md``, ``docs/conventions.md``): the five
keys of :data:`~afmcurrent.pair.logamp.transfer.CALIBRATION_KEYS`, all required, and the
optional ones of :data:`~afmcurrent.pair.logamp.transfer.OPTIONAL_CALIBRATION_KEYS`. Presets are
the files ``afmcurrent/pair/logamp/presets/*.toml`` (see :func:`list_presets`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ...core.config import read_toml
from ...core.errors import CalibrationError, ConfigError
from .transfer import CALIBRATION_KEYS, OPTIONAL_CALIBRATION_KEYS, LogAmpCalibration

__all__ = ["PRESETS", "list_presets", "load_calibration"]

_PRESET_DIR = Path(__file__).with_name("presets")

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
