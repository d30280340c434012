"""What the best customers had in common when they were acquired, and who resembles them.

The seeds' advice (找到现有最佳客户的特征, then 根据特征扩充潜在客户): best customers are
scattered across the descriptive segments, so a cut by one field finds some and misses many.
:class:`TraitsModel` learns, from the traits known at acquisition (acquisition source,
industry, company size, city tier, income band, kind, the first order's category and size),
which customers became top-tier, with a model a marketer can read:

* an L2-regularized logistic regression on one-hot categorical traits and standardized numeric
  traits (scikit-learn's ``LogisticRegression``, lbfgs). The weight of a level is the change
  in log-odds of becoming top-tier against the average customer, so a score decomposes exactly
  into per-trait **contributions**, and the three largest are "why" a prospect scores high;
* an honest check: the model is first fitted on a random training share and judged on the
  held-out rest (``holdout_auc_``, ``top_decile_lift_``), then refitted on everyone for scoring;
* a descriptive companion independent of the model: every trait level's **lift**
  (P(top | level) / P(top)) and **support** (share of customers with it), with a two-sided
  exact binomial test so that a lift of 3× on four customers is not reported as a finding.

Numeric traits enter the regression as ``log1p`` then z-scores (spend is skewed); for the lift
table they are cut at their quartiles. A missing value is a level of its own ("unknown") for a
categorical trait and the mean (plus nothing else) for a numeric one.

Randomness (the split) comes only from the ``numpy.random.Generator`` passed to ``fit``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy import sparse, stats

from .errors import InvalidInputError, NotFittedError, NotIdentifiableError

__all__ = [
    "UNKNOWN_LEVEL",
    "TraitLift",
    "TraitScores",
    "TraitsModel",
    "auc_score",
    "top_decile_lift",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]

#: The level a missing or empty categorical value takes.
UNKNOWN_LEVEL: Final = "unknown"


@dataclasses.dataclass(frozen=True)
class TraitLift:
    """One trait level and how much more often customers with it became top-tier.

    ``lift`` is ``rate / base_rate``; ``support`` the share of all customers having the level;
    ``p_value`` the two-sided exact binomial test of ``top`` successes in ``count`` trials at
    the base rate; ``weight`` the regression's log-odds weight (0 for numeric quartiles, whose
    weight is the slope of the whole trait). ``low``/``high`` bound a numeric quartile.
    """

    feature: str
    level: str
    count: int
    top: int
    rate: float
    base_rate: float
    lift: float
    support: float
    p_value: float
    weight: float
    low: float | None = None
    high: float | None = None


@dataclasses.dataclass(frozen=True)
class TraitScores:
    """Scores of many customers: the probability and the three strongest reasons for each.

    ``drivers`` is ``(n, 3)`` indices into ``features`` (``-1`` where fewer than three traits
    push the score up) and ``contributions`` the matching log-odds contributions; ``levels``
    the ``(n, 3)`` level of each driver as a string (for numeric traits "high" or "low").
    """

    probability: FloatArray
    features: tuple[str, ...]
    drivers: IntArray
    contributions: FloatArray
    levels: npt.NDArray[np.object_]


def _as_levels(name: str, values: Sequence[Any] | npt.NDArray[Any], n: int | None) -> StrArray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "U" and values.ndim == 1:
        # Already strings (the fast path: no str() per value).
        if n is not None and len(values) != n:
            raise InvalidInputError(f"Trait {name!r} has {len(values)} values for {n} customers.")
        return np.where(values == "", UNKNOWN_LEVEL, values)
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise InvalidInputError(f"Trait {name!r} must be one value per customer.")
    if n is not None and len(array) != n:
        raise InvalidInputError(f"Trait {name!r} has {len(array)} values for {n} customers.")
    if array.dtype.kind not in "OUS":
        array = array.astype(object)
    if array.dtype == object:
        # Vectorized: None and "" become the unknown level, everything else its str().
        missing = (array == None) | (array == "")  # noqa: E711 - elementwise, not identity
        array = np.where(missing, UNKNOWN_LEVEL, array)
    out = array.astype(str)
    out = np.where(out == "", UNKNOWN_LEVEL, out)
    return out if len(out) else np.asarray([], dtype="<U1")


def _as_numeric(name: str, values: Sequence[Any] | npt.NDArray[Any], n: int | None) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"Trait {name!r} must be numeric (None for unknown).") from None
    if array.ndim != 1 or (n is not None and len(array) != n):
        raise InvalidInputError(f"Trait {name!r} must be one number per customer.")
    if np.any(np.isinf(array)):
        raise InvalidInputError(f"Trait {name!r} contains infinite values.")
    return array


def auc_score(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) identity; ties count one half.

    NaN when only one class is present.
    """
    yb = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos = int(yb.sum())
    n_neg = len(yb) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[yb].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_decile_lift(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """The top-tier rate among the 10% best-scored customers over the overall rate.

    Ties at the cut are broken by a stable sort of the scores (so the result does not depend
    on chance); NaN when nobody is top-tier.
    """
    yb = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    base = yb.mean() if len(yb) else 0.0
    if base == 0:
        return float("nan")
    k = max(1, int(np.ceil(0.1 * len(yb))))
    top = np.argsort(-s, kind="stable")[:k]
    return float(yb[top].mean() / base)


class TraitsModel:
    """Which acquisition traits make a customer likely to become top-tier.

    Parameters
    ----------
    categorical : sequence of str
        Names of the categorical traits, in the order reports list them.
    numeric : sequence of str
        Names of the numeric traits (log1p-transformed, standardized).
    C : float
        Inverse L2 regularization strength of the logistic regression (scikit-learn's ``C``).
        Small values shrink the weights of rare levels towards zero.
    holdout_share : float
        Share of customers held out to measure AUC and lift before the refit on everyone.
    min_count : int
        A level seen in fewer training customers is merged into "other" (its weight would be
        noise, and a report on three customers is not a finding).
    alpha : float
        Significance level of the lift table's binomial test.

    Attributes
    ----------
    levels_ : dict of str to ndarray
        Known levels per categorical trait, sorted (what ``score`` can encode).
    weights_ : dict of str to ndarray
        Log-odds weight per level, centred so the customer-weighted mean of each trait is 0.
    slopes_ : dict of str to float
        Log-odds per standard deviation of each numeric trait's ``log1p``.
    intercept_ : float
        Log-odds of the average customer.
    holdout_auc_, top_decile_lift_ : float
        Measured on held-out customers (NaN when the holdout has one class only).
    n_train_, n_holdout_, n_top_ : int
    base_rate_ : float
        Share of top-tier customers among all fitted.
    lifts_ : list of TraitLift
        Every level with enough support, strongest first (see :meth:`distinguishing`).
    """

    levels_: dict[str, StrArray]
    weights_: dict[str, FloatArray]
    slopes_: dict[str, float]
    centres_: dict[str, tuple[float, float, float]]
    intercept_: float
    holdout_auc_: float
    top_decile_lift_: float
    n_train_: int
    n_holdout_: int
    n_top_: int
    base_rate_: float
    lifts_: list[TraitLift]

    def __init__(self, *, categorical: Sequence[str], numeric: Sequence[str] = (),
                 C: float = 1.0, holdout_share: float = 0.3, min_count: int = 5,
                 alpha: float = 0.05) -> None:
        self.categorical = tuple(categorical)
        self.numeric = tuple(numeric)
        self.C = C
        self.holdout_share = holdout_share
        self.min_count = min_count
        self.alpha = alpha

    # -- encoding ---------------------------------------------------------------------------

    @property
    def features(self) -> tuple[str, ...]:
        return self.categorical + self.numeric

    def _check_traits(self, traits: Mapping[str, Any]) -> int:
        missing = [f for f in self.features if f not in traits]
        if missing:
            raise InvalidInputError(f"Missing trait(s): {', '.join(missing)}.")
        lengths = {len(traits[f]) for f in self.features}
        if len(lengths) > 1:
            raise InvalidInputError("Every trait must have one value per customer.")
        return lengths.pop() if lengths else 0

    def _normalized(self, traits: Mapping[str, Any], n: int) -> dict[str, Any]:
        """Every trait converted once: categorical to str arrays, numeric to floats."""
        out: dict[str, Any] = {name: _as_levels(name, traits[name], n)
                               for name in self.categorical}
        out.update({name: _as_numeric(name, traits[name], n) for name in self.numeric})
        return out

    def _codes(self, name: str, values: StrArray) -> IntArray:
        """Index of each value in ``levels_[name]``; unknown levels map to "other" or -1."""
        levels = self.levels_[name]
        pos = np.searchsorted(levels, values)
        pos = np.clip(pos, 0, max(len(levels) - 1, 0))
        hit = levels[pos] == values if len(levels) else np.zeros(len(values), dtype=bool)
        other = int(np.searchsorted(levels, "other"))
        other_known = other < len(levels) and str(levels[other]) == "other"
        fallback = other if other_known else -1
        return np.where(hit, pos, fallback).astype(np.int64)

    def _numeric_z(self, name: str, values: FloatArray) -> FloatArray:
        mean, sd, _ = self.centres_[name]
        logged = np.log1p(np.clip(values, 0, None))
        z = (logged - mean) / sd
        return np.where(np.isnan(z), 0.0, z)

    def _design(self, traits: Mapping[str, Any], n: int) -> sparse.csr_matrix:
        blocks = []
        for name in self.categorical:
            codes = self._codes(name, _as_levels(name, traits[name], n))
            width = len(self.levels_[name])
            rows = np.flatnonzero(codes >= 0)
            blocks.append(sparse.csr_matrix(
                (np.ones(len(rows)), (rows, codes[rows])), shape=(n, width)))
        for name in self.numeric:
            z = self._numeric_z(name, _as_numeric(name, traits[name], n))
            blocks.append(sparse.csr_matrix(z.reshape(-1, 1)))
        if not blocks:
            raise InvalidInputError("A traits model needs at least one trait.")
        return sparse.hstack(blocks, format="csr")

    def _learn_encoding(self, traits: Mapping[str, Any], n: int) -> None:
        self.levels_ = {}
        for name in self.categorical:
            values = _as_levels(name, traits[name], n)
            uniq, counts = np.unique(values, return_counts=True)
            keep = uniq[counts >= self.min_count]
            if np.any(counts < self.min_count):
                keep = np.union1d(keep, np.asarray(["other"]))
            self.levels_[name] = np.sort(keep)
        self.centres_ = {}
        for name in self.numeric:
            numbers = _as_numeric(name, traits[name], n)
            logged = np.log1p(np.clip(numbers, 0, None))
            known = logged[~np.isnan(logged)]
            mean = float(known.mean()) if len(known) else 0.0
            sd = float(known.std()) if len(known) > 1 else 1.0
            self.centres_[name] = (mean, sd if sd > 0 else 1.0,
                                   float(np.nanmedian(numbers)) if len(known) else 0.0)

    def _regression(self, X: sparse.csr_matrix, y: npt.NDArray[np.bool_]) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.C, max_iter=500, solver="lbfgs")
        model.fit(X, y)
        return model

    # -- fit --------------------------------------------------------------------------------

    def fit(self, traits: Mapping[str, Any], top: npt.ArrayLike, *,
            rng: np.random.Generator) -> TraitsModel:
        """Learn which traits mark top-tier customers.

        Parameters
        ----------
        traits : mapping of str to array-like
            One array per trait named in ``categorical`` and ``numeric``, one value per customer.
        top : array-like of bool
            Whether each customer became top-tier.
        rng : numpy.random.Generator
            Draws the held-out customers.
        """
        n = self._check_traits(traits)
        y = np.asarray(top, dtype=bool)
        if len(y) != n:
            raise InvalidInputError(f"{len(y)} labels for {n} customers.")
        n_top = int(y.sum())
        if n < 10 or n_top < 2 or n - n_top < 2:
            raise NotIdentifiableError(
                "The traits model needs at least 10 customers, two of them top-tier and two not "
                f"(got {n} customers, {n_top} top-tier).")
        if not 0 < self.holdout_share < 1:
            raise InvalidInputError("holdout_share must be between 0 and 1.")
        traits = self._normalized(traits, n)
        self._learn_encoding(traits, n)
        X = self._design(traits, n)

        # Held-out check, stratified so both classes appear on both sides.
        holdout = np.zeros(n, dtype=bool)
        for cls in (True, False):
            idx = np.flatnonzero(y == cls)
            k = round(self.holdout_share * len(idx))
            k = min(max(k, 1), len(idx) - 1)
            holdout[rng.choice(idx, size=k, replace=False)] = True
        check = self._regression(X[~holdout], y[~holdout])
        held_score = check.decision_function(X[holdout])
        self.holdout_auc_ = auc_score(y[holdout], held_score)
        self.top_decile_lift_ = top_decile_lift(y[holdout], held_score)
        self.n_train_ = int((~holdout).sum())
        self.n_holdout_ = int(holdout.sum())

        final = self._regression(X, y)
        coef = np.asarray(final.coef_[0], dtype=np.float64)
        intercept = float(final.intercept_[0])
        self.weights_ = {}
        self.slopes_ = {}
        start = 0
        for name in self.categorical:
            width = len(self.levels_[name])
            w = coef[start:start + width].copy()
            start += width
            # Centre on the customer-weighted mean so a weight reads "against the average
            # customer", and move the mean into the intercept: the score is unchanged.
            counts = np.asarray(X[:, start - width:start].sum(axis=0)).ravel()
            centre = float(np.dot(counts, w) / n) if width else 0.0
            self.weights_[name] = w - centre
            intercept += centre
        for name in self.numeric:
            self.slopes_[name] = float(coef[start])
            start += 1
        self.intercept_ = intercept
        self.n_top_ = n_top
        self.base_rate_ = n_top / n
        self.lifts_ = self._lift_table(traits, y, n)
        return self

    def _lift_table(self, traits: Mapping[str, Any], y: npt.NDArray[np.bool_],
                    n: int) -> list[TraitLift]:
        base = self.base_rate_
        rows: list[TraitLift] = []
        for name in self.categorical:
            codes = self._codes(name, _as_levels(name, traits[name], n))
            width = len(self.levels_[name])
            valid = codes >= 0
            counts = np.bincount(codes[valid], minlength=width)
            tops = np.bincount(codes[valid], weights=y[valid].astype(np.float64), minlength=width)
            for j in range(width):
                rows.append(self._lift_row(name, str(self.levels_[name][j]), int(counts[j]),
                                           int(tops[j]), base, n,
                                           float(self.weights_[name][j])))
        for name in self.numeric:
            values = _as_numeric(name, traits[name], n)
            known = ~np.isnan(values)
            if known.sum() < 4:
                continue
            edges = np.unique(np.quantile(values[known], [0, 0.25, 0.5, 0.75, 1.0]))
            bins = np.clip(np.searchsorted(edges, values[known], side="right") - 1,
                           0, len(edges) - 2)
            yk = y[known]
            labels = ("lowest quarter", "second quarter", "third quarter", "top quarter")
            nb = len(edges) - 1
            for b in range(nb):
                sel = bins == b
                label = labels[b] if nb == 4 else f"band {b + 1} of {nb}"
                rows.append(self._lift_row(name, label, int(sel.sum()), int(yk[sel].sum()),
                                           base, n, self.slopes_[name],
                                           low=float(edges[b]), high=float(edges[b + 1])))
        rows = [r for r in rows if r.count >= self.min_count and r.level != "other"]
        rows.sort(key=lambda r: (r.p_value >= self.alpha, -r.lift, -r.count))
        return rows

    @staticmethod
    def _lift_row(feature: str, level: str, count: int, top: int, base: float, n: int,
                  weight: float, *, low: float | None = None,
                  high: float | None = None) -> TraitLift:
        rate = top / count if count else 0.0
        p_value = (float(stats.binomtest(top, count, base).pvalue) if count else 1.0)
        return TraitLift(feature=feature, level=level, count=count, top=top, rate=rate,
                         base_rate=base, lift=rate / base if base else float("nan"),
                         support=count / n if n else 0.0, p_value=p_value, weight=weight,
                         low=low, high=high)

    # -- reading ----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "intercept_"):
            raise NotFittedError("This TraitsModel is not fitted yet: call fit().")

    def distinguishing(self, *, min_lift: float = 1.0) -> list[TraitLift]:
        """Levels significantly over-represented among top-tier customers, strongest first."""
        self._check_fitted()
        return [r for r in self.lifts_ if r.p_value < self.alpha and r.lift > min_lift]

    def score(self, traits: Mapping[str, Any]) -> TraitScores:
        """Probability of becoming top-tier and the three traits that push each score up.

        Vectorized: a lookup table per trait and one ``argpartition`` for the drivers, no loop
        over customers. A level the model never saw contributes nothing.
        """
        self._check_fitted()
        n = self._check_traits(traits)
        traits = self._normalized(traits, n)
        k = len(self.features)
        contrib = np.zeros((n, k), dtype=np.float64)
        level_of = np.empty((n, k), dtype=object)
        for j, name in enumerate(self.categorical):
            values = _as_levels(name, traits[name], n)
            codes = self._codes(name, values)
            w = np.append(self.weights_[name], 0.0)  # index -1: never seen, no effect
            contrib[:, j] = w[codes]
            level_of[:, j] = values
        for i, name in enumerate(self.numeric):
            j = len(self.categorical) + i
            z = self._numeric_z(name, _as_numeric(name, traits[name], n))
            contrib[:, j] = self.slopes_[name] * z
            level_of[:, j] = np.where(z >= 0, "high", "low")
        logit = self.intercept_ + contrib.sum(axis=1)
        probability = 1.0 / (1.0 + np.exp(-logit))
        m = min(3, k)
        if n and k:
            idx = np.argpartition(-contrib, m - 1, axis=1)[:, :m] if k > m else \
                np.tile(np.arange(k), (n, 1))
            vals = np.take_along_axis(contrib, idx, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            idx = np.take_along_axis(idx, order, axis=1)
            vals = np.take_along_axis(vals, order, axis=1)
            positive = vals > 0
            drivers = np.where(positive, idx, -1).astype(np.int64)
            levels = np.take_along_axis(level_of, idx, axis=1)
            levels[~positive] = None
            contributions = np.where(positive, vals, 0.0)
        else:
            drivers = np.full((n, m), -1, dtype=np.int64)
            contributions = np.zeros((n, m))
            levels = np.full((n, m), None, dtype=object)
        if m < 3:
            pad = 3 - m
            drivers = np.pad(drivers, ((0, 0), (0, pad)), constant_values=-1)
            contributions = np.pad(contributions, ((0, 0), (0, pad)))
            levels = np.concatenate([levels, np.full((n, pad), None, dtype=object)], axis=1)
        return TraitScores(probability=probability, features=self.features, drivers=drivers,
                           contributions=contributions, levels=levels.astype(object))
