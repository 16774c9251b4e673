"""One +V / -V pair, from two scans to classes and domains (the main job).

Stages in data-flow order, one module each: :mod:`.inputs` (scans, polarity order, channels,
calibration), :mod:`.logamp` (volts to amps), :mod:`.coregister` (-V registered onto +V and
resampled there, with :mod:`.registration`), :mod:`.lag`, :mod:`.transport` (ionic /
electronic separation), :mod:`.classify` (the one classification rule), :mod:`.level`,
:mod:`.domains`, :mod:`.optical`, :mod:`.correlate`, :mod:`.medians`, :mod:`.checks`
(warnings); :mod:`.pipeline` runs them (:func:`analyze_pair`) and returns the record
:class:`PairResult` (:mod:`.result`). Nothing here writes files.
"""

from .inputs import resolve_biases, select_channels
from .pipeline import analyze_pair
from .result import PairResult

__all__ = ["PairResult", "analyze_pair", "resolve_biases", "select_channels"]
