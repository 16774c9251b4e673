"""Settings files written out: the commented defaults, the effective settings of a result, and
the settings reference (``docs/settings.md``).

Everything here is generated from the records that define the settings, never written by hand:
the settings tables and their fields (:data:`afmcurrent.core.config.SETTINGS_TABLES`, each
field's unit and help in its metadata), the per-call options
(:class:`afmcurrent.core.options.AnalysisOptions`, each with its :class:`OptionSpec`) and the
keys of a log-amplifier calibration
(:data:`afmcurrent.pair.logamp.transfer.CALIBRATION_KEY_DOCS`). A new setting or option
therefore appears in ``afmcurrent config --defaults``, in every ``settings.toml`` and in
``docs/settings.md`` without a change here (``tests/test_settings_file.py`` keeps the document
in sync).

Every output folder gets the ``settings.toml`` it was made with (:func:`result_settings_toml`):
the settings tables as used, the calibration used as the ``[logamp]`` table and the options
given as the ``[analysis]`` table, so that ``afmcurrent analyze PLUS MINUS --config
OUT/settings.toml`` reproduces the result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..core.config import SETTINGS_TABLES, AnalysisConfig, load_config, setting_help, setting_unit
from ..core.errors import ConfigError
from ..core.options import AnalysisOptions, option_fields, options_to_table
from ..core.version import __version__
from ..pair.logamp import LogAmpCalibration, load_calibration
from ..pair.logamp.transfer import (
    CALIBRATION_KEY_DOCS,
    CALIBRATION_KEYS,
)

__all__ = [
    "toml_value",
    "defaults_toml",
    "settings_toml",
    "result_settings_toml",
    "check_settings",
    "settings_markdown",
]

_INTRO = (
    "Give a settings file with `--config FILE` (analyze, batch) or "
    "`analyze_pair(config=FILE)`; every table and key is optional, unknown ones are refused "
    "with the file, table and key named. Values in SI units (m, A, V, Hz) unless the key says "
    "otherwise; decades are of log10(I / A)."
)


def toml_value(value: Any) -> str:
    """One value as TOML text: booleans, integers, finite floats, strings, lists of them.

    Raises
    ------
    ConfigError
        For a value TOML cannot hold (None, a non-finite number, another type).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"a settings file cannot hold the number {value!r}")
        if abs(value) >= 1e6:  # 2e13, not 20000000000000.0
            mantissa, exponent = f"{value:.16e}".split("e")
            return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ConfigError(f"a settings file cannot hold {type(value).__name__} {value!r}")


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


def _unit(text: str) -> str:
    return f" [{text}]" if text else ""


def _option_default(f: dataclasses.Field[Any]) -> Any:
    return f.default


def _summary(cls: type) -> str:
    """The first paragraph of a class docstring, reST roles made plain text."""
    para = (cls.__doc__ or "").strip().split("\n\n")[0]
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", " ".join(para.split()))


def _comment(text: str, width: int = 96) -> list[str]:
    return [f"# {t}" for t in _wrap(text, width)]


def _table_lines(name: str, values: Mapping[str, Any], commented: bool) -> list[str]:
    cls = SETTINGS_TABLES[name]
    lines = _comment(_summary(cls)) if commented else []
    lines.append(f"[{name}]")
    for f in _fields(cls):
        if commented:
            lines += _comment(f"{setting_help(f)}{_unit(setting_unit(f))}")
        lines.append(f"{f.name} = {toml_value(values[f.name])}")
    return lines


def _logamp_lines(calibration: LogAmpCalibration | None, commented: bool) -> list[str]:
    if calibration is None:
        lines = ["# [logamp]: the log-amplifier calibration. No default: it is needed when the "
                 "current channel is the",
                 "# amplifier's output in V (else logamp.toml beside the +V file is read). "
                 "`afmcurrent calibrate TABLE.csv",
                 "# -o logamp.toml` fits one from known currents; `afmcurrent info --presets` "
                 "lists data-sheet presets.",
                 "# Keys (the first five required), with example values:",
                 "# [logamp]"]
        for key, (unit, example, help_) in CALIBRATION_KEY_DOCS.items():
            lines += _comment(f"{help_}{_unit(unit)}")
            lines.append(f"# {key} = {toml_value(float(example))}")
        return lines
    lines = []
    if commented:
        lines.append("# the log-amplifier calibration")
    lines.append("[logamp]")
    for key, value in calibration.to_dict().items():
        unit = CALIBRATION_KEY_DOCS[key][0]
        lines.append(f"{key} = {toml_value(float(value))}" + (f"    # {unit}" if unit else ""))
    return lines


