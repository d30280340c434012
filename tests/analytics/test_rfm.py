"""RFM scores and segments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.analytics import RFM_SEGMENTS, InvalidInputError, rfm_scores, rfm_segments


def test_distinct_values_split_into_equal_quintiles_with_recent_as_best() -> None:
    recency = np.arange(100)[::-1].astype(float)  # the last customer bought most recently
    r, f, m = rfm_scores(recency, np.arange(100), np.arange(100) * 2.5)
    assert np.bincount(r).tolist() == [0, 20, 20, 20, 20, 20]
    assert r[-1] == 5
    assert r[0] == 1
    assert f.tolist() == m.tolist() == r.tolist()


def test_ties_share_a_score_even_when_most_values_are_equal() -> None:
    frequency = np.array([1] * 70 + [2] * 20 + [5] * 10)
    _, f, _ = rfm_scores(np.zeros(100), frequency, np.ones(100))
    # Seventy one-time buyers sit at mid-rank 35%: all score 2. Constant columns score 3.
    assert set(f[:70]) == {2}
    assert set(f[70:90]) == {5}
    assert set(f[90:]) == {5}
    r, _, m = rfm_scores(np.zeros(100), frequency, np.ones(100))
    assert set(r) == set(m) == {3}


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.integers(0, 20), min_size=1, max_size=200),
       seed=st.integers(0, 2**32 - 1))
def test_scores_are_1_to_5_monotone_and_independent_of_row_order(
    values: list[int], seed: int
) -> None:
    v = np.array(values, dtype=float)
    _, f, _ = rfm_scores(v, v, v)
    assert f.min() >= 1
    assert f.max() <= 5
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(f[order]) >= 0)
    perm = np.random.default_rng(seed).permutation(v.size)
    assert np.array_equal(rfm_scores(v[perm], v[perm], v[perm])[1], f[perm])


def test_segments_follow_the_r_by_f_map() -> None:
    r = np.array([5, 5, 4, 3, 3, 2, 1, 1, 2, 2, 4])
    f = np.array([5, 1, 1, 3, 1, 1, 1, 3, 5, 4, 4])
    m = np.array([3, 3, 3, 3, 3, 3, 3, 3, 3, 5, 3])
    assert rfm_segments(r, f, m).tolist() == [
        "champions", "new", "promising", "need_attention", "about_to_sleep", "hibernating",
        "lost", "at_risk", "cant_lose", "cant_lose", "loyal",
    ]


def test_every_cell_maps_to_a_known_segment_and_every_segment_is_used() -> None:
    r, f, m = np.meshgrid(np.arange(1, 6), np.arange(1, 6), np.arange(1, 6), indexing="ij")
    segments = rfm_segments(r.ravel(), f.ravel(), m.ravel())
    assert set(segments) == set(RFM_SEGMENTS)


def test_scores_outside_1_to_5_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="1 to 5"):
        rfm_segments([0], [3], [3])
