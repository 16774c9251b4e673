"""The options of one pair's analysis: one record for the Python API, the CLI, TOML and batches.

:class:`AnalysisOptions` is the only place an option of :func:`afmcurrent.analyze_pair` is
defined. Each field carries, in its metadata (:class:`OptionSpec`), the command-line flag, the
parser of its text, the help and the TOML form; from it are built

- the keywords of ``analyze_pair(plus, minus, **options)``;
- the flags of ``afmcurrent analyze`` and ``afmcurrent batch`` (:mod:`afmcurrent.cli._args`);
- the ``[analysis]`` table of a settings file (:func:`options_from_table`, read by
  :func:`afmcurrent.core.config.load_config`);
- the per-pair options of a batch (:class:`afmcurrent.sets.tasks.BatchOptions`: the same
  fields, None meaning "not given").

So a new option is one new field here, and appears in all four (``tests/test_options.py``).

Precedence: the ``[analysis]`` table of the settings gives defaults, a record passed as
``analyze_pair(options=...)`` replaces the table, keywords override both; on the command line the
flags are keywords. In a batch the biases (``bias_plus``, ``bias_minus``) apply only to files
that record none (the manifest's per-pair biases first).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from .errors import ConfigError
from .units import parse_length

__all__ = [
    "OptionSpec",
    "AnalysisOptions",
    "OPTION_NAMES",
    "option_fields",
    "options_from_table",
    "options_to_table",
    "merge_options",
    "parse_pixel_pair",
    "parse_lengths",
    "parse_floats",
]


# ------------------------------------------------------------------------------------------------
# text and TOML values of the options (ValueError with the accepted form on bad input)
# ------------------------------------------------------------------------------------------------
def parse_pixel_pair(text: str) -> tuple[float, float]:
    """``"DY,DX"`` in pixels -> ``(dy, dx)``."""
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"expected DY,DX in pixels, got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"expected DY,DX in pixels (finite), got {text!r}")
    return a, b


def parse_lengths(n: int, what: str) -> Callable[[str], tuple[float, ...]]:
    """Parser of ``n`` comma-separated lengths, each with its unit (``"1um,2.5um"``), to m."""

    def parse(text: str) -> tuple[float, ...]:
        parts = text.split(",")
        if len(parts) != n:
            raise ValueError(
                f"expected {what}: {n} comma-separated lengths with units, e.g. "
                + ",".join(["1.5um"] * n) + f"; got {text!r}"
            )
        return tuple(parse_length(t, positive=False) for t in parts)

    return parse


def parse_floats(n: int, what: str) -> Callable[[str], tuple[float, ...]]:
    """Parser of ``n`` comma-separated numbers."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            vals = tuple(float(v) for v in text.split(","))
        except ValueError:
            vals = ()
        if len(vals) != n or not all(math.isfinite(v) for v in vals):
            raise ValueError(f"expected {what}, got {text!r}")
        return vals

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _number(positive: bool = False) -> Callable[[Any], float]:
    def conv(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or (positive and not value > 0):
            raise ValueError(f"must be a {'positive ' if positive else ''}finite number, "
                             f"got {value!r}")
        return float(value)

    return conv


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _length_m(value: Any) -> float:
    """A length: a number in m, or a string with its unit ("100nm")."""
    if isinstance(value, str):
        return parse_length(value)
    return _number(positive=True)(value)


def _numbers(n: int, lengths: bool = False) -> Callable[[Any], tuple[float, ...]]:
    def conv(value: Any) -> tuple[float, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) \
                or len(value) != n:
            raise ValueError(f"must be a list of {n} {'lengths' if lengths else 'numbers'}, "
                             f"got {value!r}")
        if lengths:
            return tuple(parse_length(v, positive=False) if isinstance(v, str)
                         else _number()(v) for v in value)
        return tuple(_number()(v) for v in value)

    return conv


# ------------------------------------------------------------------------------------------------
# the record
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptionSpec:
    """How an option appears outside Python (the metadata of an :class:`AnalysisOptions` field).

    Attributes
    ----------
    flag : str
        The command-line flag (``--tip-radius``).
    help : str
        Its help text, units included.
    parse : callable or None
        Text of the flag -> value (raises ValueError with the accepted form); None for a
        switch (``store_true``).
    toml : callable
        TOML value -> value (raises ValueError).
    metavar : str or None
        Placeholder in the usage line.
    group : str or None
        Flags of the same group exclude each other.
    example : object
        A valid TOML value (for the tests and the documentation).
    """

    flag: str
    help: str
    parse: Callable[[str], Any] | None
    toml: Callable[[Any], Any]
    metavar: str | None = None
    group: str | None = None
    example: Any = None


def _opt(default: Any, **spec: Any) -> Any:
    return field(default=default, metadata={"option": OptionSpec(**spec)})


@dataclass(frozen=True, kw_only=True)
class AnalysisOptions:
    """Per-call options of :func:`afmcurrent.analyze_pair` (settings of the method are in
    :class:`~afmcurrent.core.config.AnalysisConfig`).

    Attributes
    ----------
    height_channel, current_channel : str or None
        Channel names (default: found by unit, see
        :func:`afmcurrent.pair.inputs.select_channels`).
    bias_plus, bias_minus : float or None
        Sample biases in V, overriding (with a warning) or supplying what the headers record.
    force_bias : bool
        Accept a given bias whose sign contradicts the header's (with a warning).
    logamp : str, Path, mapping, LogAmpCalibration or None
        Log-amplifier calibration: a TOML file with a ``[logamp]`` table or a preset name
        (:func:`afmcurrent.pair.logamp.load_calibration`); default: the settings'
        ``[logamp]`` table, else ``logamp.toml`` beside the +V file.
    tip_radius : float or None
        Probe radius in m for the current density (overrides ``[transport] tip_radius``).
    shift : (float, float) or None
        Known shift ``(dy, dx)`` in px of the -V scan onto the +V scan at the centre row; creep
        and drift around it are still estimated unless ``[registration] estimate_drift`` is
        false.
    expect_shift : (float, float) or None
        Approximate shift ``(dy, dx)`` in px: the estimate is searched within
        ``search_radius`` of it (periodic samples).
    search_radius : float
        Radius of that search window, px (default 5).
    force_registration : bool
        Use a registration that is not trustworthy (with a warning) instead of raising.
    optical_pixel_size : float or None
        Optical pixel size, m.
    optical_box : (x0, y0, x1, y1) or None
        The scan in the optical image, optical pixels (starting placement).
    optical_center : (x, y) or None
        Scan centre in m from the optical image's top-left corner.
    profile : (x0, y0, x1, y1) or None
        Line profile in m from the scan's top-left corner (default: the middle row).
    """

    height_channel: str | None = _opt(
        None, flag="--height-channel", parse=str, toml=_text, metavar="NAME", example="Height",
        help="topography channel (default: first channel in m)")
    current_channel: str | None = _opt(
        None, flag="--current-channel", parse=str, toml=_text, metavar="NAME",
        example="Input1",
        help="current channel (default: first channel in A, else the log-amp output in V)")
    bias_plus: float | None = _opt(
        None, flag="--bias-plus", parse=float, toml=_number(), metavar="V", example=1.0,
        help="sample bias of PLUS in V (overriding the header's gives a warning; in a batch: "
        "for files that record none)")
    bias_minus: float | None = _opt(
        None, flag="--bias-minus", parse=float, toml=_number(), metavar="V", example=-1.0,
        help="sample bias of MINUS in V (as --bias-plus)")
    force_bias: bool = _opt(
        False, flag="--force-bias", parse=None, toml=_flag, example=True,
        help="accept --bias-plus/--bias-minus whose sign contradicts the header (refused "
        "otherwise: the files may be swapped)")
    logamp: Any = _opt(
        None, flag="--logamp", parse=str, toml=_text, metavar="FILE|PRESET", example="ad8304",
        help="log-amplifier calibration: TOML file with a [logamp] table, or a preset name "
        "(see `afmcurrent info --presets`); default: logamp.toml beside PLUS")
    tip_radius: float | None = _opt(
        None, flag="--tip-radius", parse=parse_length, toml=_length_m, metavar="LENGTH",
        example="100nm",
        help="probe radius for the current density I / (pi r^2), with its unit, e.g. 100nm "
        "(default 100 nm)")
    shift: tuple[float, float] | None = _opt(
        None, flag="--shift", parse=parse_pixel_pair, toml=_numbers(2), metavar="DY,DX",
        example=[1.5, -2.0],
        help="known shift of MINUS onto PLUS in pixels at the centre row; creep and drift "
        "around it are still estimated unless --no-drift ([registration] estimate_drift)")
    expect_shift: tuple[float, float] | None = _opt(
        None, flag="--expect-shift", parse=parse_pixel_pair, toml=_numbers(2),
        metavar="DY,DX", example=[0.0, 12.0],
        help="approximate shift in pixels; the estimate is searched near it (resolves "
        "periodic samples such as calibration gratings)")
    search_radius: float = _opt(
        5.0, flag="--search-radius", parse=float, toml=_number(positive=True), metavar="PX",
        example=8.0, help="radius of the search window around --expect-shift (default 5 px)")
    force_registration: bool = _opt(
        False, flag="--force-registration", parse=None, toml=_flag, example=True,
        help="use a registration reported as not trustworthy")
    optical_pixel_size: float | None = _opt(
        None, flag="--optical-pixel-size", parse=parse_length, toml=_length_m,
        metavar="LENGTH", example="0.5um",
        help="optical pixel size with its unit, e.g. 0.5um (in a batch: of the manifest's "
        "optical images, placed at the image centre, then refined)")
    optical_box: tuple[float, float, float, float] | None = _opt(
        None, flag="--optical-box", parse=parse_floats(4, "X0,Y0,X1,Y1 in optical pixels"),
        toml=_numbers(4), metavar="X0,Y0,X1,Y1", group="optical placement",
        example=[10.0, 20.0, 60.0, 70.0],
        help="scan area in the optical image, pixels (refined by mutual information)")
    optical_center: tuple[float, float] | None = _opt(
        None, flag="--optical-center", parse=parse_lengths(2, "X,Y"),
        toml=_numbers(2, lengths=True), metavar="X,Y", group="optical placement",
        example=["40um", "35.5um"],
        help="scan centre in the optical image from its top-left corner, lengths with units, "
        "e.g. 40um,35.5um")
    profile: tuple[float, float, float, float] | None = _opt(
        None, flag="--profile", parse=parse_lengths(4, "X0,Y0,X1,Y1"),
        toml=_numbers(4, lengths=True), metavar="X0,Y0,X1,Y1",
        example=["1um", "1um", "8um", "8um"],
        help="line profile from the scan's top-left corner, lengths with units, e.g. "
        "1um,1um,8um,8um (default: middle row); written to profile.csv and profile.png")

    def __post_init__(self) -> None:
        for name, n in (("shift", 2), ("expect_shift", 2), ("optical_box", 4),
                        ("optical_center", 2), ("profile", 4)):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                t = tuple(float(x) for x in v)
            except (TypeError, ValueError):
                t = ()
            if len(t) != n or not all(math.isfinite(x) for x in t):
                raise ConfigError(f"option {name} must be {n} finite numbers, got {v!r}")
            object.__setattr__(self, name, t)
        if not (isinstance(self.search_radius, (int, float))
                and math.isfinite(self.search_radius) and self.search_radius > 0):
            raise ConfigError(f"option search_radius must be a positive number of pixels, got "
                              f"{self.search_radius!r}")
        for name in ("tip_radius", "optical_pixel_size"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v)
                                      and v > 0):
                raise ConfigError(f"option {name} must be a positive length in m, got {v!r}")

    def replace(self, **changes: Any) -> AnalysisOptions:
        """A copy with some options changed (:func:`merge_options` checks the names)."""
        return merge_options(self, changes)


