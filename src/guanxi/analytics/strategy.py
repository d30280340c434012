"""Customer strategy: value concentration, how different the segments are, and the choice.

The seed (SF Express's customer strategy) names three strategies and when each fits:

* **Undifferentiated** (统一化战略) — one offer for the whole market, when customers' needs do
  not differ much, price positioning differs little across the market, and serving groups
  differently would cost more than it brings.
* **Differentiated** (区别型战略) — different offers for different groups, most effective when
  the groups' preferences and expected prices differ a lot (and the market is mature, with
  several competing products).
* **Focused** (聚焦型战略) — one group only, when a distinct group has strong unmet needs and
  brings very attractive revenue, and spreading over many groups would thin resources.

What we can measure from the CRM's own data, and the rules :func:`strategy_report` applies
(first match wins):

1. **Focused** when one segment is both small and dominant: it holds at least
   ``focus_equity_share`` (default 50%) of customer equity with at most
   ``focus_customer_share`` (25%) of the customers, *and* segments differ in value
   (Kruskal-Wallis test significant).
2. **Differentiated** when at least two segments each hold ``min_segment_share`` (5%) of the
   customers and they differ materially in at least one of: preferences (category mix:
   chi-square test significant and Cramér's V >= ``min_cramers_v``, 0.15), price level (the
   spread of paid-to-list price ratios between segments >= ``min_price_spread``, 0.10), or
   value (Kruskal-Wallis epsilon-squared >= ``min_value_effect``, 0.14, a large effect).
3. **Undifferentiated** otherwise.

Value concentration is reported as the Pareto (Lorenz-from-the-top) curve: the share of equity
held by the top x% of customers, with the top 1%, 5% and 20% and the Gini coefficient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from .errors import InvalidInputError

__all__ = [
    "SegmentProfile",
    "StrategyEvidence",
    "StrategyReport",
    "StrategyThresholds",
    "pareto_curve",
    "strategy_report",
]

FloatArray = npt.NDArray[np.float64]
Strategy = Literal["undifferentiated", "differentiated", "focused"]


@dataclasses.dataclass(frozen=True)
class StrategyThresholds:
    focus_equity_share: float = 0.5
    focus_customer_share: float = 0.25
    min_segment_share: float = 0.05
    min_cramers_v: float = 0.15
    min_price_spread: float = 0.10
    min_value_effect: float = 0.14
    alpha: float = 0.05


@dataclasses.dataclass(frozen=True)
class SegmentProfile:
    name: str
    customers: int
    customer_share: float
    equity: float
    equity_share: float
    mean_value: float
    price_level: float | None  # paid / list price; None when unknown
    top_category: str | None


@dataclasses.dataclass(frozen=True)
class StrategyEvidence:
    """One measured condition: ``code`` names it, ``value`` against ``threshold``."""

    code: str
    holds: bool
    value: float | None
    threshold: float | None
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class StrategyReport:
    n_customers: int
    total_equity: float
    pareto_x: FloatArray  # share of customers (0-1), best first
    pareto_y: FloatArray  # share of equity they hold
    top_shares: dict[str, float]  # "1%", "5%", "20%"
    gini: float
    segments: list[SegmentProfile]
    value_h: float | None
    value_p: float | None
    value_effect: float | None
    preference_chi2: float | None
    preference_p: float | None
    cramers_v: float | None
    price_spread: float | None
    recommendation: Strategy
    evidence: list[StrategyEvidence]
    focus_segment: str | None


def pareto_curve(values: npt.ArrayLike, points: int = 101) -> tuple[FloatArray, FloatArray]:
    """Share of the total held by the top x share of customers, at ``points`` even steps.

    Negative values (a customer who cost more than they brought) count as 0.
    """
    v = np.clip(np.asarray(values, dtype=np.float64), 0, None)
    if v.ndim != 1 or np.any(np.isnan(v)):
        raise InvalidInputError("values must be a 1-d array without NaN.")
    x = np.linspace(0.0, 1.0, points)
    total = v.sum()
    if len(v) == 0 or total <= 0:
        return x, np.zeros(points)
    cum = np.concatenate([[0.0], np.cumsum(np.sort(v)[::-1])]) / total
    # Interpolate between whole customers: the top 1% of 50 customers is half a customer.
    y = np.interp(x * len(v), np.arange(len(v) + 1), cum)
    return x, y


def _top_share(values: FloatArray, share: float) -> float:
    v = np.clip(values, 0, None)
    total = v.sum()
    if total <= 0:
        return 0.0
    k = share * len(v)
    cum = np.concatenate([[0.0], np.cumsum(np.sort(v)[::-1])]) / total
    return float(np.interp(k, np.arange(len(v) + 1), cum))


def _gini(values: FloatArray) -> float:
    v = np.sort(np.clip(values, 0, None))
    n = len(v)
    if n == 0 or v.sum() <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * np.einsum("i,i->", ranks, v) / (n * v.sum())) - (n + 1) / n)


def strategy_report(
    *,
    value: npt.ArrayLike,
    segment: Sequence[str] | npt.NDArray[Any],
    category_counts: npt.ArrayLike | None = None,
    categories: Sequence[str] = (),
    segment_names: Sequence[str] = (),
    paid: npt.ArrayLike | None = None,
    listed: npt.ArrayLike | None = None,
    thresholds: StrategyThresholds | None = None,
) -> StrategyReport:
    """Concentration, heterogeneity and the recommended strategy.

    Parameters
    ----------
    value : array-like of float
        Each customer's value (CLV: customer equity is their sum).
    segment : array-like of str
        Each customer's segment ("" for none: counted in concentration, not in segment tests).
    category_counts : array-like, shape (len(segment_names), len(categories)), optional
        Purchase lines per segment and category, for the preference test.
    categories, segment_names : sequence of str
        Labels of ``category_counts``' columns and rows.
    paid, listed : array-like of float, optional
        Per row of ``segment_names``, the amount paid and the same lines at list price: the
        price level is ``paid / listed`` (below 1: the segment buys on discount).
    """
    th = thresholds or StrategyThresholds()
    v = np.asarray(value, dtype=np.float64)
    seg = np.asarray(segment, dtype=object).astype(str)
    if len(v) != len(seg):
        raise InvalidInputError("value and segment must have one entry per customer.")
    if np.any(np.isnan(v)):
        raise InvalidInputError("value contains NaN.")
    n = len(v)
    total = float(np.clip(v, 0, None).sum())
    px, py = pareto_curve(v)
    top_shares = {f"{int(s * 100)}%": _top_share(v, s) for s in (0.01, 0.05, 0.20)}
    gini = _gini(v)

    in_seg = seg != ""
    names, inverse = np.unique(seg[in_seg], return_inverse=True)
    sv = np.clip(v[in_seg], 0, None)
    counts = np.bincount(inverse, minlength=len(names))
    equity = np.bincount(inverse, weights=sv, minlength=len(names))

    price_by_name: dict[str, float] = {}
    if paid is not None and listed is not None:
        pa = np.asarray(paid, dtype=np.float64)
        li = np.asarray(listed, dtype=np.float64)
        for name, p, lv in zip(segment_names, pa, li, strict=True):
            if lv > 0:
                price_by_name[str(name)] = float(p / lv)
    top_cat: dict[str, str] = {}
    cc = None
    if category_counts is not None and len(categories) and len(segment_names):
        cc = np.asarray(category_counts, dtype=np.float64)
        if cc.shape != (len(segment_names), len(categories)):
            raise InvalidInputError("category_counts must be segments x categories.")
        for i, name in enumerate(segment_names):
            if cc[i].sum() > 0:
                top_cat[str(name)] = str(categories[int(np.argmax(cc[i]))])

    profiles = [
        SegmentProfile(name=str(name), customers=int(counts[i]),
                       customer_share=float(counts[i] / n) if n else 0.0,
                       equity=float(equity[i]),
                       equity_share=float(equity[i] / total) if total else 0.0,
                       mean_value=float(equity[i] / counts[i]) if counts[i] else 0.0,
                       price_level=price_by_name.get(str(name)),
                       top_category=top_cat.get(str(name)))
        for i, name in enumerate(names)
    ]
    profiles.sort(key=lambda p: -p.equity)

    # Value: Kruskal-Wallis across segments (rank-based: CLV is far from normal), with the
    # epsilon-squared effect size H / (n - 1).
    value_h = value_p = value_effect = None
    groups = [sv[inverse == i] for i in range(len(names)) if counts[i] > 0]
    if len(groups) >= 2 and len(sv) > len(groups) and np.ptp(sv) > 0:
        res = stats.kruskal(*groups)
        value_h, value_p = float(res.statistic), float(res.pvalue)
        value_effect = value_h / (len(sv) - 1)

    # Preferences: chi-square of segment x category line counts, Cramér's V.
    chi2 = chi_p = cramers = None
    if cc is not None:
        keep_r = cc.sum(axis=1) > 0
        keep_c = cc.sum(axis=0) > 0
        table = cc[keep_r][:, keep_c]
        if table.shape[0] >= 2 and table.shape[1] >= 2:
            res2 = stats.chi2_contingency(table, correction=False)
            chi2, chi_p = float(res2.statistic), float(res2.pvalue)
            k = min(table.shape) - 1
            cramers = float(np.sqrt(chi2 / (table.sum() * k)))

    levels = [p.price_level for p in profiles if p.price_level is not None]
    spread = float(max(levels) - min(levels)) if len(levels) >= 2 else None

    evidence: list[StrategyEvidence] = []
    focus = None
    best = profiles[0] if profiles else None
    value_differs = value_p is not None and value_p < th.alpha
    if best is not None:
        dominant = (best.equity_share >= th.focus_equity_share
                    and best.customer_share <= th.focus_customer_share)
        evidence.append(StrategyEvidence("focus_segment_equity_share", dominant,
                                         best.equity_share, th.focus_equity_share,
                                         best.name))
        evidence.append(StrategyEvidence("focus_segment_customer_share",
                                         best.customer_share <= th.focus_customer_share,
                                         best.customer_share, th.focus_customer_share,
                                         best.name))
        if dominant and value_differs:
            focus = best.name
    evidence.append(StrategyEvidence("value_differs", value_differs, value_p, th.alpha))
    sizeable = sum(1 for p in profiles if p.customer_share >= th.min_segment_share)
    evidence.append(StrategyEvidence("sizeable_segments", sizeable >= 2, float(sizeable), 2.0))
    pref = (cramers is not None and chi_p is not None and chi_p < th.alpha
            and cramers >= th.min_cramers_v)
    evidence.append(StrategyEvidence("preferences_differ", pref, cramers, th.min_cramers_v))
    price = spread is not None and spread >= th.min_price_spread
    evidence.append(StrategyEvidence("price_levels_differ", price, spread, th.min_price_spread))
    large_value = value_effect is not None and value_differs and \
        value_effect >= th.min_value_effect
    evidence.append(StrategyEvidence("value_effect_large", large_value, value_effect,
                                     th.min_value_effect))

    recommendation: Strategy
    if focus is not None:
        recommendation = "focused"
    elif sizeable >= 2 and (pref or price or large_value):
        recommendation = "differentiated"
    else:
        recommendation = "undifferentiated"
    return StrategyReport(
        n_customers=n, total_equity=total, pareto_x=px, pareto_y=py, top_shares=top_shares,
        gini=gini, segments=profiles, value_h=value_h, value_p=value_p,
        value_effect=value_effect, preference_chi2=chi2, preference_p=chi_p,
        cramers_v=cramers, price_spread=spread, recommendation=recommendation,
        evidence=evidence, focus_segment=focus)
