"""Customer lifetime value, customer equity and value tiers.

CLV here is the discounted expected *future* margin of an existing customer over a finite
horizon, combining a purchase model (how many purchases, when) with a spend model (how much
per purchase), as in Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for
customer base analysis", *Journal of Marketing Research* 42(4), whose spend/purchase
independence assumption lets the two expectations multiply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from . import _validation as v
from ._ranks import tie_bounds
from ._validation import DAYS_PER_YEAR, FloatArray
from .errors import InvalidInputError

__all__ = [
    "DEFAULT_TIERS",
    "SpendModel",
    "TransactionModel",
    "customer_equity",
    "customer_lifetime_value",
    "value_tiers",
]

StrArray = npt.NDArray[np.str_]
Tiers = Sequence[tuple[float | None, str]]

#: Tiers by share of customers, best first: the top 1% are ``vip``, the next 4% ``key``,
#: the next 15% ``major`` and the rest (``None``) ``ordinary``.
DEFAULT_TIERS: Final[tuple[tuple[float | None, str], ...]] = (
    (0.01, "vip"),
    (0.04, "key"),
    (0.15, "major"),
    (None, "ordinary"),
)


class TransactionModel(Protocol):
    """What CLV needs of a purchase model (``BGNBD``, ``ParetoNBD``)."""

    def expected_purchases(
        self, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray: ...


class SpendModel(Protocol):
    """What CLV needs of a spend model (``GammaGamma``)."""

    def expected_spend(self, x: npt.ArrayLike, m: npt.ArrayLike) -> FloatArray: ...


def customer_lifetime_value(
    transaction_model: TransactionModel,
    spend_model: SpendModel,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    m: npt.ArrayLike,
    *,
    horizon: float,
    margin: float = 1.0,
    annual_discount_rate: float = 0.10,
    time_unit: str = "week",
    steps: int | None = None,
) -> FloatArray:
    """Net present value of each customer's expected margin over the next ``horizon``.

    The horizon is cut into ``steps`` equal sub-periods. In each, the expected number of
    purchases is the increase of the purchase model's conditional expectation (FHL 2005
    *Marketing Science* eq. 10 for the BG/NBD), valued at the spend model's expected spend
    per purchase and discounted to today from the sub-period's midpoint::

        CLV = margin * E[spend] * sum_k (E[X(t_k)] - E[X(t_{k-1})]) / (1 + d)^(t_mid,k / year)

    Discounting inside the horizon matters: a flat sum over a year at 10% overstates value
    by about 5%, more for longer horizons, and misranks customers whose purchases are
    expected early (likely actives) against those expected late.

    Parameters
    ----------
    transaction_model : TransactionModel
        A fitted purchase model with ``expected_purchases(t, x, t_x, T)``; it is called once
        with a column of horizons (shape ``(steps + 1, 1)``), so it must broadcast.
    spend_model : SpendModel
        A fitted spend model with ``expected_spend(x, m)``.
    x, t_x, T : array_like
        Each customer's summary, in the purchase model's time unit.
    m : array_like
        Mean repeat spend (``CustomerSummary.monetary``; ignored where x = 0).
    horizon : float
        How far ahead, in ``time_unit`` (52 weeks, 365 days).
    margin : float, default 1.0
        Share of spend that is profit (1.0 gives revenue value).
    annual_discount_rate : float, default 0.10
        Yearly discount rate d.
    time_unit : {"week", "day"}
        The purchase model's time unit, to convert times to years for discounting.
    steps : int, optional
        Sub-periods; by default one per month of the horizon (at least one). Monthly steps
        put the discounting error far below the models' own uncertainty.

    Returns
    -------
    ndarray of float64
        One value per customer (broadcast shape of the inputs).
    """
    unit_days = v.days_per_unit(time_unit)
    if not (math.isfinite(horizon) and horizon > 0):
        raise InvalidInputError("horizon must be a finite number > 0.")
    if not math.isfinite(margin):
        raise InvalidInputError("margin must be finite.")
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate > -1.0):
        raise InvalidInputError("annual_discount_rate must be finite and > -1.")
    if steps is None:
        steps = max(1, math.ceil(horizon * unit_days / (DAYS_PER_YEAR / 12.0) - 1e-9))
    if steps < 1:
        raise InvalidInputError("steps must be >= 1.")

    edges = np.linspace(0.0, horizon, steps + 1)
    customer_ndim = len(np.broadcast_shapes(np.shape(x), np.shape(t_x), np.shape(T)))
    # One call with the horizons on a new leading axis: the model sees every (customer,
    # horizon) pair at once and can share work across horizons.
    column = edges.reshape((-1,) + (1,) * customer_ndim)
    cumulative = np.asarray(
        transaction_model.expected_purchases(column, x, t_x, T), dtype=np.float64
    )
    per_step = np.diff(cumulative, axis=0)
    midpoint_years = 0.5 * (edges[:-1] + edges[1:]) * unit_days / DAYS_PER_YEAR
    # (1 + d)^(-t) as exp(-t log1p(d)): exact for small d and no overflow for long horizons.
    discount = np.exp(-midpoint_years * math.log1p(annual_discount_rate))
    # einsum, not tensordot: no BLAS thread pool (see _validation.dot).
    present_purchases = np.einsum("k,k...->...", discount, per_step)
    spend = np.asarray(spend_model.expected_spend(x, m), dtype=np.float64)
    return np.asarray(margin * spend * present_purchases, dtype=np.float64)


def customer_equity(
    clv: npt.ArrayLike,
    *,
    n_prospects: int = 0,
    acquisition_rate: float = 0.0,
    prospect_value: float = 0.0,
) -> float:
    """Value of the customer base: the sum of current customers' CLV plus expected newcomers.

    ``equity = sum(clv) + n_prospects * acquisition_rate * prospect_value``: of
    ``n_prospects`` prospects, a share ``acquisition_rate`` is expected to become customers,
    each worth ``prospect_value`` (typically the CLV of a brand-new customer over the same
    horizon, ``margin * spend_model.expected_spend_new() * expected_purchases_new(horizon)``
    discounted, minus the cost of acquiring them). That is the usual definition of customer
    equity, the value of current customers plus that of future acquisitions (e.g. Gupta &
    Lehmann 2003, "Customers as assets", *Journal of Interactive Marketing* 17(1)).
    """
    values = v.as_float("clv", clv)
    if n_prospects < 0:
        raise InvalidInputError("n_prospects must be >= 0.")
    if not 0.0 <= acquisition_rate <= 1.0:
        raise InvalidInputError("acquisition_rate must be in [0, 1].")
    if not math.isfinite(prospect_value):
        raise InvalidInputError("prospect_value must be finite.")
    return float(values.sum()) + n_prospects * acquisition_rate * prospect_value


def _tier_table(cuts: Tiers | Sequence[float]) -> tuple[list[float], list[str]]:
    """Cumulative shares and names of the tiers; plain shares get ``DEFAULT_TIERS``' names."""
    items: list[object] = list(cuts)
    pairs: list[tuple[float | None, str]] = []
    shares = [float(c) for c in items if isinstance(c, int | float)]
    if items and len(shares) == len(items):
        names = [name for _, name in DEFAULT_TIERS]
        if len(shares) != len(names) - 1:
            raise InvalidInputError(
                f"Plain tier shares need {len(names) - 1} values (for {', '.join(names[:-1])}); "
                f"the rest is {names[-1]}."
            )
        pairs = [*zip(shares, names[:-1], strict=True), (None, names[-1])]
    else:
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str)
                    and (item[0] is None or isinstance(item[0], int | float))):
                raise InvalidInputError(f"A tier must be a (share or None, name) pair: {item!r}.")
            pairs.append((None if item[0] is None else float(item[0]), item[1]))
    if not pairs:
        raise InvalidInputError("cuts must name at least one tier.")
    names = [name for _, name in pairs]
    if len(set(names)) != len(names):
        raise InvalidInputError("Tier names must be distinct.")
    cumulative: list[float] = []
    total = 0.0
    for i, (share, _) in enumerate(pairs):
        if share is None:
            if i != len(pairs) - 1:
                raise InvalidInputError("Only the last tier may take 'the rest' (share None).")
            total = 1.0
        else:
            if not (math.isfinite(share) and share > 0):
                raise InvalidInputError("Tier shares must be > 0.")
            total += share
        cumulative.append(total)
    if total > 1.0 + 1e-9:
        raise InvalidInputError(f"Tier shares add up to {total:g}, more than 1.")
    return cumulative, names