def option_fields() -> tuple[dataclasses.Field[Any], ...]:
    """The fields of :class:`AnalysisOptions` (each with its :class:`OptionSpec` as
    ``field.metadata["option"]``)."""
    return dataclasses.fields(AnalysisOptions)


#: The option names, in field order.
OPTION_NAMES = tuple(f.name for f in option_fields())


def merge_options(base: AnalysisOptions | None, changes: Mapping[str, Any]) -> AnalysisOptions:
    """``base`` (default: the defaults) with ``changes`` applied.

    Raises
    ------
    ConfigError
        On an unknown option name (the message lists the options) or an invalid value.
    """
    unknown = sorted(set(changes) - set(OPTION_NAMES))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; options: {', '.join(OPTION_NAMES)}")
    return dataclasses.replace(base or AnalysisOptions(), **dict(changes))


def options_from_table(table: Mapping[str, Any], where: str = "configuration"
                       ) -> AnalysisOptions:
    """Options from a TOML ``[analysis]`` table (every key optional, unknown keys refused).

    Lengths are numbers in m or strings with a unit (``tip_radius = "100nm"``), pairs and
    boxes arrays (``shift = [1.5, -2.0]``).

    Raises
    ------
    ConfigError
        On an unknown key or a value of the wrong form; the message names ``where``, the
        table and the key.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [analysis] must be a table")
    specs = {f.name: f.metadata["option"] for f in option_fields()}
    unknown = sorted(set(table) - set(specs))
    if unknown:
        raise ConfigError(f"{where}: [analysis] unknown key(s) {unknown}; known: "
                          f"{sorted(specs)}")
    values = {}
    for key, value in table.items():
        try:
            values[key] = specs[key].toml(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: [analysis] key {key!r} {exc}") from None
    try:
        return AnalysisOptions(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: [analysis] {exc}") from None


def options_to_table(options: AnalysisOptions, skip: Sequence[str] = ()) -> dict[str, Any]:
    """The options that differ from their defaults as an ``[analysis]`` table (the inverse of
    :func:`options_from_table`): lengths in m, pairs and boxes as lists, ``logamp`` when it is
    a file or preset name (a calibration given as a record or mapping is left out: write it
    as the ``[logamp]`` table).

    Parameters
    ----------
    options : AnalysisOptions
    skip : sequence of str, optional
        Option names to leave out.

    Returns
    -------
    dict
        Name -> TOML value; :func:`options_from_table` reads it back to ``options``.
    """
    out: dict[str, Any] = {}
    for f in option_fields():
        value = getattr(options, f.name)
        if f.name in skip or value == f.default:
            continue
        if isinstance(value, tuple):
            value = [float(v) for v in value]
        elif f.name == "logamp":
            if not isinstance(value, (str, PathLike)):
                continue
            value = str(value)
        out[f.name] = value
    return out
