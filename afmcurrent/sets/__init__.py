"""Map sets: pairing scans into +V / -V pairs, batch runs, the pooled model, set tables."""

from .batch import SUMMARY_COLUMNS, BatchOptions, BatchResult, run_batch, run_pair
from .pairing import Pairing, PairSpec, discover_pairs, read_manifest

__all__ = [
    "SUMMARY_COLUMNS",
    "BatchOptions",
    "BatchResult",
    "PairSpec",
    "Pairing",
    "discover_pairs",
    "read_manifest",
    "run_batch",
    "run_pair",
]
