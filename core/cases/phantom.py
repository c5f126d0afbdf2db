"""Synthetic B-mode breast ultrasound cases (phantoms) for the demo, teaching and tests.

Each case comes from its own child seed, ``np.random.SeedSequence(seed).spawn(n)[i]``, so case
``i`` is the same whatever ``n``. That seed is split three ways: the truth and descriptors
(:mod:`core.cases.phantom_truth`), the image (anatomy, lesion, speckle: drawn from the
descriptors and size only) and the burned-in annotations. With ``shortcut`` off the annotations
are independent of the truth; with it on, calipers go mostly on malignant lesions.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.cases.library import ImportResult, NewCase, perceptual_hash, save_cases
from core.cases.phantom_anatomy import breast_anatomy
from core.cases.phantom_annotations import body_marker_text, burn_in
from core.cases.phantom_lesion import Boundary, draw_outline, paint_lesion
from core.cases.phantom_speckle import Geometry, Scanner, envelope, log_compress
from core.cases.phantom_truth import (MALIGNANT_SHARE, LesionTruth, auc, draw_lesion,
                                      population_figures)
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES
from core.splits import NEAR_DUPLICATE_BITS
from core.store import Store

HEIGHT, WIDTH = 300, 400
MAX_CASES = 20_000
# Chance of each annotation; calipers depend on the truth only when the shortcut is on.
P_TEXT, P_DEPTH_SCALE, P_CALIPERS = 0.6, 0.75, 0.4
P_CALIPERS_SHORTCUT = {True: 0.85, False: 0.10}


def case_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The child seed of case ``index``: equal to ``SeedSequence(seed).spawn(n)[index]``."""
    return np.random.SeedSequence(seed, spawn_key=(index,))


def render_image(rng: np.random.Generator, descriptors: dict[str, str], size_mm: float):
    """Draw anatomy and lesion from the descriptors; return (grey image, mask, geometry)."""
    boundary = Boundary(rng, descriptors["shape"], descriptors["margin"])
    outline = draw_outline(rng, descriptors, size_mm, boundary)
    height_mm = outline.height_mm
    # the sonographer sets the depth to frame the lesion with some tissue behind it
    depth_mm = float(np.clip(max(18.0 + size_mm + rng.uniform(-3.0, 5.0), height_mm + 14.0),
                             25.0, 48.0))
    geometry = Geometry(HEIGHT, WIDTH, depth_mm / HEIGHT)
    anatomy = breast_anatomy(rng, geometry, gland_min_mm=height_mm + 2.0)

    width_mm = WIDTH * geometry.mm_per_px
    half_width = outline.half_width_mm * outline.max_radius
    lateral = width_mm * rng.uniform(0.28, 0.72)  # not always centred: layouts must differ
    lateral = float(np.clip(lateral, min(half_width + 1, width_mm / 2),
                            max(width_mm - half_width - 1, width_mm / 2)))
    column = min(WIDTH - 1, int(lateral / geometry.mm_per_px))
    gland_middle = (anatomy.gland_top_mm[column] + anatomy.gland_bottom_mm[column]) / 2
    shallowest, deepest = 3.0 + height_mm / 2, depth_mm - 3.0 - height_mm / 2
    depth = float(np.clip(gland_middle + rng.normal(0, 1.0), shallowest,
                          max(shallowest, deepest)))

    painted = paint_lesion(rng, anatomy, geometry, descriptors, outline, boundary,
                           (depth, lateral))
    scanner = Scanner(
        axial_resolution_mm=rng.uniform(0.22, 0.32), lateral_focus_mm=rng.uniform(0.45, 0.65),
        lateral_far_mm=rng.uniform(0.95, 1.3), focus_depth_mm=depth + rng.normal(0, 2.0),
        nominal_attenuation_db_mm=rng.uniform(0.85, 1.05), tgc_error_db=rng.uniform(0.5, 2.5),
        tgc_deficit_db=rng.uniform(6.0, 20.0), lateral_tilt_db=rng.normal(0, 3.0),
        contact_loss_db=rng.uniform(0.0, 8.0) if rng.random() < 0.5 else 0.0,
        dynamic_range_db=rng.uniform(48.0, 56.0), white_db=rng.uniform(12.0, 15.0),
        shadow_blur_mm=rng.uniform(1.5, 3.0))
    amplitude = envelope(anatomy.echo_db, anatomy.attenuation, geometry, scanner, rng,
                         painted.point_reflectors)
    return log_compress(amplitude, scanner), painted.mask, geometry