def _analysis_lines(options: AnalysisOptions | None, commented: bool,
                    skip: Iterable[str] = ()) -> list[str]:
    table = options_to_table(options or AnalysisOptions(), skip=tuple(skip))
    lines = []
    if commented:
        lines += ["# [analysis]: the per-call options of one pair's analysis (the flags of "
                  "`afmcurrent analyze` and",
                  "# `afmcurrent batch`, the keywords of analyze_pair); flags given on the "
                  "command line override them.",
                  "# Options without a default are shown commented out with an example value."]
    lines.append("[analysis]")
    for f in option_fields():
        spec = f.metadata["option"]
        if f.name in table:
            value = table[f.name]
        elif not commented:
            continue
        elif f.default is None:
            lines += _comment(f"{spec.help} ({spec.flag}; not set by default)")
            lines.append(f"# {f.name} = {toml_value(spec.example)}")
            continue
        else:
            value = f.default
        if commented:
            lines += _comment(f"{spec.help} ({spec.flag})")
        lines.append(f"{f.name} = {toml_value(value)}")
    return lines


def defaults_toml() -> str:
    """The complete settings file with every table and key at its default, commented: the
    meaning, the unit and the flag of each key (``afmcurrent config --defaults``)."""
    defaults = AnalysisConfig()
    lines = [f"# afmcurrent {__version__} settings: every table and key with its default.",
             *[f"# {t}" for t in _wrap(_INTRO, 96)], ""]
    for name in SETTINGS_TABLES:
        lines += _table_lines(name, dataclasses.asdict(getattr(defaults, name)), True)
        lines.append("")
    lines += _logamp_lines(None, True)
    lines.append("")
    lines += _analysis_lines(None, True)
    return "\n".join(lines) + "\n"


def settings_toml(config: AnalysisConfig, options: AnalysisOptions | None = None,
                  calibration: LogAmpCalibration | None = None,
                  header: Iterable[str] = ()) -> str:
    """Complete settings as a TOML file: every key of every table (defaults filled in), the
    calibration as ``[logamp]`` and the options that differ from their defaults as
    ``[analysis]``.

    Parameters
    ----------
    config : AnalysisConfig
    options : AnalysisOptions, optional
        The per-call options (default: none given). ``logamp`` is written only when it is a
        file or preset name and no ``calibration`` is given; ``tip_radius`` is written as
        ``[transport] tip_radius`` (which it overrides).
    calibration : LogAmpCalibration, optional
        Written as the ``[logamp]`` table.
    header : iterable of str
        Comment lines put first (without ``#``).

    Returns
    -------
    str
        Read back by :func:`afmcurrent.core.config.load_config` to the same settings.
    """
    if options is not None and options.tip_radius is not None:  # the option wins (analyze_pair)
        config = load_config(config, transport={"tip_radius": options.tip_radius})
    lines = [f"# {h}" if h else "#" for h in header]
    lines.append(f"# afmcurrent {__version__}: the effective settings (every key; the defaults "
                 "filled in)")
    for name in SETTINGS_TABLES:
        lines.append("")
        lines += _table_lines(name, dataclasses.asdict(getattr(config, name)), False)
    if calibration is not None:
        lines.append("")
        lines += _logamp_lines(calibration, False)
    skip = ["tip_radius"] + (["logamp"] if calibration is not None else [])
    analysis = _analysis_lines(options, False, skip)
    if len(analysis) > 1:
        lines.append("")
        lines += analysis
    return "\n".join(lines) + "\n"


def result_settings_toml(result: Any) -> str:
    """The ``settings.toml`` of a result: the settings it was made with.

    Parameters
    ----------
    result : PairResult

    Returns
    -------
    str
        :func:`settings_toml` of the result's settings, calibration and options, with a header
        naming the inputs and what else the result needs (a reference pair, an optical
        image) to be made again.
    """
    plus = result.plus.path or "+V scan (in memory)"
    minus = result.minus.path or "-V scan (in memory)"
    header = [f"settings of the analysis of {plus} (+V) and {minus} (-V); made again by",
              "  afmcurrent analyze PLUS MINUS --config settings.toml -o OUTDIR"]
    if result.config.classify.mode == "reference":
        header.append(f"thresholds from a reference pair ({result.thresholds.source}): give "
                      "--reference PLUS MINUS again")
    if result.optical is not None:
        header.append("with an optical image: give --optical IMG again")
    return settings_toml(result.config, result.options, result.calibration, header)


