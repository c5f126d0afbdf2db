"""Normal breast anatomy for the phantoms, as echogenicity (dB re gland) and attenuation maps.

From the skin down: a bright skin line over the dermis; subcutaneous fat lobules (hypoechoic)
walled by bright Cooper's ligaments, some of which cast thin shadows; the fibroglandular layer
(echogenic, streaky, with fat islands and the odd duct); retromammary fat; the pectoral
muscle with its fascia and striations; then the chest wall, sometimes a rib with its shadow.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.cases.phantom_speckle import Geometry, smooth_noise

FAT_DB = -8.0        # fat is mid-grey, a little darker than the gland, as on a tuned scanner
GLAND_DB = 0.0
MUSCLE_DB = -12.0
LIGAMENT_DB = 1.0    # Cooper's ligaments: thin and echogenic, not white
FAT_ATTENUATION = 1.0    # two-way dB/mm at about 8 MHz
GLAND_ATTENUATION = 1.4
MUSCLE_ATTENUATION = 1.2
BONE_ATTENUATION = 40.0


@dataclass
class Anatomy:
    """Maps for one image plus the depth (mm, per column) of the layer boundaries."""

    echo_db: np.ndarray
    attenuation: np.ndarray
    gland_top_mm: np.ndarray
    gland_bottom_mm: np.ndarray


def wavy_line(rng: np.random.Generator, x_mm: np.ndarray, amplitude_mm: float,
              shortest_mm: float = 8.0) -> np.ndarray:
    """A smooth random curve: a few sines with wavelengths from ``shortest_mm`` to ~60 mm."""
    curve = np.zeros_like(x_mm, dtype=np.float32)
    for wavelength in rng.uniform(shortest_mm, 60.0, size=4):
        curve += rng.normal() * np.sin(2 * np.pi * x_mm / wavelength + rng.uniform(0, 2 * np.pi))
    return np.float32(amplitude_mm / 2.0) * curve


def _blend(base: np.ndarray, level: np.ndarray | float, weight: np.ndarray) -> np.ndarray:
    return base + (level - base) * weight


def _band(z: np.ndarray, top: np.ndarray, bottom: np.ndarray, soft_mm: float) -> np.ndarray:
    """Soft indicator of top <= z < bottom (per column boundaries)."""
    upper = np.clip((z - top) / (4 * soft_mm) + 0.5, 0, 1)
    lower = np.clip((bottom - z) / (4 * soft_mm) + 0.5, 0, 1)
    return upper * lower


def _line(z: np.ndarray, at: np.ndarray, half_width_mm: float) -> np.ndarray:
    return np.exp(-0.5 * ((z - at) / half_width_mm) ** 2)


def breast_anatomy(rng: np.random.Generator, geometry: Geometry,
                   gland_min_mm: float) -> Anatomy:
    """Draw the layers; the fibroglandular layer is at least ``gland_min_mm`` thick."""
    shape = (geometry.height, geometry.width)
    mm = geometry.mm_per_px
    z = geometry.depth_grid_mm()
    x = geometry.lateral_grid_mm()[0]

    # each boundary has its own waviness (none inherits the one above), in depth order
    skin = rng.uniform(1.5, 2.4)
    fat_top = skin + wavy_line(rng, x, 0.15, 20.0)
    fat_mm, gland_mm = rng.uniform(3.0, 9.0), max(gland_min_mm, rng.uniform(6.0, 15.0))
    # the probe is rarely square to the layers: they slope across the image
    slope = np.float32(rng.normal(0, 0.07)) * (x - x.mean())
    gland_top = fat_top + np.clip(fat_mm + slope + wavy_line(rng, x, 1.5, 8.0), 1.0, None)
    gland_bottom = np.maximum(skin + fat_mm + gland_mm + slope + wavy_line(rng, x, 1.5, 12.0),
                              gland_top + 0.6 * gland_mm)
    muscle_top = np.maximum(skin + fat_mm + gland_mm + rng.uniform(1.5, 3.5) + 1.5 * slope
                            + wavy_line(rng, x, 0.6, 40.0), gland_bottom + 0.8)
    muscle_bottom = muscle_top + rng.uniform(5.0, 10.0) + wavy_line(rng, x, 0.4, 40.0)

    # background: deep chest wall tissue, then each layer painted over the one below
    echo = np.full(shape, -20.0, dtype=np.float32)
    attenuation = np.full(shape, MUSCLE_ATTENUATION, dtype=np.float32)

    muscle = _band(z, muscle_top, muscle_bottom, 0.3)
    tilt = rng.uniform(-10, 10)
    fibres = smooth_noise(rng, shape, 0.25 / mm, 5.0 / mm, tilt)
    muscle_echo = MUSCLE_DB + 9 * np.clip(fibres - 0.6, 0, None)
    echo = _blend(echo, muscle_echo, muscle)
    fascia = _line(z, muscle_top, 0.25) + _line(z, muscle_bottom, 0.3)
    echo = _blend(echo, LIGAMENT_DB, np.clip(fascia, 0, 1))

    # lobules long and flat (the ligaments between them run mostly along the skin), and only
    # some of each ligament is seen (where the beam meets it square on)
    lobules = smooth_noise(rng, shape, 1.4 / mm, 7.0 / mm, rng.uniform(-15, 15))
    visible = np.clip(smooth_noise(rng, shape, 2 / mm, 4 / mm) + 0.6, 0, 1)
    ligaments = 0.8 * np.exp(-(lobules / 0.05) ** 2) * visible
    fat_streaks = smooth_noise(rng, shape, 0.2 / mm, 2.5 / mm, rng.uniform(-6, 6))
    fat_level = FAT_DB + rng.uniform(-2.0, 2.0) + 4 * np.clip(fat_streaks - 0.8, 0, None)
    fat_echo = _blend(fat_level.astype(np.float32), LIGAMENT_DB, ligaments)

    retro = _band(z, gland_bottom, muscle_top, 0.3)
    echo = _blend(echo, fat_echo, retro)
    attenuation = _blend(attenuation, FAT_ATTENUATION, retro)

    gland = _band(z, gland_top, gland_bottom, 0.5)
    streaks = smooth_noise(rng, shape, 0.22 / mm, 2.8 / mm, rng.uniform(-8, 8))
    islands = smooth_noise(rng, shape, 1.0 / mm, 2.5 / mm, rng.uniform(-20, 20))
    gland_echo = GLAND_DB - 3 + 7 * np.clip(streaks - 0.5, 0, None)
    fat_islands = np.clip((islands - 1.1) / 0.6 + 0.5, 0, 1)
    gland_echo = _blend(gland_echo, fat_echo, fat_islands)
    echo = _blend(echo, gland_echo, gland)
    attenuation = _blend(attenuation, GLAND_ATTENUATION, gland)
    for _ in range(rng.integers(0, 2)):
        _add_duct(rng, echo, z, x, gland_top, gland_bottom)

    fat = _band(z, fat_top, gland_top, 0.6)
    echo = _blend(echo, fat_echo, fat)
    attenuation = _blend(attenuation, FAT_ATTENUATION, fat)

    skin = slice(0, min(geometry.height, int((fat_top.max() + 1.5) / mm)))
    skin_band = _band(z[skin], np.zeros_like(x), fat_top, 0.2)
    dermis = -5.0 + 2 * smooth_noise(rng, skin_band.shape, 0.3 / mm, 2 / mm)
    echo[skin] = _blend(echo[skin], dermis, skin_band)
    lines = np.clip(_line(z[skin], 0.3, 0.18) + _line(z[skin], fat_top, 0.2), 0, 1)
    echo[skin] = _blend(echo[skin], 8.0, lines)
    attenuation[skin] = _blend(attenuation[skin], 1.4, skin_band)

    # tissue inhomogeneity: fine streaks along the layers, and broad patches
    echo += 3.0 * smooth_noise(rng, shape, 0.4 / mm, 2.5 / mm, rng.uniform(-10, 10)) + 3.5 * (
        smooth_noise(rng, shape, 1.5 / mm, 3.5 / mm, rng.uniform(-15, 15)))
    _add_ligament_shadows(rng, attenuation, geometry, fat_top, gland_top)
    _add_chest_wall(rng, echo, attenuation, z, x, muscle_bottom, geometry)
    return Anatomy(echo, attenuation, gland_top, gland_bottom)


def _add_duct(rng, echo, z, x, gland_top, gland_bottom) -> None:
    """A short, slightly oblique duct: dark lumen, faintly bright walls (painted in a window)."""
    centre_x = rng.uniform(x[0], x[-1])
    column = int(np.argmin(np.abs(x - centre_x)))
    centre_z = rng.uniform(gland_top[column] + 1, max(gland_top[column] + 1.5,
                                                      gland_bottom[column] - 1))
    length, radius = rng.uniform(4, 10), rng.uniform(0.4, 0.9)
    slope = np.tan(np.deg2rad(rng.uniform(-12, 12)))
    mm = float(x[1] - x[0])
    half_rows = (3 * radius + abs(slope) * length) / mm
    cols = slice(max(0, int((centre_x - length) / mm)), int((centre_x + length) / mm) + 1)
    rows = slice(max(0, int(centre_z / mm - half_rows)), int(centre_z / mm + half_rows) + 1)
    xs, zs = x[cols][None, :], z[rows]
    u = (xs - centre_x) / length * 2
    v = (zs - centre_z - slope * (xs - centre_x)) / radius
    along = np.exp(-(u ** 4))
    inside = along * np.exp(-(v ** 2))
    wall = along * np.exp(-((np.abs(v) - 1.3) / 0.3) ** 2)
    window = echo[rows, cols]
    echo[rows, cols] = _blend(_blend(window, 2.0, 0.6 * wall), -18.0, 0.9 * inside)


def _add_ligament_shadows(rng, attenuation, geometry: Geometry, fat_top, gland_top) -> None:
    """Refraction at steep Cooper's ligaments: short patches of loss casting thin shadows."""
    x = geometry.lateral_grid_mm()[0]
    z = geometry.depth_grid_mm()
    for _ in range(rng.integers(0, 4)):
        centre_x = rng.uniform(x[0], x[-1])
        column = int(np.argmin(np.abs(x - centre_x)))
        depth = rng.uniform(fat_top[column], gland_top[column])
        width = rng.uniform(0.6, 2.0)
        loss_db = rng.uniform(3.0, 8.0)
        patch = np.exp(-0.5 * ((x - centre_x) / width) ** 2) * np.exp(
            -0.5 * ((z - depth) / 0.4) ** 2)
        attenuation += loss_db / (0.4 * np.sqrt(2 * np.pi)) * patch


