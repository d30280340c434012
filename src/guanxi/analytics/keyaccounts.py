"""Key-account candidates (大客户) among organizations, by the seeds' three tests.

The seed article on key-account marketing asks three questions before calling a big customer
a key account:

1. **Product fit** — does what we sell suit it? Measured as the share of the catalogue's
   categories the organization buys (``product_fit``, 0-1).
2. **Purchasing mode** — does it buy centrally or scattered across branches? A branch network
   whose every office buys its own paper cannot be served as one account. Measured as the
   share of the organization's spend placed by its largest buyer (the organization itself or
   one of its contacts), ``central_share``; ``n_buyers`` counts the distinct buyers.
3. **Continuity** — 20 million this year and nothing after is not a key account; 10 million
   every year is. Measured over the last ``n_periods`` periods: the share of periods with a
   purchase (``active_share``) and the coefficient of variation of the per-period spend
   (``cv``, population standard deviation over mean, periods without purchases counted as
   0); ``continuity = active_share / (1 + cv)``.

An organization is a **candidate** when all three pass their thresholds; ``score`` (the mean of
the three measures, each in 0-1) ranks them. Everything is computed with ``bincount`` over the
purchase rows — no loop over organizations.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError

__all__ = ["KeyAccountMeasures", "KeyAccountThresholds", "key_account_measures"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class KeyAccountThresholds:
    """The bars an organization must pass to be a candidate (documented defaults)."""

    min_product_fit: float = 0.3
    min_central_share: float = 0.6
    min_active_share: float = 0.75
    max_cv: float = 0.5


@dataclasses.dataclass(frozen=True)
class KeyAccountMeasures:
    """Per organization (in the order of ``organizations``) the three measures and the verdict."""

    organizations: IntArray
    spend: FloatArray
    n_categories: IntArray
    product_fit: FloatArray
    n_buyers: IntArray
    central_share: FloatArray
    active_share: FloatArray
    cv: FloatArray
    continuity: FloatArray
    score: FloatArray
    candidate: npt.NDArray[np.bool_]
    period_spend: FloatArray  # (n_organizations, n_periods), oldest period first


def key_account_measures(
    *,
    organization: npt.ArrayLike,
    buyer: npt.ArrayLike,
    category: npt.ArrayLike,
    period: npt.ArrayLike,
    amount: npt.ArrayLike,
    n_categories_in_catalogue: int,
    n_periods: int,
    organizations: npt.ArrayLike | None = None,
    thresholds: KeyAccountThresholds | None = None,
) -> KeyAccountMeasures:
    """Product fit, purchasing mode and continuity of each organization.

    Parameters
    ----------
    organization, buyer : array-like of int
        Per purchase line, the organization's id and the id of the customer who placed it.
    category : array-like of int
        Per purchase line, a category code (``-1`` for a line without category).
    period : array-like of int
        Per purchase line, the period index, ``0`` the oldest of ``n_periods`` (lines outside
        ``[0, n_periods)`` count for fit and mode, not for continuity).
    amount : array-like of float
        Spend of each line.
    n_categories_in_catalogue : int
        How many categories the catalogue offers (the denominator of product fit).
    n_periods : int
        How many periods continuity looks at.
    organizations : array-like of int, optional
        The organizations to report (default: those with purchases), including ones without.
    """
    org = np.asarray(organization, dtype=np.int64)
    buy = np.asarray(buyer, dtype=np.int64)
    cat = np.asarray(category, dtype=np.int64)
    per = np.asarray(period, dtype=np.int64)
    amt = np.asarray(amount, dtype=np.float64)
    if not (len(org) == len(buy) == len(cat) == len(per) == len(amt)):
        raise InvalidInputError("Every purchase-line array must have the same length.")
    if n_periods < 1 or n_categories_in_catalogue < 0:
        raise InvalidInputError("n_periods must be >= 1 and the catalogue size >= 0.")
    th = thresholds or KeyAccountThresholds()
    orgs = (np.unique(org) if organizations is None
            else np.unique(np.asarray(organizations, dtype=np.int64)))
    m = len(orgs)
    pos = np.searchsorted(orgs, org)
    keep = (pos < m) & (orgs[np.clip(pos, 0, max(m - 1, 0))] == org) if m else \
        np.zeros(len(org), dtype=bool)
    o, b, c, p, a = pos[keep], buy[keep], cat[keep], per[keep], amt[keep]

    spend = np.bincount(o, weights=a, minlength=m).astype(np.float64)

    # Product fit: distinct (organization, category) pairs.
    has_cat = c >= 0
    pairs = np.unique(np.stack([o[has_cat], c[has_cat]], axis=1), axis=0) if has_cat.any() \
        else np.empty((0, 2), dtype=np.int64)
    n_cat = np.bincount(pairs[:, 0], minlength=m).astype(np.int64)
    fit = (np.minimum(n_cat / n_categories_in_catalogue, 1.0) if n_categories_in_catalogue
           else np.zeros(m))

    # Purchasing mode: spend per (organization, buyer), the largest buyer's share.
    if len(o):
        ob, inverse = np.unique(np.stack([o, b], axis=1), axis=0, return_inverse=True)
        per_buyer = np.bincount(inverse.ravel(), weights=a, minlength=len(ob))
        n_buyers = np.bincount(ob[:, 0], minlength=m).astype(np.int64)
        top = np.zeros(m)
        np.maximum.at(top, ob[:, 0], per_buyer)
    else:
        n_buyers = np.zeros(m, dtype=np.int64)
        top = np.zeros(m)
    central = np.divide(top, spend, out=np.zeros(m), where=spend > 0)

    # Continuity over the periods.
    inside = (p >= 0) & (p < n_periods)
    grid = np.zeros((m, n_periods))
    np.add.at(grid, (o[inside], p[inside]), a[inside])
    active = (grid > 0).mean(axis=1)
    mean = grid.mean(axis=1)
    sd = grid.std(axis=1)
    cv = np.divide(sd, mean, out=np.full(m, np.inf), where=mean > 0)
    continuity = active / (1.0 + cv)

    score = (fit + central + continuity) / 3.0
    candidate = ((fit >= th.min_product_fit) & (central >= th.min_central_share)
                 & (active >= th.min_active_share) & (cv <= th.max_cv))
    return KeyAccountMeasures(organizations=orgs, spend=spend, n_categories=n_cat,
                              product_fit=fit, n_buyers=n_buyers, central_share=central,
                              active_share=active, cv=cv, continuity=continuity, score=score,
                              candidate=candidate, period_spend=grid)
