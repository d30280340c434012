"""RFM scores (recency, frequency, monetary quintiles) and the segments read from them.

RFM is the descriptive companion of the probability models: no fit, no assumptions, and a
language every marketer already speaks. Scores are 1-5, 5 the best (most recent, most
frequent, highest spend).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from . import _validation as v
from ._ranks import tie_bounds
from ._validation import FloatArray, IntArray
from .errors import InvalidInputError

__all__ = ["RFM_SEGMENTS", "rfm_scores", "rfm_segments"]

StrArray = npt.NDArray[np.str_]

#: The segment codes, from best to worst.
RFM_SEGMENTS: Final = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)

# Segment of each (R, F) cell: rows R = 5 (most recent) down to R = 1, columns F = 1..5.
# This is the usual R x F segment map of CRM practice, with "lost" split off the oldest,
# least frequent corner.
_GRID: Final = (
    # F=1              F=2                    F=3                    F=4           F=5
    ("new", "potential_loyalists", "potential_loyalists", "champions", "champions"),  # R=5
    ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),  # R=4
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),  # R=3
    ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),  # R=2
    ("lost", "lost", "at_risk", "at_risk", "cant_lose"),  # R=1
)


def _quintile_score(values: FloatArray) -> IntArray:
    """1-5 by the mid-rank of each value: 5 for the top fifth, ties sharing one score.

    The score of a value is ``1 + floor(5 * F)`` where F is its mid-rank share ``(number
    below + half the number equal) / n``. For distinct values this is plain quintiles; for
    ties it puts the whole group where its middle falls, so equal values always score the
    same and a column where 60% of customers bought once does not fail (``pandas.qcut``
    would, on duplicate edges) or get split arbitrarily by input order. A constant column
    scores 3 throughout. Integer arithmetic keeps the cut points exact.
    """
    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    below, at_most = tie_bounds(values)
    return (1 + (5 * (below + at_most)) // (2 * n)).astype(np.int64)


def rfm_scores(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[IntArray, IntArray, IntArray]:
    """Quintile scores 1-5 for recency, frequency and monetary value (5 = best).

    Parameters
    ----------
    recency_days : array_like
        Days since the last purchase (fewer is better: recent customers score 5).
    frequency : array_like
        Purchases (more is better).
    monetary : array_like
        Spend, e.g. mean or total (more is better).

    Returns
    -------
    (r, f, m) : tuple of int64 arrays
        Scores in 1..5; equal inputs always get equal scores (see ``_quintile_score``).
    """
    r_in = v.as_float("recency_days", recency_days)
    f_in = v.as_float("frequency", frequency)
    m_in = v.as_float("monetary", monetary)
    if not (r_in.ndim == f_in.ndim == m_in.ndim == 1 and r_in.size == f_in.size == m_in.size):
        raise InvalidInputError("recency_days, frequency and monetary must be 1-d, equal length.")
    return _quintile_score(-r_in), _quintile_score(f_in), _quintile_score(m_in)


def rfm_segments(r: npt.ArrayLike, f: npt.ArrayLike, m: npt.ArrayLike) -> StrArray:
    """Segment code of each customer from their RFM scores (see ``RFM_SEGMENTS``).

    The segment is read off the R x F map below (R rows, F columns)::

              F=1             F=2             F=3             F=4        F=5
        R=5   new             potential_loy.  potential_loy.  champions  champions
        R=4   promising       potential_loy.  potential_loy.  loyal      loyal
        R=3   about_to_sleep  about_to_sleep  need_attention  loyal      loyal
        R=2   hibernating     hibernating     at_risk         at_risk    cant_lose
        R=1   lost            lost            at_risk         at_risk    cant_lose

    Monetary value refines one cell: a lapsed (R <= 2) frequent buyer (F = 4) who is also
    a top spender (M = 5) is ``cant_lose`` rather than ``at_risk``: the customers whose
    loss costs most are the ones a win-back effort should reach first.
    """
    r_s, f_s, m_s = (np.asarray(v.as_float(n, a)) for n, a in (("r", r), ("f", f), ("m", m)))
    try:
        r_s, f_s, m_s = np.broadcast_arrays(r_s, f_s, m_s)
    except ValueError:
        raise InvalidInputError("r, f and m must have the same shape.") from None
    for name, score in (("r", r_s), ("f", f_s), ("m", m_s)):
        if np.any((score < 1) | (score > 5) | (score != np.floor(score))):
            raise InvalidInputError(f"{name} scores must be whole numbers from 1 to 5.")
    ri, fi, mi = r_s.astype(np.int64), f_s.astype(np.int64), m_s.astype(np.int64)
    grid = np.array(_GRID)
    segment = grid[5 - ri, fi - 1]
    segment = np.where((ri <= 2) & (fi == 4) & (mi == 5), "cant_lose", segment)
    return np.asarray(segment, dtype=np.str_)
