"""Model comparison: the six models on the test split for journal club (ROC curves with CI
bands and the trainees' operating points, the study's table beside the paper's row, DeLong
tests, confusion matrices, calibration, a heatmap gallery), with a presentation mode."""
import pandas as pd
import streamlit as st

from core import comparison, figure_export, model_charts
from core import presentation as projector
from core.auth import STAFF_ROLES
from core.csv_cells import csv_text
from core.display_names import readable_columns
from core.errors import UserError
from core.plain_text import plain
from core.split_guard import EARLIER_SPLIT, stale_models
from core.stats.roc import MIN_PER_CLASS
from pages import ui

SECTIONS = ("ROC curves", "Study table", "DeLong tests", "Confusion matrices", "Calibration",
            "Heatmap gallery")
COHORT_ONLY = "cohort only"

user = ui.require_role("trainee", "supervisor", "admin")
store = ui.get_store()
staff = user.role in STAFF_ROLES
st.session_state.setdefault("models_presentation", False)
st.session_state.setdefault("models_band", True)
st.session_state.setdefault("models_outline", False)
st.session_state.setdefault("models_bins", 10)


@st.cache_data(max_entries=16, show_spinner="Computing the comparison...")
def computed(db: str, dataset: str, version: tuple, model_ids: tuple[str, ...], bins: int):
    """The predictions and all model statistics, recomputed only when the dataset's models or
    predictions change (``version``) or the selection does."""
    preds = comparison.load_test_predictions(store, dataset, list(model_ids))
    return preds, comparison.compare_models(preds, bins)


def downloads(name: str, fig=None, table=None) -> None:
    """PNG and SVG of a figure (rendered on the server only when clicked) and CSV of a table;
    nothing in presentation mode."""
    if presentation:
        return
    row = st.container(horizontal=True)
    if fig is not None and export_ok:
        row.download_button("PNG", lambda: figure_export.to_png(fig), f"{name}.png",
                            "image/png", key=f"png_{name}", on_click="ignore",
                            icon=":material/image:")
        row.download_button("SVG", lambda: figure_export.to_svg(fig), f"{name}.svg",
                            "image/svg+xml", key=f"svg_{name}", on_click="ignore",
                            icon=":material/image:")
    if table is not None:
        row.download_button("CSV", csv_text(readable_columns(table)).encode(), f"{name}.csv",
                            "text/csv", key=f"csv_{name}", on_click="ignore",
                            icon=":material/table:")


def show(fig, name: str) -> None:
    """The figure as built (no Streamlit theme: what is shown is what is exported); in
    presentation mode as tall as the window leaves room for."""
    height = "content"
    if presentation:
        height = int(fig.layout.height)
        slide_bar.html(projector.figure_fit(f"chart_{name}", height),
                       unsafe_allow_javascript=True, width="content")
    st.plotly_chart(fig, key=f"chart_{name}", theme=None, height=height, config={
        "displaylogo": False, "toImageButtonOptions": {"filename": name, "scale": 2}})


# The arrow keys press Previous / Next (not while typing or on a focused radio or toggle).
ARROW_KEYS = """<script>
if (!window.scSlideKeys) {
  window.scSlideKeys = true;
  document.addEventListener("keydown", (event) => {
    const label = {ArrowRight: "Next", ArrowLeft: "Previous"}[event.key];
    if (!label || event.target.closest("input, textarea, [contenteditable]")) return;
    const button = [...document.querySelectorAll("button")]
      .find((b) => b.innerText.trim().endsWith(label) && !b.disabled);
    if (button) { event.preventDefault(); button.click(); }
  });
}
</script>"""


def step_slide(key: str, delta: int) -> None:
    st.session_state[key] += delta


def slide_number(name: str, count: int) -> int:
    """Which of ``count`` slides to show, stepped with Previous / Next or the arrow keys
    (callbacks, so both buttons already know the new slide on the run they draw it)."""
    key = f"models_slide_{name}"
    index = st.session_state[key] = min(st.session_state.get(key, 0), count - 1)
    if count > 1:
        slide_bar.html(ARROW_KEYS, unsafe_allow_javascript=True, width="content")
        row = slide_bar.container(horizontal=True, vertical_alignment="center")
        row.button("Previous", key=f"{key}_back", disabled=index == 0,
                   icon=":material/arrow_back:", on_click=step_slide, args=(key, -1))
        row.button("Next", key=f"{key}_next", disabled=index == count - 1,
                   icon=":material/arrow_forward:", on_click=step_slide, args=(key, 1))
        row.caption(f"Slide {index + 1} of {count}")
    return index


def show_table(shown, title: str, name: str, raw=None) -> None:
    """A table: slides of a few columns that wrap in presentation mode, else an interactive
    table + CSV."""
    if presentation:
        parts = projector.slides(shown)
        st.html(projector.html_table(parts[slide_number(name, len(parts))], title))
        return
    st.dataframe(shown, hide_index=True, key=f"table_{name}")
    downloads(name, model_charts.table_figure(shown, title), raw if raw is not None else shown)


