"""What a pair's analysis writes: the summary contract, the files, the figures.

Functions over the record :class:`afmcurrent.pair.result.PairResult`: :func:`summary`
(``summary.json``, :mod:`.summary`), :func:`write_result` (every file, :mod:`.writers`), the
maps as channels (:mod:`.maps`), the figures (:mod:`.figures`).
"""

from .maps import gwy_channels, result_scan
from .summary import summary, summary_json
from .writers import prepare_outdir, write_result

__all__ = [
    "gwy_channels",
    "prepare_outdir",
    "result_scan",
    "summary",
    "summary_json",
    "write_result",
]
