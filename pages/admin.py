"""Administration: accounts, datasets (import, split), models (training, heatmaps), backups and
background jobs. Long work runs as jobs of the one job runner; the logic is in ``core``."""
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st

from core import admin_jobs, auth
from core.backup import backup_size, default_backup_path, list_backups
from core.cases.importers import IMPORTERS
from core.comparison import arch_name, arch_order
from core.datasets import conflicts_table, dataset_overview, label_split_counts, split_counts
from core.demo import has_demo_dataset, start_demo_training
from core.display_names import model_names, readable_columns
from core.errors import UserError
from core.jobs import JobFn, JobStatus, recent_jobs
from core.models.framing import FRAMING_CHOICES
from core.model_overview import coverage_view, heatmap_coverage, models_view, trained_models
from core.plain_text import plain
from core.split_guard import EARLIER_SPLIT, split_dependents, stale_models
from core.splits import make_split
from pages import ui

admin = ui.require_role("admin")
store = ui.get_store()
runner = ui.get_runner()

KIND_HELP = {kind: module.HELP for kind, module in IMPORTERS.items()}
HEATMAP_SPLITS = ("test", "train", "all")
FRAMING_LABELS = {"auto": "auto: the marked region where every case has a mask",
                  "lesion": "the marked region around the lesion", "full": "the whole image"}
SCORE = st.column_config.NumberColumn(format="%.3f")
MODEL_COLUMNS = {  # formats of the trained-models table (its labels come from core)
    "Threshold": SCORE, "Cross-validated AUC": SCORE, "Test AUC": SCORE,
    "Created (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")}
COVERAGE_COLUMNS = {
    "Test-split coverage": st.column_config.ProgressColumn(min_value=0, max_value=1,
                                                           format="percent")}


def show_one_time_password() -> None:
    """The one-time password of the user just added or reset, shown once (after the rerun
    that put the new user in the lists)."""
    shown = st.session_state.pop("admin_one_time", None)
    if shown is None:
        return
    username, password = shown
    st.success(f"One-time password for **{plain(username)}**, shown only now: hand it over in "
               "person. They must choose their own password at their first login.")
    st.code(password, language=None)


