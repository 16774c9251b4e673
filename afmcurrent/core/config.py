"""Analysis settings and the TOML configuration file.

A configuration file may hold these tables (every key optional, unknown keys refused)::

    [logamp]          # log-amplifier calibration, see afmcurrent.pair.logamp
    volts_per_decade = 0.2
    reference_current = 1e-7      # A
    reference_voltage = 0.0       # V
    floor_current = 1e-15         # A
    saturation_current = 1e-3     # A

    [transport]
    bias_exponent = 1.0           # I_e(+V) = |I(-V)| * |V+/V-|**bias_exponent (1 = ohmic)
    noise_decades = 0.03          # 1-sigma measurement noise of one log-current pixel, decades
    confidence_sigma = 2.0        # decisions need this many sigma of margin
    tip_radius = 100e-9           # m, for current density I / (pi r^2)
    bandwidth_hz_per_amp = 0.0    # Hz/A, log-amp bandwidth per ampere; 0: the calibration's
    check_lag = true              # widen the intervals of pixels whose bandwidth < pixel rate

    [classify]
    mode = "absolute"             # or "reference": thresholds from a pristine reference pair
    ionic_fraction_min = 0.9      # ionic-dominated where I_ion / I(+V) >= this
    ionic_current_min = 1e-13     # A; ionic-dominated pixels: class 1 above, class 4 below
    shunt_current_min = 1e-12     # A; electronic-dominated pixels: class 3 above, class 2 below
    reference_ionic_decades = -1.4  # reference mode: ionic_current_min = median I(+V)_ref * 10**x
    reference_shunt_decades = -0.4  # reference mode: shunt_current_min = median I(+V)_ref * 10**x

    [domains]
    min_area_um2 = 0.05           # smaller connected regions are not listed as domains
    connectivity = 1              # 1 = 4-connectivity, 2 = 8-connectivity

    [registration]
    min_confidence = 0.3
    estimate_drift = true

    [repeat]          # a second scan of one polarity of the same area (+V, -V, +V)
    max_class_change = 0.05       # warn when more of the pixels would change class
    max_changed_fraction = 0.25   # warn when more of the pixels changed beyond the noise

    [analysis]        # per-call options of analyze_pair, see afmcurrent.core.options
    tip_radius = "100nm"          # lengths: m, or a string with its unit
    expect_shift = [0.0, 12.0]    # px

The default thresholds are set from the reference values of C.-S. Jiang et al. (NREL;
``docs/science.md``): pristine LICGC carries ~2.5 pA at +0.5 V, degraded type-2 areas
1e-3..1e-2 pA, electronic shunts (type 3) 1e2..1e3 pA.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .options import AnalysisOptions, options_from_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "TransportSettings",
    "ClassifySettings",
    "DomainSettings",
    "RegistrationSettings",
    "RepeatSettings",
    "AnalysisConfig",
    "SETTINGS_TABLES",
    "setting_unit",
    "setting_help",
    "load_config",
    "read_toml",
]


def _setting(default: Any, unit: str, help: str) -> Any:
    """A settings field with its unit and one-line help in the metadata (read by
    :func:`setting_unit` / :func:`setting_help`: the commented defaults of ``afmcurrent config
    --defaults`` and ``docs/settings.md`` are generated from them)."""
    return field(default=default, metadata={"unit": unit, "help": help})


def setting_unit(f: dataclasses.Field[Any]) -> str:
    """The unit of a settings field ("" when dimensionless)."""
    return str(f.metadata.get("unit", ""))


def setting_help(f: dataclasses.Field[Any]) -> str:
    """The one-line help of a settings field."""
    return str(f.metadata.get("help", ""))


@dataclass(frozen=True)
class TransportSettings:
    """Settings of the ionic / electronic separation (see :mod:`afmcurrent.pair.transport`).

    Attributes
    ----------
    bias_exponent : float
        Exponent ``n`` in ``I_e(+V) = |I(-V)| * |V+ / V-|**n``; 1 is ohmic electronic conduction.
    noise_decades : float
        One-sigma noise of a single log-current pixel, in decades.
    confidence_sigma : float
        Margin, in units of the combined noise, that a decision (resolvable difference, class
        threshold) must clear; pixels inside the margin are indeterminate.
    tip_radius : float
        Probe radius in m for the current density ``I / (pi r^2)``; the paper's DDESP probes are
        ~100 nm. At most 10 um (a larger value is a length given in the wrong unit).
    bandwidth_hz_per_amp : float
        Small-signal bandwidth of the log amplifier per ampere of input current, Hz/A (a
        translinear log amp's bandwidth is proportional to its input current; see
        :func:`afmcurrent.pair.logamp.bandwidth_hz`). 0 takes the calibration's ``hz_per_amp``; with
        neither, lag is not checked (a note says so).
    check_lag : bool
        Widen the intervals of pixels whose bandwidth is below the pixel rate
        (:func:`afmcurrent.pair.logamp.lag_decades`) and report their share.
    """

    bias_exponent: float = _setting(
        1.0, "", "exponent n in I_e(+V) = |I(-V)| * |V+/V-|**n (1: ohmic electronic conduction)")
    noise_decades: float = _setting(
        0.03, "decades", "one-sigma noise of one log-current pixel")
    confidence_sigma: float = _setting(
        2.0, "sigma", "margin, in units of the combined noise, a decision must clear")
    tip_radius: float = _setting(
        100e-9, "m", "probe radius for the current density I / (pi r^2); at most 10 um")
    bandwidth_hz_per_amp: float = _setting(
        0.0, "Hz/A", "log-amp bandwidth per ampere of input current; 0: the calibration's "
        "hz_per_amp (with neither, lag is not checked)")
    check_lag: bool = _setting(
        True, "", "widen the intervals of pixels whose bandwidth is below the pixel rate")

    def __post_init__(self) -> None:
        _number(self, "transport", "noise_decades", lo=0.0, hi=5.0)
        _number(self, "transport", "confidence_sigma", lo=0.0, hi=10.0)
        _number(self, "transport", "tip_radius", lo=0.0, hi=1e-5, open_lo=True,
                hint="a probe radius is nm to um, given in m: 100 nm = 1e-7")
        _number(self, "transport", "bias_exponent", lo=0.0, open_lo=True)
        _number(self, "transport", "bandwidth_hz_per_amp", lo=0.0)


@dataclass(frozen=True)
class ClassifySettings:
    """Rules of the degradation classification (see :mod:`afmcurrent.pair.classify`).

    Attributes
    ----------
    mode : {"absolute", "reference"}
        Absolute thresholds below, or thresholds in decades from a pristine reference pair.
    ionic_fraction_min : float
        Pixels with ionic fraction ``I_ion / I(+V)`` at or above this are ionic-dominated.
    ionic_current_min : float
        A. Ionic-dominated pixels are class 1 at or above it, class 4 below.
    shunt_current_min : float
        A. Electronic-dominated pixels are class 3 (shunt) at or above it, class 2 below.
    reference_ionic_decades, reference_shunt_decades : float
        Reference mode: the two current thresholds are the reference pair's median I(+V) times
        ``10**decades``.
    """

    mode: str = _setting(
        "absolute", "", "'absolute': the thresholds below; 'reference': from a pristine "
        "reference pair (--reference PLUS MINUS)")
    ionic_fraction_min: float = _setting(
        0.9, "", "ionic-dominated where I_ion / I(+V) is at or above this")
    ionic_current_min: float = _setting(
        1e-13, "A", "ionic-dominated pixels: class 1 at or above, class 4 below")
    shunt_current_min: float = _setting(
        1e-12, "A", "electronic-dominated pixels: class 3 (shunt) at or above, class 2 below")
    reference_ionic_decades: float = _setting(
        -1.4, "decades", "reference mode: ionic_current_min = median I(+V) of the reference "
        "x 10**this")
    reference_shunt_decades: float = _setting(
        -0.4, "decades", "reference mode: shunt_current_min = median I(+V) of the reference "
        "x 10**this")

    def __post_init__(self) -> None:
        if self.mode not in ("absolute", "reference"):
            raise ConfigError(
                f"[classify] mode must be 'absolute' or 'reference', not {self.mode!r}"
            )
        _number(self, "classify", "ionic_fraction_min", lo=0.0, hi=1.0, open_lo=True,
                open_hi=True)
        _number(self, "classify", "ionic_current_min", lo=0.0, open_lo=True)
        _number(self, "classify", "shunt_current_min", lo=0.0, open_lo=True)
        _number(self, "classify", "reference_ionic_decades")
        _number(self, "classify", "reference_shunt_decades")


@dataclass(frozen=True)
class DomainSettings:
    """Connected-domain settings.

    Attributes
    ----------
    min_area_um2 : float
        Connected regions smaller than this (um^2) are not listed as domains.
    connectivity : int
        1 for 4-connectivity, 2 for 8-connectivity.
    """

    min_area_um2: float = _setting(
        0.05, "um^2", "connected regions smaller than this are not listed as domains")
    connectivity: int = _setting(1, "", "1: 4-connectivity, 2: 8-connectivity")

    def __post_init__(self) -> None:
        _number(self, "domains", "min_area_um2", lo=0.0)
        if self.connectivity not in (1, 2):
            raise ConfigError(f"[domains] connectivity must be 1 or 2, got {self.connectivity}")


@dataclass(frozen=True)
class RegistrationSettings:
    """Co-registration settings (see :mod:`afmcurrent.pair.registration`).

    Attributes
    ----------
    min_confidence : float
        Below this confidence a registration is reported as not trustworthy.
    estimate_drift : bool
        Estimate a linear slow-axis drift between the two scans.
    """

    min_confidence: float = _setting(
        0.3, "", "a registration below this confidence (0..1) is not trustworthy (refused "
        "unless forced)")
    estimate_drift: bool = _setting(
        True, "", "estimate the creep and drift along the slow axis (false: one shift)")

    def __post_init__(self) -> None:
        _number(self, "registration", "min_confidence", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class RepeatSettings:
    """The repeat scan: a second scan of one polarity of the same area (+V, -V, +V), compared
    with the first (:mod:`afmcurrent.pair.repeat`).

    Attributes
    ----------
    max_class_change : float
        A warning (the measurement may have changed the sample) when more than this share of
        the pixels classified in both would change class.
    max_changed_fraction : float
        A warning when more than this share of the pixels measured in both changed their log
        current by more than the combined noise margin.
    """

    max_class_change: float = _setting(
        0.05, "", "warn (the probe may have modified the sample) when more than this share of "
        "the pixels classified in both scans would change class")
    max_changed_fraction: float = _setting(
        0.25, "", "warn when more than this share of the pixels measured in both scans changed "
        "their log current beyond the noise")

    def __post_init__(self) -> None:
        _number(self, "repeat", "max_class_change", lo=0.0, hi=1.0)
        _number(self, "repeat", "max_changed_fraction", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class AnalysisConfig:
    """All analysis settings; built from defaults, a TOML file and keyword overrides.

    Attributes
    ----------
    transport, classify, domains, registration, repeat : settings dataclasses
    logamp : dict or None
        The raw ``[logamp]`` table, if the file had one (validated by
        :func:`afmcurrent.pair.logamp.load_calibration`).
    analysis : AnalysisOptions
        The ``[analysis]`` table: defaults of the per-call options of ``analyze_pair``
        (:mod:`afmcurrent.core.options`).
    source : str or None
        The file it came from.
    """

    transport: TransportSettings = field(default_factory=TransportSettings)
    classify: ClassifySettings = field(default_factory=ClassifySettings)
    domains: DomainSettings = field(default_factory=DomainSettings)
    registration: RegistrationSettings = field(default_factory=RegistrationSettings)
    repeat: RepeatSettings = field(default_factory=RepeatSettings)
    logamp: dict[str, Any] | None = None
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-safe dict (SI units, as in the TOML file); the
        ``[analysis]`` options are not settings of the method and are not included."""
        out = {
            name: dataclasses.asdict(getattr(self, name))
            for name in ("transport", "classify", "domains", "registration", "repeat")
        }
        out["source"] = self.source
        return out


