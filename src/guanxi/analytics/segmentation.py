"""Statistical segmentation: a Gaussian mixture over value and behaviour features.

A company that serves its market by segments (MISSION M8) needs groups of customers that are
alike in what they are worth and how they buy, described in words a marketer reads, and
stable from one scoring run to the next. This module

1. turns per-customer value columns (lifetime value, P(alive), purchases, recency, spend,
   tenure, regularity of the intervals between purchases) and chosen profile traits into a
   standardized feature matrix (:class:`SegmentationData`);
2. fits Gaussian mixtures with ``k`` components for every ``k`` in a range and keeps the one
   with the lowest BIC (Schwarz 1978, ``-2 log L + p log n``), or the highest silhouette
   (Rousseeuw 1987) of its hard assignment;
3. gives every customer **membership probabilities** (the mixture's posterior
   responsibilities): a customer carries traits of several segments, and a customer between
   two segments is visibly so;
4. describes each segment (:meth:`ValueSegmentation.describe`): size, share of customer
   equity, mean CLV, typical RFM cell, traits over-represented against everyone (lift), and a
   suggested name built from those facts alone ("high-value regulars, first-tier cities"), so
   the same segment gets the same name on every run;
5. matches new segments to the previous run's (:meth:`ValueSegmentation.match`: Hungarian
   assignment on centroid distance, with a threshold), so names a person gave survive re-runs.

Scale: the mixtures are fitted on a random sample (``sample_size``, 60,000 by default: a
segment holding 1% of customers still has 600 members in it) and every customer is then
assigned with the mixture's posterior, chunk by chunk, so a million customers fit in well under
a minute and a few hundred megabytes.

This module imports numpy, scipy and scikit-learn only, never Django.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Self

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from .errors import InvalidInputError, NotFittedError, NotIdentifiableError

__all__ = [
    "VALUE_FEATURES",
    "SegmentDescription",
    "SegmentationData",
    "TraitLift",
    "ValueSegmentation",
    "suggested_name",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Criterion = Literal["bic", "silhouette"]

#: The value and behaviour features, in matrix order, and how each enters the model: money and
#: counts on a log scale (their spread is multiplicative: a 10,000 CLV customer is not "9,000
#: more" of a 1,000 one, they are another kind of customer), probabilities as they are.
VALUE_FEATURES: Final[tuple[str, ...]] = (
    "log_clv", "p_alive", "log_frequency", "log_recency_days", "log_monetary",
    "log_tenure_days", "interval_cv",
)

# The silhouette is quadratic in the points scored: it is computed on this many.
_SILHOUETTE_SAMPLE: Final[int] = 8_000


@dataclass
class SegmentationData:
    """The per-customer columns a segmentation reads (one entry per customer, same order).

    Parameters
    ----------
    clv : array of float
        Customer lifetime value (money; negative values are treated as 0).
    p_alive : array of float
        Probability the customer is still active, in [0, 1].
    frequency : array of float
        Purchase days (at least 1 for a customer to be segmented).
    recency_days : array of float
        Days since the last purchase.
    monetary : array of float
        Mean spend per purchase.
    tenure_days : array of float
        Days since the first purchase.
    interval_cv : array of float, optional
        Coefficient of variation (sd / mean) of the days between purchases: low = regular
        buyer. NaN where undefined (fewer than two intervals); those take the median.
    traits : mapping of str to array of str, optional
        Profile traits (``{"city_tier": ["1", "3", ...], "source": [...]}``); ``""`` means
        unknown. Used for the description (lift) and, when named in
        ``ValueSegmentation(cluster_traits=...)``, as clustering features.
    rfm : array of int, shape (n, 3), optional
        The customers' R, F and M scores, for the "typical RFM" of each segment.
    """

    clv: npt.ArrayLike
    p_alive: npt.ArrayLike
    frequency: npt.ArrayLike
    recency_days: npt.ArrayLike
    monetary: npt.ArrayLike
    tenure_days: npt.ArrayLike
    interval_cv: npt.ArrayLike | None = None
    traits: Mapping[str, npt.ArrayLike] = field(default_factory=dict)
    rfm: npt.ArrayLike | None = None

    def __len__(self) -> int:
        return int(np.asarray(self.clv).shape[0])

    def value_matrix(self) -> FloatArray:
        """The :data:`VALUE_FEATURES` as an ``(n, 7)`` float matrix (unstandardized)."""
        n = len(self)
        columns: dict[str, FloatArray] = {}
        for name in ("clv", "p_alive", "frequency", "recency_days", "monetary", "tenure_days"):
            column = np.asarray(getattr(self, name), dtype=np.float64)
            if column.shape != (n,):
                raise InvalidInputError(f"{name} must have one value per customer ({n}).")
            # A missing score (NaN) becomes the column's median: the customer is placed by
            # the features that are known rather than dropped.
            bad = ~np.isfinite(column)
            if bad.all():
                raise InvalidInputError(f"{name} has no finite value.")
            if bad.any():
                column = column.copy()
                column[bad] = np.median(column[~bad])
            columns[name] = column
        if self.interval_cv is None:
            cv = np.zeros(n)
        else:
            cv = np.asarray(self.interval_cv, dtype=np.float64).copy()
            if cv.shape != (n,):
                raise InvalidInputError(f"interval_cv must have one value per customer ({n}).")
            known = np.isfinite(cv)
            cv[~known] = np.median(cv[known]) if known.any() else 0.0
            # A CV above 3 means "irregular"; beyond that the number is noise from one outlier.
            np.clip(cv, 0.0, 3.0, out=cv)
        return np.column_stack([
            np.log1p(np.maximum(columns["clv"], 0.0)),
            np.clip(columns["p_alive"], 0.0, 1.0),
            np.log(np.maximum(columns["frequency"], 1.0)),
            np.log1p(np.maximum(columns["recency_days"], 0.0)),
            np.log1p(np.maximum(columns["monetary"], 0.0)),
            np.log1p(np.maximum(columns["tenure_days"], 0.0)),
            cv,
        ])


@dataclass(frozen=True)
class TraitLift:
    """A profile trait value over-represented in a segment.

    ``support`` is the share of the segment that has it, ``overall`` the share of everyone,
    ``lift = support / overall`` ("3.1× as common as among all customers").
    """

    trait: str
    value: str
    support: float
    overall: float
    lift: float


@dataclass(frozen=True)
class SegmentDescription:
    """One segment in a marketer's words and numbers."""

    index: int
    size: int
    share: float                 # of customers
    equity_share: float          # of the sum of CLV
    mean_clv: float
    median_frequency: float
    median_recency_days: float
    mean_p_alive: float
    typical_rfm: str             # "455": the median R, F and M scores ("" when unknown)
    value_level: str             # top | high | mid | low
    behaviour: str               # regulars | occasional | newcomers | one-off | at-risk | lapsed
    traits: tuple[TraitLift, ...]
    suggested_name: str
    profile: dict[str, float]    # feature -> segment mean in standard units (z)
    centroid: dict[str, float]   # feature -> segment mean in feature units (for match)
    # What the suggested name is made of, to say it in another language: the trait named
    # (None: no trait) and the number added when two segments would share a name (0: none).
    name_trait: TraitLift | None = None
    name_number: int = 0


