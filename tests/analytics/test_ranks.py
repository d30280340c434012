"""tie_bounds: the counts below and at-most each value, ties shared, as binary searches give."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.analytics._ranks import tie_bounds


@pytest.mark.parametrize("values", [
    np.array([3.0, 1.0, 2.0, 2.0, 5.0, 1.0, 2.0]),
    np.round(np.random.default_rng(7).gamma(0.4, 50.0, 5000), 0),
    np.array([-0.0, 0.0, 4.0]),
    np.array([1.5]),
    np.array([], dtype=np.float64),
])
def test_tie_bounds_match_binary_searches_in_the_sorted_values(values: np.ndarray) -> None:
    below, at_most = tie_bounds(values)
    ordered = np.sort(values)
    assert np.array_equal(below, np.searchsorted(ordered, values, side="left"))
    assert np.array_equal(at_most, np.searchsorted(ordered, values, side="right"))