def not_trained(archs: list[str]) -> None:
    """'not trained yet' for each architecture, and the progress of a running training."""
    st.caption(" · ".join(f"**{comparison.arch_name(arch)}**: not trained yet" for arch in archs))
    for job in ui.get_runner().active():
        if job.kind == "train":
            st.progress(job.fraction, text=f"Training: {job.message}")


def gallery(dataset: str, preds) -> None:
    """One test case across the selected models for one CAM method, with localisation scores."""
    from core.heatmaps import METHOD_TITLES
    from core.heatmaps.colour_overlay import colour_scale_html
    from core.heatmaps.quality import heatmap_quality

    cases = comparison.gallery_cases(store, user, dataset)
    if not cases:
        st.info("No case is open to you here yet: a test case joins the gallery once the quiz "
                "has shown you its AI step.")
        return
    cols = (settings if presentation else st).columns([2, 2, 1])
    case_id = cols[0].selectbox("Case", cases, key="models_case",
                                format_func=lambda c: f"case {c}")
    choice = cols[1].selectbox("CAM method", [comparison.EACH_DEFAULT, *METHOD_TITLES],
                               key="models_method", format_func=comparison.gallery_method_title,
                               help="Each model's default: the map the quiz shows for it "
                               "(its layer and method chosen after training).")
    methods = comparison.gallery_methods(store, model_ids, choice)
    title = comparison.gallery_title(methods)
    with_outline = cols[2].toggle("Lesion outline", key="models_outline")
    has_mask = comparison.case_record(store, case_id)["mask_path"] is not None
    zoom = cols[2].toggle("Zoom to the lesion", value=True, disabled=not has_mask,
                          key="models_zoom", help="Show the region around the lesion, enlarged "
                          "(cases with a lesion mask). Lesion-framed models read only the region "
                          "an operator would mark around the lesion, so their maps are small on "
                          "the whole image.")
    panels, missing = comparison.gallery_panels(store, preds, case_id, model_ids, methods,
                                                with_outline, zoom=zoom)
    summaries = [heatmap_quality(store, model_id, methods[model_id], "test")
                 for model_id in model_ids]
    quality = comparison.quality_table(summaries, dict(zip(preds["model_id"], preds["label"])))
    quality_title = (f"Heatmap quality ({title}): localisation and faithfulness on the test "
                     "split")
    if presentation:  # one slide at a time: the maps, then the localisation table
        figures = projector.with_first(panels, projector.PANELS_PER_SLIDE)
        tables = projector.slides(quality)
        index = slide_number("gallery", len(figures) + len(tables))
        if index >= len(figures):
            st.html(projector.html_table(tables[index - len(figures)], quality_title))
            return
        panels = figures[index]
    fig = model_charts.gallery_figure(panels, f"{title}: case {case_id}", presentation)
    show(fig, "gallery")
    st.html(colour_scale_html(title, grey_outside=True))
    downloads(f"gallery_case{case_id}_{choice}", fig)
    if missing:
        labels = dict(zip(preds["model_id"], preds["label"]))
        st.caption(plain(comparison.missing_maps_text(missing, methods, labels)))
        if staff and st.button("Compute them now", key="models_compute"):
            refused = compute_heatmaps(missing, case_id, methods, labels)
            if not refused:
                st.rerun()
            for reason in refused:
                st.error(reason)
    if not presentation:
        show_table(quality, quality_title, f"heatmap_quality_{choice}")
        st.caption(comparison.QUALITY_HELP)


def compute_heatmaps(model_ids: list[str], case_id: int, methods: dict[str, str],
                     labels: dict[str, str]) -> list[str]:
    """Compute and store the maps of the case; returns, per model that could not (a refused
    checkpoint, a missing file...), why, and goes on with the others."""
    from core.heatmaps.case_heatmap import case_heatmap  # torch only to compute a missing map

    refused = []
    with st.spinner("Computing heatmaps..."):
        for model_id in model_ids:
            try:
                case_heatmap(store, model_id, case_id, methods[model_id], ui.cached_model)
            except UserError as error:
                refused.append(f"{plain(labels.get(model_id, model_id))}: {plain(error)}")
    return refused


# ---- page ---------------------------------------------------------------------------------
if st.session_state["models_presentation"]:
    st.html(projector.PAGE_STYLE)  # the room is the figure's: no title, less padding
else:
    st.title("Model comparison")
top = st.columns([1.5, 4])  # the toggle's label whole at 1280 px with the sidebar
presentation = top[0].toggle("Presentation mode", key="models_presentation",
                             help="Large type, no secondary controls: for a projector.")
section = top[1].radio("Show", SECTIONS, horizontal=True, key="models_section",
                       label_visibility="collapsed")
export_ok = figure_export.export_available()

datasets = comparison.model_datasets(store)
if not datasets:
    st.info("No model is trained yet.")
    not_trained(list(comparison.arch_order()))
    st.stop()

if presentation:  # the settings folded away, the slide stepper beside them
    bar = st.columns([3, 2], vertical_alignment="center")
    settings, slide_bar = bar[0].expander("Settings"), bar[1].container()
