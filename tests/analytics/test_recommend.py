"""What to offer (issue #6 §4): bought together and in sequence, with the reason in numbers."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.recommend import CoPurchaseRecommender

TEA, CUP, KETTLE, RICE = 1, 2, 3, 4


def _history() -> tuple[list[int], list[int], list[int]]:
    """Ten customers: everyone buys rice; 1–5 buy tea and then (3–5 only) cups 10 days later;
    customer 6 buys a kettle and a cup the same day; 7–10 only rice."""
    rows: list[tuple[int, int, int]] = []
    for c in range(1, 11):
        rows.append((c, RICE, 0))
    for c in range(1, 6):
        rows.append((c, TEA, 5))
    for c in range(3, 6):
        rows.append((c, CUP, 15))
    rows += [(6, KETTLE, 3), (6, CUP, 3)]
    customer, item, day = (list(x) for x in zip(*rows, strict=True))
    return customer, item, day


def test_fit_returns_itself_and_learns_the_shares() -> None:
    customer, item, day = _history()
    model = CoPurchaseRecommender(min_support=2)
    assert model.fit(customer, item, day) is model
    assert model.n_customers_ == 10
    # tea → cup: 3 of the 5 tea buyers bought a cup, all of them after the tea
    (idx,) = np.flatnonzero((model.items_[model.rule_from_] == TEA)
                            & (model.items_[model.rule_to_] == CUP))
    assert model.rule_confidence_[idx] == pytest.approx(0.6)
    assert model.rule_sequence_[idx] == pytest.approx(0.6)
    # lift: 60% of tea buyers vs 40% of all customers buy a cup
    assert model.rule_lift_[idx] == pytest.approx(0.6 / 0.4)
    # rice is bought by everyone: no rule ever points at it (lift 1)
    assert RICE not in set(model.items_[model.rule_to_].tolist())


def test_a_tea_buyer_without_a_cup_is_offered_one_with_the_reason() -> None:
    customer, item, day = _history()
    model = CoPurchaseRecommender(min_support=2).fit(customer, item, day)
    # Customers 1 (tea, rice) and 4 (tea, cup, rice) ask what to offer
    offers = model.recommend([1, 1, 4, 4, 4], [TEA, RICE, TEA, CUP, RICE], top_k=3)
    # Customer 1 gets the cup because of the tea, "then buy" (a sequence); customer 4 has it
    assert offers.customer.tolist() == [1]
    assert offers.item.tolist() == [CUP]
    assert offers.because.tolist() == [TEA]
    assert offers.confidence[0] == pytest.approx(0.6)
    assert bool(offers.sequential[0])


def test_excluded_pairs_are_never_offered() -> None:
    customer, item, day = _history()
    model = CoPurchaseRecommender(min_support=2).fit(customer, item, day)
    # Customer 1's taboo note excludes cups
    offers = model.recommend([1, 1], [TEA, RICE], exclude_customer=[1], exclude_item=[CUP])
    assert len(offers) == 0


def test_min_support_drops_one_off_coincidences() -> None:
    customer, item, day = _history()
    # the kettle → cup pair was bought by one customer only
    model = CoPurchaseRecommender(min_support=2).fit(customer, item, day)
    assert len(model.recommend([99], [KETTLE])) == 0
    loose = CoPurchaseRecommender(min_support=1).fit(customer, item, day)
    offers = loose.recommend([99], [KETTLE])
    assert offers.item.tolist() == [CUP]
    assert not bool(offers.sequential[0])  # same day: "also buy", not "then"


def test_unknown_items_and_empty_history_give_no_offers() -> None:
    model = CoPurchaseRecommender().fit([], [], [])
    assert len(model.recommend([1], [5])) == 0
    customer, item, day = _history()
    model = CoPurchaseRecommender().fit(customer, item, day)
    assert len(model.recommend([1], [12345])) == 0


def test_offers_are_ranked_and_capped_per_customer() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    customer = rng.integers(0, 300, n)
    item = rng.integers(0, 40, n)
    day = rng.integers(0, 365, n)
    model = CoPurchaseRecommender(min_support=1).fit(customer, item, day)
    offers = model.recommend(customer[:200], item[:200], top_k=3)
    assert np.all(np.bincount(offers.customer) <= 3)
    assert np.all((offers.confidence > 0) & (offers.confidence <= 1))
    assert np.all(offers.sequence <= offers.confidence + 1e-12)
    # within each customer, strongest first
    same = offers.customer[1:] == offers.customer[:-1]
    assert np.all(offers.confidence[1:][same] <= offers.confidence[:-1][same] + 1e-12)
