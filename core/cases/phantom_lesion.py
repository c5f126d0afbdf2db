"""Paint one lesion into the anatomy maps so that the image shows its BI-RADS descriptors.

Only the descriptors and the size decide what is drawn (never the truth), each with random
nuisance: shape and orientation set the outline (ellipse axes and low-order harmonics);
the margin adds sharp corners (angular), small scallops (microlobulated), thin radiating
lines and an echogenic halo (spiculated), or a blurred, ragged edge (indistinct), and sets how
wide the edge's transition is along the outline (sharp all round only when circumscribed); the
echo pattern sets the inside, at levels calibrated against BUSI (:mod:`core.cases.realism`);
the posterior feature sets the lesion's attenuation, so the shadow or the enhancement below it
comes out of the image formation; calcifications are point reflectors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.cases.phantom_anatomy import FAT_DB, GLAND_ATTENUATION, Anatomy
from core.cases.phantom_speckle import Geometry, smooth_noise

FLUID_DB = -34.0  # clear fluid: near black, filled in a little by noise and clutter


@dataclass(frozen=True)
class Outline:
    """Ellipse half-axes (mm, lateral and axial, before the boundary harmonics) and tilt."""

    half_width_mm: float
    half_height_mm: float
    tilt_deg: float
    max_radius: float  # largest boundary radius relative to the ellipse

    @property
    def height_mm(self) -> float:
        return 2 * self.half_height_mm * self.max_radius


class Boundary:
    """Radius of the lesion outline as a function of angle (1 = the ellipse)."""

    def __init__(self, rng: np.random.Generator, shape: str, margin: str) -> None:
        self.harmonics: list[tuple[int, float, float]] = []
        if shape == "irregular":
            for k in range(2, 6):
                self.harmonics.append((k, rng.uniform(0.09, 0.17) / np.sqrt(k - 1),
                                       rng.uniform(0, 2 * np.pi)))
        else:
            self.harmonics.append((3, rng.uniform(0.0, 0.03), rng.uniform(0, 2 * np.pi)))
        if margin == "spiculated":  # a ragged, finely irregular edge between the spicules
            for k in range(6, 10):
                self.harmonics.append((k, rng.uniform(0.02, 0.05), rng.uniform(0, 2 * np.pi)))
        self.corners: list[tuple[float, float, float]] = []
        if margin == "angular":
            for angle in rng.uniform(0, 2 * np.pi, size=rng.integers(3, 7)):
                self.corners.append((angle, rng.uniform(0.2, 0.4), rng.uniform(0.25, 0.5)))
        self.lobules = (0, 0.0, 0.0)
        if margin == "microlobulated":
            self.lobules = (int(rng.integers(9, 16)), rng.uniform(0.1, 0.16),
                            rng.uniform(0, 2 * np.pi))

    def radius(self, theta: np.ndarray) -> np.ndarray:
        r = np.ones_like(theta)
        for k, amplitude, phase in self.harmonics:
            r += amplitude * np.cos(k * theta + phase)
        for angle, height, width in self.corners:
            gap = np.abs((theta - angle + np.pi) % (2 * np.pi) - np.pi)
            r += height * np.clip(1 - gap / width, 0, None) ** 1.3
        count, amplitude, phase = self.lobules
        if count:
            r += amplitude * (np.abs(np.sin(count * theta / 2 + phase)) - 0.6)
        return np.maximum(r, 0.45)

    def max_radius(self) -> float:
        return float(self.radius(np.linspace(0, 2 * np.pi, 720, endpoint=False)).max())


def draw_outline(rng: np.random.Generator, descriptors: dict[str, str], size_mm: float,
                 boundary: Boundary) -> Outline:
    """Axes so that the largest diameter is ``size_mm``; taller than wide if not parallel."""
    shape = descriptors["shape"]
    parallel = descriptors["orientation"] == "parallel"
    ranges = {("oval", True): (0.45, 0.7), ("round", True): (0.86, 0.97),
              ("irregular", True): (0.55, 0.85), ("oval", False): (1.2, 1.5),
              ("round", False): (1.05, 1.15), ("irregular", False): (1.2, 1.6)}
    aspect = rng.uniform(*ranges[(shape, parallel)])  # height / width
    peak = boundary.max_radius()
    half_long = size_mm / 2 / peak
    half_width, half_height = (half_long, half_long * aspect) if aspect < 1 else (
        half_long / aspect, half_long)
    return Outline(half_width, half_height, rng.normal(0, 8 if parallel else 5), peak)


# Width (mm) of the margin's transition from lesion to tissue, least and most along the
# outline: sharp all round when circumscribed, partly blurred when not, blurred when indistinct.
EDGE_MM = {"circumscribed": (0.05, 0.2), "microlobulated": (0.2, 0.9), "angular": (0.25, 1.8),
           "indistinct": (1.2, 3.0), "spiculated": (0.8, 2.0)}


# Functions of the angle around the outline are tabulated at this many angles and looked up
# per pixel (much cheaper than evaluating them on every pixel of the lesion's box).
TURN_SAMPLES = 4096
TURN = np.linspace(0, 2 * np.pi, TURN_SAMPLES, endpoint=False)


def _at_angles(table: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The tabulated function (over :data:`TURN`) at each angle of ``theta`` (radians)."""
    index = (theta * (TURN_SAMPLES / (2 * np.pi))).astype(np.int64) % TURN_SAMPLES
    return table[index]