def add_user_form() -> None:
    with st.form("add_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        username = st.text_input("User name", help="2-32 characters: a-z 0-9 _ . -")
        display_name = st.text_input("Display name (optional)")
        role = st.selectbox("Role", auth.ROLES)
        submitted = st.form_submit_button("Add the user")
    if submitted:
        password = auth.one_time_password()
        try:
            created = auth.create_user(store, username, password, role, display_name,
                                       must_change_password=True)
        except UserError as error:
            st.error(plain(error))
        else:
            st.session_state["admin_one_time"] = (created.username, password)
            st.session_state["manage_user"] = created.username
            st.rerun()  # the user list and "Change a user" show the new user at once


CONFIRMATIONS = {  # action -> (question, button); both cannot be undone
    "reset": ("Reset the password of {name}? Their password stops working at once and every "
              "session of theirs ends; you hand them a one-time password.",
              "Yes, reset the password"),
    "deactivate": ("Deactivate {name}? They are logged out everywhere and cannot log in "
                   "(their reads stay; an admin can reactivate the account).",
                   "Yes, deactivate"),
}


def confirmed(action: str, account: auth.Account) -> bool:
    """Whether the admin confirmed ``action`` on ``account`` (asked after the first click)."""
    if st.session_state.get("admin_pending") != (action, account.user_id):
        return False
    question, yes_label = CONFIRMATIONS[action]
    st.warning(question.format(name=plain(account.username)))
    yes, no = st.columns(2)
    if no.button("Cancel", key=f"cancel_{action}"):
        st.session_state.pop("admin_pending", None)
        st.rerun()
    if yes.button(yes_label, type="primary", key=f"confirm_{action}"):
        st.session_state.pop("admin_pending", None)
        return True
    return False


def ask(action: str, account: auth.Account) -> None:
    st.session_state["admin_pending"] = (action, account.user_id)
    st.rerun()


def manage_user(accounts: list[auth.Account]) -> None:
    st.markdown("**Change a user**")
    by_name = {account.username: account for account in accounts}
    name = st.selectbox("User", list(by_name), key="manage_user")
    account = by_name[name]
    role_column, reset_column, active_column = st.columns(3)
    with role_column:
        role = st.selectbox("Role", auth.ROLES, index=auth.ROLES.index(account.role),
                            key=f"role_{account.user_id}")
        if st.button("Save the role", disabled=role == account.role):
            change_account(partial(auth.set_role, store, account.user_id, role),
                           f"{account.username} is now a {role}.")
    with reset_column:
        if st.button("Reset the password"):
            ask("reset", account)
    with active_column:
        own = account.user_id == admin.user_id
        label = "Deactivate" if account.active else "Reactivate"
        if st.button(label, disabled=own, help="You cannot deactivate yourself." if own else None):
            if account.active:
                ask("deactivate", account)
            else:
                set_active(account, True)
    if confirmed("reset", account):
        password = auth.one_time_password()
        auth.set_password(store, account.user_id, password, must_change=True)
        st.session_state["admin_one_time"] = (account.username, password)
        st.rerun()
    if confirmed("deactivate", account):
        set_active(account, False)


def named(model_ids) -> str:
    """Models by their readable names, as plain text."""
    names = model_names(store)
    return ", ".join(plain(names.get(m, m)) for m in model_ids)


def change_account(change: Callable[[], None], done: str) -> None:
    """Make the change; its refusal is shown, its success flashed after a rerun."""
    try:
        change()
    except UserError as error:
        st.error(plain(error))
    else:
        ui.flash(done)
        st.rerun()


def set_active(account: auth.Account, active: bool) -> None:
    change_account(partial(auth.set_active, store, account.user_id, active),
                   f"{account.username} {'reactivated' if active else 'deactivated'}.")


def users_tab() -> None:
    show_one_time_password()
    accounts = auth.list_users(store)
    st.dataframe(readable_columns(pd.DataFrame(
        [{"username": a.username, "display_name": a.display_name, "role": a.role,
          "active": a.active, "must_change_password": a.must_change_password,
          "created_at": a.created_at} for a in accounts])), hide_index=True,
        key="users_table")
    add_user_form()
    manage_user(accounts)


# ---- background jobs started from the tabs -----------------------------------------------

def start_job(kind: str, params: dict, make_job: Callable[[], JobFn]) -> None:
    """Build a job (its input is checked then) and start it; errors are shown, not raised."""
    try:
        runner.start(kind, params, make_job())
    except UserError as error:
        st.error(plain(error))
    else:
        st.rerun()


def latest_job(kind: str) -> JobStatus | None:
    jobs = [job for job in runner.status() if job.kind == kind]
    return jobs[0] if jobs else None


@st.fragment(run_every=2)
def live_job_progress(kind: str) -> None:
    """A running job's progress bar and Cancel button, refreshed every 2 s."""
    job = latest_job(kind)
    if job is None or not job.running:
        st.rerun()  # it ended: the whole page shows its outcome and the new data
    st.progress(job.fraction, text=job.message)
    if st.button("Cancel", key=f"cancel_{kind}_{job.job_id}", disabled=job.cancel_requested):
        runner.cancel(job.job_id)
        st.rerun()


def job_panel(kind: str, show_result) -> bool:
    """The latest job of ``kind`` in this process: live progress and Cancel while it runs,
    its outcome once it ended. True while it runs."""
    job = latest_job(kind)
    if job is None:
        return False
    if job.running:
        live_job_progress(kind)
        return True
    if job.status == "done":
        show_result(runner.result(job.job_id))
    elif job.status == "cancelled":
        st.warning(f"The last {kind} job was cancelled.")
    else:
        st.error(f"The last {kind} job {plain(job.message)}")
    return False


# ---- data ------------------------------------------------------------------------------------

def show_import_result(result) -> None:
    labels = ", ".join(f"{label} {n}" for label, n in sorted(result.by_label.items()))
    st.success(f"Imported {result.imported} cases" + (f" ({labels})" if labels else "")
               + f"; {result.already_present} already present; {result.skipped_total} skipped.")
    if result.skipped:
        st.dataframe(pd.DataFrame(result.skipped, columns=["path", "reason"]).rename(
            columns={"path": "File", "reason": "Why skipped"}),
                     hide_index=True, key="import_skipped")


def upload_form() -> None:
    kind = st.selectbox("Layout", admin_jobs.UPLOAD_KINDS, key="upload_kind",
                        format_func=lambda k: f"{k}: {KIND_HELP[k]}")
    upload = st.file_uploader("Dataset (.zip)", type=["zip"], key="upload_file")
    dataset = st.text_input("Dataset name", value=kind, key="upload_dataset")
    if st.button("Import the upload", disabled=upload is None, key="upload_start"):
        path = None
        try:
            path = admin_jobs.save_upload(store, upload.name, upload.getvalue())
            runner.start("import", {"kind": kind, "dataset": dataset, "upload": upload.name},
                         admin_jobs.import_job(store, kind, path, dataset,
                                               upload_name=upload.name))
        except UserError as error:
            if path is not None:
                admin_jobs.discard_upload(path)
            st.error(plain(error))
        else:
            st.rerun()


def server_form() -> None:
    kind = st.selectbox("Layout", list(IMPORTERS), key="server_kind",
                        format_func=lambda k: f"{k}: {KIND_HELP[k]}")
    path_text = st.text_input("Folder, .zip or manifest on the server", key="server_path",
                              help="An absolute path on the machine the app runs on.")
    root_text = (st.text_input("Image folder of the manifest (optional)", key="server_root")
                 if kind == "csv" else "")
    labels_text = (st.text_input("Label table (CSV: file or SOPInstanceUID, label)",
                                 key="server_labels") if kind == "dicom" else "")
    dataset = st.text_input("Dataset name", value=kind, key="server_dataset")
    if st.button("Import from the server", key="server_start"):
        def make_job() -> JobFn:
            path = admin_jobs.server_path(path_text)
            root = admin_jobs.server_path(root_text) if root_text.strip() else None
            labels = admin_jobs.server_path(labels_text) if labels_text.strip() else None
            return admin_jobs.import_job(store, kind, path, dataset, root, labels)

        start_job("import", {"kind": kind, "dataset": dataset, "path": path_text}, make_job)


def run_split(dataset: str, test_size: float, seed: int, folds: int,
              include_normal: bool) -> None:
    st.session_state.pop("admin_split_pending", None)
    try:
        st.session_state["admin_split"] = make_split(store, dataset, test_size, seed, folds,
                                                     include_normal)
    except UserError as error:
        st.error(plain(error))


def confirm_resplit(pending: tuple) -> None:
    """A split that would change what models or studies were made on: named, then confirmed."""
    dataset = pending[0]
    dependents = split_dependents(store, dataset)
    lines = [f"A new split of {plain(dataset)} changes its test cases."]
    if dependents.models:
        lines.append("Models trained on the current split, shown as "
                     f"\"{EARLIER_SPLIT}\" until retrained if the test cases change: "
                     + named(dependents.models) + ".")
    if dependents.studies:
        lines.append("Reader studies using its cases (their case sets stay as they are): "
                     + ", ".join(plain(s) for s in dependents.studies) + ".")
    st.warning("  \n".join(lines))
    yes, no = st.columns(2)
    if yes.button("Make the new split", type="primary", key="split_confirm"):
        run_split(*pending)
        st.rerun()
    if no.button("Keep the current split", key="split_cancel"):
        st.session_state.pop("admin_split_pending", None)
        st.rerun()


def split_form(names: list[str]) -> None:
    st.session_state.setdefault("admin_split", None)
    dataset = st.selectbox("Dataset", names, key="split_dataset")
    st.caption("Its cases now, by label and split")
    st.dataframe(readable_columns(label_split_counts(store, dataset)), hide_index=True,
                 key="split_current")
    with st.form("split_form"):
        test_size = st.slider("Test share", 0.05, 0.5, 0.3, 0.05, key="split_test_size")
        seed = st.number_input("Seed", min_value=0, value=0, step=1, key="split_seed")
        folds = st.number_input("Cross-validation folds (0: none)", min_value=0, max_value=10,
                                value=5, step=1, key="split_folds")
        include_normal = st.checkbox("Include normal images (else excluded)", key="split_normal")
        submitted = st.form_submit_button("Make the split")
    if submitted:
        pending = (dataset, test_size, int(seed), int(folds), include_normal)
        if split_dependents(store, dataset):
            st.session_state["admin_split_pending"] = pending
        else:
            run_split(*pending)
    pending = st.session_state.get("admin_split_pending")
    if pending is not None and pending[0] == dataset:
        confirm_resplit(pending)
    summary = st.session_state["admin_split"]
    if summary is not None and summary.dataset == dataset:
        st.success(f"Split of {plain(dataset)} (seed {summary.seed}): {summary.groups} groups, "
                   f"{summary.duplicate_groups} with more than one case (patients or "
                   "near-duplicate images, kept on one side).")
        st.dataframe(readable_columns(split_counts(summary)), hide_index=True,
                     key="split_counts")
        if summary.conflicts:
            st.warning(f"{len(summary.conflicts)} groups hold cases with different labels "
                       "(one scan filed under two labels): check them at the source.")
            st.dataframe(readable_columns(conflicts_table(summary)), hide_index=True,
                         key="split_conflicts")
        stale = sorted(stale_models(store, dataset))
        if stale:
            st.warning(f"{EARLIER_SPLIT.capitalize()} (retrain them to evaluate on this "
                       "split): " + named(stale) + ".")


def data_tab() -> None:
    st.subheader("Datasets")
    overview = dataset_overview(store)
    if overview.empty:
        st.info("No dataset yet: import one below.")
    else:
        st.dataframe(readable_columns(overview), hide_index=True, key="datasets_table")
    st.subheader("Import")
    source = st.radio("From", ("an upload", "a folder on the server"), horizontal=True,
                      key="import_source")
    if not job_panel("import", show_import_result):
        if source == "an upload":
            upload_form()
        else:
            server_form()
    if not overview.empty:
        st.subheader("Train/test split")
        split_form(list(overview["dataset"]))


# ---- models ----------------------------------------------------------------------------------

def show_training_result(model_ids: list[str]) -> None:
    st.success("Trained: " + named(model_ids) if model_ids else "Nothing was trained.")


def training_form(names: list[str]) -> None:
    with st.form("train_form"):
        dataset = st.selectbox("Dataset", names, key="train_dataset")
        archs = st.multiselect("Architectures", arch_order(), default=["resnet50"],
                               format_func=arch_name, key="train_archs")
        profile = st.selectbox("Profile", ("quick", "paper"),
                               help="quick: 112 px, minutes on a CPU; paper: the study's "
                                    "224 px, 5-fold, on a GPU", key="train_profile")
        device = st.selectbox("Device", ("auto", "cpu", "cuda"), key="train_device")
        init = st.selectbox("Initial weights", ("auto", "imagenet", "scratch"),
                            help="ImageNet weights from the local cache (download them under "
                                 "ImageNet weights); auto: when present", key="train_init")
        framing = st.selectbox("Models read", FRAMING_CHOICES,
                               format_func=FRAMING_LABELS.get,
                               help="The region an operator would mark around the nodule "
                                    "(1.3-2.2x the lesion, off-centre), as lesion-level AI in "
                                    "clinics reads it, or the whole image", key="train_framing")
        seed = st.number_input("Seed", min_value=0, value=0, step=1, key="train_seed")
        submitted = st.form_submit_button("Start training")
    if submitted:
        params = {"dataset": dataset, "archs": archs, "profile": profile, "device": device,
                  "init": init, "seed": int(seed), "framing": framing}
        start_job("train", params, lambda: admin_jobs.train_job(store, **params))


def show_weights_result(files: list[str]) -> None:
    st.success("Downloaded and checked: " + ", ".join(files) if files
               else "Every chosen file was already present.")


def weights_section() -> None:
    """torchvision's ImageNet files: which are present, and a job fetching the missing ones."""
    from core.models.weights import list_weights, weights_folder

    files = list_weights(list(arch_order()))
    st.caption(f"Training starts from ImageNet where the file is present (initial weights "
               f"auto), else from scratch. Folder: {weights_folder()}")
    st.dataframe(pd.DataFrame([{"Model": arch_name(f.arch), "File": f.path.name,
                                "Present": f.present, "Size (MB)": f.megabytes} for f in files]),
                 hide_index=True, key="weights_table",
                 column_config={"Size (MB)": st.column_config.NumberColumn(format="%.0f")})
    if job_panel("weights", show_weights_result):
        return
    missing = [f.arch for f in files if not f.present]
    if not missing:
        return
    with st.form("weights_form"):
        archs = st.multiselect("Download", missing, default=missing, format_func=arch_name,
                               key="weights_archs")
        submitted = st.form_submit_button("Download the ImageNet weights",
                                          help="torchvision's files, hash-checked; offline, "
                                               "the job says which file to copy where")
    if submitted:
        start_job("weights", {"archs": archs}, lambda: admin_jobs.weights_job(archs))


def show_heatmap_result(result: dict) -> None:
    st.success(f"{named([result['model_id']])} {result['method']} ({result['split']}): "
               f"{result['computed']} maps computed in {result['seconds']:.0f} s, "
               f"{result['already_cached']} already cached.")


def heatmap_form(model_ids: list[str], names: dict[str, str]) -> None:
    from core.heatmaps import METHOD_TITLES, method_title

    with st.form("heatmap_form"):
        model_id = st.selectbox("Model", model_ids, key="heatmap_model",
                                format_func=lambda m: names.get(m, m))
        split = st.selectbox("Cases", HEATMAP_SPLITS, key="heatmap_split")
        method = st.selectbox("Method", list(METHOD_TITLES), key="heatmap_method",
                              format_func=method_title)
        submitted = st.form_submit_button("Compute the heatmaps")
    if submitted:
        params = {"model_id": model_id, "split": split, "method": method}
        start_job("heatmaps", params, lambda: admin_jobs.heatmap_job(store, **params))


def heatmap_quality_table(coverage: pd.DataFrame, names: dict[str, str]) -> None:
    """Localisation and faithfulness per model and method over the test split."""
    from core.comparison import QUALITY_HELP, quality_table
    from core.heatmaps.quality import heatmap_quality

    pairs = coverage[coverage["test_maps"] > 0]
    if pairs.empty:
        return
    st.markdown("**Heatmap quality** (test split)")
    summaries = [heatmap_quality(store, model_id, method, "test")
                 for model_id, method in zip(pairs["model_id"], pairs["method"])]
    st.dataframe(quality_table(summaries, names), hide_index=True, key="heatmap_quality_table")
    st.caption(QUALITY_HELP)


def models_tab() -> None:
    overview = dataset_overview(store)
    names = list(overview.loc[overview["train"] > 0, "dataset"])
    st.subheader("Train")
    if not job_panel("train", show_training_result):
        if names:
            training_form(names)
        else:
            st.info("No dataset with a train/test split yet: import and split one (Data tab).")
    st.subheader("ImageNet weights")
    weights_section()
    models = trained_models(store)
    st.subheader("Trained models")
    if models.empty:
        st.info("No model trained yet.")
        return
    names = model_names(store)
    st.dataframe(models_view(models, names, stale_models(store)), hide_index=True,
                 key="models_table", column_config=MODEL_COLUMNS)
    st.subheader("Heatmaps")
    if not job_panel("heatmaps", show_heatmap_result):
        heatmap_form(list(models["model_id"]), names)
    coverage = heatmap_coverage(store)
    st.dataframe(coverage_view(coverage, names), hide_index=True, key="coverage_table",
                 column_config=COVERAGE_COLUMNS)
    heatmap_quality_table(coverage, names)


# ---- backup --------------------------------------------------------------------------------

def show_backup_result(report) -> None:
    st.success(f"Backup written: {report.path.name}, {report.rows} rows in "
               f"{len(report.tables)} tables and {report.files} files, checked against the "
               "store.")
    if report.missing_files:
        st.warning(f"{len(report.missing_files)} files the store names were not on disk, "
                   f"e.g. {report.missing_files[0]}.")
    if report.left_out:
        st.info(f"{report.left_out} checkpoints and heatmaps left out: after a restore, "
                "retrain the models and recompute the heatmaps.")


def size_text(size: int) -> str:
    return f"{size / 1e9:,.2f} GB" if size >= 1e9 else f"{size / 1e6:,.1f} MB"


def backup_tab() -> None:
    st.write("A backup is one .zip: the database (every table, checked by row counts and "
             "checksums) and the files it names (case images, checkpoints, heatmaps). It holds "
             "the password hashes: keep it as safe as the store. The app keeps running while "
             "it is written.")
    if not job_panel("backup", show_backup_result):
        size = backup_size(store)
        whole = f"Everything: {size.files} files, {size_text(size.bytes)}"
        lean = (f"Without checkpoints and heatmaps: {size.files - size.recreatable_files} "
                f"files, {size_text(size.bytes - size.recreatable_bytes)}")
        recreatable = st.radio(
            "What to back up", (True, False), key="backup_recreatable",
            format_func=lambda everything: whole if everything else lean,
            help="Checkpoints can be retrained and heatmaps recomputed from what the backup "
                 "keeps (cases, reads, models' settings, predictions and scores); leaving "
                 "them out makes a smaller, faster backup.")
        st.caption("Sizes on disk before compression.")
        if st.button("Back up now", key="backup_start"):
            dest = default_backup_path(store)
            start_job("backup", {"dest": str(dest), "recreatable": recreatable},
                      lambda: admin_jobs.backup_job(store, dest, recreatable))
    bundles = list_backups(store)
    if bundles:
        st.dataframe(pd.DataFrame(
            [{"Backup": path.name, "Size (MB)": path.stat().st_size / 1e6,
              "Written": datetime.fromtimestamp(path.stat().st_mtime)} for path in bundles]),
            hide_index=True, key="backups_table",
            column_config={"Size (MB)": st.column_config.NumberColumn(format="%.1f"),
                           "Written": st.column_config.DatetimeColumn(
                               format="YYYY-MM-DD HH:mm")})
        chosen: Path = st.selectbox("Backup", bundles, format_func=lambda path: path.name,
                                    key="backup_chosen")
        st.download_button("Download", data=partial(chosen.read_bytes), file_name=chosen.name,
                           mime="application/zip", key="backup_download")
    st.markdown(
        "**Restore** (into a new store file; the live one is never overwritten): stop the "
        "app, then\n\n"
        "```\npython -m core restore BACKUP.zip --to data/restored/results.duckdb\n"
        "python -m core --db data/restored/results.duckdb serve\n```\n\n"
        "(or set `SONOCASE_DB` to the new file). The restore says what it will bring back "
        "and asks before it writes (`--yes` skips the question); it checks every table and "
        "file against the backup's manifest and refuses a damaged or altered bundle.")


# ---- jobs ---------------------------------------------------------------------------------

def jobs_tab() -> None:
    active = runner.active()
    for job in active:
        st.progress(job.fraction, text=f"{job.kind}: {job.message}")
        if st.button("Cancel", key=f"cancel_{job.job_id}", disabled=job.cancel_requested):
            runner.cancel(job.job_id)
            st.rerun()
    if not active:
        st.write("No background job is running.")
        if has_demo_dataset(store) and st.button("Train the demo models still missing"):
            try:
                started = start_demo_training(store, runner)
            except UserError as error:
                st.error(plain(error))
            else:
                ui.flash("Training started." if started else "Every demo model is trained.")
                st.rerun()
    history = recent_jobs(store)
    if history:
        st.markdown("**Recent jobs**")
        st.dataframe(readable_columns(pd.DataFrame(
            [{"job": j.job_id, "kind": j.kind, "status": j.status, "progress": j.fraction,
              "message": j.message, "started": j.started_at, "finished": j.finished_at}
             for j in history])), hide_index=True, key="jobs_table",
            column_config={"Progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})


st.title("Administration")
users, data, models, backups, jobs = st.tabs(["Users", "Data", "Models", "Backup",
                                              "Background jobs"])
with users:
    users_tab()
with data:
    data_tab()
with models:
    models_tab()
with backups:
    backup_tab()
with jobs:
    jobs_tab()
