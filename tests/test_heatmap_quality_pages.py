"""The gallery (model comparison) and the admin's models tab show heatmap quality with human
column names: each localisation measure with its CI, the centre blob and uniform map, the
paired verdict against the centre, and faithfulness. Maps are stored by hand and scored by
``core.heatmaps.localisation`` (no model: the faithfulness figures are stand-ins)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from core.auth import User
from core.display_names import model_names
from core.heatmaps.localisation import TOLERANCE_PX, as_stored, case_scores
from core.images import load_grey
from core.models.framing import Box
from core.store import Store
from comparison_support import add_user, populate
from tests.quiz_helpers import add_model, make_cases, make_user

PAGES = Path(__file__).resolve().parent.parent / "pages"
POINTING = f"Pointing game (hit within {TOLERANCE_PX} px at the original resolution)"
COLUMNS = {"Model", "CAM method", "Maps of cases with a lesion", f"{POINTING} (95% CI)",
           f"{POINTING}: centre blob / uniform map",
           f"{POINTING}: better than the centre baseline",
           "Energy in the lesion's box (Score-CAM) (95% CI)",
           "Energy in the lesion (95% CI)", "Energy in the lesion: centre blob / uniform map",
           "Energy in the lesion: better than the centre baseline",
           "Faithfulness: confidence change (image x map) (95% CI)",
           "Faithfulness: confidence change (image x map): better than the centre baseline"}
VERDICT = re.compile(r"(yes|no) \((exact McNemar|Wilcoxon signed-rank), p = [0-9.e-]+\)")


def store_scored_maps(store: Store, model_id: str, case_ids: list[int], seed: int = 0) -> None:
    """A map per case (a blob off the image's centre), scored as core.heatmaps.compute scores
    a whole-image model's map."""
    rng = np.random.default_rng(seed)
    rows = []
    for case_id in case_ids:
        with store.read() as cur:
            image_path, mask_path = cur.execute("SELECT image_path, mask_path FROM cases "
                                                "WHERE case_id = ?", [case_id]).fetchone()
        shape = load_grey(store, image_path).shape
        yy, xx = np.mgrid[:shape[0], :shape[1]] / np.array(shape)[:, None, None]
        cy, cx = rng.uniform(0.2, 0.8, 2)
        cam = as_stored(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05))
        relative = f"heatmaps/{model_id}/gradcam/{case_id}.npy"
        store.resolve(relative).parent.mkdir(parents=True, exist_ok=True)
        np.save(store.resolve(relative), cam.astype(np.float16))
        scores = case_scores(cam, load_grey(store, mask_path) > 127, Box(0, 0, *shape))
        rows.append([model_id, case_id, "gradcam", relative,
                     hashlib.sha256(store.resolve(relative).read_bytes()).hexdigest(),
                     *scores.values(), rng.normal(0, 0.05), -0.02, "confidence_change"])
    with store.transaction() as cur:
        cur.executemany(f"INSERT INTO heatmaps (model_id, case_id, method, path, sha256, "
                        f"{', '.join(scores)}, faithfulness, centre_faithfulness, "
                        f"faithfulness_metric) VALUES ({', '.join('?' * len(rows[0]))})", rows)


def quality_frame(at: AppTest):
    [frame] = [f.value for f in at.dataframe if f"{POINTING} (95% CI)" in f.value.columns]
    assert COLUMNS <= set(frame.columns), COLUMNS - set(frame.columns)
    assert not [c for c in frame.columns if "_" in c]  # human names, no field names
    scored = frame[~frame["Maps of cases with a lesion"].str.startswith("0")]
    unscored = frame[frame["Maps of cases with a lesion"].str.startswith("0")]
    for column in frame.columns:
        if column.endswith("better than the centre baseline"):
            assert all(VERDICT.fullmatch(value) for value in scored[column]), scored[column]
            assert (unscored[column] == "—").all()  # a model without maps: no verdict
    return scored


def test_the_gallery_shows_heatmap_quality_beside_its_baselines(app_db):
    with Store(app_db) as store:
        info = populate(store, n_test=12, n_train=5, trainees=())
        for arch in ("resnet50", "vgg16"):
            store_scored_maps(store, info["models"][arch], info["test_cases"])
        supervisor = add_user(store, "sue", "supervisor", "Sue Supervisor")
    at = AppTest.from_file(str(PAGES / "models.py"), default_timeout=120)
    at.session_state["user"] = User(supervisor, "sue", "Sue Supervisor", "supervisor")
    at.run()
    at.radio(key="models_section").set_value("Heatmap gallery").run()
    assert not at.exception
    frame = quality_frame(at)
    assert {"ResNet50", "VGG16"} <= set(frame["Model"])
    shown = frame.set_index("Model").loc["ResNet50"]
    assert shown["Maps of cases with a lesion"] == "12"
    assert re.fullmatch(r"\d+\.\d% \(\d+\.\d%–\d+\.\d%\)", shown[f"{POINTING} (95% CI)"])
    assert any("within 15 px" in c.value and "centred Gaussian blob" in c.value
               for c in at.caption)


def test_the_admin_models_tab_shows_heatmap_quality(app_db):
    from pages import ui

    store = ui.get_store()
    case_ids = make_cases(store, n=9)
    add_model(store, "resnet50-quick-quizset-s0", case_ids, heatmaps=False)
    with store.read() as cur:
        tests = [c for (c,) in cur.execute("SELECT case_id FROM splits WHERE split = 'test' "
                                           "ORDER BY case_id").fetchall()]
    store_scored_maps(store, "resnet50-quick-quizset-s0", tests)
    at = AppTest.from_file(str(PAGES / "admin.py"), default_timeout=60)
    at.session_state["user"] = make_user(store, "root", "admin")
    at.run()
    assert not at.exception
    frame = quality_frame(at)
    assert frame["Model"].tolist() == [model_names(store)["resnet50-quick-quizset-s0"]]
    assert frame["CAM method"].tolist() == ["Grad-CAM"]
    assert frame["Maps of cases with a lesion"].tolist() == [str(len(tests))]
