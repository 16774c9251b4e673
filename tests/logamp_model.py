"""An independent model of a real log amplifier (Analog Devices AD8304) for calibration tests.

Written apart from the analysis (it does not use ``LogAmpCalibration`` or its formula): the
output of a translinear log amplifier as the AD8304 data sheet (Rev. A) describes it, with the
imperfections that make a real calibration table leave its line at both ends:

- ``VLOG = VY log10(I / IZ)``, VY = 200 mV/decade ("Decibel Scaling"); the output buffer adds a
  user offset (here the Nanosurf setting of docs/science.md: 0 V at 100 nA);
- at low currents the input offset / leakage current adds to the signal, ``I + I_leak``, so the
  output flattens (the data sheet's log conformance error grows below ~1 nA);
- at high currents the transistors' bulk emitter resistance adds ``I r_e`` to V_BE, i.e.
  ``VY I r_e / (ln(10) kT/q)`` to the output (the conformance error above ~1 mA), and the output
  stage clips softly at its rail;
- output noise in V, larger at low currents (input-referred noise / bandwidth).
"""

from __future__ import annotations

import math

import numpy as np

VY = 0.2            # V/decade
I_REF = 1e-7        # A at 0 V (buffer offset)
KT_Q = 0.025852     # V at 300 K


def ad8304_output(current, *, i_leak=5e-12, r_bulk=1.0, rail=1.0, knee=0.03):
    """Noise-free output (V) of the modelled amplifier at input currents (A)."""
    i = np.asarray(current, float)
    v = VY * np.log10((i + i_leak) / I_REF)
    v = v + VY * i * r_bulk / (math.log(10) * KT_Q)
    # soft clip at the rail: v below it passes, v above it stays at the rail
    return rail - knee * np.logaddexp(0.0, (rail - v) / knee)


def ad8304_table(rng, currents, readings=3, noise_v=0.002, noise_low_a=2e-11, **kw):
    """Readings (currents repeated, volts) of a calibration run with the model above."""
    i = np.repeat(np.asarray(currents, float), readings)
    v = ad8304_output(i, **kw)
    sigma = noise_v * np.sqrt(1.0 + noise_low_a / i)
    return i, v + rng.normal(0.0, 1.0, i.size) * sigma
