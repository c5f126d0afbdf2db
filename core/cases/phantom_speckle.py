"""B-mode image formation for the phantoms, the physical way.

Tissue is a field of random sub-resolution scatterers (many per resolution cell: fully
developed speckle) whose strength follows an echogenicity map in dB. Each echo is attenuated
on the way down and back (two-way cumulative attenuation, so a cyst lets more through and a
shadowing mass blocks it); a few strong point reflectors stand for calcifications. The field
is convolved (FFT) with an anisotropic complex (IQ) pulse-echo point spread function, short
axially and wider laterally outside the focal zone, at two compounding angles; receiver noise
is added; time-gain compensation undoes most of the nominal attenuation, less and less with
depth (so the far field darkens as on real images), and the gain varies a little across the
image (uneven contact at an edge); reverberation clutter hazes the near field;
the envelope is log-compressed into 8-bit grey.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import fft
from scipy.ndimage import gaussian_filter, uniform_filter1d


@dataclass(frozen=True)
class Geometry:
    """Pixel grid of one image: rows are depth, columns lateral position."""

    height: int
    width: int
    mm_per_px: float

    @property
    def depth_mm(self) -> float:
        return self.height * self.mm_per_px

    def depth_grid_mm(self) -> np.ndarray:
        """Depth in mm of each row, as a column vector."""
        return ((np.arange(self.height)[:, None] + 0.5) * self.mm_per_px).astype(np.float32)

    def lateral_grid_mm(self) -> np.ndarray:
        """Lateral position in mm of each column, as a row vector."""
        return ((np.arange(self.width)[None, :] + 0.5) * self.mm_per_px).astype(np.float32)


def _coarse_step(bandwidth: float) -> int:
    """Grid step (pixels, 1-8) that still samples a spectrum of this std (rad/pixel)."""
    return int(np.clip(np.pi / (3 * bandwidth), 1, 8))


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_rows: float,
                 sigma_cols: float, angle_deg: float = 0.0) -> np.ndarray:
    """Zero-mean unit-variance Gaussian field, smoothed anisotropically (FFT filter).

    ``sigma_rows``/``sigma_cols`` are correlation lengths in pixels before rotating the
    filter by ``angle_deg`` (positive turns the long axis clockwise on screen). The field is
    made on the coarsest grid that still samples it (per axis) and interpolated up.
    """
    theta = np.deg2rad(angle_deg)
    cos, sin = abs(np.cos(theta)), abs(np.sin(theta))
    step_rows = _coarse_step(np.hypot(cos / sigma_rows, sin / sigma_cols))
    step_cols = _coarse_step(np.hypot(sin / sigma_rows, cos / sigma_cols))
    rows, cols = -(-shape[0] // step_rows) + 1, -(-shape[1] // step_cols) + 1
    padded = (fft.next_fast_len(rows + 2, real=True), fft.next_fast_len(cols + 2, real=True))
    white = rng.random(padded, dtype=np.float32)  # smoothing makes it Gaussian
    # angular frequencies in radians per fine pixel
    k_rows = (fft.fftfreq(padded[0], step_rows) * 2 * np.pi).astype(np.float32)[:, None]
    k_cols = (fft.rfftfreq(padded[1], step_cols) * 2 * np.pi).astype(np.float32)[None, :]
    k_u = k_rows * np.float32(np.cos(theta)) - k_cols * np.float32(np.sin(theta))
    k_v = k_rows * np.float32(np.sin(theta)) + k_cols * np.float32(np.cos(theta))
    transfer = np.exp(np.float32(-0.5) * ((k_u * np.float32(sigma_rows)) ** 2
                                          + (k_v * np.float32(sigma_cols)) ** 2))
    field = fft.irfft2(fft.rfft2(white) * transfer, s=padded)[:rows, :cols]
    if step_rows > 1 or step_cols > 1:
        size = ((cols - 1) * step_cols, (rows - 1) * step_rows)
        coarse = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32))
        field = np.asarray(coarse.resize(size, Image.Resampling.BILINEAR))
    field = field[:shape[0], :shape[1]]
    return (field - field.mean()) / np.float32(max(float(field.std()), 1e-12))


def _psf_transfer(shape: tuple[int, int], sigma_axial_px: float, sigma_lateral_px: float,
                  lateral_cycles: float) -> np.ndarray:
    """Fourier transform of a baseband (IQ) Gaussian pulse-echo PSF of unit energy, steered
    ``lateral_cycles`` cycles per pixel off the vertical (for spatial compounding)."""
    k_rows = fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    k_cols = (fft.fftfreq(shape[1]) - lateral_cycles + 0.5) % 1.0 - 0.5  # wrapped shift
    k_cols = k_cols.astype(np.float32)[None, :]
    transfer = np.exp(-2 * (np.pi * sigma_axial_px * k_rows) ** 2
                      - 2 * (np.pi * sigma_lateral_px * k_cols) ** 2)
    return transfer / np.sqrt(np.mean(transfer ** 2))


def _soften_laterally(values: np.ndarray, sigma_px: float) -> np.ndarray:
    """Near-Gaussian lateral blur (three box filters; edges repeat the border)."""
    width = max(1, int(round(np.sqrt(4 * sigma_px ** 2 + 1))))
    for _ in range(3):
        values = uniform_filter1d(values, width, axis=1, mode="nearest")
    return values


def _complex_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean complex samples of unit power (complex64), real and imaginary parts uniform:
    many of them add up within each resolution cell, so the echo is Gaussian all the same."""
    noise = rng.random((*shape, 2), dtype=np.float32)
    noise -= np.float32(0.5)
    noise *= np.float32(np.sqrt(6.0))
    return noise.view(np.complex64)[..., 0]


