"""The progress figures (data in, figure out) and the image helpers of the truth step."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import charts
from core.errors import UserError
from core.images import jpeg_bytes, mask_edge, outline, stored_png
from core.stats.curves import cusum, rolling_metrics


def reads(n: int, accuracy_every: int) -> pd.DataFrame:
    truth = np.arange(n) % 2
    pred = np.where(np.arange(n) % accuracy_every == 0, 1 - truth, truth)
    return pd.DataFrame({"truth": truth, "pred": pred, "score": pred + 0.5 * truth,
                         "created_at": pd.date_range("2026-01-01", periods=n, freq="h")})


def test_the_rolling_chart_has_a_band_and_a_line_per_mode_and_the_model_level():
    frame = pd.concat([rolling_metrics(reads(30, 3), 10).assign(mode="unaided"),
                       rolling_metrics(reads(30, 5), 10).assign(mode="aided")])
    figure = charts.rolling_chart(frame, "accuracy", model_value=0.86)
    lines = [t for t in figure.data if t.fill != "toself"]
    bands = [t for t in figure.data if t.fill == "toself"]
    assert [t.name for t in lines] == ["unaided", "aided"] and len(bands) == 2
    unaided = frame[frame["mode"] == "unaided"]
    assert list(lines[0].y) == list(unaided["accuracy"])
    assert list(bands[0].y) == list(unaided["accuracy_hi"]) + list(unaided["accuracy_lo"])[::-1]
    assert [shape.y0 for shape in figure.layout.shapes] == [0.86]


def test_the_ai_models_label_sits_on_its_line():
    frame = rolling_metrics(reads(30, 3), 10).assign(mode="unaided")
    figure = charts.rolling_chart(frame, "accuracy", model_value=0.75)
    (label,) = figure.layout.annotations
    (line,) = figure.layout.shapes
    assert label.text == "AI model: 75%"
    assert (label.yref, label.y, label.yanchor) == ("y", line.y0, "middle")  # centred on it
    assert label.bordercolor == line.line.color and label.bgcolor  # boxed, legible over curves


def test_the_rolling_chart_without_reads_or_model_is_empty():
    figure = charts.rolling_chart(pd.DataFrame(), "auc")
    assert not figure.data and not figure.layout.shapes


def test_cases_read_are_counted_in_whole_cases():
    few = charts.rolling_chart(rolling_metrics(reads(2, 3), 10).assign(mode="unaided"),
                               "accuracy")
    assert few.layout.xaxis.dtick == 1 and few.layout.xaxis.tickformat == "d"
    assert [trace.mode for trace in few.data] == ["lines", "lines+markers"]  # band, curve
    one = charts.rolling_chart(rolling_metrics(reads(1, 3), 10).assign(mode="unaided"),
                               "accuracy")
    assert [trace.mode for trace in one.data if trace.fill != "toself"] == ["lines+markers"]
    many = charts.compare_chart(rolling_metrics(reads(40, 3), 10).assign(trainee="Ann"),
                                "accuracy")
    assert many.layout.xaxis.dtick is None and many.layout.xaxis.tickformat == "d"

def test_a_date_axis_shows_days_and_an_auc_axis_numbers():
    """One day of reads: ticks a day apart labelled by date (not "23:59:59.9995"); the
    BI-RADS AUC reads 0-1 with the model's level as a number, other metrics as percentages."""
    frame = rolling_metrics(reads(2, 3), 10, by="date").assign(mode="unaided")
    by_date = charts.rolling_chart(frame, "auc", x="date", model_value=0.5412)
    axis = by_date.layout.xaxis
    assert (axis.type, axis.tickformat, axis.dtick) == ("date", "%d %b %Y", charts.DAY_MS)
    day = frame["date"].iloc[0]
    assert pd.Timestamp(axis.range[0]) < day < pd.Timestamp(axis.range[1])
    assert (by_date.layout.yaxis.tickformat, by_date.layout.yaxis.hoverformat) == (".1f", ".2f")
    assert by_date.layout.annotations[0].text == "AI model: 0.54"
    share = charts.rolling_chart(frame, "accuracy", x="date", model_value=0.86)
    assert (share.layout.yaxis.tickformat, share.layout.yaxis.hoverformat) == (".0%", ".0%")
    cohort = charts.cohort_change_chart(pd.DataFrame(
        {"trainee": ["Ann"], "unaided_birads_auc": [0.56], "unaided_birads_auc_lo": [0.4],
         "unaided_birads_auc_hi": [0.7]}), "birads_auc")
    assert (cohort.layout.xaxis.tickformat, cohort.layout.xaxis.hoverformat) == (".1f", ".2f")
    assert share.layout.annotations[0].text == "AI model: 86%"
    long = rolling_metrics(reads(24 * 40, 3), 10, by="date").assign(mode="unaided")
    assert charts.rolling_chart(long, "accuracy", x="date").layout.xaxis.dtick is None