_VALUE_WORDS: Final[dict[str, str]] = {
    "top": "top-value", "high": "high-value", "mid": "mid-value", "low": "low-value",
}
_BEHAVIOUR_WORDS: Final[dict[str, str]] = {
    "regulars": "regulars", "occasional": "occasional buyers", "newcomers": "newcomers",
    "one-off": "one-off buyers", "at-risk": "at risk", "lapsed": "lapsed",
}


def suggested_name(value_level: str, behaviour: str, trait: TraitLift | None = None,
                   trait_phrases: Mapping[tuple[str, str], str] | None = None) -> str:
    """The English name of a segment from its value level, behaviour and leading trait.

    >>> suggested_name("high", "regulars", TraitLift("city_tier", "1", .6, .2, 3.0),
    ...                {("city_tier", "1"): "first-tier cities"})
    'high-value regulars, first-tier cities'
    """
    name = f"{_VALUE_WORDS[value_level]} {_BEHAVIOUR_WORDS[behaviour]}"
    if trait is not None:
        phrase = (trait_phrases or {}).get((trait.trait, trait.value))
        name += f", {phrase or f'{trait.trait} {trait.value}'}"
    return name


class ValueSegmentation:
    """Segments customers with a Gaussian mixture, choosing the number of segments.

    Parameters
    ----------
    k_range : (int, int)
        Smallest and largest number of segments tried, inclusive (default 6 to 10, the
        strategic range of the seeds).
    criterion : {"bic", "silhouette"}
        How the number of segments is chosen: lowest Bayesian information criterion of the
        mixture (penalizes every extra parameter by ``log n``), or highest mean silhouette of
        the customers' primary segments on a sample.
    cluster_traits : sequence of str
        Profile traits that take part in the clustering (one-hot, each level scaled by
        ``trait_weight``); the others only describe segments.
    trait_weight : float
        Scale of a trait's one-hot columns relative to a standardized value feature.
    sample_size : int
        Customers the mixtures are fitted on (all of them when fewer).
    chunk_size : int
        Customers assigned at a time after the fit (bounds memory).
    covariance_type : {"full", "diag"}
        The mixture's covariance form.
    reg_covar : float
        Added to the covariance diagonals (standard units). Purchase counts are whole numbers
        and one-time buyers share one exact value (and one imputed interval CV): without a
        floor on the variance, BIC rewards extra components that sit on such spikes (a
        likelihood that grows without bound) instead of real segments. 0.05 keeps planted
        segments found and a one-hot trait column from collapsing to zero variance.
    max_iter, n_init : int
        EM iterations and restarts per ``k``.
    random_state : numpy.random.Generator, optional
        Source of all randomness (sample and EM starts); a fresh default generator if None.

    Attributes
    ----------
    feature_names_ : list of str
    mean_, scale_ : ndarray
        Standardization of each feature (fitted on the sample).
    n_segments_ : int
    criterion_values_ : dict of int to float
        The criterion for every ``k`` tried.
    centroids_ : ndarray, shape (n_segments_, n_features)
        Segment means in feature units, segments ordered by mean log CLV, most valuable first.
    weights_ : ndarray
        Mixture weights in that order.
    proba_ : ndarray of float32, shape (n, n_segments_)
        Membership probabilities of every customer fitted (rows sum to 1).
    labels_ : ndarray of int
        Primary segment (highest probability) of every customer.
    n_customers_ : int
    converged_ : bool
        Whether EM converged for the chosen number of segments.
    """

    feature_names_: list[str]
    mean_: FloatArray
    scale_: FloatArray
    n_segments_: int
    criterion_values_: dict[int, float]
    centroids_: FloatArray
    weights_: FloatArray
    proba_: npt.NDArray[np.float32]
    labels_: IntArray
    n_customers_: int
    trait_levels_: dict[str, list[str]]
    converged_: bool

    def __init__(
        self,
        *,
        k_range: tuple[int, int] = (6, 10),
        criterion: Criterion = "bic",
        cluster_traits: Sequence[str] = (),
        trait_weight: float = 0.5,
        sample_size: int = 60_000,
        chunk_size: int = 100_000,
        covariance_type: Literal["full", "diag"] = "full",
        reg_covar: float = 0.05,
        max_iter: int = 200,
        n_init: int = 1,
        random_state: np.random.Generator | None = None,
    ) -> None:
        self.k_range = k_range
        self.criterion = criterion
        self.cluster_traits = tuple(cluster_traits)
        self.trait_weight = trait_weight
        self.sample_size = sample_size
        self.chunk_size = chunk_size
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, data: SegmentationData) -> Self:
        """Choose the number of segments, fit the mixture and assign every customer.

        Raises
        ------
        InvalidInputError
            Bad settings or columns of unequal length.
        NotIdentifiableError
            Fewer customers than twice the largest ``k``.
        """
        low, high = self.k_range
        if not 1 <= low <= high:
            raise InvalidInputError(f"k_range must be 1 <= low <= high, not {self.k_range}.")
        if self.criterion not in ("bic", "silhouette"):
            raise InvalidInputError(f"criterion must be 'bic' or 'silhouette', not "
                                    f"{self.criterion!r}.")
        if self.criterion == "silhouette" and low < 2:
            raise InvalidInputError("The silhouette needs at least 2 segments.")
        missing = [t for t in self.cluster_traits if t not in data.traits]
        if missing:
            raise InvalidInputError(f"cluster_traits not in the data: {', '.join(missing)}.")
        rng = self.random_state if self.random_state is not None else np.random.default_rng()
        n = len(data)
        if n < 2 * high:
            raise NotIdentifiableError(
                f"{n} customers cannot be split into up to {high} segments."
            )

        values = data.value_matrix()
        self.trait_levels_ = {}
        for trait in self.cluster_traits:
            codes = np.asarray(data.traits[trait]).astype(str)
            self.trait_levels_[trait] = [lv for lv in np.unique(codes).tolist() if lv != ""]
        self.feature_names_ = list(VALUE_FEATURES) + [
            f"{trait}={level}" for trait, levels in self.trait_levels_.items() for level in levels
        ]

        sample = (np.sort(rng.choice(n, size=self.sample_size, replace=False))
                  if n > self.sample_size else np.arange(n))
        sample_values = values[sample]
        self.mean_ = sample_values.mean(axis=0)
        scale = sample_values.std(axis=0)
        # A constant feature (say, no interval CV known) must not divide by zero.
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        n_trait_cols = len(self.feature_names_) - len(VALUE_FEATURES)
        self.mean_ = np.concatenate([self.mean_, np.zeros(n_trait_cols)])
        self.scale_ = np.concatenate([self.scale_, np.full(n_trait_cols, 1.0 / self.trait_weight)
                                      if n_trait_cols else np.zeros(0)])
        x_sample = self._standardize(values, data, sample)

        seed = int(rng.integers(2**31 - 1))
        self.criterion_values_ = {}
        best: GaussianMixture | None = None
        best_score = math.inf
        for k in range(low, high + 1):
            mixture = GaussianMixture(
                n_components=k, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                max_iter=self.max_iter, n_init=self.n_init, random_state=seed,
                init_params="k-means++",
            )
            with warnings.catch_warnings():
                # An EM that stops at max_iter still gives usable segments; it is reported
                # in ``converged_`` instead of a warning (which a caller may turn into an error).
                warnings.simplefilter("ignore", SklearnConvergenceWarning)
                mixture.fit(x_sample)
            if self.criterion == "bic":
                score = float(mixture.bic(x_sample))
                self.criterion_values_[k] = score
            else:
                labels = mixture.predict(x_sample)
                sub = (rng.choice(len(x_sample), size=_SILHOUETTE_SAMPLE, replace=False)
                       if len(x_sample) > _SILHOUETTE_SAMPLE else np.arange(len(x_sample)))
                if np.unique(labels[sub]).size < 2:
                    sil = -1.0
                else:
                    sil = float(silhouette_score(x_sample[sub], labels[sub]))
                self.criterion_values_[k] = sil
                score = -sil
            if score < best_score:
                best, best_score = mixture, score
        assert best is not None  # the range holds at least one k
        self._mixture = best
        self.converged_ = bool(best.converged_)

        # Order segments by value, most valuable first, so index 0 is always "the best".
        order = np.argsort(-best.means_[:, 0], kind="stable")
        self._order = order
        self.n_segments_ = int(best.n_components)
        self.weights_ = np.asarray(best.weights_[order], dtype=np.float64)
        self.centroids_ = best.means_[order] * self.scale_ + self.mean_

        self.proba_ = self._assign(values, data)
        self.labels_ = self.proba_.argmax(axis=1).astype(np.int64)
        self.n_customers_ = n
        return self

    def _standardize(self, values: FloatArray, data: SegmentationData,
                     rows: IntArray | slice) -> FloatArray:
        """Standardized features of ``rows`` (value columns, then one-hot traits)."""
        parts = [(values[rows] - self.mean_[: values.shape[1]]) / self.scale_[: values.shape[1]]]
        for trait, levels in self.trait_levels_.items():
            codes = np.asarray(data.traits[trait]).astype(str)[rows]
            onehot = (codes[:, None] == np.asarray(levels)[None, :]).astype(np.float64)
            parts.append(onehot * self.trait_weight)
        return np.hstack(parts)

    def _assign(self, values: FloatArray, data: SegmentationData) -> npt.NDArray[np.float32]:
        n = values.shape[0]
        proba = np.empty((n, self.n_segments_), dtype=np.float32)
        for start in range(0, n, self.chunk_size):
            rows = slice(start, min(start + self.chunk_size, n))
            x = self._standardize(values, data, rows)
            proba[rows] = self._mixture.predict_proba(x)[:, self._order]
        return proba

    def predict_proba(self, data: SegmentationData) -> npt.NDArray[np.float32]:
        """Membership probabilities of other customers in the fitted segments."""
        self._check_fitted()
        return self._assign(data.value_matrix(), data)

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            raise NotFittedError("This ValueSegmentation is not fitted yet: call fit().")

    # -- describing ---------------------------------------------------------------------------

    def describe(
        self,
        data: SegmentationData,
        *,
        min_lift: float = 1.25,
        min_support: float = 0.10,
        max_traits: int = 3,
        trait_phrases: Mapping[tuple[str, str], str] | None = None,
    ) -> list[SegmentDescription]:
        """Each segment (by primary membership) in numbers and a suggested name.

        ``data`` must be the data given to :meth:`fit`. A trait value is reported when at
        least ``min_support`` of the segment has it and it is at least ``min_lift`` times as
        common there as among everyone; the ``max_traits`` highest lifts are kept.
        ``trait_phrases`` maps ``(trait, value)`` to the words used in the name.

        The value level compares the segment's mean CLV with everyone's (top: at least 3×,
        high: 1.5×, mid: 0.6×, low below); the behaviour reads P(alive), purchases and tenure
        in that order (lapsed: mean P(alive) under 0.3; at risk: under 0.6; newcomers: tenure
        under half the median; regulars: median purchases at least 1.5× everyone's, or 3+;
        one-off: a median of one purchase; occasional otherwise).
        """
        self._check_fitted()
        n = len(data)
        if n != self.n_customers_:
            raise InvalidInputError("describe() needs the data given to fit().")
        k = self.n_segments_
        labels = self.labels_
        sizes = np.bincount(labels, minlength=k)
        clv = np.maximum(np.nan_to_num(np.asarray(data.clv, dtype=np.float64)), 0.0)
        p_alive = np.nan_to_num(np.asarray(data.p_alive, dtype=np.float64), nan=0.5)
        frequency = np.asarray(data.frequency, dtype=np.float64)
        recency = np.asarray(data.recency_days, dtype=np.float64)
        tenure = np.asarray(data.tenure_days, dtype=np.float64)
        equity = float(clv.sum())
        clv_sum = np.bincount(labels, weights=clv, minlength=k)
        alive_sum = np.bincount(labels, weights=p_alive, minlength=k)
        overall_mean_clv = equity / n if n else 0.0
        overall_freq = float(np.median(frequency))
        overall_tenure = float(np.median(tenure))

        # Medians per segment: one sort by (segment, value) instead of a loop over masks.
        def medians(column: FloatArray) -> FloatArray:
            order = np.lexsort((column, labels))
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            out = np.full(k, np.nan)
            has = sizes > 0
            mid = starts[has] + (sizes[has] - 1) // 2
            mid_hi = starts[has] + sizes[has] // 2
            out[has] = (column[order][mid] + column[order][mid_hi]) / 2
            return out

        med_freq = medians(frequency)
        med_rec = medians(recency)
        med_tenure = medians(tenure)
        rfm_text = [""] * k
        if data.rfm is not None:
            rfm = np.asarray(data.rfm, dtype=np.float64).reshape(n, 3)
            cols = [medians(rfm[:, j]) for j in range(3)]
            rfm_text = [
                "" if np.isnan(cols[0][s]) else "".join(str(round(c[s])) for c in cols)
                for s in range(k)
            ]
        lifts = self._trait_lifts(data, min_lift=min_lift, min_support=min_support,
                                  max_traits=max_traits)

        z = (self.centroids_ - self.mean_) / self.scale_
        out: list[SegmentDescription] = []
        for s in range(k):
            size = int(sizes[s])
            mean_clv = float(clv_sum[s] / size) if size else 0.0
            mean_alive = float(alive_sum[s] / size) if size else 0.0
            ratio = mean_clv / overall_mean_clv if overall_mean_clv > 0 else 1.0
            level = ("top" if ratio >= 3 else "high" if ratio >= 1.5
                     else "mid" if ratio >= 0.6 else "low")
            if mean_alive < 0.3:
                behaviour = "lapsed"
            elif mean_alive < 0.6:
                behaviour = "at-risk"
            elif med_tenure[s] < overall_tenure / 2:
                behaviour = "newcomers"
            elif med_freq[s] >= max(1.5 * overall_freq, 3.0):
                behaviour = "regulars"
            elif med_freq[s] <= 1:
                behaviour = "one-off"
            else:
                behaviour = "occasional"
            top = lifts[s][0] if lifts[s] else None
            out.append(SegmentDescription(
                index=s, size=size, share=size / n if n else 0.0,
                equity_share=float(clv_sum[s] / equity) if equity > 0 else 0.0,
                mean_clv=mean_clv, median_frequency=float(med_freq[s]),
                median_recency_days=float(med_rec[s]), mean_p_alive=mean_alive,
                typical_rfm=rfm_text[s], value_level=level, behaviour=behaviour,
                traits=tuple(lifts[s]),
                suggested_name=suggested_name(level, behaviour, top, trait_phrases),
                name_trait=top,
                profile={name: float(z[s, j]) for j, name in enumerate(self.feature_names_)},
                centroid={name: float(self.centroids_[s, j])
                          for j, name in enumerate(self.feature_names_)},
            ))
        _disambiguate(out, lifts, trait_phrases)
        return out

    def _trait_lifts(self, data: SegmentationData, *, min_lift: float, min_support: float,
                     max_traits: int) -> list[list[TraitLift]]:
        k = self.n_segments_
        labels = self.labels_
        sizes = np.bincount(labels, minlength=k).astype(np.float64)
        found: list[list[TraitLift]] = [[] for _ in range(k)]
        for trait, column in data.traits.items():
            levels, codes = np.unique(np.asarray(column).astype(str), return_inverse=True)
            n_levels = levels.size
            counts = np.bincount(labels * n_levels + codes, minlength=k * n_levels)
            counts = counts.reshape(k, n_levels).astype(np.float64)
            overall = counts.sum(axis=0) / max(len(labels), 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                support = counts / sizes[:, None]
                lift = support / overall[None, :]
            for s, j in zip(*np.nonzero((support >= min_support) & (lift >= min_lift)),
                            strict=True):
                if levels[j] == "":
                    continue  # "unknown" is not a trait
                found[s].append(TraitLift(trait=str(trait), value=str(levels[j]),
                                          support=float(support[s, j]),
                                          overall=float(overall[j]), lift=float(lift[s, j])))
        return [sorted(f, key=lambda t: (-t.lift, t.trait, t.value))[:max_traits] for f in found]

    # -- stability across runs ----------------------------------------------------------------

    def match(self, previous: Sequence[Mapping[str, float]], *,
              threshold: float = 0.75) -> IntArray:
        """For each segment, the index of the previous run's segment it continues, or -1.

        ``previous`` holds the previous segments' centroids (``SegmentDescription.centroid``,
        feature name to value). Distances are root-mean-square differences over the features
        both runs share, in this run's standard units; the segments are paired by the
        Hungarian algorithm (Kuhn 1955) minimizing the total distance, and a pair farther
        apart than ``threshold`` is not a continuation.
        """
        self._check_fitted()
        result = np.full(self.n_segments_, -1, dtype=np.int64)
        if not previous:
            return result
        common = [j for j, name in enumerate(self.feature_names_)
                  if all(name in p for p in previous)]
        if not common:
            return result
        names = [self.feature_names_[j] for j in common]
        old = np.array([[p[name] for name in names] for p in previous], dtype=np.float64)
        new = self.centroids_[:, common]
        scale = self.scale_[common]
        diff = (new[:, None, :] - old[None, :, :]) / scale
        distance = np.sqrt((diff**2).mean(axis=2))
        rows, cols = linear_sum_assignment(distance)
        keep = distance[rows, cols] <= threshold
        result[rows[keep]] = cols[keep]
        return result

    def get_params(self) -> dict[str, Any]:
        """The settings (scikit-learn's convention), e.g. to store beside a result."""
        return {
            "k_range": list(self.k_range), "criterion": self.criterion,
            "cluster_traits": list(self.cluster_traits), "trait_weight": self.trait_weight,
            "sample_size": self.sample_size, "covariance_type": self.covariance_type,
            "reg_covar": self.reg_covar, "max_iter": self.max_iter, "n_init": self.n_init,
        }


def _disambiguate(out: list[SegmentDescription], lifts: list[list[TraitLift]],
                  trait_phrases: Mapping[tuple[str, str], str] | None) -> None:
    """Two segments with the same name: the less valuable one takes its next trait, then a
    number, so every suggested name in a run is distinct (and still derived from facts)."""
    seen: set[str] = set()
    for i, desc in enumerate(out):
        name, trait_used, number = desc.suggested_name, desc.name_trait, 0
        if name in seen:
            for trait in lifts[i][1:]:
                candidate = suggested_name(desc.value_level, desc.behaviour, trait, trait_phrases)
                if candidate not in seen:
                    name, trait_used = candidate, trait
                    break
            base = name
            while name in seen:
                number = number + 1 if number else 2
                name = f"{base} ({number})"
            out[i] = replace(desc, suggested_name=name, name_trait=trait_used,
                             name_number=number)
        seen.add(name)
