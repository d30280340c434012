"""The traits model finds a planted trait, and finds nothing in noise."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.errors import NotFittedError, NotIdentifiableError
from guanxi.analytics.traits import TraitsModel, auc_score, top_decile_lift


def _customers(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "source": rng.choice(["referral", "ads", "search", "event"], n),
        "city_tier": rng.choice(["tier1", "new_tier1", "tier2", "other"], n),
        "industry": rng.choice(["", "retail", "finance", "education"], n),
        "first_order_size": rng.lognormal(5, 1, n),
    }


def _model() -> TraitsModel:
    return TraitsModel(categorical=["source", "city_tier", "industry"],
                       numeric=["first_order_size"])


def test_a_planted_trait_is_found_first_with_its_lift() -> None:
    # Given customers acquired through referrals become VIP at 30%, everyone else at 8%
    rng = np.random.default_rng(7)
    traits = _customers(8000, rng)
    top = rng.random(8000) < np.where(traits["source"] == "referral", 0.30, 0.08)

    # When the model learns from them
    model = _model().fit(traits, top, rng=np.random.default_rng(1))

    # Then referral is the one distinguishing trait, about 2.2x as likely as the average
    found = model.distinguishing()
    assert [(t.feature, t.level) for t in found] == [("source", "referral")]
    assert found[0].lift == pytest.approx(0.30 / (0.25 * 0.30 + 0.75 * 0.08), rel=0.1)
    assert found[0].support == pytest.approx(0.25, abs=0.03)
    # And it predicts on held-out customers better than chance
    assert model.holdout_auc_ > 0.65
    assert model.top_decile_lift_ > 1.5
    assert model.weights_["source"][list(model.levels_["source"]).index("referral")] > 0.8


def test_random_labels_give_an_auc_near_one_half_and_no_trait() -> None:
    rng = np.random.default_rng(3)
    traits = _customers(8000, rng)
    top = rng.random(8000) < 0.1
    model = _model().fit(traits, top, rng=np.random.default_rng(2))
    assert model.holdout_auc_ == pytest.approx(0.5, abs=0.05)
    assert model.distinguishing() == []


def test_a_numeric_trait_shows_as_its_top_quarter() -> None:
    rng = np.random.default_rng(5)
    traits = _customers(6000, rng)
    size = traits["first_order_size"]
    top = rng.random(6000) < np.where(size > np.quantile(size, 0.75), 0.4, 0.05)
    model = _model().fit(traits, top, rng=np.random.default_rng(0))
    best = model.distinguishing()[0]
    assert (best.feature, best.level) == ("first_order_size", "top quarter")
    assert model.slopes_["first_order_size"] > 0


def test_scores_name_the_three_traits_that_push_each_one_up() -> None:
    rng = np.random.default_rng(11)
    traits = _customers(6000, rng)
    lift = np.where(traits["source"] == "referral", 3.0, 1.0) * \
        np.where(traits["city_tier"] == "tier1", 2.0, 1.0)
    top = rng.random(6000) < 0.06 * lift
    model = _model().fit(traits, top, rng=np.random.default_rng(4))

    prospects = {"source": np.array(["referral", "ads", "never-seen"]),
                 "city_tier": np.array(["tier1", "other", "tier1"]),
                 "industry": np.array(["retail", None, ""], dtype=object),
                 "first_order_size": np.array([np.nan, np.nan, np.nan])}
    scores = model.score(prospects)

    assert np.all((scores.probability > 0) & (scores.probability < 1))
    assert scores.probability[0] == scores.probability.max()
    first = [scores.features[j] for j in scores.drivers[0] if j >= 0]
    assert first[:2] == ["source", "city_tier"]
    assert scores.levels[0, 0] == "referral"
    # An unseen level contributes nothing; contributions are sorted, strongest first.
    assert np.all(np.diff(scores.contributions, axis=1) <= 1e-12)
    # Scoring one customer gives the same as scoring it among others.
    one = model.score({k: v[:1] for k, v in prospects.items()})
    assert one.probability[0] == pytest.approx(scores.probability[0])


def test_too_few_top_customers_is_refused_and_an_unfitted_model_cannot_score() -> None:
    rng = np.random.default_rng(0)
    traits = _customers(50, rng)
    with pytest.raises(NotIdentifiableError):
        _model().fit(traits, np.zeros(50, dtype=bool), rng=rng)
    with pytest.raises(NotFittedError):
        _model().score(traits)


def test_auc_and_lift_on_hand_made_scores() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    assert auc_score(y, np.arange(10)[::-1]) == pytest.approx((8 + 7) / 16)
    assert auc_score(y, np.ones(10)) == 0.5
    assert top_decile_lift(y, np.arange(10)[::-1]) == pytest.approx(1 / 0.2)