def choose_annotations(rng: np.random.Generator, malignant: bool, shortcut: bool) -> dict:
    """Which annotations to burn in. The draws are the same with the shortcut on or off;
    only the calipers' probability changes (with the truth, when it is on)."""
    draws = rng.random(3)
    p_calipers = P_CALIPERS_SHORTCUT[malignant] if shortcut else P_CALIPERS
    return {"calipers": bool(draws[0] < p_calipers),
            "text": body_marker_text(rng) if draws[1] < P_TEXT else None,
            "depth_scale": bool(draws[2] < P_DEPTH_SCALE)}


def make_case(index: int, seed: int = 0, shortcut: bool = False,
              annotations: bool = True, redraw: int = 0) -> NewCase:
    """Case ``index`` of the phantom set made with ``seed``; ``redraw`` > 0 draws another image
    of the same lesion truth (see :func:`generate_phantoms`)."""
    truth_seed, image_seed, annotation_seed = case_seed(seed, index).spawn(3)
    if redraw:
        image_seed = np.random.SeedSequence(seed, spawn_key=(index, 1, redraw))
    truth: LesionTruth = draw_lesion(np.random.default_rng(truth_seed))
    image, mask, geometry = render_image(np.random.default_rng(image_seed), truth.descriptors,
                                         truth.size_mm)
    burned = {"calipers": False, "text": None, "depth_scale": False}
    if annotations:
        burned = choose_annotations(np.random.default_rng(annotation_seed), truth.malignant,
                                    shortcut)
        image = burn_in(image, geometry, mask, burned["calipers"], burned["text"],
                        burned["depth_scale"])
    attributes = dict(burned, depth_cm=round(geometry.depth_mm / 10, 2),
                      mm_per_px=round(geometry.mm_per_px, 4))
    return NewCase(
        source_path=f"phantom/{seed}/{index:04d}",
        label="malignant" if truth.malignant else "benign",
        image=image, mask=mask, histology=truth.subtype, birads_ref=truth.birads,
        patient_id=f"phantom-{index}",
        descriptors=dict(truth.descriptors, size_mm=truth.size_mm),
        truth_prob=truth.truth_prob, attributes=attributes)


def generate_phantoms(n: int, seed: int = 0, shortcut: bool = False, annotations: bool = True,
                      workers: int = 2) -> list[NewCase]:
    """``n`` phantom cases, identical for the same seed whatever ``workers`` (threads: the
    array work releases the GIL, and each case has its own random generator).

    Independent lesions must never look like one scan to the split's near-duplicate rule: a
    case whose image is within :data:`NEAR_DUPLICATE_BITS` pHash bits of an earlier case's is
    drawn again (same truth, new image). Earlier cases never change, so case ``i`` still does
    not depend on ``n``."""
    if not 1 <= n <= MAX_CASES:
        raise UserError(f"the number of phantoms must be between 1 and {MAX_CASES}, not {n}")
    if seed < 0:
        raise UserError(f"the seed must be zero or positive, not {seed}")
    if workers <= 1 or n == 1:
        cases = [make_case(i, seed, shortcut, annotations) for i in range(n)]
    else:
        with ThreadPoolExecutor(workers) as pool:
            cases = list(pool.map(lambda i: make_case(i, seed, shortcut, annotations), range(n)))
    hashes: list[int] = []
    for index, case in enumerate(cases):
        redraw, code = 0, int(perceptual_hash(case.image), 16)
        while any((code ^ earlier).bit_count() <= NEAR_DUPLICATE_BITS for earlier in hashes):
            redraw += 1
            case = make_case(index, seed, shortcut, annotations, redraw)
            code = int(perceptual_hash(case.image), 16)
        cases[index] = case
        hashes.append(code)
    return cases


