"""The session file's layout: HDF5 names, the event record, the ``bias`` event message.

Layout (HDF5 with ``libver="latest"`` and single-writer / multiple-reader mode, SWMR, so that
the file can be read while the scan runs, and a file left by a killed process opens with every
line that was flushed)::

    /                     attrs: sample, area, created, session (TOML text), calibration
                          (JSON of the [logamp] table), format = "afmcurrent-acquisition/1"
    /events               (n,) compound: time (unix s), scan (int, -1 for the session),
                          kind (S24), message (S400); grows as events happen
    /scans/NNN/           attrs: bias (V, planned), polarity ("+"/"-"), lines, samples_per_line,
                          size_m (height, width), offset_m, rate_hz, angle_deg, channels
      Height              (lines, samples) float64, m      NaN until the line is recorded
      LogAmp              (lines, samples) float64, V      log-amplifier output
      line_time           (lines,) float64, unix s at the end of each line (NaN: not recorded)
      source_current      (lines,) float64, A read from the bias source after each line
      lines_recorded      (1,) int64
      status              (1,) S16: "planned", "running", "complete", "aborted"
      reason              (1,) S400: why it was aborted ("" otherwise)
      times               (2,) float64: start and end, unix s
      point_current       (2,) float64: log-amp current at the parked probe before / after, A

SWMR forbids creating objects once writing has started, so every scan of the plan is created
up front; statuses and counters are small datasets (attributes cannot change under SWMR).
Every line is written whole: rows ``0 .. lines_recorded - 1`` hold data, the rows after them
NaN (the session writes a line inside :meth:`acquisition.safety.SafeBias.atomic`, so a signal
cannot leave a row written but not counted).

Events written by the protocol (``kind``: message), additions of issue 14 marked (+), the
layout above is unchanged and ``format`` stays ``afmcurrent-acquisition/1``:

* (+) ``bias``: written *before* each command that changes the source's level or output
  (write-ahead), message ``level +5.000000e-01 V output on: <why>``
  (:func:`format_bias_event` / :func:`parse_bias_event`); the last one says what the source was
  last told, or was about to be told (:func:`acquisition.session.last_bias_event`);
* (+) ``recovered``: what the start found (output left on, level from the instrument or the
  write-ahead state, or switched off directly); ``limits``: the instrument's own limits read
  back at configure; ``watchdog``: the on-instrument watchdog armed / disarmed / fired;
  ``signal``: a signal held back during the shutdown; ``shutdown``: how the bias reached 0 V
  (ramp, or direct switch-off after the deadline; confirmed or not);
  ``shutdown_failed``: the instrument could not be reached (output state unknown);
* ``session``, ``identify``, ``output_on``, ``ramp``, ``rest``, ``settled``,
  ``settle_timeout``, ``point_before``, ``point_after``, ``scan_done``, ``abort``,
  ``analysis``, ``analysis_failed`` as before; ``repeat``: +V, -V, +V, the two +V scans
  compared (the share of pixels whose class would change, the warning above the limit).

(+) A session whose process was killed cannot get more events: the file keeps its SWMR write
flag, and HDF5 refuses a second writer. Its supervisor (:mod:`acquisition.safety.supervisor`)
writes what it did beside it, in ``<session>.supervisor.json``; the next session on the same
source records it again as a ``recovered`` event in its own file.

``afmcurrent.io.session`` reads this layout on its own (``afmcurrent`` never imports
``acquisition``): a change here is a change there.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["FORMAT", "HEIGHT", "LOGAMP", "EVENT_DTYPE", "BIAS_EVENT", "format_bias_event",
           "parse_bias_event"]

FORMAT = "afmcurrent-acquisition/1"
#: Channel names in the file (the log-amp name matches afmcurrent's "log" hint).
HEIGHT, LOGAMP = "Height", "LogAmp"
#: One row of ``/events``.
EVENT_DTYPE = np.dtype([("time", "f8"), ("scan", "i4"), ("kind", "S24"), ("message", "S400")])
#: Event kind of the write-ahead bias record.
BIAS_EVENT = "bias"
_BIAS_RE = re.compile(r"^level ([-+0-9.eE]+) V output (on|off)")


def format_bias_event(level: float, output: bool, note: str = "") -> str:
    """Message of a ``bias`` event: ``level +5.000000e-01 V output on: ramp to +1 V``."""
    return f"level {level:+.6e} V output {'on' if output else 'off'}" + (f": {note}" if note
                                                                          else "")


def parse_bias_event(message: str) -> tuple[float, bool] | None:
    """``(level V, output on)`` of a ``bias`` event message; None if it is not one."""
    m = _BIAS_RE.match(message)
    if m is None:
        return None
    try:
        v = float(m.group(1))
    except ValueError:
        return None
    if not math.isfinite(v):
        return None
    return v, m.group(2) == "on"
