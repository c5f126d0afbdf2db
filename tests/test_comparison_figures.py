"""The comparison's figures from synthetic predictions, and their server-side export: the PNG
opens with PIL, the SVG parses as XML; without a browser the export says so clearly."""
from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import comparison, figure_export, model_charts
from core.errors import UserError
from core.stats.roc import auc_text


def synthetic_predictions(n: int = 126, seed: int = 0) -> pd.DataFrame:
    """Test predictions of the six models in the frame ``load_test_predictions`` returns."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(n) % 5 < 2).astype(int)
    frames = []
    for k, arch in enumerate(comparison.ARCH_NAMES):
        prob = 1 / (1 + np.exp(-((0.6 + 0.15 * k) * (2 * truth - 1) + rng.normal(0, 1.2, n))))
        frames.append(pd.DataFrame({"model_id": f"{arch}-m", "arch": arch, "init": "scratch",
                                    "label": comparison.arch_name(arch), "case_id": np.arange(n),
                                    "truth": truth, "prob": prob, "threshold": 0.5}))
    return pd.concat(frames, ignore_index=True)


def reader_points() -> pd.DataFrame:
    return pd.DataFrame([
        {"reader": "You", "mode": mode, "pooled": False, "n": 126, "tpr": tpr, "tpr_low": tpr - .1,
         "tpr_high": tpr + .05, "fpr": fpr, "fpr_low": fpr - .05, "fpr_high": fpr + .1}
        for mode, tpr, fpr in (("unaided", 0.81, 0.62), ("aided", 0.85, 0.04))])


@pytest.fixture(scope="module")
def result() -> comparison.Comparison:
    return comparison.compare_models(synthetic_predictions())


def test_roc_figure_has_a_curve_a_band_and_reader_points_per_model(result):
    fig = model_charts.roc_figure(result.curves, result.bands, reader_points(), result.aucs,
                                  comparison.BAND_LABEL)
    names = [trace.name or "" for trace in fig.data]
    assert sum("AUC" in name for name in names) == 6
    assert sum(trace.fill == "toself" for trace in fig.data) == 6
    assert {"You, unaided", "You, aided"} <= set(names)
    resnet = next(t for t in fig.data if (t.name or "").startswith("ResNet50 (AUC"))
    assert f"AUC {auc_text(result.aucs['ResNet50'])}" in resnet.name
    without = model_charts.roc_figure(result.curves, None, None, result.aucs)
    assert not any(trace.fill == "toself" for trace in without.data)


def test_presentation_mode_enlarges_type_and_lines(result):
    normal = model_charts.calibration_figure(result.calibration, result.briers)
    large = model_charts.calibration_figure(result.calibration, result.briers, presentation=True)
    assert large.layout.font.size > normal.layout.font.size
    assert large.data[1].line.width > normal.data[1].line.width


def test_confusion_figure_shows_each_models_counts(result):
    fig = model_charts.confusion_figure(result.confusion)
    assert len(fig.data) == 6
    for trace, row in zip(fig.data, result.confusion.itertuples()):
        counts = [int(cell.split("<br>")[0]) for line in trace.text for cell in line]
        assert counts == [row.tn, row.fp, row.fn, row.tp]


def test_gallery_figure_holds_one_image_per_panel():
    rgb = np.zeros((20, 30, 3), np.uint8)
    fig = model_charts.gallery_figure([("a", rgb)] * 4, "case 1")
    assert [t.type for t in fig.data] == ["image"] * 4
    assert fig.data[0].source.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(fig.data[0].source.split(",", 1)[1]))) as image:
        assert image.size == (30, 20)
    assert [a.text for a in fig.layout.annotations] == ["a"] * 4
    lone = model_charts.gallery_figure([("case only", rgb)], "case 1")
    left, right = lone.layout.xaxis.domain
    assert len(lone.data) == 1 and right - left < 0.4  # a panel's width, not the page's


needs_browser = pytest.mark.skipif(not figure_export.export_available(),
                                   reason="no Chrome/Chromium for kaleido on this machine")


@needs_browser
def test_exported_png_and_svg_are_valid_files(result):
    fig = model_charts.roc_figure(result.curves, result.bands, reader_points(), result.aucs,
                                  comparison.BAND_LABEL, presentation=True)
    with Image.open(io.BytesIO(figure_export.to_png(fig))) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == (2 * figure_export.WIDTH, 2 * fig.layout.height)   # scale 2
    root = ET.fromstring(figure_export.to_svg(fig))
    assert root.tag.endswith("svg")
    assert "ResNet50" in "".join(root.itertext())


@needs_browser
def test_a_table_figure_exports_too(result):
    shown = comparison.format_study_table(result.study)
    png = figure_export.to_png(model_charts.table_figure(shown, "Study table"), scale=1)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"


def test_export_without_a_browser_raises_a_clear_error(monkeypatch, result):
    monkeypatch.setattr(figure_export, "browser_path", lambda: None)
    fig = model_charts.confusion_figure(result.confusion)
    for export in (figure_export.to_png, figure_export.to_svg):
        with pytest.raises(UserError, match="needs Chrome or Chromium"):
            export(fig)


def test_projector_figures_wrap_their_titles_and_keep_axis_labels_whole():
    """Plotly never wraps: long titles are cut at both ends and panel titles overlap on a
    projector, and fixed margins cut tick labels ("lignant"); titles are wrapped to the
    figure and margins grow with their labels."""
    from core.model_charts import TITLE_CHARS, confusion_figure, gallery_figure, wrapped

    assert wrapped("a b c d", 3) == "a b<br>c d"
    matrices = pd.DataFrame({"label": ["GoogLeNet", "AlexNet"], "threshold": [0.5, 0.4],
                             "tp": [5, 4], "fp": [1, 2], "tn": [6, 5], "fn": [2, 3]})
    confusion = confusion_figure(matrices, presentation=True)
    assert confusion.layout.yaxis.automargin and confusion.layout.xaxis.automargin
    assert all(len(line) <= TITLE_CHARS[True]
               for line in confusion.layout.title.text.split("<br>"))
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    long_name = "GoogLeNet: probability 0.83, called malignant at cut-off 0.56"
    panels = [("Image", image), *((long_name, image) for _ in range(5))]
    gallery = gallery_figure(panels, "Grad-CAM: case 17", presentation=True)
    titles = [a.text for a in gallery.layout.annotations]
    assert all("<br>" in t for t in titles[1:])
    assert all(len(line) * 0.6 * 24 <= (1100 - 60) / 3 for t in titles
               for line in t.split("<br>"))