def summarize(cases: list[NewCase]) -> dict:
    """n, malignant share, the best achievable AUC (of truth_prob) and the reference BI-RADS
    AUC (categories as an ordinal score) on these cases."""
    return _figures([(c.label, c.truth_prob, c.birads_ref) for c in cases])


def _figures(rows: list[tuple[str, float, str]]) -> dict:
    truth = np.array([label == "malignant" for label, _, _ in rows])
    prob = np.array([p for _, p, _ in rows])
    rank = np.array([BIRADS_CATEGORIES.index(birads) for _, _, birads in rows])
    return {"n": len(rows), "malignant_share": round(float(truth.mean()), 4),
            "best_auc": round(auc(prob, truth), 4), "birads_auc": round(auc(rank, truth), 4)}


def save_phantoms(store: Store, cases: list[NewCase], seed: int, dataset: str = "phantom",
                  shortcut: bool = False, annotations: bool = True) -> ImportResult:
    """Store generated phantoms; refuse to mix them into a dataset made otherwise. The dataset's
    params hold the settings and the figures over all its cases (best_auc, birads_auc...)."""
    settings = {"seed": seed, "shortcut": shortcut, "annotations": annotations}
    with store.read() as cur:
        row = cur.execute("SELECT kind, params FROM datasets WHERE dataset = ?",
                          [dataset]).fetchone()
    if row is not None:
        kind, existing = row[0], json.loads(row[1] or "{}")
        made_with = {k: existing.get(k) for k in settings}
        if kind != "phantom" or made_with != settings:
            raise UserError(f"dataset {dataset!r} already exists ({kind}, made with "
                            f"{made_with}); choose another --dataset name")
    result = save_cases(store, dataset, "phantom", cases, source=f"phantom generator, seed {seed}",
                        params=settings)
    with store.read() as cur:
        stored = cur.execute("SELECT label, truth_prob, birads_ref FROM cases WHERE dataset = ?",
                             [dataset]).fetchall()
    params = dict(settings, **_figures(stored), malignant_share_model=MALIGNANT_SHARE,
                  image_size=[HEIGHT, WIDTH],
                  population_best_auc=round(population_figures()["best_auc"], 4))
    with store.transaction() as cur:
        cur.execute("UPDATE datasets SET params = ? WHERE dataset = ?",
                    [json.dumps(params), dataset])
    return result


def import_phantoms(store: Store, n: int = 420, seed: int = 0, dataset: str = "phantom",
                    shortcut: bool = False, annotations: bool = True) -> ImportResult:
    """Generate ``n`` phantoms and store them under ``dataset``."""
    cases = generate_phantoms(n, seed, shortcut, annotations)
    return save_phantoms(store, cases, seed, dataset, shortcut, annotations)


def contact_sheet(cases_or_images: list[NewCase] | list[np.ndarray], path: str | Path,
                  columns: int = 6, tile_width: int = 240,
                  captions: list[str] | None = None) -> Path:
    """Write a PNG grid of the images (cases get a caption: truth, BI-RADS, histology)."""
    items = list(cases_or_images)
    if not items:
        raise UserError("nothing to put on the contact sheet")
    images = [item.image if isinstance(item, NewCase) else np.asarray(item) for item in items]
    if captions is None:
        captions = [f"{c.label[0].upper()} {c.birads_ref} {c.histology}"
                    if isinstance(c, NewCase) else "" for c in items]
    tile_height = round(tile_width * HEIGHT / WIDTH)
    caption_height = 14 if any(captions) else 0
    rows = -(-len(images) // columns)
    sheet = Image.new("L", (columns * tile_width, rows * (tile_height + caption_height)))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=11)
    for k, (image, caption) in enumerate(zip(images, captions)):
        tile = Image.fromarray(image).convert("L")
        tile.thumbnail((tile_width, tile_height), Image.Resampling.LANCZOS)
        left, top = (k % columns) * tile_width, (k // columns) * (tile_height + caption_height)
        sheet.paste(tile, (left, top))
        if caption:
            draw.text((left + 3, top + tile_height + 1), caption[:tile_width // 6], fill=255,
                      font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
