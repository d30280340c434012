"""Each customer's own purchase rhythm, and who is late against it (churn early warning).

The seed case: a lubricant company printed a reminder when a customer had not come back for
113 days, its measured oil-change interval. Here every customer has their own interval.

Model
-----
The gaps between a customer's purchase days are taken as draws from a gamma distribution with
the customer's own mean ``mu_i`` and coefficient of variation ``cv_i`` (shape ``1 / cv_i**2``).
A customer with a long history is judged on it; a customer with two or three gaps would be
judged on noise, so both numbers are shrunk towards the customer's *segment* (any grouping the
caller passes: RFM segment, value tier, or one group for everyone) by empirical Bayes:

* the mean by Bühlmann-Straub credibility (Bühlmann & Gisler 2005, ch. 4) on the log scale:
  with ``n_i`` gaps, ``log mu_hat_i = Z_i * log m_i + (1 - Z_i) * log M_g`` and
  ``Z_i = n_i / (n_i + k_g)``, where ``M_g`` is the segment's gap-weighted geometric mean and
  ``k_g = EPV_g / VHM_g`` the within-customer variance of one log gap (about ``cv**2``) over
  the variance of the customers' true log means, both estimated from the segment's data
  (``VHM`` by the unbiased moment estimator; ``k_g`` kept in ``[k_min, k_max]``). The log
  scale makes a weekly and a quarterly customer's noise comparable;
* the squared coefficient of variation by a fixed-strength prior,
  ``cv2_hat_i = ((n_i - 1) * cv2_i + k_cv * C_g) / (n_i - 1 + k_cv)``, where ``C_g`` is the
  segment's pooled within-customer ``cv**2`` (scale-free, so customers of any rhythm pool).

A customer is **late** when the days since the last purchase exceed the ``quantile``
(default 0.9) of their fitted gamma: a customer who orders weekly is late after about ten
days, one who orders quarterly only after about four months. A customer is also flagged
when P(alive) (from the BG/NBD) is below ``p_alive_threshold``. Customers with fewer than
``min_intervals`` gaps (one-time buyers) are never flagged for lateness: they have no rhythm
of their own, and the thank-you after a first purchase is the care calendar's job.

**Severity** combines value and lateness: value level 2 for the top ``value_top`` share of
customer value, 1 for the next ``value_mid`` share, else 0; lateness level 2 when the wait is
three times the late threshold or more (or P(alive) < threshold / 2), 1 from 1.5 times,
else 0. The sum 4 is critical, 3 high, 2 medium, 0-1 low. ``priority = value * lateness``
(capped at 3) ranks alerts continuously.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats

from . import _validation as v
from ._validation import FloatArray, IntArray
from .errors import InvalidInputError, NotFittedError

__all__ = [
    "REASON_LATE",
    "REASON_LOW_P_ALIVE",
    "REASON_NONE",
    "SEVERITIES",
    "RhythmAssessment",
    "RhythmModel",
]

REASON_NONE: Final = 0
REASON_LATE: Final = 1
REASON_LOW_P_ALIVE: Final = 2
#: Severity codes by index: 0 critical ... 3 low.
SEVERITIES: Final = ("critical", "high", "medium", "low")

BoolArray = npt.NDArray[np.bool_]

# Bounds that keep a gamma fitted to a handful of gaps sane: cv**2 = 0.01 is a clockwork
# customer (shape 100), 4.0 a very erratic one (shape 0.25).
_CV2_MIN, _CV2_MAX = 0.01, 4.0


@dataclass(frozen=True)
class RhythmAssessment:
    """Per customer, in input order.

    Attributes
    ----------
    expected_interval : ndarray of float64
        Shrunk mean gap between purchase days, in days (NaN without a segment prior).
    late_after : ndarray of float64
        The ``quantile`` of the customer's gamma, in days: later than this is late.
    lateness : ndarray of float64
        ``days_since_last / late_after`` (> 1 is late).
    flagged : ndarray of bool
        Late, or P(alive) below the threshold.
    reason : ndarray of int64
        ``REASON_LATE``, ``REASON_LOW_P_ALIVE`` or ``REASON_NONE``; lateness wins when both.
    severity : ndarray of int64
        Index into ``SEVERITIES`` (meaningful where ``flagged``).
    priority : ndarray of float64
        ``value * min(lateness, 3)``, the ranking key (0 where not flagged).
    """

    expected_interval: FloatArray
    late_after: FloatArray
    lateness: FloatArray
    flagged: BoolArray
    reason: IntArray
    severity: IntArray
    priority: FloatArray


def _segments(segment: npt.ArrayLike | None, n: int) -> IntArray:
    if segment is None:
        return np.zeros(n, dtype=np.int64)
    seg = np.asarray(segment)
    if seg.shape != (n,):
        raise InvalidInputError("segment must have one entry per customer.")
    if seg.dtype.kind in "iu":
        return seg.astype(np.int64)
    raise InvalidInputError("segment must be integer codes (use numpy.unique(..., "
                            "return_inverse=True) on labels).")


def _value_levels(value: FloatArray, top: float, mid: float) -> IntArray:
    """2 for the first ``top`` share of customers by value (largest first, an equal value to
    the earlier customer), 1 for the next ``mid`` share, else 0; 0 without value.

    The shares are of positions ``p / n`` in that order; the customers at the first ``k``
    positions are found by a partition (linear) rather than a sort of everyone.
    """
    size = value.size
    positions = np.arange(size) / max(size, 1)
    level = np.zeros(size, dtype=np.int64)
    for share, code in ((top + mid, 1), (top, 2)):
        level[_first_by_value(value, int(np.count_nonzero(positions < share)))] = code
    return np.where(value > 0, level, 0)


def _first_by_value(value: FloatArray, k: int) -> IntArray:
    """Indices of the ``k`` largest values, equal values in index order: the first ``k`` of a
    stable sort by descending value."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= value.size:
        return np.arange(value.size)
    threshold = -np.partition(-value, k - 1)[k - 1]
    above = np.flatnonzero(value > threshold)
    tied = np.flatnonzero(value == threshold)[: k - above.size]
    return np.concatenate([above, tied])


