"""Bruker (Digital Instruments / Veeco) Nanoscope image files: reader and writer.

Modules: :mod:`.values` (values of header entries), :mod:`.parse` (the text header and the
normalised metadata), :mod:`.header` (:func:`read_nanoscope_header`: the header with the image
geometry, no pixel data), :mod:`.read` (:func:`read_nanoscope`), :mod:`.write`
(:func:`write_nanoscope`).

Public API (a contract, keep it stable)
---------------------------------------
read_nanoscope_header(path) -> dict
    Parse and return the text header only (works on header-only files).
read_nanoscope(path) -> Scan
    Read every image channel of a Nanoscope image file (``.spm``, ``.000`` ... ``.999``).
write_nanoscope(path, scan, overwrite=False) -> Path
    Write a Scan as a Nanoscope image file (4 bytes per pixel).

File layout (facts of the format)
---------------------------------
A Nanoscope file starts with a text header of ``\\key: value`` lines grouped in sections
(``\\*File list``, ``\\*Scanner list``, ``\\*Ciao scan list``, one ``\\*Ciao image list`` per
image channel, ...), closed by ``\\*File list end``. Each image section gives the absolute
``Data offset`` and ``Data length`` of its pixels: little-endian signed integers, ``Number of
lines`` rows of ``Samps/line`` values, stored bottom row first.

The reading rules are those of Gwyddion's ``nanoscope`` module (Gwyddion 2.62, module 0.48),
taken as facts and checked file by file with ``gwyddion --convert-to-gwy`` in the tests:

* **sample size**: from NanoScope 9.2 on (``\\Version`` >= ``0x09200000``) every sample is a
  4-byte integer whatever ``Bytes/pixel`` says; ``Bytes/pixel`` (default 2) only sets the
  scale divisor ``2**(8 * Bytes/pixel)``. Before 9.2 the samples have ``Bytes/pixel`` bytes
  (Gwyddion reads 2 there in every case; the two agree on every real file we know);
* **value** = ``raw / 2**(8 * Bytes/pixel) * Z * S`` where ``Z`` is the hard value of the
  image's ``@2:Z scale: V [Sens. X] (... V/LSB) Z unit`` entry (``@4:`` first, as Gwyddion;
  ``@3:`` for interleave-only images) and ``S`` the number of the ``@Sens. X: V S unit/V``
  entry (looked up in the scanner list, then the scan list before the image). The unit is
  the sensitivity's numerator: ``nm/V`` gives m, ``nA/V`` / ``pA/V`` (TUNA, C-AFM, SSRM
  current through ``@Sens. CurrentSens``, ``@Sens. tunaSens``...) give A. A unit-less
  sensitivity gives the Z scale's own unit (V for an auxiliary input such as ``Input1``,
  degrees for ``Sens. Phase``). Unlike Gwyddion 2.62 the prefix of that unit is applied
  (``3999.9 mV`` is 3.9999 V; Gwyddion labels the mV numbers V). An entry without a soft
  scale is in its own hard unit;
* **size**: ``\\Scan size: W H unit`` of the image (one number: H = W). When the image's
  ``Aspect ratio`` is not 1:1, H is scaled by ``lines / samples-per-line`` if the scan list's
  aspect is also non-square, else by ``lines / scan-list Lines`` (a partial frame). When the
  data length fits the scan list's pixel counts and not the image's, those win;
* **orientation**: rows reversed (row 0 = top row as Gwyddion displays it);
* **kind**: ``\\*Force file list``, ``Operating mode: Force`` (single curves) and ``Start
  context`` ending in ``VAR`` (profile sets) are refused; force-volume files give their image
  channels (the curve maps are skipped with a warning); ``?*File list`` (text data) is
  refused.

Conventions of the returned :class:`~afmcurrent.core.model.Scan`
-----------------------------------------------------------
* channel name: the quoted name of ``\\@2:Image Data: S [Height] "Height"`` for a trace image,
  ``"<name> (retrace)"`` for a retrace image (``\\Line direction: Retrace``); a name that would
  repeat gets ``" #2"``, ``" #3"``...; ``Channel.quantity`` is the quoted name and
  ``Channel.metadata["gwyddion_title"]`` the bracketed one, which Gwyddion uses as its title;
  channels come in file order, as Gwyddion's data fields do;
* units: SI (``"m"``, ``"A"``, ``"V"``, ``"deg"``); other sensitivity units are kept as text;
* ``Scan.size = (height, width)`` in m (rules above); ``Scan.offset = (y0, x0)`` from
  ``\\X offset`` / ``\\Y offset`` of the scan list (Gwyddion does not report offsets);
* ``Scan.bias``: the sample bias in V (see below) or ``None``.

Metadata
--------
``Scan.metadata`` holds every header entry of the non-image sections as a string, keyed by the
header key without its leading backslash (``"Scan rate"``, ``"@Sens. Zscan"``,
``"@2:Sample Bias"``). A key seen again in a later section with a different value is stored
as ``"<section>::<key>"`` (e.g. ``"Ciao scan list::Samps/line"``); a key repeated within a
section with a different value gets ``" #2"``, ``" #3"``... Each channel's own section goes to
``Channel.metadata`` (same key rule). The normalised keys of :mod:`afmcurrent.io._meta` are
added: ``vendor``, ``instrument`` (``\\Microscope`` or ``\\Description``), ``operating_mode``
(``@MicroscopeList`` such as "PeakForce QNM", "Contact", "Tapping"), ``date``, ``bias_V``,
``bias_source``, ``scan_width_m``, ``scan_height_m``, ``scan_size_m``, ``samples_per_line``,
``lines``, ``scan_rate_hz`` (``\\Scan rate``, lines/s), ``scan_angle_deg`` (``\\Rotate Ang.``,
which Nanoscope records in radians: 1.5708 is 90 deg), ``x_offset_m``, ``y_offset_m``,
``slow_scan_direction`` (``\\Frame direction``), ``current_sensitivity_A_per_V``
(``@Sens. Current`` or ``@Sens. CurrentSens``, sign kept) and ``nanoscope_version``.

Sample bias rule
----------------
``bias_V`` is the first non-zero value among these main-scan (``@2:``) entries, in this
order: ``@2:Sample Bias`` (NanoScope 6 and later; the one :func:`write_nanoscope` writes),
``@2:DC Sample Bias`` (TUNA / C-AFM, through its ``[Sens. biassens]``), ``@2:SSRMSampleBias``,
``@2:Bias`` (NanoScope 5), ``@2:DC bias``, ``@2:DCBias``; then ``-@2:Tip Bias`` (a tip bias
is the negative sample bias). When all present entries are zero the bias is 0 V from the
first of them. Units (mV, V) are converted to V. ``@3:`` entries (interleave / lift pass)
are not used.
"""


from .header import read_nanoscope_header
from .parse import MAX_HEADER_BYTES
from .read import read_nanoscope
from .write import write_nanoscope

__all__ = ["read_nanoscope_header", "read_nanoscope", "write_nanoscope", "MAX_HEADER_BYTES"]