def value_tiers(clv: npt.ArrayLike, cuts: Tiers | Sequence[float] = DEFAULT_TIERS) -> StrArray:
    """Tier of each customer by rank of CLV: ``vip``, ``key``, ``major``, ``ordinary``.

    ``cuts`` are ``(share, name)`` pairs, best first, with shares of customers *per tier*
    (not cumulative); the last share may be ``None`` for "the rest". Plain numbers, e.g.
    ``(0.01, 0.04, 0.15)``, are shares for ``DEFAULT_TIERS``' names.

    A customer belongs to the first tier whose cumulative share covers **everyone with a CLV
    at least as high as theirs**: customers with equal CLV always share a tier, and a tier
    is never larger than its share (ties that straddle a cut all drop to the next tier). The
    cut counts are rounded to the nearest whole customer. The result depends only on the
    values, not on their order. If the shares add up to less than 1 with no "rest" tier,
    customers beyond them get an empty string.

    Returns
    -------
    ndarray of str
        The tier name of each customer.
    """
    values = v.as_float("clv", clv)
    if values.ndim != 1:
        raise InvalidInputError("clv must be a 1-d array.")
    cumulative, names = _tier_table(cuts)
    n = values.size
    # For each customer, how many customers have a CLV >= theirs (themselves included).
    at_least = n - tie_bounds(values)[0]
    limits = np.floor(np.asarray(cumulative) * n + 0.5).astype(np.int64)
    limits[-1] = n if cumulative[-1] >= 1.0 - 1e-9 else limits[-1]
    tier = np.searchsorted(limits, at_least, side="left")
    labels = np.array([*names, ""])
    return np.asarray(labels[tier], dtype=np.str_)
