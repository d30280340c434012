"""Key-account measures and the strategy report on hand-built data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.keyaccounts import key_account_measures
from guanxi.analytics.strategy import pareto_curve, strategy_report


def test_a_steady_central_broad_buyer_is_a_candidate_and_the_others_are_not() -> None:
    # Given organization 1 buys 4 of 5 categories every year through one buyer,
    # 2 buys once a lot, 3 buys steadily but each of its branches on its own
    rows = []
    for year in range(4):
        for cat in range(4):
            rows.append((1, 10, cat, year, 100.0))
    rows.append((2, 20, 0, 3, 20_000.0))
    for year in range(4):
        for buyer in (30, 31, 32, 33):
            rows.append((3, buyer, buyer % 5, year, 50.0))
    org, buyer, cat, per, amt = map(np.array, zip(*rows, strict=True))
    m = key_account_measures(organization=org, buyer=buyer, category=cat, period=per,
                             amount=amt, n_categories_in_catalogue=5, n_periods=4,
                             organizations=[1, 2, 3, 4])
    assert list(m.candidate) == [True, False, False, False]
    assert m.product_fit[0] == pytest.approx(0.8)
    assert m.central_share[0] == 1.0
    assert m.n_buyers[2] == 4
    assert m.central_share[2] == pytest.approx(0.25)
    assert m.active_share[1] == 0.25
    assert m.cv[0] == 0.0
    assert m.cv[1] == pytest.approx(np.sqrt(3))
    assert m.spend[3] == 0
    assert m.continuity[3] == 0


def test_pareto_curve_of_one_dominant_customer() -> None:
    x, y = pareto_curve([97.0] + [1.0] * 3, points=5)
    assert list(x) == [0, 0.25, 0.5, 0.75, 1]
    assert y[1] == pytest.approx(0.97)
    assert y[-1] == pytest.approx(1.0)


def _market(rng: np.random.Generator, *, vip_value: float, n: int = 2000) -> tuple:
    seg = np.where(np.arange(n) < n // 10, "vip", np.where(np.arange(n) % 2, "a", "b"))
    value = np.where(seg == "vip", vip_value, 100.0) * rng.lognormal(0, 0.3, n)
    return value, seg


def test_a_small_segment_holding_most_equity_means_focus() -> None:
    rng = np.random.default_rng(1)
    value, seg = _market(rng, vip_value=5000)
    r = strategy_report(value=value, segment=seg)
    assert r.recommendation == "focused"
    assert r.focus_segment == "vip"
    assert r.top_shares["5%"] < r.top_shares["20%"] <= 1
    assert r.segments[0].name == "vip"
    assert r.segments[0].equity_share > 0.8


def test_different_category_mixes_mean_differentiation_and_similar_ones_do_not() -> None:
    rng = np.random.default_rng(2)
    value, seg = _market(rng, vip_value=100)
    names = ["a", "b", "vip"]
    cats = ["books", "music", "video"]
    different = [[500, 50, 50], [50, 500, 50], [50, 50, 500]]
    similar = [[300, 300, 300], [310, 290, 300], [290, 310, 300]]
    r = strategy_report(value=value, segment=seg, category_counts=different, categories=cats,
                        segment_names=names)
    assert r.recommendation == "differentiated"
    assert r.cramers_v is not None
    assert r.cramers_v > 0.5
    r2 = strategy_report(value=value, segment=seg, category_counts=similar, categories=cats,
                         segment_names=names, paid=[95, 96, 95], listed=[100, 100, 100])
    assert r2.recommendation == "undifferentiated"
    assert r2.price_spread == pytest.approx(0.01)
    r3 = strategy_report(value=value, segment=seg, category_counts=similar, categories=cats,
                         segment_names=names, paid=[70, 96, 95], listed=[100, 100, 100])
    assert r3.recommendation == "differentiated"