_SECTIONS = {
    "transport": TransportSettings,
    "classify": ClassifySettings,
    "domains": DomainSettings,
    "registration": RegistrationSettings,
    "repeat": RepeatSettings,
}
#: The tables of settings of the method, in the order of a settings file, and their records.
SETTINGS_TABLES: dict[str, type] = dict(_SECTIONS)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a :class:`ConfigError` naming the file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        If the file is missing, unreadable or not valid TOML.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(
    source: str | Path | Mapping[str, Any] | AnalysisConfig | None = None,
    **overrides: Mapping[str, Any],
) -> AnalysisConfig:
    """Build an :class:`AnalysisConfig` from a TOML file or mapping, with per-table overrides.

    Parameters
    ----------
    source : str, Path, mapping, AnalysisConfig or None
        A TOML file, an already parsed mapping of tables, a config to start from, or ``None`` for
        the defaults.
    **overrides : mapping
        Per-table overrides, e.g. ``transport={"tip_radius": 50e-9}``.

    Returns
    -------
    AnalysisConfig

    Raises
    ------
    ConfigError
        On an unknown table or key, a value of the wrong type, or an impossible value; the message
        names the file, the table and the key.
    """
    if isinstance(source, AnalysisConfig):
        base = source
        tables: dict[str, Any] = {}
        origin = source.source
    else:
        base = AnalysisConfig()
        if source is None:
            tables, origin = {}, None
        elif isinstance(source, Mapping):
            tables, origin = dict(source), "<mapping>"
        else:
            tables, origin = read_toml(source), str(source)
    where = origin or "configuration"
    unknown = set(tables) - set(_SECTIONS) - {"logamp", "analysis"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown table(s) {sorted(unknown)}; known: "
            f"{sorted([*_SECTIONS, 'logamp', 'analysis'])}"
        )
    for name, table in overrides.items():
        if name not in _SECTIONS:
            raise ConfigError(f"unknown settings table {name!r}")
        merged = dict(tables.get(name, {}))
        merged.update({k: v for k, v in table.items() if v is not None})
        tables[name] = merged

    values: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        current = getattr(base, name)
        table = tables.get(name)
        if table is None:
            values[name] = current
            continue
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: [{name}] must be a table")
        values[name] = _build(cls, current, table, f"{where}: [{name}]")
    logamp = tables.get("logamp", base.logamp)
    if logamp is not None and not isinstance(logamp, Mapping):
        raise ConfigError(f"{where}: [logamp] must be a table")
    analysis = (options_from_table(tables["analysis"], where) if "analysis" in tables
                else base.analysis)
    return AnalysisConfig(
        **values, logamp=dict(logamp) if logamp is not None else None, analysis=analysis,
        source=origin
    )


