"""The rhythm model's value levels (severity's value half) by partition equal the ranking by a
stable sort of everyone, ties and zeros included."""

from __future__ import annotations

import numpy as np

from guanxi.analytics.rhythm import _value_levels


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
