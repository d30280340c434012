"""Rhythm and churn early warning: each customer judged against their own purchase rhythm."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics.errors import InvalidInputError, NotFittedError
from guanxi.analytics.rhythm import (
    REASON_LATE,
    REASON_LOW_P_ALIVE,
    REASON_NONE,
    SEVERITIES,
    RhythmModel,
)


def _population(rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, ...]:
    """Customers with true mean gaps between 5 and 120 days, gamma gaps of shape 4."""
    true_mean = rng.uniform(5, 120, n)
    n_gaps = rng.integers(1, 12, n)
    means = np.empty(n)
    sds = np.full(n, np.nan)
    for i in range(n):  # building test data only; the model itself is vectorized
        gaps = np.maximum(1.0, np.round(rng.gamma(4.0, true_mean[i] / 4.0, n_gaps[i])))
        means[i] = gaps.mean()
        if n_gaps[i] >= 2:
            sds[i] = gaps.std(ddof=1)
    return n_gaps.astype(float), means, sds, true_mean


def test_a_weekly_customer_is_late_on_day_20_a_quarterly_one_is_not() -> None:
    # Given a base of customers, among them one who has ordered every 7 days (10 gaps)
    # and one who has ordered every 90 days (10 gaps)
    rng = np.random.default_rng(7)
    n, m, s, _ = _population(rng)
    n = np.append(n, [10, 10])
    m = np.append(m, [7.0, 90.0])
    s = np.append(s, [1.0, 12.0])
    model = RhythmModel().fit(n, m, s)

    # When both last bought 20 days ago
    days = np.full(n.size, 0.0)
    days[-2:] = 20
    result = model.assess(n, m, s, days)

    # Then the weekly customer is flagged as late and the quarterly one is not
    assert result.flagged[-2]
    assert result.reason[-2] == REASON_LATE
    assert not result.flagged[-1]
    assert result.reason[-1] == REASON_NONE
    assert 7 < result.late_after[-2] < 15
    assert result.late_after[-1] > 90


def test_few_gaps_are_shrunk_towards_the_segment_many_gaps_barely() -> None:
    # Given a segment whose customers buy about every 30 days
    rng = np.random.default_rng(1)
    n = np.full(300, 8.0)
    m = rng.normal(30, 4, 300)
    s = np.full(300, 8.0)
    # and two customers whose own mean is 10 days: one from a single gap, one from 40 gaps
    n = np.append(n, [1, 40])
    m = np.append(m, [10.0, 10.0])
    s = np.append(s, [np.nan, 3.0])
    model = RhythmModel().fit(n, m, s)

    # When their expected intervals are estimated
    mu, _ = model.expected_interval(n, m, s)

    # Then the one-gap customer is pulled most of the way to the segment's 30 days,
    # the 40-gap customer stays near their own 10
    assert mu[-2] > 20
    assert mu[-1] < 13
    assert 0.5 <= model.credibility_k_[0] <= 50


def test_shrinkage_improves_the_estimate_of_the_true_rhythm() -> None:
    # Given customers whose true rhythms differ, seen through a few noisy gaps
    rng = np.random.default_rng(3)
    n, m, s, true_mean = _population(rng, 2000)
    model = RhythmModel().fit(n, m, s)
    mu, _ = model.expected_interval(n, m, s)
    # Then the shrunk means are closer to the truth than the raw ones, on average
    raw_error = np.mean((m - true_mean) ** 2)
    shrunk_error = np.mean((mu - true_mean) ** 2)
    assert shrunk_error < raw_error


def test_segments_have_their_own_priors() -> None:
    # Given a weekly segment and a monthly segment, and a one-gap customer in each
    n = np.array([6, 6, 6, 6, 6, 6, 1, 1], dtype=float)
    m = np.array([7, 8, 6, 30, 32, 28, 15, 15], dtype=float)
    s = np.array([1, 1, 1, 5, 5, 5, np.nan, np.nan])
    seg = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    model = RhythmModel().fit(n, m, s, seg)
    mu, late = model.expected_interval(n, m, s, seg)
    # Then the same raw gap is read differently in each segment
    assert mu[6] < 15 < mu[7]
    assert late[6] < late[7]


def test_one_time_buyers_are_not_late_but_low_p_alive_is_flagged() -> None:
    n = np.array([0, 5, 5], dtype=float)
    m = np.array([np.nan, 30, 30])
    s = np.array([np.nan, 5, 5])
    model = RhythmModel().fit(n, m, s)
    result = model.assess(n, m, s, [400, 10, 10], p_alive=[0.9, 0.05, 0.9],
                          value=[0, 100, 100])
    assert not result.flagged[0]
    assert result.flagged[1]
    assert result.reason[1] == REASON_LOW_P_ALIVE
    assert not result.flagged[2]


def test_severity_grows_with_value_and_lateness() -> None:
    # Given ten monthly customers, all late, of rising value and lateness
    n = np.full(10, 10.0)
    m = np.full(10, 30.0)
    s = np.full(10, 5.0)
    model = RhythmModel().fit(n, m, s)
    days = np.array([45, 45, 45, 45, 45, 45, 45, 45, 45, 200], dtype=float)
    value = np.array([1, 1, 1, 1, 1, 1, 10, 10, 10, 1000], dtype=float)
    result = model.assess(n, m, s, days, value=value)
    assert result.flagged.all()
    # Then the most valuable and latest is critical, the cheap barely-late ones low
    assert SEVERITIES[result.severity[-1]] == "critical"
    assert SEVERITIES[result.severity[0]] == "low"
    assert result.priority[-1] == result.priority.max()


def test_scalar_results_equal_array_results_and_inputs_are_checked() -> None:
    n = np.array([3, 8, 1], dtype=float)
    m = np.array([10, 40, 20], dtype=float)
    s = np.array([2, 9, np.nan])
    model = RhythmModel().fit(n, m, s)
    mu, late = model.expected_interval(n, m, s)
    for i in range(3):
        one_mu, one_late = model.expected_interval(n[i:i + 1], m[i:i + 1], s[i:i + 1])
        assert one_mu[0] == pytest.approx(mu[i])
        assert one_late[0] == pytest.approx(late[i])
    with pytest.raises(InvalidInputError):
        model.fit([0, 0], [np.nan, np.nan], [np.nan, np.nan])
    with pytest.raises(InvalidInputError):
        model.fit([1], [0.5], [np.nan])
    with pytest.raises(NotFittedError):
        RhythmModel().expected_interval(n, m, s)


def test_customers_long_gone_are_not_an_early_warning_with_a_cap() -> None:
    n = np.full(3, 10.0)
    m = np.full(3, 10.0)
    s = np.full(3, 2.0)
    model = RhythmModel().fit(n, m, s)
    days = np.array([16.0, 40.0, 400.0])
    uncapped = model.assess(n, m, s, days)
    capped = model.assess(n, m, s, days, max_lateness=4.0)
    assert uncapped.flagged.tolist() == [True, True, True]
    assert capped.flagged.tolist() == [True, True, False]
    assert capped.reason[2] == REASON_NONE
