"""Instrument side of afmcurrent: dual-polarity log-amplifier AFM scans (see issue tracker)."""
