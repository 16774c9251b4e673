"""Map sets: many +V / -V pairs, analysed as a batch and classified with one pooled model.

In data-flow order: :mod:`.headers` (what each file's header says, read in isolated children)
-> :mod:`.pairing` (+V / -V pairs by header) or :mod:`.manifest` (pairs from a CSV) ->
:mod:`.tasks` (one pair: hash, skip or analyse, write its folder) on an executor
(:mod:`.executors`: isolated local processes, :mod:`.isolation`; this process; Dask) ->
:mod:`.pooled` (one model for the set) -> :mod:`.tables` (``summary.csv``, ``samples.csv``),
:mod:`.summary_figure`, :mod:`.report`; :mod:`.run` drives it all (:func:`run_batch`) in an
output folder it owns (:mod:`.outdir`).
"""

from .headers import ScanHeader, find_scan_files, read_scan_header
from .manifest import read_manifest
from .options import BatchOptions
from .pairing import Pairing, PairSpec, Unpaired, discover_pairs, pair_scans
from .run import run_batch
from .tables import SUMMARY_COLUMNS, BatchResult
from .tasks import input_hash, run_pair

__all__ = [
    "SUMMARY_COLUMNS",
    "BatchOptions",
    "BatchResult",
    "PairSpec",
    "Pairing",
    "ScanHeader",
    "Unpaired",
    "discover_pairs",
    "find_scan_files",
    "input_hash",
    "pair_scans",
    "read_manifest",
    "read_scan_header",
    "run_batch",
    "run_pair",
]