def test_the_cusum_chart_marks_its_signals_and_limits():
    curve = cusum([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0.2, 0.4)
    figure = charts.cusum_chart(curve)
    names = [t.name for t in figure.data]
    assert names[0] == "CUSUM" and "signal: unacceptable" in names
    assert sorted(shape.y0 for shape in figure.layout.shapes) == pytest.approx(
        sorted([curve["h1"].iloc[0], -curve["h0"].iloc[0]]))


def test_the_compare_chart_draws_one_line_per_trainee():
    frame = pd.concat([rolling_metrics(reads(20, 3), 5).assign(trainee="Ann"),
                       rolling_metrics(reads(20, 4), 5).assign(trainee="Bob")])
    figure = charts.compare_chart(frame, "accuracy")
    assert [t.name for t in figure.data if t.fill != "toself"] == ["Ann", "Bob"]


def test_the_cohort_chart_has_error_bars_from_the_cis():
    table = pd.DataFrame({"trainee": ["Ann", "Bob"], "unaided_accuracy": [0.6, 0.8],
                          "unaided_accuracy_lo": [0.5, 0.7], "unaided_accuracy_hi": [0.75, 0.9],
                          "aided_accuracy": [np.nan, np.nan], "aided_accuracy_lo": [np.nan] * 2,
                          "aided_accuracy_hi": [np.nan] * 2})
    figure = charts.cohort_change_chart(table)
    assert [t.name for t in figure.data] == ["unaided"]
    assert list(figure.data[0].error_x.array) == pytest.approx([0.15, 0.1])
    assert list(figure.data[0].error_x.arrayminus) == pytest.approx([0.1, 0.1])


def test_the_outline_is_the_masks_border_in_colour():
    grey = np.full((40, 40), 100, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 5:25] = True
    drawn = outline(grey, mask, colour=(0, 255, 0))
    green = (drawn == (0, 255, 0)).all(axis=2)
    assert green[10, 5:25].all() and green[29, 5:25].all() and green[10:30, 5].all()
    assert not green[11:29, 6:24].any() and not green[~mask].any()
    assert (drawn[~green] == 100).all()
    assert (mask_edge(mask) == green).all()


def test_the_outline_goes_over_an_rgb_image_and_refuses_a_wrong_mask():
    rgb = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    assert outline(rgb, mask)[2, 2].tolist() == [0, 230, 118]
    assert rgb.max() == 0  # drawn on a copy
    with pytest.raises(UserError, match="does not match"):
        outline(rgb, np.zeros((4, 4), bool))


def test_image_bytes(store):
    grey = (np.arange(64 * 64) % 251).reshape(64, 64).astype(np.uint8)
    path = store.data_dir / "cases" / "x.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(grey).save(path)
    assert stored_png(store, "cases/x.png") == path.read_bytes()
    with pytest.raises(UserError, match="cannot read"):
        stored_png(store, "cases/missing.png")
    with pytest.raises(UserError, match="escapes"):
        stored_png(store, "../outside.png")
    decoded = np.asarray(Image.open(io.BytesIO(jpeg_bytes(np.dstack([grey] * 3)))))
    assert decoded.shape == (64, 64, 3) and np.abs(decoded.astype(int) - grey[..., None]).mean() < 4
