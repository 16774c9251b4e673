"""The options of a batch: every analysis option of one pair, plus what only a batch has.

:class:`BatchOptions` is built from :class:`~afmcurrent.core.options.AnalysisOptions`: it has a
field for every analysis option (None: not given, so the settings' ``[analysis]`` table or the
default applies) and ``config`` (the settings file), ``figures``, ``gwy`` and
``allow_partial``. A new analysis option is therefore a batch option without any change here.

For each pair, :func:`pair_options` makes the analysis options: the ``[analysis]`` table of the
settings, the options given, and, for files that record no bias, the manifest's biases, then
the options'. The hash of a pair's inputs includes :meth:`BatchOptions.fingerprint`: options
at their default are left out of it, so the pairs of a batch written before an option existed
are still complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from ..core.config import load_config
from ..core.errors import ConfigError
from ..core.model import Scan
from ..core.options import AnalysisOptions, merge_options, option_fields
from ..pair.optical import read_optical
from .pairing import PairSpec

__all__ = ["BatchOptions", "pair_options", "file_digest"]

#: The batch options of afmcurrent 0.1, always part of the fingerprint and the batch identity.
_V01_KEYS = ("height_channel", "current_channel", "bias_plus", "bias_minus", "logamp", "config",
             "tip_radius", "optical_pixel_size")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _analysis_given(self: Any) -> dict[str, Any]:
    """The analysis options given (not None), name -> value."""
    return {f.name: getattr(self, f.name) for f in option_fields()
            if getattr(self, f.name) is not None}


def _as_dict(self: Any) -> dict[str, Any]:
    d = dataclasses.asdict(self)
    d.pop("figures")
    d.pop("gwy")
    for key in [k for k in d if k not in _V01_KEYS and k != "allow_partial"]:
        if d[key] is None:
            d.pop(key)  # an option not given: as before it existed
    return d


def _fingerprint(self: Any) -> dict[str, Any]:
    """The options as they affect results (figures and result.gwy excluded: which files are
    written, not what they hold), with file contents hashed."""
    d = _as_dict(self)
    if not d["allow_partial"]:
        d.pop("allow_partial")  # the hashes of earlier batches stay valid
    for key in ("logamp", "config"):
        if d[key] and Path(d[key]).is_file():
            d[key] = file_digest(Path(d[key]))
    return d


def _settings(self: Any) -> dict[str, Any]:
    """The options as they identify a batch (files by path, not content; no figures)."""
    d = _as_dict(self)
    for key in ("logamp", "config"):
        if d[key] and Path(d[key]).is_file():
            d[key] = str(Path(d[key]).resolve())
    return d


def _post_init(self: Any) -> None:
    merge_options(None, self.analysis_given())  # an invalid option fails the batch at once


def _make_batch_options() -> type:
    fields: list[tuple[str, Any, Any]] = [
        (f.name, f"{f.type} | None" if "None" not in str(f.type) else f.type,
         dataclasses.field(default=None, metadata=f.metadata))
        for f in option_fields()
    ]
    fields += [
        ("config", "str | None", dataclasses.field(default=None)),
        ("figures", "bool", dataclasses.field(default=False)),
        ("gwy", "bool", dataclasses.field(default=False)),
        ("allow_partial", "bool", dataclasses.field(default=False)),
    ]
    names = ", ".join(f.name for f in option_fields())
    doc = f"""Options applied to every pair of a batch.

    Attributes
    ----------
    {names}
        The analysis options of :class:`~afmcurrent.core.options.AnalysisOptions` (same units);
        None: not given (the settings' ``[analysis]`` table or the default applies). The biases
        apply to files that record none (the manifest's per-pair biases first); the optical
        placement to the pairs with an optical image in the manifest (the scan is placed at the
        image centre unless ``optical_box`` or ``optical_center`` is given).
    config : str or None
        Settings TOML file.
    figures : bool
        Render each pair's figures (default False: ``--figures``).
    gwy : bool
        Write each pair's ``result.gwy`` (default False: ``--gwy``; ~60 MB per 512 x 512
        pair, where the compressed ``result.h5`` holds the same maps in ~3.5 MB).
    allow_partial : bool
        Analyse session pairs whose scans did not finish, on the lines recorded in both.
    """
    return dataclasses.make_dataclass(
        "BatchOptions", fields, frozen=True, kw_only=True,
        namespace={"__doc__": doc, "__module__": __name__, "__post_init__": _post_init,
                   "analysis_given": _analysis_given, "fingerprint": _fingerprint,
                   "settings": _settings})


BatchOptions = _make_batch_options()


def _fallback_bias(scan: Scan, *given: float | None) -> float | None:
    """The first given bias, for a scan whose file records none (else None: the file's)."""
    if scan.bias is not None:
        return None
    return next((b for b in given if b is not None), None)


def pair_options(options: Any, spec: PairSpec, plus: Scan, minus: Scan) -> AnalysisOptions:
    """The analysis options of one pair of a batch.

    Parameters
    ----------
    options : BatchOptions
    spec : PairSpec
        The pair (its manifest biases and optical image).
    plus, minus : Scan
        Its scans, loaded (whether their files record a bias).

    Returns
    -------
    AnalysisOptions
        The settings' ``[analysis]`` table, then the options given; the biases only for scans
        whose file records none (the manifest's first); the optical placement only with an
        optical image, at the image's centre unless a box or centre is given.

    Raises
    ------
    ConfigError
        If an option is invalid, or the pair has an optical image and neither a box nor the
        optical pixel size is given.
    """
    opts = merge_options(load_config(options.config).analysis, options.analysis_given())
    opts = opts.replace(bias_plus=_fallback_bias(plus, spec.bias_plus, opts.bias_plus),
                        bias_minus=_fallback_bias(minus, spec.bias_minus, opts.bias_minus))
    if spec.optical is None:
        return opts.replace(optical_pixel_size=None, optical_box=None, optical_center=None)
    if opts.optical_box is None and opts.optical_center is None:
        if opts.optical_pixel_size is None:
            raise ConfigError(f"{spec.optical}: an optical image needs --optical-pixel-size")
        rows, cols = read_optical(spec.optical).shape[:2]
        p = opts.optical_pixel_size
        opts = opts.replace(optical_center=(cols * p / 2, rows * p / 2))
    return opts
