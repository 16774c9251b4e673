"""Pairs from a manifest CSV instead of discovery.

Columns ``plus`` and ``minus`` (paths relative to the manifest) and optionally ``sample``,
``group``, ``optical``, ``bias_plus``, ``bias_minus``.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from .. import io  # noqa: F401  (imported once here, inherited by the forked readers)
from ..core.errors import ConfigError
from .pairing import Pairing, PairSpec, pair_name

__all__ = [
    "read_manifest",
]

logger = logging.getLogger(__name__)

#: The columns a manifest may have (``plus`` and ``minus`` required).
MANIFEST_COLUMNS = ("plus", "minus", "sample", "group", "optical", "bias_plus", "bias_minus")


def read_manifest(path: str | Path) -> Pairing:
    """Read a manifest CSV of pairs.

    Parameters
    ----------
    path : str or Path
        CSV with a header row: ``plus``, ``minus`` (required; paths relative to the manifest's
        folder) and optionally ``sample``, ``group``, ``optical``, ``bias_plus``,
        ``bias_minus`` (V).

    Returns
    -------
    Pairing
        Pairs in file order; names from the +V file, made unique.

    Raises
    ------
    ConfigError
        If the file is missing, a required column is absent, a column is unknown, or a bias is
        not a number; the message names the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read manifest: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in ("plus", "minus") if c not in cols]
    if missing:
        raise ConfigError(f"{path}: manifest lacks column(s) {missing}; columns: {cols}")
    unknown = [c for c in cols if c not in MANIFEST_COLUMNS]
    if unknown:
        raise ConfigError(f"{path}: unknown manifest column(s) {unknown}; known: "
                          f"{list(MANIFEST_COLUMNS)}")
    base = path.parent
    result = Pairing()
    seen: dict[str, int] = {}
    for lineno, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("plus") or not row.get("minus"):
            raise ConfigError(f"{path}:{lineno}: 'plus' and 'minus' must both be given")
        biases = []
        for key in ("bias_plus", "bias_minus"):
            try:
                biases.append(float(row[key]) if row.get(key) else None)
            except ValueError:
                raise ConfigError(
                    f"{path}:{lineno}: {key} must be a number in V, got {row[key]!r}") from None
        plus = base / row["plus"]
        name = pair_name(plus, base)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        sample = row.get("sample") or (Path(row["plus"]).parts[0]
                                       if len(Path(row["plus"]).parts) > 1 else base.name)
        result.pairs.append(PairSpec(
            name=name,
            plus=plus,
            minus=base / row["minus"],
            sample=sample,
            group=row.get("group") or sample,
            optical=base / row["optical"] if row.get("optical") else None,
            bias_plus=biases[0],
            bias_minus=biases[1],
        ))
    return result
