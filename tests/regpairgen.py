"""Independent generator of +V / -V scan pairs with known per-row displacement (creep).

Written apart from :mod:`afmcurrent.sim` and :mod:`afmcurrent.pair.registration` so that it
shares none of their conventions or interpolation: the sample is a *continuous* function of
the physical position (random Fourier modes, Gaussian bumps, terrace steps, grains with
grooves), evaluated analytically at the position the tip has at each pixel of each scan. No
image is ever resampled.

Scan model. Reference (+V) pixel ``(r, c)`` sits at the physical position
``(y, x) = (r + a(r), c + b(r))``; moving (-V) pixel ``(m, c)`` at ``(m + u(m), c + v(m))``.
``u, v`` (and the small ``a, b`` of the reference scan) are slow-axis creep: exponential
settling after the frame start, a few low-frequency terms, a linear drift and a constant
offset, all functions of the line index (time). The truth the registration must find is the
displacement at every reference row, ``reference[r, c] = moving[r - dy(r), c - dx(r)]``:
the moving line ``m`` that passes through the physical line ``r + a(r)`` solves
``m + u(m) = r + a(r)``, so ``dy(r) = r - m`` and ``dx(r) = v(m) - b(r)``.

Currents: a type-1 (ionic-conducting) indicator field is bright at +V and dark at -V; a
shunt indicator is bright at both; each map carries its own independent texture, so the two
current maps are physically different images (their correlation can be negative).

Used by ``tests/test_registration.py`` (small images, few seeds) and
``benchmarks/registration_accuracy.py`` (the 512 x 512 sweep).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


@dataclass
class Field:
    """A continuous random function of the physical position (y, x) in px."""

    ky: np.ndarray
    kx: np.ndarray
    amp: np.ndarray
    phase: np.ndarray
    bumps: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # y, x, sigma, amp
    steps: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))  # ny, nx, c, w, amp
    grains: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # y, x, height
    groove: tuple[float, float] = (0.0, 1.0)  # depth, width (px)

    def __call__(self, y: np.ndarray, x0: np.ndarray, cols: int) -> np.ndarray:
        """Values on a scan: line ``i`` at physical ``y[i]``, pixels at ``x0[i] + 0..cols-1``."""
        c = np.arange(cols, dtype=np.float64)
        # Fourier modes: cos(ky*y + kx*(x0 + c) + phi) = Re(P[i, k] * Q[k, c])
        p = self.amp * np.exp(1j * (np.outer(y, self.ky) + np.outer(x0, self.kx) + self.phase))
        q = np.exp(1j * np.outer(self.kx, c))
        out = (p @ q).real
        yy = y[:, None]
        xx = x0[:, None] + c[None, :]
        for by, bx, s, a in self.bumps:
            out += a * np.exp(-((yy - by) ** 2 + (xx - bx) ** 2) / (2 * s * s))
        for ny, nx, c0, w, a in self.steps:
            out += a * np.tanh((ny * yy + nx * xx - c0) / w)
        if len(self.grains):
            tree = cKDTree(self.grains[:, :2])
            pts = np.column_stack([np.broadcast_to(yy, xx.shape).ravel(), xx.ravel()])
            d, i = tree.query(pts, k=2)
            h = self.grains[i[:, 0], 2] - self.groove[0] * np.exp(
                -((d[:, 1] - d[:, 0]) / self.groove[1]) ** 2)
            out += h.reshape(xx.shape)
        return out


def random_field(rng: np.random.Generator, extent: float, *, modes: int = 80,
                 kmin: float = 2 * math.pi / 200, kmax: float = 2 * math.pi / 5,
                 slope: float = 1.0, bumps: int = 0, steps: int = 0, grains: int = 0,
                 origin: float = -110.0) -> Field:
    """Random continuous field of unit-ish RMS over a square of side ``extent`` px.

    Mode amplitudes fall as ``|k|**-slope`` (log-uniform wavenumbers); bumps, steps and grains
    are placed uniformly over ``[origin, origin + extent]``.
    """
    k = np.exp(rng.uniform(math.log(kmin), math.log(kmax), modes))
    th = rng.uniform(0, 2 * math.pi, modes)
    amp = k ** -slope
    amp *= math.sqrt(2.0 / np.sum(amp**2))
    amp *= rng.uniform(0.5, 1.5, modes)
    lo, hi = origin, origin + extent
    b = np.column_stack([rng.uniform(lo, hi, bumps), rng.uniform(lo, hi, bumps),
                         rng.uniform(2, 10, bumps), rng.normal(0, 1.5, bumps)])
    ang = rng.uniform(0, 2 * math.pi, steps)
    py, px = (rng.uniform(lo + 0.3 * extent, hi - 0.3 * extent, steps) for _ in range(2))
    s = np.column_stack([np.cos(ang), np.sin(ang), np.cos(ang) * py + np.sin(ang) * px,
                         rng.uniform(0.7, 2.0, steps), rng.normal(0, 0.5, steps)])
    g = np.column_stack([rng.uniform(lo, hi, grains), rng.uniform(lo, hi, grains),
                         rng.normal(0, 0.6, grains)])
    return Field(k * np.cos(th), k * np.sin(th), amp, rng.uniform(0, 2 * math.pi, modes),
                 b, s, g, (0.8, 1.5))


@dataclass
class Creep:
    """Position error of a scan as a function of its line index ``m`` (px).

    ``settle``: exponential settling ``exp(-m / tau)``. ``log_amp``: logarithmic creep after
    the step of the slow axis back to the frame start, ``log10(1 + m / log_t0)`` per the
    creep law of piezo actuators, ``x(t) = x0 (1 + gamma log10(t / t0))`` (Jung & Gweon, Rev.
    Sci. Instrum. 71 (2000) 1896; Croft, Shed & Devasia, J. Dyn. Syst. Meas. Control 123
    (2001) 35): time runs with the line index, and ``log_t0`` (lines) is the time between
    the step and the first line. It is steepest at the frame start (slope
    ``log_amp / (ln 10 log_t0)`` px/line), unlike the exponential.
    """

    offset: tuple[float, float] = (0.0, 0.0)
    drift: tuple[float, float] = (0.0, 0.0)  # px per line, about the centre line
    settle: tuple[float, float] = (0.0, 0.0)  # amplitude of exp(-m / tau)
    tau: float = 60.0
    waves: list[tuple[float, float, float, float]] = field(default_factory=list)
    # (amp_y, amp_x, period in lines, phase)
    rows: int = 512
    log_amp: tuple[float, float] = (0.0, 0.0)
    log_t0: float = 10.0

    def __call__(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = np.asarray(m, dtype=np.float64)
        t = m - (self.rows - 1) / 2.0
        # settling after the scan starts; before it (no overlap, only for the inversion) the
        # curve continues with its initial slope
        e = np.where(m >= 0, np.exp(-np.clip(m, 0, None) / self.tau), 1.0 - m / self.tau)
        uy = self.offset[0] + self.drift[0] * t + self.settle[0] * e
        ux = self.offset[1] + self.drift[1] * t + self.settle[1] * e
        if self.log_amp != (0.0, 0.0):
            # before the first line (only for the inversion) continued with its initial slope
            mm = np.clip(m, 0, None)
            lg = np.log10(1.0 + mm / self.log_t0) + np.where(
                m < 0, m / (math.log(10.0) * self.log_t0), 0.0)
            uy = uy + self.log_amp[0] * lg
            ux = ux + self.log_amp[1] * lg
        for ay, ax, per, ph in self.waves:
            s = np.sin(2 * math.pi * m / per + ph)
            uy = uy + ay * s
            ux = ux + ax * s
        return uy, ux


@dataclass
class Pair:
    """A generated pair and its truth."""

    ref_height: np.ndarray
    mov_height: np.ndarray
    ref_current: np.ndarray  # A, |I(+V)|
    mov_current: np.ndarray  # A, |I(-V)|
    displacement: np.ndarray  # (rows, 2): [dy(r), dx(r)] per reference row
    kind: str
    seed: int


def _invert(u, target: np.ndarray) -> np.ndarray:
    """Solve ``m + u(m) = target`` for m (u smooth, |u'| < 1) by fixed-point iteration."""
    m = target.copy()
    for _ in range(60):
        m_new = target - u(m)[0]
        if np.max(np.abs(m_new - m)) < 1e-10:
            return m_new
        m = m_new
    return m


def make_pair(seed: int, rows: int = 512, cols: int = 512, *, kind: str = "textured",
              max_offset: float = 40.0, max_drift: float = 0.02,
              creep_range: tuple[float, float] = (4.0, 10.0),
              height_noise: float = 0.03, current_noise: float = 0.05,
              instrument: bool = True, offset: tuple[float, float] | None = None,
              drift: tuple[float, float] | None = None, creep: str = "settle") -> Pair:
    """A random pair of the given kind with its per-row displacement truth.

    Parameters
    ----------
    seed : int
    rows, cols : int
    kind : {"textured", "featureless", "grains"}
        ``"featureless"``: the height holds only noise, tilt and line offsets (the currents
        carry the structure).
    max_offset : float
        Largest |offset| per axis at the frame centre, px.
    max_drift : float
        Largest |linear drift| per axis, px per line.
    creep_range : tuple of float
        Range of the peak-to-peak variation of the creep part of dy(r) across the frame
        (settling and low-frequency terms; the linear drift comes on top).
    height_noise, current_noise : float
        Noise in units of the height RMS, and in decades.
    instrument : bool
        Add tilt, bow and line offsets (independent in each scan).
    offset, drift : tuple of float, optional
        Impose the offset (px) and linear drift (px/line) of the moving scan instead of
        drawing them.
    creep : {"settle", "log"}
        ``"settle"``: exponential settling plus low-frequency terms (the original family).
        ``"log"``: logarithmic creep after the slow axis steps back to the frame start (the
        creep law of piezo actuators, see :class:`Creep`) plus a thermal drift; its
        peak-to-peak along y is drawn from ``creep_range`` as well.
    """
    rng = np.random.default_rng(seed)
    scale = rows / 512.0
    # creep of the moving scan (relative displacement) and a smaller one of the reference
    off = (rng.uniform(-max_offset, max_offset), rng.uniform(-max_offset, max_offset))
    drf = (rng.uniform(-max_drift, max_drift), rng.uniform(-max_drift, max_drift))
    off = off if offset is None else (float(offset[0]), float(offset[1]))
    drift = drf if drift is None else (float(drift[0]), float(drift[1]))
    max_offset = max(max_offset, abs(off[0]), abs(off[1]))
    tau = rng.uniform(30, 150) * scale
    waves = [(rng.normal(0, 1.0), rng.normal(0, 0.5), rng.uniform(0.7, 3.0) * rows,
              rng.uniform(0, 2 * math.pi)) for _ in range(2)]
    settle = (rng.choice([-1, 1]) * rng.uniform(2.0, 8.0), rng.normal(0, 1.5))
    mov = Creep(off, drift, settle, tau, waves, rows)
    # scale the non-linear part so that its peak-to-peak along y lies in creep_range
    m = np.arange(rows, dtype=np.float64)
    lin = Creep((0, 0), (0, 0), settle, tau, waves, rows)(m)[0]
    want = rng.uniform(*creep_range) * scale
    k = want / max(np.ptp(lin), 1e-9)
    mov = Creep(off, drift, (settle[0] * k, settle[1] * k), tau,
                [(a * k, b * k, p, ph) for a, b, p, ph in waves], rows)
    if creep == "log":
        # the creep law instead: t0 of 2-20 lines (fast scans: the step back to the frame
        # start is a few lines before the first one), direction and x share random
        t0 = float(np.exp(rng.uniform(math.log(2.0), math.log(20.0)))) * scale
        amp = np.array([rng.choice([-1, 1]), rng.normal(0, 0.4)])
        lg = np.log10(1.0 + m / t0)
        amp = amp * (want / max(np.ptp(lg), 1e-9))
        mov = Creep(off, drift, (0.0, 0.0), tau, [], rows, (float(amp[0]), float(amp[1])), t0)
    elif creep != "settle":
        raise ValueError(f"unknown creep family {creep!r}")
    ref = Creep((0.0, 0.0), (rng.uniform(-0.002, 0.002), 0.0),
                (rng.uniform(-1.0, 1.0), rng.uniform(-0.5, 0.5)), rng.uniform(20, 80), [], rows)

    r = np.arange(rows, dtype=np.float64)
    ay, ax = ref(r)
    y_ref, x_ref = r + ay, ax
    mm = _invert(mov, y_ref)  # moving line through each reference line's physical y
    _, vx = mov(mm)
    truth = np.column_stack([r - mm, vx - ax])
    uy, ux = mov(r)
    y_mov, x_mov = r + uy, ux

    extent = max(rows, cols) + 2 * max_offset + 140
    o = -max_offset - 70.0
    topo = random_field(rng, extent, bumps=int(60 * scale**2), steps=4,
                        grains=int(120 * scale**2) if kind == "grains" else 0, origin=o)
    cls1 = random_field(rng, extent, modes=40, kmin=2 * math.pi / 300, kmax=2 * math.pi / 25,
                        origin=o)
    cls3 = random_field(rng, extent, modes=40, kmin=2 * math.pi / 200, kmax=2 * math.pi / 20,
                        origin=o)
    tex_p = random_field(rng, extent, modes=60, kmin=2 * math.pi / 60, kmax=2 * math.pi / 4,
                         origin=o)
    tex_m = random_field(rng, extent, modes=60, kmin=2 * math.pi / 60, kmax=2 * math.pi / 4,
                         origin=o)

    def heights(y, x0, cols_):
        if kind == "featureless":
            return np.zeros((len(y), cols_))
        return topo(y, x0, cols_)

    def currents(y, x0, cols_, plus: bool):
        s1 = _sigmoid(6.0 * (cls1(y, x0, cols_) - 0.3))
        s3 = _sigmoid(8.0 * (cls3(y, x0, cols_) - 1.2))
        if plus:
            logi = -12.0 + 2.0 * s1 + 1.5 * s3 + 0.25 * tex_p(y, x0, cols_)
        else:
            logi = -12.3 - 1.0 * s1 + 1.5 * s3 + 0.25 * tex_m(y, x0, cols_)
        return logi

    def scan(y, x0, plus: bool):
        h = heights(y, x0, cols)
        hr = 1.0 if kind != "featureless" else 0.05
        h = h + rng.normal(0, height_noise * hr, h.shape)
        # instrument: tilt, bow and line offsets (independent in each scan)
        if not instrument:
            logi = currents(y, x0, cols, plus) + rng.normal(0, current_noise, (rows, cols))
            return 2e-9 * h, 10.0**logi
        yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
        h = h + rng.normal(0, 2) / rows * yy + rng.normal(0, 2) / cols * xx
        h = h + rng.normal(0, 1.0) * ((xx - cols / 2) / cols) ** 2
        h = h + rng.normal(0, 0.3 * hr, rows)[:, None]
        logi = currents(y, x0, cols, plus) + rng.normal(0, current_noise, (rows, cols))
        return 2e-9 * h, 10.0**logi

    rh, rc = scan(y_ref, x_ref, True)
    mh, mc = scan(y_mov, x_mov, False)
    return Pair(rh, mh, rc, mc, truth, kind, seed)
