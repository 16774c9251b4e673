"""Tutorial: from the bundled +V / -V pair to the numbers and a figure.

Run it from the repository (it reads ``data_samples/degraded/``)::

    python docs/examples/tutorial.py [OUTDIR]        # default OUTDIR: tutorial_out/

It analyses the simulated degraded-electrolyte pair (a +V scan: ionic + electronic current,
a -V scan: electronic current only; Bruker Nanoscope files with the log-amplifier output in V
and ``logamp.toml`` beside them), prints the registration, the area fractions of the four
classes and the median currents (a bound where the amplifier floor or the noise does not
resolve a value), writes the result files, reads them back and draws a figure of its own:
the ionic current on a log scale and the class map with its legend (``OUTDIR/tutorial.png``).
The tests run this script (tests/test_examples.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import afmcurrent  # noqa: E402
from afmcurrent.core.classes import CLASS_LABELS, ClassCode  # noqa: E402
from afmcurrent.io import read_result  # noqa: E402

PAIR = Path(__file__).resolve().parents[2] / "data_samples" / "degraded"
# colours of the classes 0..4: grey, then Okabe-Ito colours of distinct lightness
COLORS = ("#e0e0e0", "#009e73", "#e69f00", "#d55e00", "#0072b2")


def main(outdir: Path) -> None:
    # 1. Analyse the pair. The calibration (logamp.toml) beside the +V file is found; give
    #    logamp="FILE" or a preset name for files of your own.
    result = afmcurrent.analyze_pair(PAIR / "degraded_plus.spm", PAIR / "degraded_minus.spm")
    reg = result.registration
    print(f"channels: height {result.height_channel!r}, current {result.current_channel!r}")
    print(f"registration: -V scan shifted by (dy, dx) = ({reg.shift[0]:.2f}, "
          f"{reg.shift[1]:.2f}) px, confidence {reg.confidence:.2f}")
    print(f"classified: {result.classified_fraction:.1%} of the +V frame")
    for name, fraction in result.fractions.items():
        print(f"  {name:<26s} {fraction:6.1%}")
    bounds = result.median_current_bounds()  # e.g. {"ionic_current": "upper"}
    for name, value in result.median_currents().items():
        mark = {"upper": "< ", "lower": "> "}.get(bounds.get(name), "")
        print(f"  median {name:<20s} {mark}{value * 1e12:.3g} pA" if value is not None
              else f"  median {name:<20s} n/a")
    for warning in result.warnings:
        print(f"warning: {warning}")

    # 2. Write the result files (summary.json, result.h5, result.gwy, domains.csv, figures)
    #    and read them back, as a later session would.
    folder = outdir / "result"
    afmcurrent.write_result(result, folder, overwrite=True)
    stored = read_result(folder)
    print(f"wrote {len(stored.files)} files to {folder}; read back: maps "
          f"{', '.join(sorted(stored.maps)[:4])}, ... of {stored.shape[0]} x {stored.shape[1]} px")

    # 3. A figure of our own: the ionic current (log scale) and the class map with its legend.
    y_um = stored.size[0] * 1e6
    x_um = stored.size[1] * 1e6
    extent = (0, x_um, y_um, 0)  # row 0 at the top, as Gwyddion shows it
    ionic = stored.maps["ionic_current"]  # A, NaN where not resolved
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    finite = ionic[np.isfinite(ionic) & (ionic > 0)]
    im = ax1.imshow(ionic, extent=extent, cmap="cividis",
                    norm=LogNorm(vmin=np.percentile(finite, 1), vmax=np.percentile(finite, 99)))
    fig.colorbar(im, ax=ax1, label="ionic current (A)", shrink=0.9)
    ax1.set(title="ionic current (white: not resolved)", xlabel="x (µm)", ylabel="y (µm)")
    cmap = ListedColormap(COLORS)
    ax2.imshow(stored.maps["class"], extent=extent, cmap=cmap,
               norm=BoundaryNorm(np.arange(-0.5, 5.5), cmap.N), interpolation="nearest")
    ax2.set(title="classes", xlabel="x (µm)")
    ax2.legend(handles=[Patch(facecolor=COLORS[c], edgecolor="0.4", label=CLASS_LABELS[c])
                        for c in ClassCode], loc="upper left", bbox_to_anchor=(1.02, 1),
               fontsize="small", frameon=False)
    fig.savefig(outdir / "tutorial.png", dpi=120, bbox_inches="tight")  # legend inside
    plt.close(fig)
    print(f"figure: {outdir / 'tutorial.png'}")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tutorial_out")
    out.mkdir(parents=True, exist_ok=True)
    main(out)
