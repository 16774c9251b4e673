"""Classification rules, area fractions and the per-domain table."""

import numpy as np
import pytest

from afmcurrent.core.classes import area_fractions
from afmcurrent.core.config import ClassifySettings, DomainSettings, TransportSettings
from afmcurrent.pair.classify import Thresholds, classify, thresholds_from_reference
from afmcurrent.pair.domains import find_domains
from afmcurrent.pair.transport import separate

# Currents (A) of the paper's states at +/-1 V (docs/science.md).
STATES = {
    1: (5e-12, 2.5e-17),   # type 1: ionic, I(-V) ~5 decades below
    2: (5e-15, 5e-15),     # type 2: I(+V) ~ I(-V) ~ 5e-3 pA
    3: (3e-10, 3e-10),     # type 3: electronic shunt, 300 pA
    4: (1e-15, 1e-17),     # type 4: ionic-dominated but insulating
}


def maps_from_truth(truth, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    plus = np.zeros(truth.shape)
    minus = np.zeros(truth.shape)
    for code, (p, m) in STATES.items():
        plus[truth == code] = p
        minus[truth == code] = m
    plus *= 10 ** rng.normal(0, noise, truth.shape)
    minus *= 10 ** rng.normal(0, noise, truth.shape)
    floor = 1e-18
    return separate(
        plus, minus, 1.0, -1.0,
        plus_at_floor=plus <= floor, minus_at_floor=minus <= floor,
        settings=TransportSettings(noise_decades=max(noise, 1e-3)),
    )


def test_rules_reproduce_truth():
    truth = np.repeat(np.arange(1, 5, dtype=np.uint8), 25).reshape(10, 10)
    cls = classify(maps_from_truth(truth, noise=0.02), Thresholds.from_settings(ClassifySettings()))
    assert cls.dtype == np.uint8
    np.testing.assert_array_equal(cls, truth)


def test_straddling_threshold_is_undetermined():
    # Ionic current exactly at the 0.1 pA threshold: within noise, so class 0.
    plus = np.full((3, 3), 1e-13)
    m = separate(plus, plus * 1e-6, 1.0, -1.0)
    cls = classify(m, Thresholds.from_settings(ClassifySettings()))
    assert np.all(cls == 0)
    # Far above it: class 1.
    m = separate(plus * 30, plus * 1e-6, 1.0, -1.0)
    assert np.all(classify(m, Thresholds.from_settings(ClassifySettings())) == 1)


def test_reference_mode_thresholds():
    s = ClassifySettings(mode="reference")
    t = thresholds_from_reference(2.5e-12, s)
    assert t.ionic_current_min == pytest.approx(2.5e-12 * 10**-1.4)
    assert t.shunt_current_min == pytest.approx(2.5e-12 * 10**-0.4)
    with pytest.raises(ValueError):
        thresholds_from_reference(float("nan"), s)


def test_area_fractions_over_classified_pixels():
    cls = np.zeros((10, 10), np.uint8)
    cls[:5] = 2
    cls[5:7] = 3
    cls[7, :5] = 1
    f = area_fractions(cls)
    assert f["ionic_blocked_leaky"] == pytest.approx(50 / 75)
    assert f["electronic_shunt"] == pytest.approx(20 / 75)
    assert f["ionic_conducting"] == pytest.approx(5 / 75)
    assert f["ionic_blocked_insulating"] == 0.0
    assert sum(f.values()) == pytest.approx(1.0)
    assert all(np.isnan(v) for v in area_fractions(np.zeros((2, 2), np.uint8)).values())


def test_domain_table_geometry_and_medians():
    truth = np.full((40, 40), 2, np.uint8)
    truth[10:20, 10:30] = 3        # 200 px shunt domain, interior
    truth[0:4, 0:4] = 1            # 16 px, touches the frame edge
    truth[35, 35] = 1              # 1 px: below the minimum area
    m = maps_from_truth(truth, noise=0.02, seed=1)
    cls = classify(m, Thresholds.from_settings(ClassifySettings()))
    height = np.zeros(truth.shape)
    height[10:20, 10:30] = np.tile([0.0, 2e-9], 100).reshape(10, 20)  # Rq = 1 nm
    px = (50e-9, 50e-9)  # 0.0025 um^2 per pixel
    table = find_domains(
        cls, px, maps=m, height=height, settings=DomainSettings(min_area_um2=0.01)
    )
    col = table.columns
    shunt = np.flatnonzero(col["class"] == 3)
    assert shunt.size == 1
    i = shunt[0]
    assert col["area_um2"][i] == pytest.approx(200 * 0.0025)
    assert col["equivalent_diameter_um"][i] == pytest.approx(np.sqrt(4 * 0.5 / np.pi))
    assert col["centroid_x_um"][i] == pytest.approx(20 * 0.05)
    assert col["centroid_y_um"][i] == pytest.approx(15 * 0.05)
    assert col["rms_roughness_nm"][i] == pytest.approx(1.0)
    sel = table.labels == col["domain"][i]
    assert col["median_plus_current_pA"][i] == pytest.approx(np.median(m.plus_current[sel]) * 1e12)
    assert not col["touches_edge"][i]
    ionic = np.flatnonzero(col["class"] == 1)
    assert ionic.size == 1 and col["touches_edge"][ionic[0]]  # the 1 px speck is not listed
    assert table.count_by_class()["ionic_conducting"] == 1


def test_domain_csv(tmp_path):
    cls = np.full((8, 8), 2, np.uint8)
    cls[2:5, 2:5] = 3
    table = find_domains(cls, (1e-7, 1e-7), settings=DomainSettings(min_area_um2=0.0))
    table.to_csv(tmp_path / "d.csv")
    lines = (tmp_path / "d.csv").read_text().splitlines()
    assert lines[0].startswith("domain,class,class_name,area_um2")
    assert len(lines) == 1 + len(table) == 3


def test_group_medians_skip_nan_like_nanmedian():
    from afmcurrent.pair.domains import LabelGroups

    rng = np.random.default_rng(9)
    labels = rng.integers(0, 6, (30, 40)).astype(np.int32)
    values = rng.lognormal(size=labels.shape)
    values[rng.random(labels.shape) < 0.2] = np.nan
    values[labels == 4] = np.nan  # a domain without any finite value
    got = LabelGroups(labels, 5).median(values)
    for k in range(1, 6):
        v = values[labels == k]
        v = v[np.isfinite(v)]
        assert (np.isnan(got[k - 1]) if v.size == 0 else got[k - 1] == np.median(v)), k
    clean = np.nan_to_num(values, nan=1.0)
    np.testing.assert_array_equal(LabelGroups(labels, 5).median(clean),
                                  [np.median(clean[labels == k]) for k in range(1, 6)])
    # a label without pixels keeps its place (NaN), also when other groups hold NaN
    got = LabelGroups(np.array([[2, 2, 2, 0]], np.int32), 2).median(np.array([[1.0, 2, np.nan, 5]]))
    assert np.isnan(got[0]) and got[1] == 1.5


def _domains_per_class(class_map, connectivity, min_px):
    """Reference: one scipy.ndimage.label per class, classes in order (the former algorithm)."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, connectivity)
    labels = np.zeros(class_map.shape, np.int64)
    classes, n = [], 0
    for code in (1, 2, 3, 4):
        lab, k = ndimage.label(class_map == code, structure=structure)
        sizes = np.bincount(lab.ravel(), minlength=k + 1)
        kept = [i for i in range(1, k + 1) if sizes[i] >= max(min_px, 1)]
        for i in kept:
            n += 1
            labels[lab == i] = n
            classes.append(code)
    return labels, classes


@pytest.mark.parametrize("connectivity", [1, 2])
def test_domains_equal_per_class_labelling(connectivity):
    from scipy import ndimage

    from afmcurrent.pair.domains import find_domains, same_class_components

    rng = np.random.default_rng(connectivity)
    cm = ndimage.median_filter(rng.integers(0, 5, (70, 90)), 3).astype(np.uint8)
    px = 0.1e-6
    for min_um2 in (0.0, 0.05):
        table = find_domains(cm, (px, px), settings=DomainSettings(min_area_um2=min_um2,
                                                                   connectivity=connectivity))
        ref, ref_cls = _domains_per_class(cm, connectivity, min_um2 / (px * px * 1e12))
        np.testing.assert_array_equal(table.labels, ref)
        np.testing.assert_array_equal(table.columns["class"], ref_cls)
    lab, sizes, cls = same_class_components(np.where(cm == 4, 7, cm), connectivity)
    assert cls.max() <= 3 and sizes[0] == np.sum((cm == 0) | (cm == 4))  # 7: not a class
