"""The fit's deduplication: the linear-time path for values on a day grid must give exactly
what ``np.unique`` gives, and anything off the grid must take the sort."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.analytics._validation import distinct_values


@pytest.mark.parametrize("scale", [1.0, 7.0])
def test_values_on_a_day_grid_match_np_unique(scale: float) -> None:
    rng = np.random.default_rng(3)
    days = rng.integers(0, 800, 50_000).astype(np.float64)
    v = days / scale  # whole days, or days in weeks
    values, codes = distinct_values(v)
    expected_values, expected_codes = np.unique(v, return_inverse=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(codes, expected_codes.reshape(-1))
    np.testing.assert_array_equal(values[codes], v)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=200))
def test_any_values_round_trip_exactly(raw: list[float]) -> None:
    v = np.asarray(raw, dtype=np.float64)
    values, codes = distinct_values(v)
    np.testing.assert_array_equal(values[codes], v)
    np.testing.assert_array_equal(values, np.unique(v))
