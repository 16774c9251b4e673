"""Honest numbers against simulated truth (issue 9 targets).

Prints, for the bundled pairs (data_samples/) and for held-out simulated degraded pairs (seeds
not used while tuning), next to the truth:
- area fractions, classified share, accuracy of the classified pixels;
- share of true shunt pixels (class 3, I(+V) ~ I(-V)) given an ionic current (target ~0);
- share of true class-4 pixels called class 2 (floor-limited -V treated as a value; target ~0);
- the median currents with their bounds and the warnings;
and the pooled model's class-4 share and agreement with the truth on a simulated set.
``--pooled-pairs N`` also fits the pooled model on N more held-out pairs (seeds 900...; N x 2000
drawn pixels, more than the 40 000 the model is fitted on when N > 20) in two ways: the batch's
fixed-size sample (:class:`PooledSample`, bounded memory) and the earlier uniform thinning of all
pairs' pixels held at once; prints both agreements with the truth.

Usage: python benchmarks/bench_truth.py [--seeds 41 42 43] [--pixels 256] [--pooled-pairs 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from afmcurrent import analyze_pair
from afmcurrent.core.classes import CLASS_NAMES
from afmcurrent.core.config import load_config
from afmcurrent.pair.classify import Thresholds
from afmcurrent.sets.pooled import PooledSample, features, fit_pooled, pair_sample
from afmcurrent.sim import simulate_pair

ROOT = Path(__file__).resolve().parents[1] / "data_samples"


def report(name: str, res, truth: np.ndarray) -> None:  # noqa: ANN001
    c = res.class_map
    cl = c > 0
    t = truth[res.maps.valid]
    frac = "  ".join(f"{k} {res.fractions[n] * 100:5.1f} (truth {np.mean(t == k) * 100:4.1f})"
                     for k, n in CLASS_NAMES.items())
    resolved = np.isfinite(res.maps.ionic_current)
    acc = np.mean(c[cl] == truth[cl]) if cl.any() else float("nan")
    print(f"{name}: classified {cl.mean() * 100:.1f} %, accuracy {acc * 100:.2f} %")
    print(f"   fractions %: {frac}")
    if (truth == 3).any():
        print(f"   true shunts with an ionic current: {resolved[truth == 3].mean() * 100:.1f} % "
              "(target ~0)")
    if (truth == 4).any():
        print(f"   true class 4 called class 2: {np.mean(c[truth == 4] == 2) * 100:.1f} % "
              "(target ~0)")
    med, bounds = res.median_currents(), res.median_current_bounds()
    print("   medians: " + ", ".join(
        f"{k} {'<' if bounds.get(k) == 'upper' else '>' if bounds.get(k) == 'lower' else ''}"
        f"{'n/a' if v is None else f'{v * 1e12:.3g} pA'}" for k, v in med.items()))
    for w in res.warnings:
        print(f"   warning: {w}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[41, 42, 43])
    ap.add_argument("--pixels", type=int, default=256)
    ap.add_argument("--pooled-pairs", type=int, default=0,
                    help="held-out pairs for the pooled sample comparison (0: skip)")
    args = ap.parse_args()

    for name in ("pristine", "degraded", "coated"):
        d = ROOT / name
        truth = np.load(d / "truth.npz")["class_map"]
        report(f"bundled {name}", analyze_pair(d / f"{name}_plus.spm", d / f"{name}_minus.spm"),
               truth)

    samples, kept = {}, []
    for seed in args.seeds:
        p = simulate_pair("degraded", seed=seed, shape=(args.pixels, args.pixels))
        res = analyze_pair(p.plus, p.minus, logamp=p.calibration)
        report(f"held-out degraded seed {seed}", res, p.truth.class_map)
        samples[str(seed)] = pair_sample(res.maps.plus_current, res.maps.electronic_current,
                                         str(seed))
        kept.append((p, res))
    model = fit_pooled(samples, Thresholds.from_settings(load_config().classify))
    print(f"pooled model: components of classes {sorted(model.classes.tolist())}")
    for p, res in kept:
        f, idx = features(res.maps.plus_current, res.maps.electronic_current)
        pooled = np.zeros(res.class_map.size, np.uint8)
        pooled[idx] = model.predict(f)
        truth = p.truth.class_map.ravel()
        both = pooled > 0
        print(f"   seed: pooled class 4 {np.mean(pooled[both] == 4) * 100:.1f} % (truth "
              f"{np.mean(truth == 4) * 100:.1f} %), agreement with truth "
              f"{np.mean(pooled[both] == truth[both]) * 100:.1f} %")

    if args.pooled_pairs:
        pooled_sample_comparison(args.pooled_pairs, args.pixels)


def pooled_sample_comparison(n: int, pixels: int) -> None:
    """Pooled model on n held-out pairs: the batch's fixed-size sample vs all pixels held."""
    th = Thresholds.from_settings(load_config().classify)
    samples, kept = {}, []
    for i in range(n):
        seed = 900 + i
        preset = ("degraded", "pristine", "coated")[i % 3]
        p = simulate_pair(preset, seed=seed, shape=(pixels, pixels))
        res = analyze_pair(p.plus, p.minus, logamp=p.calibration)
        samples[f"pair{seed}"] = pair_sample(res.maps.plus_current,
                                             res.maps.electronic_current, f"pair{seed}")
        f, idx = features(res.maps.plus_current, res.maps.electronic_current)
        kept.append((f, idx, p.truth.class_map.ravel()))
    res_sample = PooledSample(seed=0)
    for k, v in samples.items():
        res_sample.add(k, v)
    drawn = sum(len(v) for v in samples.values())
    for label, model in (("all pixels held, thinned", fit_pooled(samples, th, seed=0)),
                         ("fixed-size PooledSample", fit_pooled(res_sample.as_dict(), th))):
        agree = tot = c4 = t4 = 0
        for f, idx, truth in kept:
            pooled = np.zeros(truth.size, np.uint8)
            pooled[idx] = model.predict(f)
            both = pooled > 0
            agree += int(np.sum(pooled[both] == truth[both]))
            tot += int(both.sum())
            c4 += int(np.sum(pooled[both] == 4))
            t4 += int(np.sum(truth[both] == 4))
        print(f"pooled model on {n} held-out pairs ({drawn} drawn pixels, fitted on "
              f"{model.n_pixels}), {label}: agreement with truth {agree / tot * 100:.2f} %, "
              f"class 4 {c4 / tot * 100:.2f} % (truth {t4 / tot * 100:.2f} %), components "
              f"{sorted(model.classes.tolist())}")


if __name__ == "__main__":
    main()
