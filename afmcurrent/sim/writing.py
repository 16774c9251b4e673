"""A simulated pair written as the instrument would: Nanoscope files, calibration, ground truth.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..io.nanoscope import write_nanoscope
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
    :func:`afmcurrent.io.nanoscope.write_nanoscope`), ``logamp.toml`` (the ``[logamp]`` table),
    ``truth.npz`` (class_map, ionic_current, electronic_current, height) and ``truth.json``
    (the scalars of :meth:`GroundTruth.scalars`).

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
        ``overwrite=True`` / ``--overwrite``).
    """

    outdir = Path(outdir)
    prefix = prefix or f"{pair.truth.preset}_seed{pair.truth.seed}"
    paths = {
        "plus": outdir / f"{prefix}_plus.spm",
        "minus": outdir / f"{prefix}_minus.spm",
        "logamp": outdir / "logamp.toml",
        "truth": outdir / "truth.npz",
        "truth_json": outdir / "truth.json",
    }
    existing = [str(p) for p in paths.values() if p.exists()]
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
