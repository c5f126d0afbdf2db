"""The statistics against published reference analyses (../shared/data/reference): pROC's
aSAH results, the Iowa OR-DBM MRMC output on the Van Dyke study, R's McNemar example.

Each figure must agree with the reference to every digit the reference prints (up to 12
significant digits: R prints 15, beyond floating-point summation noise)."""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from core.stats.mcnemar import mcnemar_table
from core.stats.metrics import threshold_metrics, youden_threshold
from core.stats.mrmc import or_analysis
from core.stats.roc import auc_ci, auc_mw, compare_all, paired_test, unpaired_test


def agrees(value: float, printed: str) -> bool:
    """True if ``value`` rounds to the reference as printed (half a unit of its last digit,
    or of the 12th significant digit if it prints more)."""
    exponent = Decimal(printed).as_tuple().exponent
    tolerance = max(0.5 * 10.0 ** exponent, 1e-12 * abs(float(printed)))
    return abs(value - float(printed)) <= tolerance * (1 + 1e-9)


@pytest.fixture
def asah(shared_data):
    frame = pd.read_csv(shared_data / "reference" / "asah.csv")
    return (frame["outcome"] == "Poor").astype(int).to_numpy(), frame


def test_agrees_helper_is_strict():
    assert agrees(0.73136864, "0.7313686")
    assert not agrees(0.7313691, "0.7313686")
    assert agrees(4.1149e-05, "4.115e-05") and not agrees(4.1156e-05, "4.115e-05")


def test_asah_aucs_variance_and_ci(asah):
    y, frame = asah
    result = auc_ci(y, frame["s100b"])
    assert agrees(result.auc, "0.7313686")
    assert agrees(result.var, "0.00266868245717244")
    assert agrees(result.ci_low, "0.6301") and agrees(result.ci_high, "0.8326")
    assert agrees(auc_mw(y, frame["wfns"]), "0.823678861788618")
    assert agrees(auc_mw(y, frame["ndka"]), "0.611957994579946")


def test_asah_paired_delong_test(asah):
    y, frame = asah
    result = paired_test(y, frame["wfns"], frame["s100b"])
    assert agrees(result.z, "2.20898359144091")
    assert agrees(result.p, "0.0271757822291882")
    assert agrees(result.ci_low, "0.0104061769564846")
    assert agrees(result.ci_high, "0.174214419249478")
    pair = compare_all(y, {"wfns": frame["wfns"], "s100b": frame["s100b"]})[0]
    assert pair["z"] == pytest.approx(result.z, rel=1e-12)
    assert pair["p_holm"] == pytest.approx(result.p, rel=1e-12)  # a single comparison


def test_asah_unpaired_delong_test(asah):
    y, frame = asah
    result = unpaired_test(y, frame["wfns"], y, frame["s100b"])
    assert agrees(result.d, "1.43490640926908")
    assert agrees(result.p, "0.152825378808796")


def test_asah_youden_threshold(asah):
    y, frame = asah
    threshold = youden_threshold(y, frame["s100b"])
    assert agrees(threshold, "0.205")
    metrics = threshold_metrics(y, (frame["s100b"] >= threshold).astype(int))
    assert agrees(metrics["sensitivity"].value, "0.6341463")
    assert agrees(metrics["specificity"].value, "0.8055556")


@pytest.fixture
def vandyke(shared_data):
    return pd.read_csv(shared_data / "reference" / "vandyke.csv")


def test_vandyke_obuchowski_rockette_jackknife(vandyke):
    result = or_analysis(vandyke, modality="treatment", cov="jackknife")
    expected = {"0": "0.91964573 0.85877617 0.90386473 0.97310789 0.82979066",
                "1": "0.94782609 0.90531401 0.92173913 0.99935588 0.92995169"}
    for modality, printed in expected.items():
        for reader, value in enumerate(printed.split()):
            assert agrees(result["auc"][modality][str(reader)], value)
    for key, printed in (("var_error", "0.00080229"), ("cov1", "0.00034661"),
                         ("cov2", "0.00034407"), ("cov3", "0.00023903")):
        assert agrees(result[key], printed), key
    assert agrees(result["f"], "4.456319")
    assert agrees(result["df_den"], "15.26")
    assert agrees(result["p"], "0.0517")
    assert agrees(result["diff"], "-0.04380032")
    assert agrees(result["ci"][0], "-0.08796") and agrees(result["ci"][1], "0.00036")
    assert agrees(result["fixed_readers"]["chi2"], "5.47595")
    assert agrees(result["fixed_readers"]["p"], "0.0193")
    assert result["dropped"] == 0 and result["n_cases"] == 114
    assert (result["n_pos"], result["n_neg"]) == (45, 69)


def test_mcnemar_r_example():
    result = mcnemar_table([[794, 150], [86, 570]])
    assert agrees(result["chi2"], "16.818") and agrees(result["p_corrected"], "4.115e-05")
    assert agrees(result["chi2_uncorrected"], "17.356")
    assert agrees(result["p_uncorrected"], "3.099e-05")
