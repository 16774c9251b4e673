"""Acquire's session files as inputs: the scans of a session, their status, and +V / -V pairs.

``afmcurrent acquire`` writes one HDF5 file per session (``acquisition/storage.py`` writes it;
this module reads it on its own, so that ``afmcurrent`` never imports ``acquisition``). The
layout read here (``format = "afmcurrent-acquisition/1"``)::

    /                     attrs: format, created, calibration (JSON {"logamp": {...}, "name"}),
                          sample, area, session (TOML text), ...
    /events               (n,) compound log of the session (not needed here)
    /scans/NNN/           attrs: bias (V, sample bias as applied), polarity, lines,
                          samples_per_line, size_m (height, width), offset_m (y0, x0),
                          rate_hz, angle_deg
      Height              (lines, samples) float64, m, NaN until the line is recorded
      LogAmp              (lines, samples) float64, V, the log-amplifier output
      line_time           (lines,) float64, unix s at the end of each line, NaN: not recorded
      lines_recorded      (1,) int64
      status              (1,) S16: "planned", "running", "complete", "aborted"
      reason              (1,) S400: why a scan was aborted
      times               (2,) float64: start and end of the scan, unix s

The writer keeps the file in HDF5's single-writer / multiple-reader mode (SWMR), so it is read
here with ``swmr=True``: a file still being written, or left by a writer that was killed, opens
with every line that was flushed, without ``h5clear``.

A session holds several scans, so it is not one scan: :func:`afmcurrent.io.load_scan` refuses
it with a message naming its scans (:func:`read_session_as_scan`); read one scan with
:func:`read_session_scan`, or a +V / -V pair with the calibration stored in the session with
:func:`load_session_pair`::

    from afmcurrent import analyze_pair
    from afmcurrent.io.session import load_session_pair

    pair = load_session_pair("S_A1_20261102-090000.h5")           # first complete pair
    result = analyze_pair(pair.plus, pair.minus, logamp=pair.calibration)

Lines not recorded
    A scan that did not finish (``aborted``; ``running`` when its writer was stopped) is
    refused with its reason unless ``allow_partial``: then both scans of the pair are
    **cropped** to the rows recorded in both (a contiguous block of whole lines; the scan
    size along the slow axis shrinks with it, the pixel size is kept). Cropping rather than
    masking: the pipeline's leveling, registration and classification see only measured
    pixels, and the area fractions are fractions of the area actually scanned instead of
    counting never-scanned rows as unclassified.

Modules: :mod:`.records` (the session's scans and pairs), :mod:`.file` (low-level, isolated
access), :mod:`.read` (the public readers).
"""

from .read import load_session_pair, read_session, read_session_as_scan, read_session_scan
from .records import FORMAT, MIN_LINES, Session, SessionPair, SessionScan, sniff_session

__all__ = [
    "FORMAT",
    "MIN_LINES",
    "SessionScan",
    "Session",
    "SessionPair",
    "sniff_session",
    "read_session",
    "read_session_scan",
    "load_session_pair",
    "read_session_as_scan",
]
