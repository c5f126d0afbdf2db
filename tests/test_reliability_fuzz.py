"""Bad input, fuzzed (hypothesis): image bytes, CSV manifests, zip files, damaged checkpoints,
the stats command line, quiz answers and the app's forms. Every failure must be a clear message
(``UserError``, or a file skipped with its reason), never a traceback; the app never shows one.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import subprocess
import sys
import tomllib
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import auth
from core.cases.decode import BadFile, decode_grey, decode_mask
from core.cases.importers import import_cases
from core.cli import main
from core.errors import UserError
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS
from core.quiz import flow
from core.reads import validate_answer
from core.store import Store
from tests.quiz_helpers import make_cases, make_user

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
NASTY_TEXT = ["", " ", "x'); DROP TABLE cases; --", "' OR '1'='1", "..", "../../etc/passwd",
              "/etc/passwd", "C:\\Windows\\win.ini", "\\\\server\\share", "~/x", "nul\x00byte",
              "%s%n", "{0}", "<script>alert(1)</script>", "\u202egnp.exe", "é" * 300, "\t\n"]
text_values = hs.one_of(hs.sampled_from(NASTY_TEXT), hs.text(max_size=40))


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def sample_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    grey = Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8))
    deep = Image.fromarray(rng.integers(0, 65535, (24, 32), dtype=np.uint16))
    return [encoded(grey, "PNG"), encoded(grey.convert("RGB"), "JPEG"), encoded(grey, "BMP"),
            encoded(grey.convert("RGBA"), "TIFF"), encoded(deep, "PNG")]


SAMPLES = sample_images()


@hs.composite
def damaged_images(draw) -> bytes:
    """A valid image with bytes flipped, cut or inserted, or plain noise."""
    if draw(hs.booleans()):
        return draw(hs.binary(max_size=400))
    data = bytearray(draw(hs.sampled_from(SAMPLES)))
    for _ in range(draw(hs.integers(1, 6))):
        where = draw(hs.integers(0, len(data) - 1))
        action = draw(hs.sampled_from(("flip", "cut", "insert")))
        if action == "flip":
            data[where] ^= draw(hs.integers(1, 255))
        elif action == "cut":
            del data[where:where + draw(hs.integers(1, 64))]
        else:
            data[where:where] = draw(hs.binary(min_size=1, max_size=16))
        if not data:
            break
    return bytes(data)


# ---- image bytes --------------------------------------------------------------------------------

@FUZZ
@given(damaged_images())
def test_damaged_image_bytes_decode_or_say_why(data):
    try:
        grey = decode_grey(data)
    except BadFile as error:
        assert str(error)
        return
    assert grey.dtype == np.uint8 and grey.ndim == 2 and grey.size > 0
    try:
        mask = decode_mask(data, grey.shape)
    except BadFile:
        return
    assert mask.dtype == bool and mask.shape == grey.shape


SAVEABLE_MODES = ("1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F", "LA", "I;16")


@pytest.mark.parametrize("mode", SAVEABLE_MODES)
def test_every_tiff_pixel_mode_decodes_or_says_why(mode):
    data = encoded(Image.new(mode, (8, 6)), "TIFF")
    try:
        assert decode_grey(data).shape == (6, 8)
    except BadFile as error:
        assert str(error)


def test_a_lab_tiff_among_good_images_is_skipped_not_fatal(store, tmp_path):
    folder = tmp_path / "src" / "benign"
    folder.mkdir(parents=True)
    Image.new("L", (16, 16), 40).save(folder / "good.png")
    (folder / "lab.tif").write_bytes(encoded(Image.new("LAB", (16, 16)), "TIFF"))
    result = import_cases(store, "folder", folder.parent, "lab")
    assert result.imported == 1
    assert [entry["path"] for entry in result.skipped] == ["benign/lab.tif"]


# ---- CSV manifests -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifest_root(tmp_path_factory) -> Path:
    """Two good images inside the manifest's folder and a secret one outside it."""
    base = tmp_path_factory.mktemp("manifests")
    root = base / "root"
    (root / "img").mkdir(parents=True)
    Image.new("L", (16, 16), 60).save(root / "img" / "a.png")
    Image.new("L", (16, 16), 120).save(root / "img" / "b.png")
    Image.new("L", (16, 16), 200).save(base / "secret.png")
    return root


