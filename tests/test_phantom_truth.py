"""The phantom truth model (descriptors only, no images): lexicon, PPVs, posterior, AUC."""
from __future__ import annotations

import numpy as np
import pytest

from core.cases import phantom_truth as truth_model
from core.cases.phantom import case_seed
from core.lexicon import BIRADS_CATEGORIES, DESCRIPTORS, validate_descriptors

DRAWS = 3000


@pytest.fixture(scope="module")
def lesions():
    rng = np.random.default_rng(12345)
    return [truth_model.draw_lesion(rng) for _ in range(DRAWS)]


def _ppv(lesions, key, value):
    hits = [lesion.malignant for lesion in lesions if lesion.descriptors[key] == value]
    return float(np.mean(hits))


def test_subtype_tables_use_the_lexicon_and_sum_to_one():
    for malignant in (False, True):
        shares = [s.share for s in truth_model.SUBTYPES if s.malignant == malignant]
        assert sum(shares) == pytest.approx(1.0)
    for subtype in truth_model.SUBTYPES:
        assert set(subtype.descriptors) == set(DESCRIPTORS), subtype.name
        for key, probabilities in subtype.descriptors.items():
            assert set(probabilities) <= set(DESCRIPTORS[key]), (subtype.name, key)
            assert sum(probabilities.values()) == pytest.approx(1.0), (subtype.name, key)


def test_draws_are_valid_lexicon_descriptors(lesions):
    for lesion in lesions:
        assert set(lesion.descriptors) == set(DESCRIPTORS)
        validate_descriptors(lesion.descriptors)
        assert 5.0 <= lesion.size_mm <= 40.0
        assert lesion.birads in BIRADS_CATEGORIES
        assert 0.0 < lesion.truth_prob < 1.0


def test_malignant_share_is_about_forty_percent(lesions):
    share = np.mean([lesion.malignant for lesion in lesions])
    assert 0.36 < share < 0.44


def test_ppvs_follow_the_published_direction(lesions):
    prevalence = np.mean([lesion.malignant for lesion in lesions])
    spiculated = _ppv(lesions, "margin", "spiculated")
    not_parallel = _ppv(lesions, "orientation", "not parallel")
    irregular = _ppv(lesions, "shape", "irregular")
    circumscribed = _ppv(lesions, "margin", "circumscribed")
    assert spiculated > 0.75
    assert not_parallel > 0.55
    assert irregular > 0.5
    assert circumscribed < 0.08
    assert spiculated > irregular > prevalence > circumscribed


def test_posterior_is_calibrated(lesions):
    prob = np.array([lesion.truth_prob for lesion in lesions])
    truth = np.array([lesion.malignant for lesion in lesions])
    assert prob.mean() == pytest.approx(truth.mean(), abs=0.03)
    high, low = prob > 0.5, prob < 0.1
    assert truth[high].mean() == pytest.approx(prob[high].mean(), abs=0.06)
    assert truth[low].mean() == pytest.approx(prob[low].mean(), abs=0.03)


def test_best_auc_is_high_but_never_perfect(lesions):
    prob = np.array([lesion.truth_prob for lesion in lesions])
    truth = np.array([lesion.malignant for lesion in lesions])
    rank = np.array([BIRADS_CATEGORIES.index(lesion.birads) for lesion in lesions])
    best = truth_model.auc(prob, truth)
    birads = truth_model.auc(rank, truth)
    assert 0.88 <= best <= 0.97
    assert 0.85 <= birads <= best + 0.005
    population = truth_model.population_figures()
    assert population["best_auc"] == pytest.approx(best, abs=0.02)
    assert population["birads_auc"] == pytest.approx(birads, abs=0.02)


def test_reference_birads_follows_the_likelihood_bands():
    categories = [truth_model.birads_from_probability(p)
                  for p in (0.001, 0.015, 0.05, 0.3, 0.8, 0.97)]
    assert categories == list(BIRADS_CATEGORIES)
    grid = np.linspace(0, 1, 201)
    ranks = [BIRADS_CATEGORIES.index(truth_model.birads_from_probability(p)) for p in grid]
    assert ranks == sorted(ranks)


def test_posterior_matches_bayes_rule_on_one_case():
    descriptors = {"shape": "irregular", "orientation": "not parallel", "margin": "spiculated",
                   "echo_pattern": "hypoechoic", "posterior": "shadowing",
                   "calcifications": "present"}
    m = 0.4 * truth_model.likelihood(descriptors, True)
    b = 0.6 * truth_model.likelihood(descriptors, False)
    assert truth_model.posterior(descriptors) == pytest.approx(m / (m + b))
    assert truth_model.posterior(descriptors) > 0.95


def test_auc_counts_ties_as_half():
    assert truth_model.auc(np.array([1, 1, 1, 1]), np.array([True, False, True, False])) == 0.5
    assert truth_model.auc(np.array([0.1, 0.2, 0.8, 0.9]),
                           np.array([False, False, True, True])) == 1.0
    assert np.isnan(truth_model.auc(np.array([0.1, 0.2]), np.array([True, True])))


def test_case_seed_is_the_spawned_child():
    children = np.random.SeedSequence(7).spawn(5)
    for index, child in enumerate(children):
        assert case_seed(7, index).generate_state(4).tolist() == child.generate_state(4).tolist()
