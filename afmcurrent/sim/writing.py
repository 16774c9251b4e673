"""A simulated pair written as the instrument would: Nanoscope files, calibration, ground truth.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..core.errors import AfmcurrentError
from ..io.nanoscope import write_nanoscope
from ..pair.logamp import load_calibration
from .pair import SimulatedPair

__all__ = ["write_pair"]

logger = logging.getLogger(__name__)

def write_pair(
    outdir: str | Path,
    pair: SimulatedPair,
    *,
    prefix: str | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write a simulated pair as the instrument would, plus calibration and ground truth.

    Files: ``<prefix>_plus.spm`` and ``<prefix>_minus.spm`` (Bruker Nanoscope, via
    :func:`afmcurrent.io.nanoscope.write_nanoscope`), ``<prefix>_truth.npz`` (class_map,
    ionic_current, electronic_current, height) and ``<prefix>_truth.json`` (the scalars of
    :meth:`GroundTruth.scalars`), and ``logamp.toml`` (the ``[logamp]`` table), which the
    analysis finds beside the +V file. Several pairs can be written into one folder (each with
    its own prefix): they share ``logamp.toml`` when they were recorded with the same
    calibration (the simulator's default); a pair of another calibration is refused there.

    Parameters
    ----------
    outdir : str or Path
        Folder, created if needed.
    pair : SimulatedPair
    prefix : str, optional
        File name prefix; default ``"<preset>_seed<seed>"``.
    overwrite : bool
        Replace existing files. Without it nothing is written if any target exists.

    Returns
    -------
    dict of str -> Path
        Keys ``plus``, ``minus``, ``logamp``, ``truth``, ``truth_json``.

    Raises
    ------
    FileExistsError
        If a target file exists and ``overwrite`` is false (the message lists them and names
        ``overwrite=True`` / ``--overwrite``), or the folder's ``logamp.toml`` holds another
        calibration (pairs of different calibrations need their own folders).
    """

    outdir = Path(outdir)
    prefix = prefix or f"{pair.truth.preset}_seed{pair.truth.seed}"
    paths = {
        "plus": outdir / f"{prefix}_plus.spm",
        "minus": outdir / f"{prefix}_minus.spm",
        "logamp": outdir / "logamp.toml",
        "truth": outdir / f"{prefix}_truth.npz",
        "truth_json": outdir / f"{prefix}_truth.json",
    }
    shared = False  # logamp.toml of another pair of the folder, the same calibration
    if paths["logamp"].is_file():
        try:
            shared = load_calibration(paths["logamp"]).to_dict() == pair.calibration.to_dict()
        except AfmcurrentError:
            shared = False
        if not shared and not overwrite:
            raise FileExistsError(
                f"{paths['logamp']}: holds another log-amplifier calibration than this pair's; "
                "write pairs of different calibrations into separate folders")
    existing = [str(p) for k, p in paths.items() if p.exists() and not (k == "logamp"
                                                                        and shared)]
    if existing and not overwrite:
        raise FileExistsError(
            f"{outdir}: refusing to overwrite existing file(s) {existing}; pass overwrite=True "
            "(--overwrite) or choose another folder"
        )
    outdir.mkdir(parents=True, exist_ok=True)
    write_nanoscope(paths["plus"], pair.plus, overwrite=overwrite)
    write_nanoscope(paths["minus"], pair.minus, overwrite=overwrite)
    header = (
        "# Log-amplifier calibration of the simulated pair (afmcurrent.sim)\n"
        "# V = reference_voltage + volts_per_decade * log10(I / reference_current)\n"
    )
    if not shared:
        paths["logamp"].write_text(header + pair.calibration.to_toml(), encoding="utf-8")
    t = pair.truth
    # float32 keeps 7 significant digits, ample for ground truth, at half the size.
    np.savez_compressed(
        paths["truth"],
        class_map=t.class_map,
        ionic_current=t.ionic_current.astype(np.float32),
        electronic_current=t.electronic_current.astype(np.float32),
        height=t.height.astype(np.float32),
    )
    scalars = t.scalars()
    scalars["files"] = {k: p.name for k, p in paths.items()}
    scalars["calibration"] = pair.calibration.to_dict()
    paths["truth_json"].write_text(json.dumps(scalars, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote simulated pair to %s", outdir)
    return paths
