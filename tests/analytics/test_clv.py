"""CLV, customer equity and value tiers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.analytics import (
    BGNBD,
    DEFAULT_TIERS,
    GammaGamma,
    InvalidInputError,
    customer_equity,
    customer_lifetime_value,
    value_tiers,
)

BG = BGNBD.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
GG = GammaGamma.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44})
X, TX, T, M = np.array([0, 1, 4, 12]), np.array([0.0, 10.0, 30.0, 38.0]), np.full(4, 38.86), \
    np.array([0.0, 20.0, 35.0, 50.0])


def test_without_discounting_clv_is_margin_times_spend_times_purchases() -> None:
    clv = customer_lifetime_value(BG, GG, X, TX, T, M, horizon=52, margin=0.3,
                                  annual_discount_rate=0.0)
    expected = 0.3 * GG.expected_spend(X, M) * BG.expected_purchases(52, X, TX, T)
    assert clv == pytest.approx(expected, rel=1e-12)


def test_discounting_happens_inside_the_horizon() -> None:
    flat = customer_lifetime_value(BG, GG, X, TX, T, M, horizon=104, annual_discount_rate=0.0)
    discounted = customer_lifetime_value(BG, GG, X, TX, T, M, horizon=104)
    # Every purchase is discounted by between 1 and 1.1^2; a flat sum would ignore that.
    assert np.all(discounted < flat)
    assert np.all(discounted > flat / 1.1**2)
    # Monthly steps by default; finer steps change the value by far less than discounting.
    fine = customer_lifetime_value(BG, GG, X, TX, T, M, horizon=104, steps=730)
    assert fine == pytest.approx(discounted, rel=1e-4)


def test_weekly_and_daily_models_give_the_same_value() -> None:
    daily = BGNBD.from_params({**BG.params_, "alpha": BG.params_["alpha"] * 7})
    weeks = customer_lifetime_value(BG, GG, X, TX, T, M, horizon=52, steps=12)
    days = customer_lifetime_value(daily, GG, X, TX * 7, T * 7, M, horizon=364, steps=12,
                                   time_unit="day")
    assert days == pytest.approx(weeks, rel=1e-10)


def test_scalar_customer_gives_a_scalar_value() -> None:
    one = customer_lifetime_value(BG, GG, 4, 30.0, 38.86, 35.0, horizon=52)
    assert one.shape == ()
    assert float(one) == pytest.approx(customer_lifetime_value(BG, GG, X, TX, T, M,
                                                               horizon=52)[2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"horizon": 0.0}, "horizon"), ({"horizon": 52, "annual_discount_rate": -1.0}, "discount"),
     ({"horizon": 52, "steps": 0}, "steps"), ({"horizon": 52, "time_unit": "month"}, "time_unit")],
)
def test_bad_clv_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        customer_lifetime_value(BG, GG, X, TX, T, M, **kwargs)  # type: ignore[arg-type]


def test_customer_equity_adds_expected_newcomers() -> None:
    assert customer_equity([10.0, 20.0]) == 30.0
    assert customer_equity([10.0, 20.0], n_prospects=1000, acquisition_rate=0.02,
                           prospect_value=15.0) == pytest.approx(330.0)
    with pytest.raises(InvalidInputError, match="acquisition_rate"):
        customer_equity([1.0], acquisition_rate=1.5)


def test_tiers_split_a_thousand_customers_1_4_15_80() -> None:
    clv = np.arange(1000, dtype=float)[::-1]
    tiers = value_tiers(clv)
    assert tiers[:10].tolist() == ["vip"] * 10
    assert [int((tiers == name).sum()) for _, name in DEFAULT_TIERS] == [10, 40, 150, 800]


def test_tied_customers_share_a_tier_and_ties_never_overfill_one() -> None:
    # Three customers tie at the top of 100: the vip tier (1 customer) cannot hold all three,
    # so none of them is vip and all three are key.
    clv = np.concatenate([[500.0, 500.0, 500.0], np.arange(97, dtype=float)])
    tiers = value_tiers(clv)
    assert tiers[:3].tolist() == ["key"] * 3
    assert "vip" not in tiers
    assert value_tiers(np.zeros(10)).tolist() == ["ordinary"] * 10


def test_plain_shares_use_the_default_names_and_bad_cuts_are_refused() -> None:
    clv = np.arange(100, dtype=float)
    assert (value_tiers(clv, cuts=(0.1, 0.1, 0.3)) == "vip").sum() == 10
    assert (value_tiers(clv, cuts=((0.5, "top"), (None, "rest"))) == "top").sum() == 50
    with pytest.raises(InvalidInputError, match="more than 1"):
        value_tiers(clv, cuts=((0.7, "a"), (0.7, "b")))
    with pytest.raises(InvalidInputError, match="last tier"):
        value_tiers(clv, cuts=((None, "a"), (0.5, "b")))
    with pytest.raises(InvalidInputError, match="NaN"):
        value_tiers([1.0, np.nan])


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.integers(0, 5).map(float), min_size=1, max_size=300),
       seed=st.integers(0, 2**32 - 1))
def test_tiers_do_not_depend_on_row_order(values: list[float], seed: int) -> None:
    clv = np.array(values)
    order = np.random.default_rng(seed).permutation(clv.size)
    assert np.array_equal(value_tiers(clv)[order], value_tiers(clv[order]))
    for _, name in DEFAULT_TIERS[:-1]:  # ranked tiers never exceed their share
        assert (value_tiers(clv) == name).sum() <= np.floor(0.2 * clv.size + 0.5)
