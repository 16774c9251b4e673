"""One +V / -V pair, from two scans to classes and domains (the main job).

Stages in data-flow order: the log amplifier (:mod:`.logamp`: volts to amps), leveling
(:mod:`.level`), co-registration of -V onto +V (:mod:`.registration`), ionic / electronic
separation (:mod:`.transport`), classification and domains (:mod:`.domains`), topography and
optical correlation (:mod:`.correlate`, :mod:`.optical`); :mod:`.pipeline` runs them
(:func:`analyze_pair`) and returns a :class:`PairResult`. Nothing here writes files.
"""

from .pipeline import PairResult, analyze_pair, resolve_biases, select_channels

__all__ = ["PairResult", "analyze_pair", "resolve_biases", "select_channels"]