path_values = hs.one_of(hs.sampled_from(["img/a.png", "img/b.png", "../secret.png",
                                         "img/../../secret.png", "img/a.png;../secret.png"]),
                        text_values)
manifest_rows = hs.lists(hs.fixed_dictionaries({
    "image": path_values, "label": hs.one_of(hs.sampled_from(["benign", "Malignant", "normal",
                                                               "4A", ""]), text_values),
    "mask": path_values, "patient": text_values, "birads": text_values,
    "histology": text_values}), max_size=6)
column_sets = hs.lists(hs.sampled_from(["image", "label", "mask", "patient", "birads",
                                        "histology", "Image Path", "class", "extra"]),
                       unique=True, max_size=6)


def manifest_text(columns: list[str], rows: list[dict], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column.split()[0].lower(), "x") for column in columns])
    return buffer.getvalue()


@FUZZ
@given(columns=column_sets, rows=manifest_rows, delimiter=hs.sampled_from([",", ";", "\t"]))
def test_fuzzed_manifests_import_or_say_why_and_never_read_outside(store, manifest_root,
                                                                   columns, rows, delimiter):
    text = manifest_text(columns, rows, delimiter)
    manifest = manifest_root / "manifest.csv"
    manifest.write_text(text, encoding="utf-8")
    try:
        result = import_cases(store, "csv", manifest, "fuzz")
    except UserError as error:
        assert str(error)
        return
    assert all(entry["reason"] for entry in result.skipped)
    secret = np.asarray(Image.open(manifest_root.parent / "secret.png"))
    with store.read() as cur:
        stored = [p for (p,) in cur.execute("SELECT image_path FROM cases").fetchall()]
    for relative in stored:
        assert not np.array_equal(np.asarray(Image.open(store.resolve(relative))), secret)


def test_a_nul_byte_in_a_manifest_path_skips_that_row(store, manifest_root):
    manifest = manifest_root / "nul.csv"
    manifest.write_text("image,label\nimg/a.png\x00,benign\nimg/b.png,benign\n")
    result = import_cases(store, "csv", manifest, "nul")
    assert result.imported == 1 and len(result.skipped) == 1


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(store, tmp_path):
    folder = tmp_path / "src" / "benign"
    folder.mkdir(parents=True)
    Image.new("L", (16, 16), 40).save(folder / "good.png")
    Image.new("L", (16, 16), 80).save(bytes(folder) + b"/caf\xe9.png")
    result = import_cases(store, "folder", folder.parent, "latin")
    assert result.imported >= 1


# ---- zip files -----------------------------------------------------------------------------------

entry_names = hs.one_of(
    hs.sampled_from(["benign/a.png", "malignant/b.png", "benign/../../evil.png", "/benign/c.png",
                     "benign\\..\\..\\evil.png", "C:/benign/d.png", "__MACOSX/benign/._e.png",
                     "benign/.hidden.png", "normal/P1/f.png", "benign/f_mask.png",
                     "malignant/../benign/g.png", "benign//h.png"]),
    hs.builds(lambda label, name: f"{label}/{name}.png",
              hs.sampled_from(["benign", "malignant", "BENIGN", "x"]),
              hs.text(hs.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/"),
                      min_size=1, max_size=20)))
zip_entries = hs.lists(hs.tuples(entry_names, hs.one_of(hs.sampled_from(SAMPLES),
                                                        damaged_images())), max_size=6)


@FUZZ
@given(entries=zip_entries, mangle=hs.booleans())
def test_fuzzed_zips_import_or_say_why_and_never_escape(store, tmp_path, entries, mangle):
    archive = tmp_path / "upload.zip"
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as bundle:
        warnings.simplefilter("ignore")   # a repeated entry name
        for name, data in entries:
            bundle.writestr(name, data)
    data = bytearray(buffer.getvalue())
    if mangle and data:
        data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    before = set(tmp_path.rglob("*"))
    try:
        result = import_cases(store, "folder", archive, "zipfuzz")
    except UserError as error:
        assert str(error)
        return
    created = set(tmp_path.rglob("*")) - before
    assert all(path.is_relative_to(store.data_dir) for path in created)
    with store.read() as cur:
        sources = [s for (s,) in cur.execute("SELECT source_path FROM cases").fetchall()]
    for source in sources:
        assert not source.startswith("/") and ".." not in source.replace("\\", "/").split("/")
    assert all(entry["reason"] for entry in result.skipped)