def _add_chest_wall(rng, echo, attenuation, z, x, muscle_bottom, geometry: Geometry) -> None:
    """Below the pectoral muscle: a rib with its shadow (sometimes), else the pleural line."""
    depth = geometry.depth_mm
    pleura = muscle_bottom + rng.uniform(3.0, 6.0)
    if rng.random() < 0.45 and np.median(muscle_bottom) + 3 < depth:
        centre_x = rng.uniform(x[0] + 0.2 * (x[-1] - x[0]), x[-1] - 0.2 * (x[-1] - x[0]))
        half_width = rng.uniform(7.0, 11.0)
        top = muscle_bottom + rng.uniform(1.0, 3.0)
        u = (x - centre_x) / half_width
        surface = top + 1.2 * u ** 2
        over_rib = np.abs(u) < 1
        cortex = _line(z, surface, 0.35) * over_rib
        echo[:] = _blend(echo, 14.0, np.clip(cortex, 0, 1))
        bone = (z > surface + 0.3) & over_rib
        attenuation[bone] = BONE_ATTENUATION
    line = np.clip(_line(z, pleura, 0.3), 0, 1) * (z > muscle_bottom)
    echo[:] = _blend(echo, 10.0, line)
    below = z > pleura + 0.5
    echo[:] = np.where(below, np.maximum(echo - 8, -30.0), echo)
