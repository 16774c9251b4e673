"""What a pair's analysis writes: the summary contract, the files, the figures."""

from .writers import gwy_channels, prepare_outdir, result_scan, write_result

__all__ = ["gwy_channels", "prepare_outdir", "result_scan", "write_result"]