@dataclass(frozen=True)
class Scanner:
    """Transducer and display settings of one image."""

    axial_resolution_mm: float = 0.28       # FWHM of the pulse envelope
    lateral_focus_mm: float = 0.55          # FWHM of the beam in the focal zone
    lateral_far_mm: float = 1.1             # FWHM far from focus
    focus_depth_mm: float = 15.0
    shadow_blur_mm: float = 0.8             # diffraction softens the edges of shadows
    nominal_attenuation_db_mm: float = 1.0  # two-way, what the TGC compensates
    tgc_error_db: float = 2.0               # amplitude of the user's imperfect TGC
    tgc_deficit_db: float = 10.0            # gain the TGC falls short by at the deepest row
    lateral_tilt_db: float = 0.0            # gain from the left edge to the right edge
    contact_loss_db: float = 0.0            # darkening at one edge where the probe lifts
    noise_db: float = -64.0                 # electronic noise power relative to gland
    clutter_db: float = -36.0               # reverberation haze under the skin (shown level)
    clutter_decay_db_mm: float = 1.5
    dynamic_range_db: float = 52.0
    compound_steering: tuple[float, ...] = (-1.2, 1.2)  # spectrum shifts, in std
    white_db: float = 11.0                  # echo level (dB re gland) shown at full white
    smoothing_px: tuple[float, float] = (0.7, 0.9)  # speckle reduction (axial, lateral sigma)


def envelope(echo_db: np.ndarray, attenuation_db_mm: np.ndarray, geometry: Geometry,
             scanner: Scanner, rng: np.random.Generator,
             point_reflectors: list[tuple[int, int, float]] = ()) -> np.ndarray:
    """Echo envelope after attenuation, PSF, noise and TGC (linear amplitude)."""
    mm = geometry.mm_per_px
    shape = (geometry.height, geometry.width)
    # two-way loss down to each depth, blurred laterally by the beam width
    loss_db = np.cumsum(attenuation_db_mm, axis=0) * mm
    loss_db = _soften_laterally(loss_db, scanner.shadow_blur_mm / mm)
    depth = geometry.depth_grid_mm()
    # reverberation clutter is not attenuated like echoes: set its level as shown after TGC
    clutter_db = (scanner.clutter_db - scanner.clutter_decay_db_mm * depth
                  - scanner.nominal_attenuation_db_mm * depth)
    amplitude = np.sqrt(10 ** ((echo_db - loss_db) / 10) + 10 ** (clutter_db / 10)).astype(
        np.float32)
    scatterers = _complex_noise(rng, shape) * amplitude
    for row, col, strength_db in point_reflectors:
        scatterers[row, col] += 10 ** ((strength_db - loss_db[row, col]) / 20) * np.exp(
            2j * np.pi * rng.random())
    # FFT convolution, zero-padded so that no echo wraps around: one forward transform, then
    # one inverse per beam (focal and far-field width, each at every compounding angle; the
    # receiver noise of an angle is the same for both widths)
    pad = (fft.next_fast_len(shape[0] + 12), fft.next_fast_len(shape[1] + 32))
    spectrum = fft.fft2(scatterers, s=pad)
    sigma_axial = scanner.axial_resolution_mm / 2.355 / mm
    noise_level = np.float32(10 ** (scanner.noise_db / 20))
    noises = [noise_level * _complex_noise(rng, shape) for _ in scanner.compound_steering]
    beams = {}
    for name, fwhm in (("focal", scanner.lateral_focus_mm), ("far", scanner.lateral_far_mm)):
        sigma_lateral = fwhm / 2.355 / mm
        looks = []
        for steer, noise in zip(scanner.compound_steering, noises):
            transfer = _psf_transfer(pad, sigma_axial, sigma_lateral,
                                     steer / (2 * np.pi * sigma_lateral))
            field = fft.ifft2(spectrum * transfer)[:shape[0], :shape[1]]
            looks.append(np.abs(field + noise))
        beams[name] = np.mean(looks, axis=0)
    defocus = np.clip(np.abs(depth - scanner.focus_depth_mm) / 18.0, 0, 1) ** 1.5
    amplitude = (1 - defocus) * beams["focal"] + defocus * beams["far"]
    # the TGC makes up for most of the nominal loss, less and less with depth (the far field
    # of a real image is darker), with a ripple where the sliders are set unevenly
    relative = depth / geometry.depth_mm
    tgc_db = (scanner.nominal_attenuation_db_mm * depth - scanner.tgc_deficit_db * relative
              + scanner.tgc_error_db * np.sin(2 * np.pi * (relative * rng.uniform(0.5, 1.2)
                                                           + rng.random())))
    across = (np.arange(geometry.width, dtype=np.float32) + 0.5) / geometry.width
    edge = across if rng.random() < 0.5 else 1 - across
    lateral_db = (scanner.lateral_tilt_db * (across - 0.5)
                  - scanner.contact_loss_db * np.clip(1 - edge / rng.uniform(0.08, 0.2), 0, 1))
    return amplitude * 10 ** ((tgc_db + lateral_db[None, :]) / 20)


def log_compress(env: np.ndarray, scanner: Scanner) -> np.ndarray:
    """Map envelope amplitude to 8-bit grey: ``dynamic_range_db`` below ``white_db`` is black."""
    # the scanner's speckle reduction: a light smoothing of the log image
    db = gaussian_filter(20 * np.log10(env + 1e-12), scanner.smoothing_px)
    low = scanner.white_db - scanner.dynamic_range_db
    grey = np.clip((db - low) / scanner.dynamic_range_db, 0, 1) * 255
    return np.round(grey).astype(np.uint8)
