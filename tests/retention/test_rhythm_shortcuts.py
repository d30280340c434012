"""The rhythm model's shortcuts at a million customers give the answers of the long way: value
levels (severity's value half) by a partition equal the ranking by a stable sort of everyone,
and judging only the plausibly late flags the same customers with the same figures."""

from __future__ import annotations

import numpy as np

from guanxi.analytics.rhythm import RhythmModel, _value_levels


def _by_sort(value: np.ndarray, top: float, mid: float) -> np.ndarray:
    order = np.argsort(-value, kind="stable")
    rank = np.empty(value.size, dtype=np.float64)
    rank[order] = np.arange(value.size) / max(value.size, 1)
    level = np.where(rank < top, 2, np.where(rank < top + mid, 1, 0))
    return np.where(value > 0, level, 0)


def test_value_levels_match_a_stable_sort_of_everyone() -> None:
    rng = np.random.default_rng(6)
    for size in (0, 1, 2, 7, 10, 11, 100, 1013):
        # Given values with many ties (whole amounts), zeros and negative zeros
        value = np.round(rng.gamma(0.7, 40.0, size)) * rng.choice([0.0, -0.0, 1.0], size)
        for top, mid in ((0.1, 0.4), (0.0, 0.0), (0.5, 0.5), (1.0, 0.0), (0.33, 0.2)):
            # Then the partition finds the same levels as the sort
            assert np.array_equal(_value_levels(value, top, mid), _by_sort(value, top, mid))


def test_judging_only_the_plausibly_late_flags_the_same_customers_with_the_same_figures() -> None:
    rng = np.random.default_rng(7)
    size = 20_000
    # Given customers of every rhythm, history length and silence, some never bought twice
    x = rng.poisson(rng.gamma(1.0, 4.0, size)).astype(np.float64)
    mean = np.where(x >= 1, rng.gamma(2.0, 30.0, size) + 1.0, np.nan)
    sd = np.where(x >= 2, mean * rng.uniform(0.0, 2.5, size), np.nan)
    since = np.floor(rng.gamma(1.0, 1.0, size) * np.nan_to_num(mean, nan=60.0) * 3.0)
    p_alive = np.where(rng.uniform(size=size) < 0.1, np.nan, rng.uniform(size=size))
    value = rng.gamma(0.5, 300.0, size)
    segment = np.digitize(x, [2, 4, 8]).astype(np.int64)
    for quantile, max_lateness in ((0.9, 4.0), (0.9, None), (0.5, 2.0), (0.99, None)):
        model = RhythmModel(quantile=quantile).fit(x, mean, sd, segment)
        args = (x, mean, sd, since)
        kwargs = {"p_alive": p_alive, "value": value, "segment": segment,
                  "max_lateness": max_lateness}
        full = model.assess(*args, **kwargs)
        # When only the plausibly late are judged
        short = model.assess(*args, **kwargs, plausible_only=True)
        # Then the same customers are flagged, for the same reasons, with the same figures
        assert full.flagged.any()
        assert np.array_equal(short.flagged, full.flagged)
        assert np.array_equal(short.reason, full.reason)
        assert np.array_equal(short.priority, full.priority)
        assert np.array_equal(short.expected_interval, full.expected_interval,
                              equal_nan=True)
        flagged = full.flagged
        for name in ("late_after", "lateness", "severity"):
            assert np.array_equal(getattr(short, name)[flagged], getattr(full, name)[flagged],
                                  equal_nan=True), name
        # and fewer thresholds were computed
        assert np.isnan(short.late_after).sum() > np.isnan(full.late_after).sum()
