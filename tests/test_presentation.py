"""Presentation mode fits a projector: tables become slides of a few columns whose cells wrap
(CIs on a second line), so no cell's text overflows its box at 1280 x 720 or 1920 x 1080;
figures are slides as tall as the window leaves room for, with nothing cut. Checked on the
slides themselves and in a real browser (Debian's chromium with Playwright, skipped where
absent): each cell's scrollWidth against its clientWidth, and every text of every figure
slide inside its figure, no two texts overlapping, the figure inside the window, at both
sizes with and without the sidebar. Screenshots of every slide go to $SONOCASE_SCREENSHOTS
(a temporary folder where unset)."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from core.presentation import figure_fit, html_table, row_slides, slides, with_first
from core.store import Store
from tests.comparison_support import populate, store_heatmap
from tests.quiz_helpers import PASSWORD, make_user
from tests.streamlit_server import CHROMIUM, logged_in_browser

SIZES = ((1280, 720), (1920, 1080))
OVERFLOWING = """() => [...document.querySelectorAll('.sc-slide th, .sc-slide td')]
    .filter(cell => cell.scrollWidth > cell.clientWidth).map(cell => cell.innerText)"""
# What is wrong with the one figure on screen: more or fewer than one figure, a figure that
# leaves the window, a text outside its figure or its legend (cut, or a scrolling legend),
# two texts besides tick labels on top of each other (overlapping panel titles).
FIGURE_FAULTS = """() => {
  const charts = [...document.querySelectorAll('.stPlotlyChart')];
  if (charts.length !== 1) return [`${charts.length} figures on the slide`];
  const faults = [];
  const rect = (element) => element.getBoundingClientRect();
  const inside = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1
    && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  const figure = rect(charts[0].querySelector('svg.main-svg'));
  if (!inside(figure, {left: 0, top: 0, right: innerWidth, bottom: innerHeight}))
    faults.push(`figure ${JSON.stringify(figure)} leaves the ${innerWidth} x ${innerHeight} window`);
  const texts = [...charts[0].querySelectorAll('svg text')]
    .filter(t => t.textContent.trim() && rect(t).width > 0 && !t.closest('.hoverlayer'));
  for (const t of texts) {
    if (!inside(rect(t), figure)) faults.push(`cut: ${t.textContent}`);
    const legend = t.closest('.legend');
    if (legend && !inside(rect(t), rect(legend.querySelector('.bg'))))
      faults.push(`legend scrolls: ${t.textContent}`);
  }
  // Titles, panel titles, legend and cell texts; tick labels are plotly's to place (the
  // boxes of the two axes' "0" touch at the corner, their glyphs do not).
  const labels = texts.filter(t => !t.closest('[class*="tick"]'));
  labels.forEach((a, i) => labels.slice(i + 1).forEach((b) => {
    const [r, q] = [rect(a), rect(b)];
    if (Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1
        && Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1)
      faults.push(`overlap: ${a.textContent} / ${b.textContent}`);
  }));
  return faults;
}"""
FIGURE_SECTIONS = {"ROC curves": 1, "Confusion matrices": 2, "Calibration": 1,
                   "Heatmap gallery": 3}  # figure slides of six models


def test_a_wide_table_becomes_slides_that_repeat_the_first_column():
    table = pd.DataFrame({"Model": ["GoogLeNet", "<b>x</b>"],
                          **{f"M{i}": ["0.81 (0.75-0.86)", "1"] for i in range(9)}})
    parts = slides(table, max_columns=4)
    assert [list(part.columns) for part in parts] == [
        ["Model", "M0", "M1", "M2", "M3"], ["Model", "M4", "M5", "M6", "M7"], ["Model", "M8"]]
    assert slides(table.iloc[:, :5], max_columns=4)[0].equals(table.iloc[:, :5])
    page = html_table(parts[0], "Test <split>")
    assert "0.81<br>(0.75-0.86)" in page  # the CI on its own line
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Test &lt;split&gt;" in page and "table-layout:fixed" in page


def test_figures_become_slides_that_repeat_the_case_image():
    panels = ["image", *(f"model {i}" for i in range(5))]
    assert with_first(panels, 2) == [["image", "model 0", "model 1"],
                                     ["image", "model 2", "model 3"], ["image", "model 4"]]
    assert with_first(["image"], 2) == [["image"]]
    matrices = pd.DataFrame({"label": list("abcdefg")})
    assert [list(part["label"]) for part in row_slides(matrices, 3)] == [
        list("abc"), list("def"), ["g"]]
    fit = figure_fit("chart_roc", 760)
    assert ".st-key-chart_roc{height:var(--sc-room,760px) !important" in fit
    assert "window.innerHeight" in fit and "'.st-key-chart_roc'" in fit


sync_api = pytest.importorskip("playwright.sync_api")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_no_cell_overflows_at_projector_sizes(tmp_path):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        populate(store, n_test=40, n_train=10)
        make_user(store, "sue", "supervisor", "Sue")
    folder = screenshots(tmp_path)
    with presenting(tmp_path) as page:
        pick_section(page, "Study table")
        page.get_by_text("Slide 1 of 3").wait_for()
        page.evaluate("document.activeElement.blur()")  # focus off the radio
        page.keyboard.press("ArrowRight")
        page.get_by_text("Slide 2 of 3").wait_for()
        settled(page)
        page.keyboard.press("ArrowLeft")
        page.get_by_text("Slide 1 of 3").wait_for()
        checked = 0
        for section in ("Study table", "DeLong tests"):
            pick_section(page, section)
            page.locator(".sc-slide").first.wait_for()
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                while True:
                    settled(page)
                    page.screenshot(path=folder / f"{section}-{width}-{checked}.png")
                    assert page.evaluate(OVERFLOWING) == [], (section, width)
                    checked += page.locator(".sc-slide td").count()
                    number, count = slide_position(page)
                    if number == count:
                        break
                    page.get_by_role("button", name="Next").click()
                    page.get_by_text(f"Slide {number + 1} of {count}").wait_for()
                while (position := slide_position(page))[0] > 1:  # back to the first slide
                    page.get_by_role("button", name="Previous").click()
                    page.get_by_text(f"Slide {position[0] - 1} of {position[1]}").wait_for()
        assert checked > 50  # cells were really there to check


def slide_position(page) -> tuple[int, int]:
    """The slide shown and how many there are, as the page says ("Slide 2 of 3"; a single
    slide has no counter): read after each step, so a click is never judged by a button the
    rerun has not redrawn yet."""
    found = re.search(r"Slide (\d+) of (\d+)", page.locator("body").inner_text())
    return (int(found[1]), int(found[2])) if found else (1, 1)


@contextmanager
def presenting(tmp_path: Path) -> Iterator:
    """The comparison page in presentation mode, in chromium at 1280 x 720, logged in as the
    supervisor sue, on the store the caller filled under ``tmp_path``."""
    with logged_in_browser(tmp_path / "data" / "results.duckdb", tmp_path / "streamlit.log",
                           "model-comparison", "sue", PASSWORD,
                           viewport={"width": 1280, "height": 720}) as page:
        page.set_default_timeout(180_000)  # many slides, on a machine others share
        page.get_by_text("Presentation mode").click()
        yield page


def pick_section(page, section: str) -> None:
    """Choose a section of the page once its rerun is over: mid-rerun the old radio group can
    still be on the page beside the new one."""
    settled(page)
    label = page.locator("label").filter(has_text=section)
    sync_api.expect(label).to_have_count(1)
    label.click()


def settled(page) -> None:
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for()
    page.wait_for_timeout(300)


def test_projector_figures_keep_titles_on_top_and_legends_short():
    from core.model_charts import calibration_figure, wrapped

    assert wrapped("T<br><sup>a b c d</sup>", 2) == "T<br><sup>a b</sup><br><sup>c d</sup>"
    assert wrapped("DenseNet121 (cut-off 0.52)", 22) == "DenseNet121 (cut-off<br>0.52)"
    curves = pd.DataFrame({"label": ["ResNet50"] * 2, "mean_predicted": [0.2, 0.8],
                           "observed": [0.1, 0.9], "ci_low": [0.0, 0.7], "ci_high": [0.3, 1.0],
                           "n": [10, 10]})
    projected = calibration_figure(curves, {"ResNet50": 0.123}, presentation=True)
    assert projected.layout.legend.title.text == "Brier score"
    assert projected.data[1].name == "ResNet50 0.123"
    assert calibration_figure(curves, {"ResNet50": 0.123}).data[1].name == "ResNet50 (Brier 0.123)"
    title = projected.layout.title
    assert (title.yref, title.y, title.yanchor) == ("container", 1, "top")
    lines = title.text.count("<br>")
    assert lines and title.pad.t >= 12 + 1.3 * lines * title.font.size  # plotly lifts the lines


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SONOCASE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def show_sidebar(page, shown: bool) -> None:
    """Open or collapse the sidebar (its collapse button shows on hover)."""
    sidebar = page.get_by_test_id("stSidebar")
    if (sidebar.get_attribute("data-collapsed") == "false") != shown:
        if shown:
            page.get_by_test_id("stExpandSidebarButton").click()
        else:
            sidebar.hover()
            page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
        page.locator(f"[data-testid='stSidebar'][data-collapsed='{str(not shown).lower()}']"
                     ).wait_for(state="attached")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_figure_slides_fit_the_window_with_nothing_cut(tmp_path):
    path = tmp_path / "data" / "results.duckdb"
    with Store(path) as store:
        info = populate(store, n_test=40, n_train=10, image_size=64)
        make_user(store, "sue", "supervisor", "Sue")
        for model_id in info["models"].values():  # the gallery's first case, all six maps
            store_heatmap(store, model_id, sorted(info["test_cases"])[0])
    folder = screenshots(tmp_path)
    layouts = [(width, height, sidebar) for width, height in SIZES for sidebar in (True, False)]
    with presenting(tmp_path) as page:
        settled(page)
        checked = {}
        for section, figures in FIGURE_SECTIONS.items():
            page.get_by_test_id("stRadioOption").filter(has_text=section).click()
            page.get_by_test_id("stRadioOption").filter(has_text=section).locator(
                "input:checked").wait_for(state="attached")
            settled(page)
            slide = 0
            while True:
                for width, height, sidebar in layouts:
                    page.set_viewport_size({"width": width, "height": height})
                    show_sidebar(page, sidebar)
                    settled(page)
                    page.wait_for_timeout(700)  # the figure follows the window's size
                    name = f"{section}-{slide + 1}-{width}x{height}" + (
                        "-sidebar" if sidebar else "")
                    page.screenshot(path=folder / f"{name}.png")
                    if page.locator(".sc-slide").count():  # the localisation table
                        assert page.evaluate(OVERFLOWING) == [], name
                        continue
                    assert page.evaluate(FIGURE_FAULTS) == [], name
                    checked[section] = checked.get(section, 0) + 1
                number, count = slide_position(page)
                if number == count:
                    break
                if slide == 0:  # the arrow keys step figure slides too
                    page.evaluate("document.activeElement.blur()")  # off the radio
                    page.keyboard.press("ArrowRight")
                else:
                    page.get_by_role("button", name="Next").click()
                page.get_by_text(f"Slide {number + 1} of {count}").wait_for()
                slide += 1
                settled(page)
        assert checked == {section: figures * len(layouts)
                           for section, figures in FIGURE_SECTIONS.items()}
