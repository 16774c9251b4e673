"""The inputs of a pair made ready: scans loaded, put in polarity order by their biases, the
height and current channels picked, the geometry checked, the calibration found."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import AnalysisConfig
from ..core.errors import ChannelNotFoundError, ConfigError, RegistrationError
from ..core.model import Channel, Scan
from ..io import load_scan
from .logamp import LogAmpCalibration, load_calibration

__all__ = [
    "load",
    "check_distinct",
    "select_channels",
    "says_current",
    "resolve_biases",
    "check_geometry",
    "find_calibration",
]

logger = logging.getLogger(__name__)

_HEIGHT_HINTS = ("height", "topography", "z")
_CURRENT_A_HINTS = ("current", "tuna", "i")
_CURRENT_V_HINTS = ("log", "current", "input", "aux", "in")


def load(scan: str | Path | Scan) -> Scan:
    """A scan as given, or read from its file (:func:`afmcurrent.io.load_scan`)."""
    if isinstance(scan, Scan):
        return scan
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
        "height") and the first trace channel in A (preferring "current"), else the first in V
        whose name says it is the current (:func:`says_current`: the log-amplifier output
        recorded through an auxiliary input); a channel in V with another name is never taken
        by default.

    Returns
    -------
    (Channel, Channel)
        Height and current channels.

    Raises
    ------
    ChannelNotFoundError
        If a named channel does not exist or no suitable channel is found (also when the only
        candidates are channels in V whose names do not say current); the message lists the
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
        current = scan.find_channel({"A"}, prefer=_CURRENT_A_HINTS)
        if current is None:
            current = scan.find_channel({"V"}, prefer=_CURRENT_V_HINTS)
            if current is not None and not says_current(current):
                # a channel in V whose name does not say current (e.g. an amplitude or a
                # deflection): taking it as the log-amplifier output would be a guess
                raise ChannelNotFoundError(
                    f"{scan.label}: no channel in A and no channel in V whose name says it is "
                    f"the current (a name with {', '.join(map(repr, _CURRENT_V_HINTS))}); "
                    f"channels: {_describe(scan)}; name the log-amplifier output with "
                    "--current-channel"
                )
        if current is None:
            raise ChannelNotFoundError(
                f"{scan.label}: no current channel (unit A, or the log-amplifier output in V); "
                f"channels: {_describe(scan)}; name one with --current-channel"
            )
    return height, current


def says_current(channel: Channel) -> bool:
    """Whether the name of a channel in V says it may hold the current (the log-amplifier
    output through an input: a name with "log", "current", "input", "aux" or "in")."""
    return any(h in channel.quantity.casefold() for h in _CURRENT_V_HINTS)


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


def find_calibration(
    logamp: Any, config: AnalysisConfig, plus: Scan, notes: list[str]
) -> LogAmpCalibration | None:
    """The log-amplifier calibration of a pair: the one given, else the settings' ``[logamp]``
    table, else ``logamp.toml`` beside the +V file (with a note), else None.

    Raises
    ------
    ConfigError
        If the calibration given or found is invalid (:func:`~afmcurrent.pair.logamp.
        load_calibration`).
    """
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



def check_distinct(plus: Any, minus: Any) -> None:
    """Refuse the same file (or the same loaded scan) given as both scans of a pair.

    Raises
    ------
    ConfigError
        If ``plus`` and ``minus`` are the same file, or the same scan (one file may hold
        several scans: the same path with the same data).
    """
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



def check_geometry(plus: Scan, minus: Scan) -> None:
    """Refuse scans that do not share the pixel grid (shape, pixel size within 1 %).

    Raises
    ------
    RegistrationError
        If the shapes differ or the pixel sizes differ by more than 1 %.
    """
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
