"""Statistical segmentation: planted segments are found, described and keep their names."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.errors import InvalidInputError, NotFittedError, NotIdentifiableError
from guanxi.analytics.segmentation import (
    SegmentationData,
    SegmentDescription,
    TraitLift,
    ValueSegmentation,
    suggested_name,
)

# Four kinds of customer a tea house has, planted with known sizes and traits.
PLANTED = {
    #              clv    p_alive  freq  recency  monetary  tenure  share  tier-1 share
    "vip":       (9000.0,  0.95,   25.0,   10.0,   400.0,    700.0, 0.10,  0.80),
    "regular":   (1500.0,  0.85,    8.0,   30.0,   150.0,    600.0, 0.30,  0.25),
    "newcomer":  ( 300.0,  0.90,    1.0,   15.0,   120.0,     20.0, 0.25,  0.20),
    "lapsed":    (  40.0,  0.10,    2.0,  500.0,    60.0,    650.0, 0.35,  0.15),
}


def planted(n: int, seed: int = 7) -> tuple[SegmentationData, np.ndarray]:
    rng = np.random.default_rng(seed)
    shares = np.array([p[6] for p in PLANTED.values()])
    truth = rng.choice(len(PLANTED), size=n, p=shares)
    params = np.array([p[:6] for p in PLANTED.values()])
    centres = params[truth]

    def lognormal(column: int) -> np.ndarray:
        return centres[:, column] * np.exp(rng.normal(0, 0.15, n))

    tier1 = np.array([p[7] for p in PLANTED.values()])[truth]
    city_tier = np.where(rng.random(n) < tier1, "1", rng.choice(["2", "3", "4"], size=n))
    data = SegmentationData(
        clv=lognormal(0),
        p_alive=np.clip(centres[:, 1] + rng.normal(0, 0.03, n), 0, 1),
        frequency=np.maximum(1, np.round(lognormal(2))),
        recency_days=lognormal(3),
        monetary=lognormal(4),
        tenure_days=lognormal(5),
        # regular buyers buy at steady intervals; one purchase day has no interval at all
        interval_cv=np.where(centres[:, 2] > 1.5, 0.8 / np.sqrt(centres[:, 2])
                             * np.exp(rng.normal(0, 0.1, n)), np.nan),
        traits={"city_tier": city_tier, "source": rng.choice(["store", "web", ""], size=n)},
        rfm=rng.integers(1, 6, size=(n, 3)),
    )
    return data, truth


def agreement(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of customers whose found segment is the planted one, best one-to-one pairing."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((labels.max() + 1, truth.max() + 1))
    np.add.at(table, (labels, truth), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(labels))


def test_given_four_planted_kinds_of_customer_when_segmented_by_bic_then_four_are_found() -> None:
    # Given 4,000 customers of four planted kinds
    data, truth = planted(4000)
    # When the number of segments is chosen by BIC between 2 and 7
    seg = ValueSegmentation(k_range=(2, 7), random_state=np.random.default_rng(1)).fit(data)
    # Then four segments are chosen, and almost every customer is where it was planted
    assert seg.n_segments_ == 4
    assert set(seg.criterion_values_) == {2, 3, 4, 5, 6, 7}
    assert seg.criterion_values_[4] == min(seg.criterion_values_.values())
    assert agreement(seg.labels_, truth) > 0.97


def test_the_silhouette_finds_the_planted_segments_too() -> None:
    data, truth = planted(3000, seed=3)
    seg = ValueSegmentation(k_range=(2, 6), criterion="silhouette",
                            random_state=np.random.default_rng(2)).fit(data)
    assert seg.n_segments_ == 4
    assert agreement(seg.labels_, truth) > 0.95


def test_membership_probabilities_are_probabilities_and_the_label_is_the_likeliest() -> None:
    data, _ = planted(2000)
    seg = ValueSegmentation(k_range=(3, 5), random_state=np.random.default_rng(1)).fit(data)
    assert seg.proba_.shape == (2000, seg.n_segments_)
    assert np.all(seg.proba_ >= 0)
    assert np.all(seg.proba_ <= 1)
    np.testing.assert_allclose(seg.proba_.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(seg.labels_, seg.proba_.argmax(axis=1))
    # predicting the same customers again gives the same probabilities
    np.testing.assert_allclose(seg.predict_proba(data), seg.proba_, atol=1e-6)


def test_segments_are_ordered_most_valuable_first() -> None:
    data, _ = planted(3000)
    seg = ValueSegmentation(k_range=(4, 4), random_state=np.random.default_rng(1)).fit(data)
    log_clv = seg.centroids_[:, 0]
    assert list(log_clv) == sorted(log_clv, reverse=True)


def test_fitting_on_a_sample_assigns_everyone() -> None:
    data, truth = planted(6000)
    seg = ValueSegmentation(k_range=(4, 4), sample_size=1500, chunk_size=700,
                            random_state=np.random.default_rng(5)).fit(data)
    assert seg.labels_.shape == (6000,)
    assert agreement(seg.labels_, truth) > 0.97


def test_the_description_reads_like_the_planted_segments() -> None:
    # Given the four planted kinds, segmented
    data, _ = planted(4000)
    seg = ValueSegmentation(k_range=(4, 4), random_state=np.random.default_rng(1)).fit(data)
    # When described with the words for city tiers
    phrases = {("city_tier", "1"): "first-tier cities"}
    described = seg.describe(data, trait_phrases=phrases)
    # Then the most valuable segment holds most of the equity, buys regularly, and lives in
    # first-tier cities far more often than everyone does
    vip = described[0]
    assert vip.value_level == "top"
    assert vip.behaviour == "regulars"
    assert vip.equity_share > 0.5
    assert 0.08 < vip.share < 0.12
    assert vip.traits[0] == TraitLift("city_tier", "1", vip.traits[0].support,
                                      vip.traits[0].overall, vip.traits[0].lift)
    assert vip.traits[0].lift > 2
    assert vip.suggested_name == "top-value regulars, first-tier cities"
    # and the others are recognisable
    behaviours = {d.behaviour for d in described}
    assert {"lapsed", "newcomers"} <= behaviours
    assert sum(d.size for d in described) == 4000
    assert pytest.approx(sum(d.equity_share for d in described)) == 1.0
    assert all(len(d.typical_rfm) == 3 for d in described)
    # unknown trait values ("") are never reported as a trait
    assert all(t.value != "" for d in described for t in d.traits)
    # names are distinct within a run, and say what they are made of
    assert len({d.suggested_name for d in described}) == len(described)
    for d in described:
        name = suggested_name(d.value_level, d.behaviour, d.name_trait, phrases)
        assert d.suggested_name == (f"{name} ({d.name_number})" if d.name_number else name)


def test_two_segments_that_would_share_a_name_are_told_apart_by_their_next_trait() -> None:
    # Given two top-value regular segments whose leading trait is the same city tier
    from guanxi.analytics.segmentation import _disambiguate

    tier = TraitLift("city_tier", "1", .8, .25, 3.2)
    lifts = [[tier, TraitLift("source", "store", .6, .3, 2.0)],
             [tier, TraitLift("source", "web", .6, .3, 2.0)],
             [tier]]

    def described(i: int) -> SegmentDescription:
        return SegmentDescription(
            index=i, size=10, share=.1, equity_share=.1, mean_clv=1.0, median_frequency=9,
            median_recency_days=5, mean_p_alive=.9, typical_rfm="", value_level="top",
            behaviour="regulars", traits=tuple(lifts[i]),
            suggested_name=suggested_name("top", "regulars", tier), profile={}, centroid={},
            name_trait=tier)

    out = [described(i) for i in range(3)]
    # When the names of the run are made distinct
    _disambiguate(out, lifts, None)
    # Then the second takes its next trait, the third (with no other trait) a number
    assert [d.suggested_name for d in out] == [
        "top-value regulars, city_tier 1", "top-value regulars, source web",
        "top-value regulars, city_tier 1 (2)"]
    assert out[1].name_trait == lifts[1][1]
    assert (out[2].name_trait, out[2].name_number) == (tier, 2)


def test_traits_can_take_part_in_the_clustering() -> None:
    data, _ = planted(3000)
    seg = ValueSegmentation(k_range=(4, 4), cluster_traits=["city_tier"],
                            random_state=np.random.default_rng(1)).fit(data)
    assert "city_tier=1" in seg.feature_names_
    assert seg.centroids_.shape == (4, 7 + 4)
    # a trait centroid is the share of the segment with that value
    share = seg.centroids_[0, seg.feature_names_.index("city_tier=1")]
    assert 0.6 < share < 1.0


def test_a_rerun_on_fresh_customers_keeps_the_segments_and_their_names() -> None:
    # Given last month's segmentation
    first_data, _ = planted(4000, seed=11)
    first = ValueSegmentation(k_range=(4, 4), random_state=np.random.default_rng(1)).fit(
        first_data)
    before = first.describe(first_data)
    # When this month's customers (the same kinds, new draws, another seed) are segmented
    second_data, _ = planted(4000, seed=12)
    second = ValueSegmentation(k_range=(4, 4), random_state=np.random.default_rng(9)).fit(
        second_data)
    after = second.describe(second_data)
    # Then each segment is matched to last month's, with the same suggested name
    matched = second.match([d.centroid for d in before])
    assert sorted(matched.tolist()) == [0, 1, 2, 3]
    for new, old in enumerate(matched):
        assert after[new].suggested_name == before[old].suggested_name


def test_a_segment_unlike_any_before_is_not_matched() -> None:
    data, _ = planted(2000)
    seg = ValueSegmentation(k_range=(4, 4), random_state=np.random.default_rng(1)).fit(data)
    far = {name: 100.0 for name in seg.feature_names_}
    assert seg.match([far]).tolist() == [-1, -1, -1, -1]
    assert seg.match([]).tolist() == [-1, -1, -1, -1]


def test_suggested_names_without_a_phrase_name_the_trait() -> None:
    assert suggested_name("low", "lapsed") == "low-value lapsed"
    assert suggested_name("mid", "one-off", TraitLift("source", "web", .5, .2, 2.5)) == \
        "mid-value one-off buyers, source web"


def test_bad_settings_and_too_few_customers_are_refused() -> None:
    data, _ = planted(30)
    with pytest.raises(InvalidInputError):
        ValueSegmentation(k_range=(5, 3)).fit(data)
    with pytest.raises(InvalidInputError):
        ValueSegmentation(k_range=(1, 3), criterion="silhouette").fit(data)
    with pytest.raises(InvalidInputError):
        ValueSegmentation(k_range=(2, 3), cluster_traits=["income"]).fit(data)
    with pytest.raises(NotIdentifiableError):
        ValueSegmentation(k_range=(6, 20)).fit(data)
    with pytest.raises(NotFittedError):
        ValueSegmentation().match([])


def test_the_same_generator_seed_gives_the_same_segments() -> None:
    data, _ = planted(2000)
    a = ValueSegmentation(k_range=(3, 5), sample_size=1000,
                          random_state=np.random.default_rng(4)).fit(data)
    b = ValueSegmentation(k_range=(3, 5), sample_size=1000,
                          random_state=np.random.default_rng(4)).fit(data)
    np.testing.assert_array_equal(a.labels_, b.labels_)