def _build(cls: type, current: Any, table: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(table) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    for key, value in table.items():
        default = getattr(current, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and isinstance(default, int) and not isinstance(default, bool):
                ok = float(value).is_integer()
                value = int(value) if ok else value
            elif ok:
                value = float(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ConfigError(
                f"{where}: key {key!r} must be {type(default).__name__}, got {value!r}"
            )
        kwargs[key] = value
    try:
        return dataclasses.replace(current, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where.rsplit(': [', 1)[0]}: {exc}") from None


def _number(
    obj: Any,
    table: str,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    open_lo: bool = False,
    open_hi: bool = False,
    hint: str = "",
) -> None:
    """Refuse a setting that is not a finite number inside [lo, hi] (open ends if asked).

    The message names the table and the key, e.g. ``[domains] min_area_um2 must be ...``.
    """
    value = getattr(obj, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if open_lo else value >= lo
    if ok and hi is not None:
        ok = value < hi if open_hi else value <= hi
    if not ok:
        if lo is not None and hi is not None:
            left, right = "(" if open_lo else "[", ")" if open_hi else "]"
            need = f"a finite number in {left}{lo:g}, {hi:g}{right}"
        elif lo is not None:
            need = f"a finite number {'>' if open_lo else '>='} {lo:g}"
        else:
            need = "a finite number"
        raise ConfigError(
            f"[{table}] {name} must be {need}, got {value!r}" + (f" ({hint})" if hint else "")
        )
