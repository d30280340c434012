"""Customers drawn from the BG/NBD model, for tests (parameter recovery) and benchmarks.

Everything is drawn in a few vectorized calls on an explicit ``numpy.random.Generator``; no
global random state is touched, so a seed reproduces a data set exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import _validation as v
from ._validation import BoolArray, FloatArray, IntArray
from .errors import InvalidInputError

__all__ = ["BGNBDSimulation", "simulate_bgnbd_transactions"]


@dataclass(frozen=True, eq=False)
class BGNBDSimulation:
    """Simulated customers and their purchases.

    Attributes
    ----------
    customer, time : ndarray
        The transaction log: customer id and time since that customer's first purchase of
        every purchase, the first purchase (time 0) included; sorted by customer and time.
    customer_ids : ndarray of int64
        Ids of the simulated customers, ``start_id, start_id + 1, ...``.
    x, t_x, T : ndarray
        Their BG/NBD summary at the end of observation (x repeat purchases, last at t_x).
    purchase_rate, dropout_probability : ndarray of float64
        The drawn lambda and p of each customer (the truth the model estimates).
    alive : ndarray of bool
        Whether the customer is still alive at T.
    """

    customer: IntArray
    time: FloatArray
    customer_ids: IntArray
    x: IntArray
    t_x: FloatArray
    T: FloatArray
    purchase_rate: FloatArray
    dropout_probability: FloatArray
    alive: BoolArray


def simulate_bgnbd_transactions(
    n_customers: int,
    params: Mapping[str, float],
    *,
    T: npt.ArrayLike,
    rng: np.random.Generator,
    start_id: int = 0,
) -> BGNBDSimulation:
    """Draw ``n_customers`` BG/NBD customers, each observed for ``T`` after a first purchase.

    Each customer gets lambda ~ Gamma(r, scale 1/alpha) and p ~ Beta(a, b) (FHL 2005,
    section 3). While alive they buy at rate lambda; right after each repeat purchase they
    drop out with probability p, so the number of repeat purchases they would ever make is
    K ~ Geometric(p) on {1, 2, ...}. With N ~ Poisson(lambda T) events of their purchase
    process in (0, T], they make x = min(N, K) repeat purchases there.

    The purchase times are the first x of N uniform order statistics on (0, T], drawn
    without drawing all N: with E_1..E_x ~ Exp(1) and G ~ Gamma(N - x + 1),
    U_(k) = (E_1 + ... + E_k) / (E_1 + ... + E_x + G) (Devroye 1986, V.2). A heavy buyer
    who drops out early thus costs x draws, not N.

    Parameters
    ----------
    n_customers : int
        Customers to draw.
    params : mapping
        ``r``, ``alpha``, ``a``, ``b``.
    T : float or array_like
        Observation length after the first purchase, one value or one per customer.
    rng : numpy.random.Generator
        Source of randomness.
    start_id : int, default 0
        Id of the first customer (to draw a large population in chunks).
    """
    if n_customers < 0:
        raise InvalidInputError("n_customers must be >= 0.")
    r, alpha, a, b = (float(params[k]) for k in ("r", "alpha", "a", "b"))
    if min(r, alpha, a, b) <= 0:
        raise InvalidInputError("BG/NBD parameters r, alpha, a, b must all be > 0.")
    Tf = np.broadcast_to(v.as_float("T", T), (n_customers,)).astype(np.float64)
    if np.any(Tf < 0):
        raise InvalidInputError("T must be >= 0.")

    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    # A Beta draw can underflow to exactly 0 for small a; Geometric(0) is undefined, and a
    # drop-out probability of 1e-12 already means "never drops out" for any horizon.
    dropout = np.clip(rng.beta(a, b, n_customers), 1e-12, 1.0)
    would_buy = rng.geometric(dropout)
    events = rng.poisson(rate * Tf)
    x = np.minimum(events, would_buy).astype(np.int64)
    alive = events < would_buy

    total = int(x.sum())
    owner = np.repeat(np.arange(n_customers), x)
    spacing_sums = np.cumsum(rng.standard_exponential(total))
    starts = np.cumsum(x) - x
    # Partial sums per customer: the global running sum minus its value before the group.
    before = np.where(starts > 0, spacing_sums[np.maximum(starts - 1, 0)], 0.0)
    partial = spacing_sums - before[owner]
    rest = rng.gamma(events - x + 1.0)
    last_partial = np.zeros(n_customers)
    if total:
        last_partial[x > 0] = partial[(starts + x - 1)[x > 0]]
    repeat_times = Tf[owner] * partial / (last_partial[owner] + rest[owner])
    t_x = np.where(x > 0, Tf * last_partial / (last_partial + rest), 0.0)

    ids = np.arange(start_id, start_id + n_customers, dtype=np.int64)
    # Transaction log in (customer, time) order without a sort: customer i's first purchase
    # sits after the i earlier first purchases and their repeat purchases, then its own
    # repeat purchases follow, already increasing (cumulative sums).
    customer = np.repeat(ids, x + 1)
    time = np.zeros(n_customers + total)
    time[np.arange(total) + owner + 1] = repeat_times
    return BGNBDSimulation(
        customer=customer,
        time=time,
        customer_ids=ids,
        x=x,
        t_x=t_x,
        T=Tf,
        purchase_rate=rate,
        dropout_probability=dropout,
        alive=alive,
    )
