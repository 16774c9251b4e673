"""The virtual electrolytes: biases, classes, domain layout and length scales.

Every number of the simulator lives in a documented preset dataclass (:data:`PRESETS`), not in
the code. Sources: C.-S. Jiang et al. (NREL), "Local electrical degradations of solid-state
electrolyte by nm-scale operando imaging of ionic and electronic transports" (reference values
in ``docs/science.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..core.errors import ConfigError

__all__ = ["ClassProperties", "DomainLayer", "Preset", "PRESETS", "get_preset", "PA", "NM", "UM"]

logger = logging.getLogger(__name__)

PA = 1e-12  # A per pA, for readable preset tables
NM = 1e-9
UM = 1e-6

@dataclass(frozen=True)
class ClassProperties:
    """Transport and topography of one material class, at the preset's bias magnitude.

    Attributes
    ----------
    ionic_mean : float
        Mean ionic current at +V, A.
    ionic_cv : float
        Coefficient of variation (std / mean) of the ionic current; the field is log-normal, so
        ``sigma_ln = sqrt(ln(1 + cv**2))``. "Fluctuation comparable to the average" is cv ~ 1.
    electronic_mean : float
        Mean electronic current at +V, A (at -V it is scaled ohmically by ``|V-/V+|``).
    electronic_cv : float
        Coefficient of variation of the electronic current.
    roughness_rms : float
        RMS height roughness, m.
    corrugation_length : float
        Correlation length (Gaussian sigma) of the topography, m.
    """

    ionic_mean: float
    ionic_cv: float
    electronic_mean: float
    electronic_cv: float
    roughness_rms: float
    corrugation_length: float


@dataclass(frozen=True)
class DomainLayer:
    """One class placed on top of the base class by thresholding its own random field.

    Attributes
    ----------
    code : int
        Class code (1..4).
    fraction : float
        Area fraction of the +V frame it takes (exact, up to one pixel).
    length : float
        Correlation length (Gaussian sigma) of its field, m: sets the domain size.
    """

    code: int
    fraction: float
    length: float


@dataclass(frozen=True)
class Preset:
    """A virtual electrolyte: biases, classes, domain layout and length scales.

    Attributes
    ----------
    name : str
    description : str
    bias_plus, bias_minus : float
        Sample bias of the two scans, V.
    base_class : int
        Class filling whatever the layers leave.
    layers : tuple of DomainLayer
        Classes placed in order; each claims the top ``fraction`` of the +V frame, among the
        pixels not yet claimed, of its own random field. A layer placed after another class
        therefore sits inside (next to) the base class.
    classes : mapping int -> ClassProperties
        Properties of every class that occurs.
    current_length : float
        Correlation length (Gaussian sigma) of the current fluctuations, m.
    boundary_blend : float
        Width (Gaussian sigma) over which topography roughness blends across domain edges, m.
    """

    name: str
    description: str
    bias_plus: float
    bias_minus: float
    base_class: int
    layers: tuple[DomainLayer, ...]
    classes: Mapping[int, ClassProperties]
    current_length: float = 150 * NM
    boundary_blend: float = 50 * NM

    @property
    def fractions(self) -> dict[int, float]:
        """Area fraction of each class in the +V frame."""
        out = {layer.code: layer.fraction for layer in self.layers}
        out[self.base_class] = 1.0 - sum(out.values())
        return out


# Pristine LICGC, +/-0.5 V (Jiang et al., Fig. 2): ionic mean 2.5 pA with fluctuation as large as
# the mean (cv = 1) in regions of 100 nm - 1 um; electronic current 5 orders of magnitude smaller
# (2.5e-5 pA), also fluctuating by its own size; RMS roughness 1.2 nm, flat and uniform.
_PRISTINE = Preset(
    name="pristine",
    description="pristine LICGC glass-ceramic at +/-0.5 V: uniform ionic conductor",
    bias_plus=0.5,
    bias_minus=-0.5,
    base_class=1,
    layers=(),
    classes={
        1: ClassProperties(2.5 * PA, 1.0, 2.5e-5 * PA, 1.0, 1.2 * NM, 60 * NM),
    },
)

# Cycled (360 cycles) bare LICGC at +/-1 V (Jiang et al., Figs. 3-5, S2):
# - type 2 (86 %, base class; > 80 % in the paper): ionic blocked, electronic leakage dominates
#   both maps, I(+V) ~ I(-V) ~ 1e-3..1e-2 pA. Chosen: electronic 6e-3 pA (cv 0.8), ionic 1.5e-3
#   pA (so I(+V) = 7.5e-3 pA, ionic fraction ~0.2). Rough, ~1 um corrugations: 12 nm RMS with a
#   0.4 um correlation length.
# - type 1 (7 %; < 10 % in the paper), few-um domains: ionic "several times" pristine (10 pA)
#   with fluctuation up to ~1 decade (cv 2: sigma ~0.55 decade); electronic like pristine
#   (2.5e-5 pA; the paper's type-1 images are at +/-0.5 V, we keep those values at +/-1 V);
#   moderately roughened (4 nm).
# - type 3 (4 %): small electronic-shunt domains placed inside / next to type 2, 1e2..1e3 pA in
#   both maps: electronic 300 pA (cv 1); ionic blocked like type 2; moderately rough (5 nm).
# - type 4 (3 %; not in the paper, present so it is represented): neither conducts. Ionic
#   0.02 pA (two decades below pristine, below the 0.1 pA class-1 threshold), electronic like
#   pristine (at the amplifier floor at -V), roughness 8 nm.
_DEGRADED = Preset(
    name="degraded",
    description="cycled bare LICGC at +/-1 V: type-2 matrix with type-1, shunt and insulating "
    "domains",
    bias_plus=1.0,
    bias_minus=-1.0,
    base_class=2,
    layers=(
        DomainLayer(code=1, fraction=0.07, length=0.8 * UM),
        DomainLayer(code=3, fraction=0.04, length=0.25 * UM),
        DomainLayer(code=4, fraction=0.03, length=0.3 * UM),
    ),
    classes={
        1: ClassProperties(10.0 * PA, 2.0, 2.5e-5 * PA, 1.0, 4 * NM, 150 * NM),
        2: ClassProperties(1.5e-3 * PA, 1.0, 6e-3 * PA, 0.8, 12 * NM, 400 * NM),
        3: ClassProperties(1.5e-3 * PA, 1.0, 300.0 * PA, 1.0, 5 * NM, 150 * NM),
        4: ClassProperties(2e-2 * PA, 1.0, 2.5e-5 * PA, 1.0, 8 * NM, 250 * NM),
    },
)

# PAN-coated LICGC after cycling, +/-1 V (Jiang et al., Fig. 7): ionic current 1.3 pA (double
# the 0.6 pA before cycling) with fluctuation slightly larger than the mean (cv 1.2); electronic
# leakage up by > 2 decades from ~1e-5 pA but still ~2 decades below the ionic: 1.3e-2 pA
# (cv 1); moderately roughened (4 nm). The SSE still works: all class 1.
_COATED = Preset(
    name="coated",
    description="PAN-coated LICGC after cycling at +/-1 V: ionic conduction dominates",
    bias_plus=1.0,
    bias_minus=-1.0,
    base_class=1,
    layers=(),
    classes={
        1: ClassProperties(1.3 * PA, 1.2, 1.3e-2 * PA, 1.0, 4 * NM, 200 * NM),
    },
)

#: The built-in virtual electrolytes by name.
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (_PRISTINE, _DEGRADED, _COATED)}
)


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (case-insensitive), or the given one.

    Raises
    ------
    ConfigError
        On an unknown name (the message lists the presets) or something that is not a preset.
    """
    if isinstance(preset, str):
        key = preset.strip().lower()
        if key not in PRESETS:
            raise ConfigError(
                f"unknown simulator preset {preset!r}; presets: {', '.join(sorted(PRESETS))}"
            )
        return PRESETS[key]
    if not isinstance(preset, Preset):
        raise ConfigError(f"preset must be a name or a Preset, got {type(preset).__name__}")
    return preset