# ---- damaged checkpoints ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    import torch

    from core.models.checkpoints import FORMAT, save_checkpoint

    path = tmp_path_factory.mktemp("checkpoint") / "m.pt"
    save_checkpoint(path, {"format": FORMAT, "arch": "resnet50", "image_size": 32,
                           "state_dict": {"w": torch.ones(64, 64)},
                           "class_names": ["benign", "malignant"], "config": {}})
    return path.read_bytes()


@FUZZ
@given(cut=hs.integers(0, 10**6), flips=hs.lists(hs.tuples(hs.integers(0, 10**6),
                                                           hs.integers(1, 255)), max_size=4))
def test_a_cut_or_damaged_checkpoint_never_loads_silently(tmp_path, checkpoint_bytes, cut, flips):
    """A half-written or altered checkpoint is refused with a clear error, or (a flip in unused
    zip padding) loads whole: never an exception of another kind."""
    from core.models.checkpoints import load_checkpoint

    data = bytearray(checkpoint_bytes[:cut % len(checkpoint_bytes)] if cut % 7 else
                     checkpoint_bytes)
    for where, value in flips:
        if data:
            data[where % len(data)] ^= value
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(data))
    try:
        loaded = load_checkpoint(path)
    except UserError as error:
        assert "damaged.pt" in str(error)
        return
    assert loaded["state_dict"]["w"].shape == (64, 64)


# ---- the stats command line ------------------------------------------------------------------

cells = hs.one_of(hs.integers(-3, 3), hs.floats(allow_nan=True, allow_infinity=True, width=32),
                  hs.sampled_from(["", "NA", "nan", "inf", "4A", "4a", "2", "5", "benign",
                                   "malignant", "1", "0", "True", "x,y", '"', "1,5"]),
                  text_values)