def check_settings(path: str | Path) -> tuple[AnalysisConfig, LogAmpCalibration | None]:
    """Validate a settings file: every table, key and value, the ``[logamp]`` table included.

    Returns
    -------
    config : AnalysisConfig
    calibration : LogAmpCalibration or None
        Of its ``[logamp]`` table, or of ``[analysis] logamp`` (a file or preset).

    Raises
    ------
    ConfigError
        On the first problem, naming the file, the table and the key.
    """
    config = load_config(path)
    calibration = None
    if config.logamp is not None:
        try:
            calibration = load_calibration({"logamp": config.logamp})
        except ConfigError as exc:
            raise ConfigError(f"{path}: {str(exc).replace('<mapping>: ', '')}") from None
    if config.analysis.logamp is not None:
        calibration = load_calibration(config.analysis.logamp)
    return config, calibration


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return out + ([line] if line else [])


def _md(text: str) -> str:
    """Text for a Markdown table cell (a "|" would end the cell)."""
    return text.replace("|", "\\|")


def _md_value(value: Any) -> str:
    return "(not set)" if value is None else f"`{toml_value(value)}`"


def settings_markdown() -> str:
    """The settings reference, ``docs/settings.md`` (``afmcurrent config --markdown``)."""
    lines = [
        "# Settings reference",
        "",
        "Generated by `afmcurrent config --markdown` from the settings records "
        "(`afmcurrent/core/config.py`), the options record (`afmcurrent/core/options.py`) and "
        "the calibration keys (`afmcurrent/pair/logamp/transfer.py`); "
        "`tests/test_settings_file.py` fails when this file and the code differ. Do not edit "
        "by hand.",
        "",
        _INTRO,
        "",
        "- `afmcurrent config --defaults` prints every table and key with its default and "
        "meaning (a file to start from);",
        "- `afmcurrent config --check FILE` validates a file and prints the effective settings;",
        "- every output folder (`analyze`, each pair of a `batch`, and the batch folder) holds "
        "the `settings.toml` it was made with: `afmcurrent analyze PLUS MINUS --config "
        "OUT/settings.toml -o NEW` makes the same result again.",
        "",
        "Precedence: the `[analysis]` table gives defaults of the options, flags (keywords of "
        "`analyze_pair`) override it; `--logamp` overrides `[logamp]`, which overrides a "
        "`logamp.toml` beside the +V file.",
        "",
    ]
    defaults = AnalysisConfig()
    for name, cls in SETTINGS_TABLES.items():
        lines += [f"## [{name}]", "", _summary(cls), "", "| key | default | unit | meaning |",
                  "|---|---|---|---|"]
        for f in _fields(cls):
            lines.append(f"| `{f.name}` | {_md_value(getattr(getattr(defaults, name), f.name))}"
                         f" | {setting_unit(f) or '-'} | {_md(setting_help(f))} |")
        lines.append("")
    lines += ["## [logamp]", "",
              "The log-amplifier calibration: `V = reference_voltage + volts_per_decade * "
              "log10(I / reference_current)`. No default; needed when the current channel is "
              "the amplifier's output in V. The first five keys are required. `afmcurrent "
              "calibrate TABLE.csv -o logamp.toml` fits one from a table of known currents "
              "(`docs/howto_lab_files.md`); `afmcurrent info --presets` lists data-sheet "
              "presets.", "",
              "| key | required | unit | example | meaning |", "|---|---|---|---|---|"]
    for key, (unit, example, help_) in CALIBRATION_KEY_DOCS.items():
        required = "yes" if key in CALIBRATION_KEYS else "no"
        lines.append(f"| `{key}` | {required} | {unit or '-'} | `{toml_value(float(example))}` "
                     f"| {_md(help_)} |")
    lines += ["", "## [analysis]", "",
              "The per-call options of one pair's analysis: each is also a flag of "
              "`afmcurrent analyze` and `afmcurrent batch` and a keyword of `analyze_pair`. "
              "Lengths are numbers in m or strings with their unit (`\"100nm\"`).", "",
              "| key | flag | default | example | meaning |", "|---|---|---|---|---|"]
    for f in option_fields():
        spec = f.metadata["option"]
        lines.append(f"| `{f.name}` | `{spec.flag}` | {_md_value(_option_default(f))} | "
                     f"`{toml_value(spec.example)}` | {_md(spec.help)} |")
    return "\n".join(lines) + "\n"