else:
    settings = slide_bar = st.container()
with settings:
    cols = st.columns([1, 3, 1])
    dataset = cols[0].selectbox("Dataset", datasets, key="models_dataset")
    models = comparison.list_models(store, dataset)
    choices = list(models.loc[models["n_test"] > 0, "model_id"])
    if (st.session_state.get("models_dataset_shown") != dataset
            or "models_ids" not in st.session_state):
        st.session_state["models_dataset_shown"] = dataset
        st.session_state["models_ids"] = comparison.default_models(models)
        st.session_state["models_offered"] = None
    st.session_state["models_ids"] = [m for m in comparison.with_new_models(
        st.session_state["models_ids"], st.session_state.get("models_offered"), models)
        if m in choices]  # a model that finished training since the last run joins
    st.session_state["models_offered"] = choices
    stale = stale_models(store, dataset)
    names = comparison.model_labels(models)
    model_ids = cols[1].multiselect("Models", choices, key="models_ids",
                                    help="The newest model of each architecture by default.",
                                    format_func=lambda m: names.get(m, m) + (
                                        f" ({EARLIER_SPLIT})" if m in stale else ""))
    bins = cols[2].number_input("Calibration bins", 2, 20, key="models_bins")
    if not presentation:
        st.caption(f"Test split of **{plain(dataset)}** only, biopsy-proven cases; each model at its "
                   "stored threshold (chosen without test rows).")
        if not export_ok:
            st.caption(figure_export.NO_BROWSER)
    missing_archs = comparison.untrained_archs(models)
    if missing_archs:
        not_trained(missing_archs)

if not model_ids:
    st.info("Choose at least one model with test predictions.")
    st.stop()
if stale.intersection(model_ids):
    st.warning(plain(", ".join(sorted(names.get(m, m) for m in stale.intersection(model_ids))))
               + f" {EARLIER_SPLIT}: the "
               "dataset was split again since, so their test cases are not its test split now "
               "(shown on the cases of both). Retrain them to compare on the current split.")

try:
    preds, result = computed(str(store.path), dataset,
                             comparison.predictions_version(store, dataset), tuple(model_ids),
                             int(bins))
except UserError as error:
    st.error(plain(error))
    st.stop()

if section == "ROC curves":
    controls = (settings if presentation else st).columns([1, 2, 2],
                                                          vertical_alignment="bottom")
    band = controls[0].toggle("95% CI band", key="models_band", help=comparison.BAND_METHOD)
    trainee_id = None
    if staff:
        trainees = dict(comparison.trainees_with_reads(store, user, dataset))
        picked = controls[1].selectbox("Trainee", [COHORT_ONLY, *trainees],
                                       key="models_trainee",
                                       format_func=lambda t: trainees.get(t, t))
        trainee_id = None if picked == COHORT_ONLY else picked
    readers = comparison.reader_operating_points(store, user, dataset, trainee_id)
    fig = model_charts.roc_figure(result.curves, result.bands if band else None, readers,
                                  result.aucs, comparison.BAND_LABEL, presentation)
    show(fig, "roc")
    if not presentation:
        st.caption(f"{result.n_cases} test cases. Reader points: BI-RADS 4A or above called "
                   "malignant, each trainee's first read of a case (open marker unaided, filled "
                   "aided; bars: Wilson 95% CIs)."
                   + ("" if staff else f" The cohort point appears once {comparison.MIN_COHORT}"
                      " or more trainees have read test cases."))
    downloads("roc", fig, readers)
elif section == "Study table":
    show_table(comparison.format_study_table(result.study), "Test-split performance",
               "study_table", result.study)
    if not presentation:
        st.caption("AUC: DeLong 95% CI on the logit scale (near 95% coverage at small "
                   f"samples); no AUC below {MIN_PER_CLASS} cases of a class. Accuracy, "
                   "sensitivity, specificity, precision: Wilson 95% CIs; F1: stratified "
                   "bootstrap. The published row is the paper's ResNet50 (its other five models "
                   "are not published). Started from: ImageNet weights or scratch, as each "
                   "model was trained.")
elif section == "DeLong tests":
    if result.pairwise.empty:
        st.info("Choose two or more models to compare their AUCs.")
    else:
        show_table(comparison.format_pairwise_table(result.pairwise),
                   f"Pairwise DeLong tests of AUC ({int(result.pairwise['n'].iloc[0])} shared "
                   "test cases, Holm-corrected)", "delong", result.pairwise)
elif section == "Confusion matrices":
    if result.confusion.empty:
        st.info("None of the chosen models has a stored threshold.")
    else:
        parts = projector.row_slides(result.confusion) if presentation else [result.confusion]
        fig = model_charts.confusion_figure(parts[slide_number("confusion", len(parts))],
                                            presentation)
        show(fig, "confusion")
        downloads("confusion", fig, result.confusion)
elif section == "Calibration":
    fig = model_charts.calibration_figure(result.calibration, result.briers, presentation)
    show(fig, "calibration")
    downloads("calibration", fig, result.calibration)
else:
    gallery(dataset, preds)
