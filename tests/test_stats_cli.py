"""``python -m core stats roc|mrmc|mcnemar`` on users' CSV files: output and clear errors."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.stats.mrmc import or_analysis
from core.stats.roc import auc_ci


def run_json(capsys, *argv: str) -> dict:
    assert main(["stats", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def fails(capsys, *argv: str) -> str:
    assert main(["stats", *argv]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


@pytest.fixture
def models_csv(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 80)
    frame = pd.DataFrame({"label": np.where(truth == 1, "malignant", "benign"),
                          "resnet": truth + rng.normal(size=80),
                          "vgg": truth * 0.5 + rng.normal(size=80),
                          "reader": np.where(truth == 1, "4C", "3"),
                          "flat": 0.3, "text": "x"})
    path = tmp_path / "models.csv"
    frame.to_csv(path, index=False)
    return path, frame, truth


def test_roc_prints_aucs_and_holm_corrected_pairs(capsys, models_csv):
    path, frame, truth = models_csv
    out = run_json(capsys, "roc", str(path), "--truth", "label", "--positive", "malignant",
                   "--score", "resnet", "--score", "vgg", "--score", "reader")
    assert (out["n_pos"], out["n_neg"]) == (int(truth.sum()), int(80 - truth.sum()))
    expected = auc_ci(truth, frame["resnet"], method="logit")
    assert out["auc"]["resnet"]["auc"] == pytest.approx(expected.auc)
    assert out["auc"]["resnet"]["ci"] == pytest.approx([expected.ci_low, expected.ci_high])
    assert out["ci_method"] == "logit"
    assert [(p["a"], p["b"]) for p in out["pairs"]] == [("resnet", "vgg"), ("resnet", "reader"),
                                                        ("vgg", "reader")]
    assert set(out["pairs"][0]) >= {"a", "b", "diff", "z", "p", "p_holm", "ci"}
    assert any("BI-RADS" in note for note in out["notes"])


def test_roc_text_output(capsys, models_csv):
    path, _, _ = models_csv
    assert main(["stats", "roc", str(path), "--truth", "label", "--positive", "malignant",
                 "--score", "resnet"]) == 0
    assert "resnet:" in capsys.readouterr().out


def test_ci_delong_is_procs_wald_interval(capsys, models_csv):
    path, frame, truth = models_csv
    out = run_json(capsys, "roc", str(path), "--truth", "label", "--positive", "malignant",
                   "--score", "resnet", "--ci", "delong")
    expected = auc_ci(truth, frame["resnet"])
    assert out["auc"]["resnet"]["ci"] == pytest.approx([expected.ci_low, expected.ci_high])
    assert out["ci_method"] == "delong"


def test_constant_score_is_reported_not_fatal(capsys, models_csv):
    path, _, _ = models_csv
    out = run_json(capsys, "roc", str(path), "--truth", "label", "--positive", "malignant",
                   "--score", "flat", "--ci", "delong")
    assert out["auc"]["flat"] == {"auc": 0.5, "var": 0.0, "ci": [0.5, 0.5]}
    assert any("constant" in note for note in out["notes"])
    logit = run_json(capsys, "roc", str(path), "--truth", "label", "--positive", "malignant",
                     "--score", "flat")["auc"]["flat"]
    assert logit["ci"][0] < 0.5 < logit["ci"][1]  # never of zero width


def test_roc_notes_too_few_cases_for_the_app(capsys, tmp_path):
    path = tmp_path / "few.csv"
    pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 0, 0], "s": [3, 2, 1, 0, 1, 0, 0, 0]}).to_csv(path)
    out = run_json(capsys, "roc", str(path), "--truth", "t", "--positive", "1", "--score", "s")
    assert any("too few cases" in note for note in out["notes"])


@pytest.mark.parametrize("argv, message", [
    (["--truth", "label", "--positive", "malignant", "--score", "nope"], "missing column"),
    (["--truth", "label", "--positive", "cancer", "--score", "resnet"], "does not occur"),
    (["--truth", "label", "--positive", "malignant", "--score", "text"], "neither numeric"),
    (["--truth", "label", "--positive", "malignant", "--score", "vgg", "--score", "vgg"], "twice"),
])
def test_roc_refuses_bad_arguments(capsys, models_csv, argv, message):
    path, _, _ = models_csv
    assert message in fails(capsys, "roc", str(path), *argv)


def test_roc_refuses_bad_files(capsys, tmp_path):
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"y": [1, 1, 1], "s": [1, 2, 3]}).to_csv(one_class, index=False)
    assert "only the positive value" in fails(capsys, "roc", str(one_class), "--truth", "y",
                                              "--positive", "1", "--score", "s")
    with_gap = tmp_path / "gap.csv"
    with_gap.write_text("y,s\n1,0.4\n0,\n1,0.9\n0,0.1\n")
    assert "missing value" in fails(capsys, "roc", str(with_gap), "--truth", "y",
                                    "--positive", "1", "--score", "s")
    assert "no such file" in fails(capsys, "roc", str(tmp_path / "absent.csv"), "--truth", "y",
                                   "--positive", "1", "--score", "s")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "cannot read" in fails(capsys, "roc", str(empty), "--truth", "y", "--positive", "1",
                                  "--score", "s")


@pytest.fixture
def study_csv(tmp_path):
    rng = np.random.default_rng(1)
    truth = np.r_[0, 0, 1, 1, rng.integers(0, 2, 36)]
    categories = np.array(["2", "3", "4A", "4B", "4C", "5"])
    rows = [{"who": who, "phase": phase, "nodule": c, "histology": "M" if truth[c] else "B",
             "birads": categories[int(np.clip(2 + truth[c] * (2 if phase == "aided" else 1)
                                              + rng.integers(-2, 2), 0, 5))]}
            for who in ("ann", "bob", "cy") for phase in ("unaided", "aided") for c in range(40)]
    frame = pd.DataFrame(rows)
    frame = frame.drop(frame.index[(frame["who"] == "bob") & (frame["nodule"] == 3)
                                   & (frame["phase"] == "aided")])
    path = tmp_path / "study.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_mrmc_reads_birads_and_reports_dropped_cases(capsys, study_csv):
    path, frame = study_csv
    out = run_json(capsys, "mrmc", str(path), "--reader", "who", "--modality", "phase",
                   "--case", "nodule", "--truth", "histology", "--positive", "M",
                   "--rating", "birads", "--cov", "delong")
    assert set(out) >= {"auc", "var_error", "cov1", "cov2", "cov3", "f", "df_den", "p", "diff",
                        "ci", "fixed_readers", "n_cases", "dropped"}
    assert out["dropped"] == 1 and out["n_cases"] == 39
    assert set(out["auc"]) == {"aided", "unaided"}
    assert set(out["auc"]["aided"]) == {"ann", "bob", "cy"}
    ranks = frame.assign(histology=(frame["histology"] == "M").astype(int),
                         birads=frame["birads"].map(dict(zip(["2", "3", "4A", "4B", "4C", "5"],
                                                             range(6)))))
    expected = or_analysis(ranks, reader="who", modality="phase", case="nodule",
                           truth="histology", rating="birads", cov="delong")
    assert out["f"] == pytest.approx(expected["f"])


def test_mrmc_refuses_a_single_reader(capsys, study_csv, tmp_path):
    path, frame = study_csv
    single = tmp_path / "single.csv"
    frame[frame["who"] == "ann"].to_csv(single, index=False)
    assert "two readers" in fails(capsys, "mrmc", str(single), "--reader", "who", "--modality",
                                  "phase", "--case", "nodule", "--truth", "histology",
                                  "--positive", "M", "--rating", "birads")


def test_mcnemar_with_and_without_truth(capsys, tmp_path):
    path = tmp_path / "paired.csv"
    pd.DataFrame({"truth": ["M", "B", "M", "B", "M"], "unaided": ["B", "B", "B", "M", "M"],
                  "aided": ["M", "B", "M", "B", "M"], "ok_a": [0, 1, 0, 0, 1],
                  "ok_b": [1, 1, 1, 1, 1]}).to_csv(path, index=False)
    scored = run_json(capsys, "mcnemar", str(path), "--a", "aided", "--b", "unaided",
                      "--truth", "truth")
    assert (scored["b"], scored["c"]) == (3, 0)
    plain = run_json(capsys, "mcnemar", str(path), "--a", "ok_a", "--b", "ok_b")
    assert (plain["b"], plain["c"]) == (0, 3)
    assert "--positive" in fails(capsys, "mcnemar", str(path), "--a", "aided", "--b", "unaided")
    named = run_json(capsys, "mcnemar", str(path), "--a", "aided", "--b", "unaided",
                     "--positive", "m")
    assert (named["b"], named["c"]) == (2, 1)  # cases 1 and 3; case 4


def test_reference_files_through_the_command_line(capsys, shared_data):
    reference = shared_data / "reference"
    roc = run_json(capsys, "roc", str(reference / "asah.csv"), "--truth", "outcome",
                   "--positive", "Poor", "--score", "wfns", "--score", "s100b")
    assert roc["auc"]["s100b"]["var"] == pytest.approx(0.00266868245717244, rel=1e-9)
    assert roc["pairs"][0]["z"] == pytest.approx(2.20898359144091, rel=1e-9)
    mrmc = run_json(capsys, "mrmc", str(reference / "vandyke.csv"), "--reader", "reader",
                    "--modality", "treatment", "--case", "case", "--truth", "truth",
                    "--rating", "rating")
    assert mrmc["f"] == pytest.approx(4.456319, rel=1e-6)
    assert mrmc["fixed_readers"]["chi2"] == pytest.approx(5.47595, rel=1e-6)


def test_mrmc_asks_for_the_positive_value_when_truth_is_not_0_1(capsys, study_csv):
    path, _ = study_csv
    assert "--positive" in fails(capsys, "mrmc", str(path), "--reader", "who", "--modality",
                                 "phase", "--case", "nodule", "--truth", "histology",
                                 "--rating", "birads")


def test_semicolon_files_with_a_byte_order_mark_are_read(capsys, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefftruth;score\n1;0.9\n0;0.2\n1;0.7\n0;0.4\n".encode("utf-8"))
    out = run_json(capsys, "roc", str(path), "--truth", "truth", "--positive", "1",
                   "--score", "score")
    assert out["auc"]["score"]["auc"] == 1.0


def _readings(tmp_path, rating) -> str:
    rows = [{"reader": reader, "modality": modality, "case": case, "truth": case % 2,
             "rating": rating(reader, modality, case)}
            for reader in ("r1", "r2") for modality in ("A", "B") for case in range(6)]
    path = tmp_path / "readings.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


MRMC_COLUMNS = ["--reader", "reader", "--modality", "modality", "--case", "case", "--truth",
                "truth", "--rating", "rating"]


def test_mrmc_with_constant_ratings_says_why_its_figures_are_undefined(capsys, tmp_path):
    out = run_json(capsys, "mrmc", _readings(tmp_path, lambda *_: 3), *MRMC_COLUMNS)
    assert out["p"] is None and out["ci"] == [None, None]
    assert out["modality"]["A"]["ci"] == [None, None]
    assert any(note.startswith("constant ratings") and "r1 in A" in note
               for note in out["notes"])
    assert any("undefined" in note and "random readers-and-cases F test" in note
               for note in out["notes"])


def test_mrmc_without_undefined_figures_has_no_such_note(capsys, tmp_path):
    rng = np.random.default_rng(3)
    out = run_json(capsys, "mrmc", _readings(tmp_path, lambda reader, modality, case:
                                             case % 2 + rng.normal()), *MRMC_COLUMNS)
    assert out["p"] is not None and out["notes"] == []


def test_mrmc_errors_show_plain_values(capsys, tmp_path):
    path = tmp_path / "twice.csv"
    pd.DataFrame({"reader": [1, 1], "modality": [0, 0], "case": [0, 0], "truth": [0, 0],
                  "rating": [1, 2]}).to_csv(path, index=False)
    error = fails(capsys, "mrmc", str(path), *MRMC_COLUMNS)
    assert "reader 1 rated case 0 twice in modality 0" in error and "np." not in error


def _r_mcnemar_example(folder, first: tuple[str, str], second: tuple[str, str]):
    """R's ``mcnemar.test`` example (approval of the President in two surveys of the same 1600
    people, table [[794, 150], [86, 570]]) written as two columns of words: ``first`` and
    ``second`` are each column's (approve, disapprove) spellings."""
    cells = {(0, 0): 794, (0, 1): 150, (1, 0): 86, (1, 1): 570}
    rows = [(first[i], second[j]) for (i, j), n in cells.items() for _ in range(n)]
    path = folder / "surveys.csv"
    pd.DataFrame(rows, columns=["first_survey", "second_survey"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("first, second", [
    (("yes", "no"), ("yes", "no")),
    ((" Yes", "NO "), ("True", "false")),
    (("malignant", "benign"), ("1", "0")),
    (("Positive", "negative"), ("y", "n")),
])
def test_mcnemar_reads_two_level_columns_as_r_does(capsys, tmp_path, first, second):
    # Expected values: R 4.x, mcnemar.test(matrix(c(794, 86, 150, 570), 2)), as in
    # ../shared/data/README.md: 16.818 corrected (p 4.115e-05), 17.356 uncorrected (3.099e-05).
    path = _r_mcnemar_example(tmp_path, first, second)
    out = run_json(capsys, "mcnemar", str(path), "--a", "first_survey", "--b", "second_survey")
    assert (out["b"], out["c"], out["n"]) == (150, 86, 1600)
    assert out["chi2"] == pytest.approx(16.818, abs=5e-4)
    assert out["p_corrected"] == pytest.approx(4.115e-05, rel=1e-3)
    assert out["chi2_uncorrected"] == pytest.approx(17.356, abs=5e-4)
    assert out["p_uncorrected"] == pytest.approx(3.099e-05, rel=1e-3)


def test_mcnemar_text_names_the_levels(capsys, tmp_path):
    path = _r_mcnemar_example(tmp_path, ("yes", "no"), ("yes", "no"))
    assert main(["stats", "mcnemar", str(path), "--a", "first_survey",
                 "--b", "second_survey"]) == 0
    out = capsys.readouterr().out
    assert "first_survey yes and second_survey no: 150" in out
    assert "chi-square 16.8178" in out


def test_mcnemar_positive_names_a_level_the_words_do_not_tell(capsys, tmp_path):
    path = _r_mcnemar_example(tmp_path, ("Approve", "Disapprove"), ("approve", "disapprove"))
    args = ("mcnemar", str(path), "--a", "first_survey", "--b", "second_survey")
    message = fails(capsys, *args)
    assert "cannot tell which value of column 'first_survey' means positive" in message
    assert "--positive" in message
    out = run_json(capsys, *args, "--positive", "APPROVE")
    assert (out["b"], out["c"]) == (150, 86)
    assert out["chi2"] == pytest.approx(16.818, abs=5e-4)
    assert "does not occur" in fails(capsys, *args, "--positive", "maybe")


def test_mcnemar_refuses_more_than_two_levels(capsys, tmp_path):
    path = tmp_path / "three.csv"
    pd.DataFrame({"a": ["yes", "no", "unsure", "yes"], "b": ["yes", "no", "no", "no"]}
                 ).to_csv(path, index=False)
    message = fails(capsys, "mcnemar", str(path), "--a", "a", "--b", "b")
    assert "column 'a' has 3 different values" in message and "unsure" in message


def test_mcnemar_against_truth_written_with_other_words(capsys, tmp_path):
    path = tmp_path / "calls.csv"
    pd.DataFrame({"truth": ["Malignant", "benign", "malignant", "benign"],
                  "unaided": ["no", "no", "yes", "yes"], "aided": ["yes", "no", "yes", "no"]}
                 ).to_csv(path, index=False)
    out = run_json(capsys, "mcnemar", str(path), "--a", "aided", "--b", "unaided",
                   "--truth", "truth")
    assert (out["b"], out["c"]) == (2, 0)  # aided right and unaided wrong on cases 1 and 4


@pytest.mark.parametrize("spelling", [("Malignant", "Benign"), ("YES", "no"), ("1", "0"),
                                      ("true", "False")])
def test_roc_infers_the_positive_level(capsys, models_csv, tmp_path, spelling):
    _, frame, truth = models_csv
    path = tmp_path / "words.csv"
    frame.assign(label=np.where(truth == 1, *spelling)).to_csv(path, index=False)
    out = run_json(capsys, "roc", str(path), "--truth", "label", "--score", "resnet")
    assert out["n_pos"] == int(truth.sum())
    assert out["auc"]["resnet"]["auc"] == pytest.approx(
        auc_ci(truth, frame["resnet"].to_numpy()).auc)


def test_roc_asks_for_positive_where_the_levels_do_not_tell(capsys, tmp_path):
    path = tmp_path / "grades.csv"
    pd.DataFrame({"outcome": ["Good", "Poor", "Good", "Poor"], "s": [1, 2, 1, 3]}
                 ).to_csv(path, index=False)
    assert "--positive" in fails(capsys, "roc", str(path), "--truth", "outcome", "--score", "s")
    out = run_json(capsys, "roc", str(path), "--truth", "outcome", "--positive", "poor",
                   "--score", "s")
    assert out["auc"]["s"]["auc"] == pytest.approx(1.0)
