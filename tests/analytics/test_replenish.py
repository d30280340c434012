"""Replenishment: when a customer runs out of what they buy again and again."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.errors import InvalidInputError
from guanxi.analytics.replenish import replenishment_schedule


def _days(*isodates: str) -> np.ndarray:
    return np.array(isodates, dtype="datetime64[D]")


def test_a_household_buying_a_10kg_bag_every_30_days_runs_out_30_days_after_the_last() -> None:
    # Given a household that bought 10 kg of rice on three days, 30 days apart
    days = _days("2026-01-01", "2026-01-31", "2026-03-02")
    result = replenishment_schedule([1, 1, 1], [7, 7, 7], days, [10, 10, 10], [50, 50, 50])
    # Then the jar runs out 30 days after the last purchase
    assert len(result) == 1
    assert result.run_out[0] == np.datetime64("2026-04-01")
    assert result.interval_days[0] == pytest.approx(30)
    assert result.quantity_per_day[0] == pytest.approx(20 / 60)
    assert result.mean_amount[0] == pytest.approx(50)


def test_a_bigger_last_purchase_lasts_longer() -> None:
    # Given the same rhythm, but 20 kg on the last day (two lines of 10 kg)
    days = _days("2026-01-01", "2026-01-31", "2026-03-02", "2026-03-02")
    result = replenishment_schedule([1] * 4, [7] * 4, days, [10, 10, 10, 10], [50] * 4)
    # Then it lasts 60 days
    assert result.run_out[0] == np.datetime64("2026-05-01")
    assert result.last_quantity[0] == 20


def test_items_bought_fewer_than_three_times_are_not_repeat_bought() -> None:
    days = _days("2026-01-01", "2026-02-01", "2026-01-01", "2026-01-10", "2026-01-20")
    result = replenishment_schedule([1, 1, 2, 2, 2], [5, 5, 5, 5, 5], days, [1] * 5, [1] * 5)
    assert result.customer.tolist() == [2]
    with pytest.raises(InvalidInputError):
        replenishment_schedule([1], [1], days[:1], [-1], [1])


def test_unordered_input_of_many_pairs_equals_one_pair_at_a_time() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    customer = rng.integers(0, 50, n)
    item = rng.integers(0, 4, n)
    day = np.datetime64("2025-01-01") + rng.integers(0, 365, n)
    qty = rng.integers(1, 4, n).astype(float)
    amount = qty * 9.5
    whole = replenishment_schedule(customer, item, day, qty, amount)
    assert np.all(np.diff(whole.customer) >= 0)
    for k in range(0, len(whole), 37):
        mask = (customer == whole.customer[k]) & (item == whole.item[k])
        one = replenishment_schedule(customer[mask], item[mask], day[mask], qty[mask],
                                     amount[mask])
        assert one.run_out[0] == whole.run_out[k]
        assert one.mean_amount[0] == pytest.approx(whole.mean_amount[k])


def test_the_packed_sort_orders_lines_like_a_sort_by_customer_item_and_day() -> None:
    from guanxi.analytics.replenish import _sort_order

    rng = np.random.default_rng(11)
    c = rng.integers(10**9, 10**9 + 500, 4000)
    it = rng.integers(0, 30, 4000)
    d = rng.integers(19000, 19400, 4000)
    got = _sort_order(c, it, d)
    keys = np.c_[c, it, d]
    assert np.array_equal(keys[got], keys[np.lexsort((d, it, c))])
    huge = np.array([0, 2**40, 5]), np.array([0, 2**30, 1]), np.array([0, 1, 2])
    assert np.array_equal(_sort_order(*huge), np.lexsort(huge[::-1]))