def csv_file(path: Path, columns: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def stats(*args: str) -> tuple[int, str, str]:
    """``python -m core stats ...`` in this process: exit status, stdout, stderr. Anything
    raised that is not argparse's exit fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(["stats", *args])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def assert_clear(status: int, out: str, err: str, json_out: bool) -> None:
    assert status in (0, 2), (status, err)
    assert "Traceback" not in out + err
    if status == 2:
        assert err.startswith(("error:", "usage:")) and len(err.strip().splitlines()) <= 3, err
    elif json_out:
        json.loads(out)


@FUZZ
@given(truth=hs.lists(cells, min_size=0, max_size=12), score=hs.lists(cells, max_size=12),
       positive=hs.sampled_from(["1", "malignant", "x", "1.0"]), as_json=hs.booleans())
def test_fuzzed_roc_files_give_a_result_or_one_clear_line(tmp_path, truth, score, positive,
                                                         as_json):
    rows = [[t, s] for t, s in zip(truth, score)]
    path = csv_file(tmp_path / "roc.csv", ["truth", "score"], rows)
    result = stats("roc", str(path), "--truth", "truth", "--positive", positive, "--score",
                   "score", *(["--json"] if as_json else []))
    assert_clear(*result, as_json)


readings = hs.lists(hs.tuples(hs.sampled_from(["r1", "r2", "r3"]), hs.sampled_from(["A", "B"]),
                              hs.integers(1, 6), hs.sampled_from([0, 1]), cells), max_size=30)


@FUZZ
@given(rows=readings, cov=hs.sampled_from(["jackknife", "delong"]), as_json=hs.booleans())
def test_fuzzed_mrmc_files_give_a_result_or_one_clear_line(tmp_path, rows, cov, as_json):
    path = csv_file(tmp_path / "mrmc.csv", ["reader", "modality", "case", "truth", "rating"],
                    [list(row) for row in rows])
    result = stats("mrmc", str(path), "--reader", "reader", "--modality", "modality", "--case",
                   "case", "--truth", "truth", "--rating", "rating", "--cov", cov,
                   *(["--json"] if as_json else []))
    assert_clear(*result, as_json)


@FUZZ
@given(rows=hs.lists(hs.tuples(cells, cells, cells), max_size=10), with_truth=hs.booleans())
def test_fuzzed_mcnemar_files_give_a_result_or_one_clear_line(tmp_path, rows, with_truth):
    path = csv_file(tmp_path / "pairs.csv", ["a", "b", "truth"], [list(row) for row in rows])
    result = stats("mcnemar", str(path), "--a", "a", "--b", "b",
                   *(["--truth", "truth"] if with_truth else []), "--json")
    assert_clear(*result, True)


@pytest.mark.parametrize("columns, rows, args, message", [
    (["t", "s"], [[1, 0.2], [0, 0.1]], ["--score", "missing"], "missing column"),
    (["t", "s"], [[1, 0.2], [1, 0.4], [1, 0.9]], ["--score", "s"], "only the positive value"),
    (["t", "s"], [[1, 0.2], [0, "nan"], [1, 0.3], [0, 0.1]], ["--score", "s"], "missing value"),
    (["t", "s"], [[1, "high"], [0, 0.1], [1, 0.3], [0, 0.2]], ["--score", "s"],
     "neither numeric nor BI-RADS"),
])
def test_roc_refusals_name_the_problem(tmp_path, columns, rows, args, message):
    path = csv_file(tmp_path / "roc.csv", columns, rows)
    status, out, err = stats("roc", str(path), "--truth", "t", "--positive", "1", *args)
    assert status == 2 and message in err and "Traceback" not in err


def test_roc_with_a_constant_score_says_why_its_ci_is_a_point(tmp_path):
    rows = [[t, 0.5] for t in (1, 0, 1, 0, 1, 0)]
    status, out, err = stats("roc", str(csv_file(tmp_path / "c.csv", ["t", "s"], rows)),
                             "--truth", "t", "--positive", "1", "--score", "s")
    assert status == 0 and "0.5000" in out and "constant" in out


def test_mrmc_with_constant_ratings_explains_its_nan(tmp_path):
    rows = [[reader, modality, case, case % 2, 3] for reader in ("r1", "r2")
            for modality in ("A", "B") for case in range(6)]
    path = csv_file(tmp_path / "c.csv", ["reader", "modality", "case", "truth", "rating"], rows)
    status, out, err = stats("mrmc", str(path), "--reader", "reader", "--modality", "modality",
                             "--case", "case", "--truth", "truth", "--rating", "rating")
    assert status == 2 or "nan" not in out or "note:" in out


@pytest.mark.parametrize("option, stdin", [
    ([b"--display-name", b"caf\xe9"], b"a-good-password\n"),
    ([], b"caf\xe9-password\n"),
], ids=["display name", "password"])
def test_account_text_that_is_not_utf8_is_refused_clearly(tmp_path, option, stdin):
    db = tmp_path / "data" / "results.duckdb"
    out = subprocess.run([sys.executable, "-m", "core", "--db", str(db), "user", "add", "bob",
                          "--role", "trainee", *option, "--password-stdin"], input=stdin,
                         capture_output=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and b"Traceback" not in out.stderr, out.stderr[-300:]


# ---- quiz answers ----------------------------------------------------------------------------

answer_values = hs.one_of(hs.none(), hs.booleans(), hs.integers(-10**6, 10**6),
                          hs.floats(allow_nan=True, allow_infinity=True),
                          hs.sampled_from([*BIRADS_CATEGORIES, "4a", " 5 ", "1", "6", "4", "50",
                                           "1e400", "nan", "-0"]), text_values)
descriptor_maps = hs.dictionaries(hs.one_of(hs.sampled_from(list(DESCRIPTORS)), text_values),
                                  hs.one_of(hs.none(), hs.sampled_from(
                                      [v for values in DESCRIPTORS.values() for v in values]),
                                            text_values), max_size=3)


@pytest.fixture
def quiz_store(store):
    make_cases(store, n=4, size=16)
    return store, make_user(store, "fuzzer")


@FUZZ
@given(birads=answer_values, probability=answer_values, descriptors=descriptor_maps,
       seconds=hs.one_of(hs.none(), hs.floats(allow_nan=True, allow_infinity=True)))
def test_fuzzed_answers_are_stored_as_given_or_refused_with_nothing_stored(
        quiz_store, birads, probability, descriptors, seconds):
    store, user = quiz_store
    session = flow.start_session(store, user.user_id, "all", 1)
    case_id = flow.state(store, session, user.user_id).case_id
    try:
        flow.submit_unaided(store, session, user.user_id, case_id, birads, probability,
                            descriptors, seconds=seconds)
    except UserError as error:
        assert str(error)
        with store.read() as cur:
            assert cur.execute("SELECT count(*) FROM reads WHERE session_id = ?",
                               [session]).fetchone()[0] == 0
        return
    with store.read() as cur:
        row = cur.execute("SELECT birads, probability, descriptors, seconds FROM reads"
                          " WHERE session_id = ?", [session]).fetchone()
    assert row[0] == str(birads).strip().upper() and row[0] in BIRADS_CATEGORIES
    assert math.isclose(row[1], float(probability)) and 0 <= row[1] <= 100
    chosen = {key: value for key, value in descriptors.items() if value}
    assert (json.loads(row[2]) if row[2] else {}) == chosen
    assert row[3] == seconds


def test_seconds_that_are_not_a_number_are_refused_clearly():
    with pytest.raises(UserError):
        validate_answer("3", 20, None, "twenty")


# ---- the app's forms ---------------------------------------------------------------------------

@pytest.fixture
def two_accounts(app_db, fast_hashing) -> Path:
    """anna (trainee) and root (admin), both with the password "correct horse", in the store
    the app serves."""
    with Store(app_db) as store:
        auth.create_user(store, "anna", "correct horse", "trainee")
        auth.create_user(store, "root", "correct horse", "admin")
    return app_db


def form(at: AppTest, values: dict[str, str], button: str) -> AppTest:
    for widget in at.text_input:
        if widget.label in values:
            widget.input(values[widget.label])
    next(b for b in at.button if b.label == button).click()
    return at.run()


FORMS = settings(max_examples=12, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])
form_text = hs.one_of(hs.sampled_from(NASTY_TEXT),
                      hs.text(hs.characters(blacklist_categories=["Cs"]), max_size=300))


@FORMS
@given(username=form_text, password=form_text)
def test_fuzzed_logins_are_refused_with_one_clear_message(two_accounts, username, password):
    at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
    form(at, {"User name": username, "Password": password}, "Log in")
    assert not at.exception, [e.message for e in at.exception]
    assert [e.value for e in at.error] in ([auth.BAD_LOGIN], []) or \
        "too many failed attempts" in at.error[0].value
    if not at.error:   # the one way in: anna's own password under her name
        assert auth.normalise_username(username) == "anna" and password == "correct horse"


def accounts() -> dict[str, auth.Account]:
    """The accounts in the store the app in this process holds."""
    from pages import ui

    return {account.username: account for account in auth.list_users(ui.get_store())}


@FORMS
@given(username=form_text, display_name=form_text)
def test_fuzzed_new_accounts_are_stored_verbatim_or_refused_clearly(two_accounts, username,
                                                                    display_name):
    at = AppTest.from_file(ROOT / "app.py", default_timeout=60).run()
    form(at, {"User name": "root", "Password": "correct horse"}, "Log in")
    before = accounts()
    at = form(at, {"User name": username, "Display name (optional)": display_name},
              "Add the user")
    assert not at.exception, [e.message for e in at.exception]
    after = accounts()
    if at.error:
        assert at.error[0].value and after == before
        return
    (created,) = [after[name] for name in after.keys() - before.keys()]
    assert created.username == auth.normalise_username(username)
    assert created.display_name == (display_name.strip() or created.username)
    assert created.must_change_password and created.role == "trainee"


def test_the_production_config_hides_error_details():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_a_forced_error_shows_no_traceback_text():
    at = AppTest.from_string("raise RuntimeError('secret detail 4711')", default_timeout=30)
    at.run()
    (shown,) = at.exception
    assert "secret detail 4711" not in shown.message and not shown.stack_trace
    assert "RuntimeError" not in str(shown.proto)