class RhythmModel:
    """Empirical-Bayes purchase rhythms per customer, pooled within segments.

    Parameters
    ----------
    quantile : float
        Late beyond this quantile of the customer's interval distribution (0.9).
    min_intervals : int
        Fewest own gaps for the lateness rule (1: any repeat buyer).
    k_cv : float
        Strength, in gaps, of the segment prior on the squared coefficient of variation.
    k_min, k_max : float
        Bounds of the credibility constant of the mean, in gaps.
    p_alive_threshold : float
        Flag when P(alive) is below this (0.2).

    Attributes
    ----------
    segment_mean_ : dict[int, float]
        Pooled (geometric, gap-weighted) mean gap in days per segment code.
    segment_cv2_ : dict[int, float]
        Pooled squared coefficient of variation per segment code.
    credibility_k_ : dict[int, float]
        Bühlmann's ``k = EPV / VHM`` per segment code, in gaps.
    global_mean_, global_cv2_, global_k_ : float
        The same over all customers (used for segments seen in ``assess`` but not in ``fit``).
    """

    segment_mean_: dict[int, float]
    segment_cv2_: dict[int, float]
    credibility_k_: dict[int, float]
    global_mean_: float
    global_cv2_: float
    global_k_: float

    def __init__(self, *, quantile: float = 0.9, min_intervals: int = 1, k_cv: float = 4.0,
                 k_min: float = 0.5, k_max: float = 50.0,
                 p_alive_threshold: float = 0.2) -> None:
        self.quantile = quantile
        self.min_intervals = min_intervals
        self.k_cv = k_cv
        self.k_min = k_min
        self.k_max = k_max
        self.p_alive_threshold = p_alive_threshold

    @staticmethod
    def _inputs(n_intervals: npt.ArrayLike, mean_interval: npt.ArrayLike,
                sd_interval: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        n = np.asarray(n_intervals, dtype=np.float64)
        m = np.asarray(mean_interval, dtype=np.float64)
        s = np.asarray(sd_interval, dtype=np.float64)
        if not (n.shape == m.shape == s.shape) or n.ndim != 1:
            raise InvalidInputError("n_intervals, mean_interval and sd_interval must be 1-d "
                                    "arrays of one length.")
        if np.any(n < 0) or np.any(np.isnan(n)):
            raise InvalidInputError("n_intervals must be >= 0.")
        # A customer's gaps are whole days >= 1, so a mean below 1 is bad input, not data.
        has = n >= 1
        if np.any(has & ~(m >= 1.0)):
            raise InvalidInputError("mean_interval must be >= 1 day where n_intervals >= 1.")
        return n, np.where(has, m, np.nan), np.where(n >= 2, np.nan_to_num(s), np.nan)

    def fit(self, n_intervals: npt.ArrayLike, mean_interval: npt.ArrayLike,
            sd_interval: npt.ArrayLike, segment: npt.ArrayLike | None = None) -> RhythmModel:
        """Learn each segment's pooled rhythm from the customers' own gap statistics.

        Parameters
        ----------
        n_intervals : array_like of int
            Gaps between purchase days per customer (x of the BG/NBD; 0 for one-time buyers).
        mean_interval, sd_interval : array_like of float
            Mean and sample standard deviation of those gaps in days (NaN where undefined).
        segment : array_like of int, optional
            Segment code per customer; None pools everyone.

        Returns
        -------
        RhythmModel
            self, fitted.
        """
        if not 0.0 < self.quantile < 1.0:
            raise InvalidInputError("quantile must be between 0 and 1.")
        n, m, s = self._inputs(n_intervals, mean_interval, sd_interval)
        seg = _segments(segment, n.size)
        if not np.any(n >= 1):
            raise InvalidInputError("Nobody has bought twice: no rhythm to learn.")
        self.global_mean_, self.global_cv2_, self.global_k_ = (
            float(a[0]) for a in self._pool(n, m, s, np.zeros(n.size, dtype=np.int64), 1))
        codes = np.unique(seg)
        size = int(codes.max()) + 1 if codes.size else 1
        if codes.size and codes.min() < 0:
            raise InvalidInputError("segment codes must be >= 0.")
        mean, cv2, k = self._pool(n, m, s, seg, size)
        self.segment_mean_, self.segment_cv2_, self.credibility_k_ = {}, {}, {}
        for code in codes.tolist():
            # A segment without repeat buyers borrows the global prior.
            known = bool(np.isfinite(mean[code]))
            self.segment_mean_[code] = float(mean[code]) if known else self.global_mean_
            self.segment_cv2_[code] = float(cv2[code]) if known else self.global_cv2_
            self.credibility_k_[code] = float(k[code]) if known else self.global_k_
        return self

    def _pool(self, n: FloatArray, m: FloatArray, s: FloatArray, seg: IntArray,
              size: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per segment: geometric mean gap, pooled cv**2 and Bühlmann-Straub k (bincounts).

        Credibility works on ``log(mean gap)``: its within-customer variance is about
        ``cv**2 / n`` whatever the customer's pace (delta method), so weekly and quarterly
        customers pool fairly; on the raw scale the quarterly ones' large variances would
        swamp the weekly ones.
        """
        has = n >= 1
        w = np.where(has, n, 0.0)
        log_m = np.where(has, np.log(np.where(has, m, 1.0)), 0.0)
        sum_w = np.bincount(seg, weights=w, minlength=size)
        # Squared cv of one gap within a customer, pooled over customers with >= 2 gaps.
        two = n >= 2
        dof = np.where(two, n - 1.0, 0.0)
        m_safe = np.where(has, m, 1.0)
        cv2_i = np.where(two, np.nan_to_num(s) ** 2 / (m_safe * m_safe), 0.0)
        sum_dof = np.bincount(seg, weights=dof, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_log = np.bincount(seg, weights=w * log_m, minlength=size) / sum_w
            cv2 = np.bincount(seg, weights=dof * cv2_i, minlength=size) / sum_dof
            cv2 = np.where(np.isfinite(cv2) & (sum_dof > 0), cv2, 1.0)
            epv = np.clip(cv2, _CV2_MIN, _CV2_MAX)
            # Bühlmann-Straub's unbiased VHM: (sum w (L - M)^2 - (N - 1) EPV) / (W - sum w²/W)
            count = np.bincount(seg, weights=has.astype(np.float64), minlength=size)
            dev = np.where(has, log_m - np.nan_to_num(mean_log)[seg], 0.0)
            ss = np.bincount(seg, weights=w * dev * dev, minlength=size)
            denom = sum_w - np.bincount(seg, weights=w * w, minlength=size) / sum_w
            vhm = (ss - (count - 1.0) * epv) / denom
            k = epv / vhm
        # No measurable spread between customers: trust the segment (k at its maximum).
        k = np.where(np.isfinite(k) & (vhm > 0), k, self.k_max)
        return np.exp(mean_log), epv, np.clip(k, self.k_min, self.k_max)

    def _priors(self, seg: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        if not hasattr(self, "segment_mean_"):
            raise NotFittedError("Call fit() before assess().")
        size = max(int(seg.max()) + 1 if seg.size else 1, max(self.segment_mean_, default=0) + 1)
        mean = np.full(size, self.global_mean_)
        cv2 = np.full(size, self.global_cv2_)
        k = np.full(size, self.global_k_)
        for code, value in self.segment_mean_.items():
            mean[code] = value
            cv2[code] = self.segment_cv2_[code]
            k[code] = self.credibility_k_[code]
        return mean[seg], cv2[seg], k[seg]

    def expected_interval(self, n_intervals: npt.ArrayLike, mean_interval: npt.ArrayLike,
                          sd_interval: npt.ArrayLike, segment: npt.ArrayLike | None = None
                          ) -> tuple[FloatArray, FloatArray]:
        """Shrunk mean gap and the late threshold (the ``quantile``), in days."""
        mu, shape = self._shrunk(n_intervals, mean_interval, sd_interval, segment)
        return mu, self._late_after(mu, shape)

    def _shrunk(self, n_intervals: npt.ArrayLike, mean_interval: npt.ArrayLike,
                sd_interval: npt.ArrayLike, segment: npt.ArrayLike | None
                ) -> tuple[FloatArray, FloatArray]:
        """Shrunk mean gap and gamma shape per customer."""
        n, m, s = self._inputs(n_intervals, mean_interval, sd_interval)
        seg = _segments(segment, n.size)
        prior_mean, prior_cv2, k = self._priors(seg)
        z = n / (n + k)
        own_log = np.log(np.where(n >= 1, np.nan_to_num(m, nan=1.0), 1.0))
        mu = np.exp(np.where(n >= 1, z * own_log + (1.0 - z) * np.log(prior_mean),
                             np.log(prior_mean)))
        dof = np.maximum(n - 1.0, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            own_cv2 = np.where(n >= 2, np.nan_to_num(s) ** 2 / np.nan_to_num(m, nan=1.0) ** 2,
                               0.0)
        cv2 = (dof * own_cv2 + self.k_cv * prior_cv2) / (dof + self.k_cv)
        cv2 = np.clip(cv2, _CV2_MIN, _CV2_MAX)
        return mu.astype(np.float64), 1.0 / cv2

    def _late_after(self, mu: FloatArray, shape: FloatArray) -> FloatArray:
        late = stats.gamma.ppf(self.quantile, shape, scale=mu / shape)
        return np.asarray(late, dtype=np.float64)

    def _late_ratio_bounds(self) -> tuple[float, float]:
        """Bounds of ``late_after / mu`` over every shape the cv**2 bounds allow, widened by 1%.

        The ratio is a smooth function of the shape alone; it is taken on a fine grid
        (neighbours 0.3% apart) between the extreme shapes.
        """
        shapes = np.geomspace(1.0 / _CV2_MAX, 1.0 / _CV2_MIN, 2001)
        ratio = self._late_after(np.ones_like(shapes), shapes)
        return float(ratio.min()) * 0.99, float(ratio.max()) * 1.01

    def assess(self, n_intervals: npt.ArrayLike, mean_interval: npt.ArrayLike,
               sd_interval: npt.ArrayLike, days_since_last: npt.ArrayLike, *,
               p_alive: npt.ArrayLike | None = None, value: npt.ArrayLike | None = None,
               segment: npt.ArrayLike | None = None, value_top: float = 0.1,
               value_mid: float = 0.4, max_lateness: float | None = None,
               plausible_only: bool = False) -> RhythmAssessment:
        """Who is late, why, and how badly.

        Parameters
        ----------
        n_intervals, mean_interval, sd_interval, segment
            As in :meth:`fit`.
        days_since_last : array_like of float
            Days from the last purchase to the as-of date.
        p_alive : array_like of float, optional
            P(alive) per customer; NaN or None ignores the P(alive) rule.
        value : array_like of float, optional
            Value at stake (CLV) per customer, for severity and priority (0 when None).
        value_top, value_mid : float
            Shares of customers (by value rank) of value level 2 and 1.
        max_lateness : float, optional
            Do not flag customers silent for more than this many late thresholds: they are
            long gone, not late (an early warning, not a list of the lost). None: no cap.
        plausible_only : bool
            Compute the late threshold (the gamma quantile, most of the time at a million
            customers) only for customers who may be flagged: those whose wait is beyond the
            smallest threshold any shape gives their mean gap (and, with ``max_lateness``,
            within it of the largest), or whose P(alive) is low. For the others ``flagged``
            is False, as it would be, and ``late_after`` and ``lateness`` are NaN (their
            ``severity``, meaningful only where flagged, counts them as not late); the
            flagged customers' figures are the same.

        Returns
        -------
        RhythmAssessment
        """
        n = np.asarray(n_intervals, dtype=np.float64)
        mu, shape = self._shrunk(n_intervals, mean_interval, sd_interval, segment)
        d = v.as_float("days_since_last", days_since_last)
        if d.shape != n.shape:
            raise InvalidInputError("days_since_last must have one entry per customer.")
        pa = (np.full(n.size, np.nan) if p_alive is None
              else np.asarray(p_alive, dtype=np.float64))
        val = (np.zeros(n.size) if value is None
               else np.nan_to_num(np.asarray(value, dtype=np.float64)))
        if pa.shape != n.shape or val.shape != n.shape:
            raise InvalidInputError("p_alive and value must have one entry per customer.")
        if plausible_only:
            lowest, highest = self._late_ratio_bounds()
            maybe = (((n >= self.min_intervals) & (d > lowest * mu))
                     | ((n >= 1) & (pa < self.p_alive_threshold)))
            if max_lateness is not None:
                maybe &= ~(d > max_lateness * highest * mu)
            idx = np.flatnonzero(maybe)
            late_after = np.full(n.size, np.nan)
            late_after[idx] = self._late_after(mu[idx], shape[idx])
        else:
            late_after = self._late_after(mu, shape)

        lateness = d / late_after
        own = n >= self.min_intervals
        late = own & (d > late_after)
        low = (n >= 1) & (pa < self.p_alive_threshold)
        flagged = late | low
        if max_lateness is not None:
            flagged &= lateness <= max_lateness
            late &= flagged
            low &= flagged
        reason = np.where(late, REASON_LATE, np.where(low, REASON_LOW_P_ALIVE, REASON_NONE))

        value_level = _value_levels(val, value_top, value_mid)
        late_level = np.where(lateness >= 3.0, 2, np.where(lateness >= 1.5, 1, 0))
        late_level = np.where(
            low & ~late, np.where(pa < self.p_alive_threshold / 2, 2, 1), late_level)
        score = value_level + late_level
        severity = np.select([score >= 4, score == 3, score == 2], [0, 1, 2], default=3)
        priority = np.where(flagged, val * np.minimum(np.maximum(lateness, 1.0), 3.0), 0.0)
        return RhythmAssessment(
            expected_interval=mu, late_after=late_after, lateness=lateness,
            flagged=flagged, reason=reason.astype(np.int64),
            severity=severity.astype(np.int64), priority=priority.astype(np.float64))