def _along_outline(rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
    """A smooth random profile around the outline, 0..1 (three low harmonics of the angle)."""
    profile = np.zeros_like(TURN)
    for k in (1, 2, 3):
        profile += rng.normal() / k * np.cos(k * TURN + rng.uniform(0, 2 * np.pi))
    low, high = float(profile.min()), float(profile.max())
    return _at_angles(((profile - low) / max(high - low, 1e-6)).astype(np.float32), theta)


@dataclass
class PaintedLesion:
    mask: np.ndarray
    point_reflectors: list[tuple[int, int, float]]


def paint_lesion(rng: np.random.Generator, anatomy: Anatomy, geometry: Geometry,
                 descriptors: dict[str, str], outline: Outline, boundary: Boundary,
                 centre_mm: tuple[float, float]) -> PaintedLesion:
    """Change ``anatomy`` in place around ``centre_mm`` (depth, lateral); return mask and
    calcifications."""
    mm = geometry.mm_per_px
    margin = descriptors["margin"]
    extent = 2.4 if margin == "spiculated" else 1.0  # spicules reach beyond the outline
    reach = max(outline.half_width_mm, outline.half_height_mm) * outline.max_radius * extent + 4
    rows = _span(centre_mm[0], reach, mm, geometry.height)
    cols = _span(centre_mm[1], reach, mm, geometry.width)
    z = geometry.depth_grid_mm()[rows] - centre_mm[0]
    x = geometry.lateral_grid_mm()[:, cols] - centre_mm[1]
    tilt = np.deg2rad(outline.tilt_deg)
    u = x * np.cos(tilt) + z * np.sin(tilt)
    v = -x * np.sin(tilt) + z * np.cos(tilt)
    a, b = outline.half_width_mm, outline.half_height_mm
    rho = np.hypot(u / a, v / b)
    theta = np.arctan2(v / b, u / a)
    scale = np.sqrt(a * b)
    radius = _at_angles(boundary.radius(TURN).astype(np.float32), theta)
    distance = (rho - radius) * scale  # mm, negative inside
    box = (distance.shape[0], distance.shape[1])

    low, high = EDGE_MM[margin]
    edge_mm = low + (high - low) * _along_outline(rng, theta)
    if margin == "indistinct":
        distance = distance + rng.uniform(0.5, 1.0) * smooth_noise(rng, box, 1.0 / mm, 1.0 / mm)
    inside = np.clip(0.5 - distance / (2 * edge_mm), 0, 1)
    mask_box = distance < 0

    echo = anatomy.echo_db[rows, cols]
    surroundings = echo.copy()
    if margin == "spiculated" or (margin in ("angular", "indistinct") and rng.random() < 0.4):
        # the echogenic halo: a thick, ill-defined bright rim where the mass meets the fat
        width = rng.uniform(2.0, 4.0)
        beyond_edge = np.clip(distance - 0.5 * edge_mm, 0, None)
        halo = np.exp(-0.5 * (beyond_edge / (0.6 * width)) ** 2)
        halo *= rng.uniform(0.8, 1.0) * (0.5 + 0.5 * _along_outline(rng, theta))
        surroundings = surroundings + (rng.uniform(8.0, 12.0) - surroundings) * halo
    interior = _interior_echo(rng, descriptors["echo_pattern"], box, distance, mm, scale)
    if margin == "spiculated":
        weight, level = _spicules(rng, theta, rho, radius, scale, float(np.median(interior)))
        surroundings = surroundings + (level - surroundings) * weight
    echo[:] = surroundings + (interior - surroundings) * inside
    if descriptors["echo_pattern"] == "anechoic" and margin == "circumscribed":
        back_wall = np.exp(-0.5 * (distance / 0.3) ** 2) * (v > 0.5 * b)
        echo[:] = echo + (4.0 - echo) * back_wall * 0.6
    if descriptors["echo_pattern"] == "hyperechoic":
        capsule = np.exp(-0.5 * (distance / 0.25) ** 2)
        echo[:] = echo + (FAT_DB - 4.0 - echo) * capsule * 0.7
    anatomy.echo_db[rows, cols] = echo

    attenuation = anatomy.attenuation[rows, cols]
    fluid = descriptors["echo_pattern"] in ("anechoic", "complex cystic and solid")
    lesion_att = _lesion_attenuation(rng, descriptors["posterior"], fluid, x, outline)
    attenuation[:] = attenuation + (lesion_att - attenuation) * inside
    anatomy.attenuation[rows, cols] = attenuation

    mask = np.zeros((geometry.height, geometry.width), dtype=bool)
    mask[rows, cols] = mask_box
    reflectors = []
    if descriptors["calcifications"] == "present":
        reflectors = _calcifications(rng, distance < -min(0.8, 0.3 * scale), rows, cols,
                                     mask.shape)
    return PaintedLesion(mask, reflectors)


def _calcifications(rng, deep_inside: np.ndarray, rows: slice, cols: slice,
                    shape: tuple[int, int]) -> list[tuple[int, int, float]]:
    """4-13 echogenic foci (clusters of 1-3 strong point reflectors) well inside the mass."""
    candidates = np.argwhere(deep_inside)
    reflectors = []
    if len(candidates):
        for index in rng.choice(len(candidates), size=rng.integers(4, 14)):
            row, col = candidates[index]
            for _ in range(rng.integers(1, 4)):
                reflectors.append(
                    (int(np.clip(rows.start + row + rng.integers(-1, 2), 0, shape[0] - 1)),
                     int(np.clip(cols.start + col + rng.integers(-1, 2), 0, shape[1] - 1)),
                     float(rng.uniform(8, 14))))
    return reflectors


def _span(centre_mm: float, reach_mm: float, mm: float, size: int) -> slice:
    start = max(0, int((centre_mm - reach_mm) / mm))
    stop = min(size, int(np.ceil((centre_mm + reach_mm) / mm)))
    return slice(start, max(start + 1, stop))


def _interior_echo(rng, pattern: str, box, distance, mm: float, scale: float) -> np.ndarray:
    """Echogenicity (dB re gland) inside the lesion for each echo pattern."""
    texture = smooth_noise(rng, box, 0.6 / mm, 0.9 / mm)
    if pattern == "anechoic":
        return np.full(box, FLUID_DB, dtype=np.float32)
    if pattern == "hypoechoic":
        return rng.uniform(-18, -9.5) + 2.0 * texture
    if pattern == "isoechoic":  # as bright as the fat: found by its margin and texture
        return FAT_DB + rng.uniform(-1.0, 2.5) + 1.5 * texture
    if pattern == "hyperechoic":
        return rng.uniform(1.0, 4.0) + 1.5 * texture
    if pattern == "heterogeneous":
        patches = smooth_noise(rng, box, 1.0 / mm, 1.4 / mm)
        return rng.uniform(-16, -10) + 6 * np.tanh(1.5 * patches)
    # complex cystic and solid: fluid with a solid mural nodule or thick septations
    fluid = np.full(box, FLUID_DB, dtype=np.float32)
    solid_db = rng.uniform(-12, -6) + 2 * texture
    rows, cols = np.nonzero((distance < -0.1 * scale) & (distance > -0.3 * scale))
    if rng.random() < 0.6 and len(rows):  # a nodule on the wall
        pick = rng.integers(len(rows))
        yy, xx = np.indices(box)
        radius = rng.uniform(0.35, 0.6) * scale / mm
        bumps = 1 + 0.35 * smooth_noise(rng, box, radius / 3, radius / 3)
        nodule = np.hypot(yy - rows[pick], xx - cols[pick]) < radius * bumps
        return np.where(nodule, solid_db, fluid)
    septa = np.abs(smooth_noise(rng, box, 1.5 / mm, 1.5 / mm)) < rng.uniform(0.12, 0.2)
    return np.where(septa, solid_db, fluid)


def _spicules(rng, theta, rho, radius, scale: float, lesion_db: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Thin straight lines radiating from the margin (``radius`` at each pixel's angle), fading
    outward: mostly echogenic (strands of desmoplastic reaction), some as dark as the lesion.
    Returns each pixel's weight (0..1) and the level (dB) it is drawn towards; each pixel is
    checked against its two nearest spicules only."""
    count = int(rng.integers(10, 20))
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 2 * np.pi)
    angles = np.sort((angles + rng.normal(0, 0.2, count)) % (2 * np.pi))
    length = rng.uniform(0.6, 1.4, count)  # relative to the ellipse
    width = rng.uniform(0.4, 0.7, count) / scale  # half-width at the base, mm -> relative
    strength = rng.uniform(0.7, 1.0, count)
    levels = np.where(rng.random(count) < 0.6, rng.uniform(8.0, 12.0, count), lesion_db)
    angle = theta % (2 * np.pi)
    after = np.searchsorted(angles, angle) % count
    weight = np.zeros_like(rho)
    level = np.zeros_like(rho)
    for nearest in (after, (after - 1) % count):
        beyond = (rho - radius) / length[nearest]
        gap = np.abs((angle - angles[nearest] + np.pi) % (2 * np.pi) - np.pi) * rho
        taper = np.clip(1 - beyond, 0, 1)
        line = np.clip(1 - (gap / (width[nearest] * (0.5 + 0.5 * taper))) ** 2, 0, 1)
        candidate = strength[nearest] * line * (beyond > 0) * taper
        level = np.where(candidate > weight, levels[nearest], level)
        weight = np.maximum(weight, candidate)
    return weight, level


def _lesion_attenuation(rng, posterior: str, fluid: bool, x: np.ndarray,
                        outline: Outline) -> np.ndarray:
    """Two-way attenuation (dB/mm) of the lesion: low lets sound through (enhancement: fluid
    almost freely, a solid mass partly), high blocks it (shadowing); combined does both, side
    by side."""
    thickness = 2 * outline.half_height_mm
    block = np.clip(rng.uniform(25, 38) / thickness, 1.0, 12.0)
    through = GLAND_ATTENUATION * (rng.uniform(0.0, 0.1) if fluid else rng.uniform(0.2, 0.45))
    if posterior == "none":
        return np.full_like(x, GLAND_ATTENUATION)
    if posterior == "enhancement":
        return np.full_like(x, through)
    if posterior == "shadowing":
        return np.full_like(x, block)
    split = rng.uniform(-0.3, 0.3) * outline.half_width_mm
    shadow_left = rng.random() < 0.5
    return np.where((x < split) == shadow_left, block, through).astype(np.float32)
