"""What to offer: products bought together and in sequence, from purchase history (M15).

Item-to-item collaborative filtering ("customers who bought A also bought B", the approach of
Linden, Smith & York 2003, *Amazon.com recommendations: item-to-item collaborative filtering*,
IEEE Internet Computing 7(1)): similar customers are those who bought the same items, and the
evidence for offering B to a customer is the share of the buyers of an item A they have who
also bought B.

For items A and B among ``N`` customers, with ``n_A`` buyers of A and ``n_AB`` buyers of both:

- **confidence** ``c(A→B) = n_AB / n_A`` — "38% of A-buyers also buy B";
- **lift** ``c(A→B) / (n_B / N)`` — how much more likely than for any customer (> 1 means A
  tells us something about B; a best-seller that everyone buys has lift ≈ 1 and is not offered
  on the strength of A);
- **sequence** ``s(A→B) = m_AB / n_A`` where ``m_AB`` counts the buyers whose first purchase
  of B came after their first purchase of A, within ``sequence_days`` — "38% of A-buyers then
  buy B". The reason given for an offer uses the sequence when at least half of the co-buyers
  bought in that order, else "also buy".

A customer's candidate offers are the items B that some item A they bought points to (kept:
the ``neighbours`` best B per A with at least ``min_support`` co-buyers and lift above
``min_lift``), minus what they already have and what the caller excludes; each offer carries
the strongest A as its reason, and offers are ranked by that confidence.

Everything is vectorized over (customer, item) pairs; the pairs within one customer are capped
at the ``max_items_per_customer`` most recently first-bought items, so a wholesale buyer of
thousands of items does not dominate the cost (quadratic in items per customer).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
from scipy import sparse

__all__ = ["CoPurchaseRecommender", "Offers"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclasses.dataclass(frozen=True)
class Offers:
    """Offers for a batch of customers, one row per offer, ranked within each customer.

    Attributes
    ----------
    customer : ndarray of int
        The caller's customer id of each offer.
    item : ndarray of int
        The item offered (the caller's item id).
    because : ndarray of int
        The item the customer bought that suggests it (the reason).
    confidence : ndarray of float
        Share of ``because``-buyers who also bought ``item``.
    sequence : ndarray of float
        Share of ``because``-buyers who bought ``item`` after it, within ``sequence_days``.
    lift : ndarray of float
        ``confidence`` over the share of all customers who bought ``item``.
    sequential : ndarray of bool
        Whether the reason is a sequence ("then buy") rather than "also buy".
    """

    customer: IntArray
    item: IntArray
    because: IntArray
    confidence: FloatArray
    sequence: FloatArray
    lift: FloatArray
    sequential: BoolArray

    def __len__(self) -> int:
        return int(self.customer.size)


def _first_purchases(customer: IntArray, item: IntArray,
                     day: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """One row per (customer, item): the first day the customer bought the item."""
    order = np.lexsort((day, item, customer))
    c, i, d = customer[order], item[order], day[order]
    first = np.ones(c.size, dtype=bool)
    first[1:] = (c[1:] != c[:-1]) | (i[1:] != i[:-1])
    return c[first], i[first], d[first]


def _cap_per_customer(c: IntArray, i: IntArray, d: IntArray,
                      cap: int) -> tuple[IntArray, IntArray, IntArray]:
    """Keep each customer's ``cap`` most recently first-bought items."""
    order = np.lexsort((-d, c))
    c, i, d = c[order], i[order], d[order]
    starts = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
    sizes = np.diff(np.r_[starts, c.size])
    rank = np.arange(c.size) - np.repeat(starts, sizes)
    keep = rank < cap
    return c[keep], i[keep], d[keep]


def _pairs_within_groups(group: IntArray) -> tuple[IntArray, IntArray]:
    """All ordered pairs (p, q), p ≠ q, of positions sharing a group (``group`` sorted)."""
    n = group.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    sizes = np.diff(np.r_[starts, n])
    size_of = np.repeat(sizes, sizes)
    start_of = np.repeat(starts, sizes)
    left = np.repeat(np.arange(n), size_of)
    offset = np.arange(left.size) - np.repeat(np.cumsum(size_of) - size_of, size_of)
    right = np.repeat(start_of, size_of) + offset
    mask = left != right
    return left[mask].astype(np.int64), right[mask].astype(np.int64)


class CoPurchaseRecommender:
    """Item-to-item offers from who bought what and when.

    Parameters
    ----------
    min_support : int
        Fewest customers who bought both items for a rule to count (noise guard).
    min_lift : float
        Rules with a lift at or below this are dropped (B is bought as often without A).
    sequence_days : int
        "A then B" counts when the first B came 1 to ``sequence_days`` days after the first A.
    neighbours : int
        Rules kept per item A (its strongest B's).
    max_items_per_customer : int
        Cap on a customer's distinct items used for learning (see the module docstring).
    """

    def __init__(self, *, min_support: int = 2, min_lift: float = 1.0,
                 sequence_days: int = 180, neighbours: int = 20,
                 max_items_per_customer: int = 50) -> None:
        self.min_support = min_support
        self.min_lift = min_lift
        self.sequence_days = sequence_days
        self.neighbours = neighbours
        self.max_items_per_customer = max_items_per_customer

    def fit(self, customer: npt.ArrayLike, item: npt.ArrayLike,
            day: npt.ArrayLike) -> CoPurchaseRecommender:
        """Learn the rules from purchase lines.

        Parameters
        ----------
        customer, item : array_like of int
            Customer id and item (product) id of each purchase line.
        day : array_like of int
            Day of each line (any integer day number, e.g. days since an epoch).

        Returns
        -------
        self
        """
        cust = np.asarray(customer, dtype=np.int64)
        raw_items = np.asarray(item, dtype=np.int64)
        days = np.asarray(day, dtype=np.int64)
        if not (cust.shape == raw_items.shape == days.shape) or cust.ndim != 1:
            raise ValueError("customer, item and day must be 1-d arrays of one length")
        self.items_, item_code = np.unique(raw_items, return_inverse=True)
        n_items = self.items_.size
        c, i, d = _first_purchases(cust, item_code.astype(np.int64), days)
        self.n_customers_ = int(np.unique(c).size)
        self.item_buyers_ = np.bincount(i, minlength=n_items).astype(np.int64)
        c, i, d = _cap_per_customer(c, i, d, self.max_items_per_customer)
        order = np.argsort(c, kind="stable")
        c, i, d = c[order], i[order], d[order]
        left, right = _pairs_within_groups(c)
        a, b = i[left], i[right]
        gap = d[right] - d[left]
        shape = (n_items, n_items)
        together = sparse.coo_matrix((np.ones(a.size), (a, b)), shape=shape).tocsr()
        then = (gap > 0) & (gap <= self.sequence_days)
        sequence = sparse.coo_matrix((np.ones(int(then.sum())), (a[then], b[then])),
                                     shape=shape).tocsr()
        self._rules(together, sequence)
        return self

    def _rules(self, together: sparse.csr_matrix, sequence: sparse.csr_matrix) -> None:
        co = together.tocoo()
        a, b, n_ab = co.row.astype(np.int64), co.col.astype(np.int64), co.data
        seq = np.asarray(sequence[a, b]).ravel() if a.size else np.zeros(0)
        n_a = self.item_buyers_[a].astype(float)
        share_b = self.item_buyers_[b] / max(self.n_customers_, 1)
        confidence = n_ab / n_a
        lift = confidence / share_b
        keep = (n_ab >= self.min_support) & (lift > self.min_lift)
        a, b, confidence, lift = a[keep], b[keep], confidence[keep], lift[keep]
        seq_share = seq[keep] / n_a[keep]
        # The best ``neighbours`` rules of each A, strongest first.
        order = np.lexsort((-lift, -confidence, a))
        a, b, confidence, lift, seq_share = (x[order] for x in
                                             (a, b, confidence, lift, seq_share))
        starts = np.r_[0, np.flatnonzero(a[1:] != a[:-1]) + 1] if a.size else np.zeros(0, int)
        sizes = np.diff(np.r_[starts, a.size])
        rank = np.arange(a.size) - np.repeat(starts, sizes)
        top = rank < self.neighbours
        self.rule_from_ = a[top]
        self.rule_to_ = b[top]
        self.rule_confidence_ = confidence[top]
        self.rule_sequence_ = seq_share[top]
        self.rule_lift_ = lift[top]
        counts = np.bincount(self.rule_from_, minlength=self.items_.size)
        self.rule_indptr_ = np.r_[0, np.cumsum(counts)].astype(np.int64)

    def _codes(self, items: IntArray) -> tuple[IntArray, BoolArray]:
        if self.items_.size == 0:
            return np.zeros(items.size, dtype=np.int64), np.zeros(items.size, dtype=bool)
        pos = np.clip(np.searchsorted(self.items_, items), 0, self.items_.size - 1)
        return pos.astype(np.int64), np.asarray(self.items_[pos] == items, dtype=bool)

    def recommend(self, customer: npt.ArrayLike, item: npt.ArrayLike, *, top_k: int = 3,
                  exclude_customer: npt.ArrayLike = (),
                  exclude_item: npt.ArrayLike = ()) -> Offers:
        """The best ``top_k`` offers for each customer in a batch.

        Parameters
        ----------
        customer, item : array_like of int
            What each customer of the batch has bought (one row per customer × item).
        top_k : int
            Offers per customer.
        exclude_customer, exclude_item : array_like of int
            Pairs never to offer (the customer's taboos, items out of stock...).

        Returns
        -------
        Offers
            Ranked by customer, then by confidence (strongest first).
        """
        cust = np.asarray(customer, dtype=np.int64)
        owned = np.asarray(item, dtype=np.int64)
        code, known = self._codes(owned)
        cust, code = cust[known], code[known]
        starts = self.rule_indptr_[code]
        counts = self.rule_indptr_[code + 1] - starts
        row = np.repeat(cust, counts)
        src = np.repeat(code, counts)
        rule = np.repeat(starts, counts) + (
            np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts))
        target = self.rule_to_[rule]
        # Drop what the customer has and what the caller excludes (pairs encoded as one int).
        width = np.int64(self.items_.size + 1)
        cand_key = row * width + target
        owned_key = cust * width + code
        ex_c = np.asarray(exclude_customer, dtype=np.int64)
        ex_code, ex_known = self._codes(np.asarray(exclude_item, dtype=np.int64))
        drop_key = np.r_[owned_key, ex_c[ex_known] * width + ex_code[ex_known]]
        ok = ~np.isin(cand_key, drop_key)
        row, src, rule, target = row[ok], src[ok], rule[ok], target[ok]
        conf = self.rule_confidence_[rule]
        # The strongest reason per (customer, offer), then the top_k offers per customer.
        order = np.lexsort((-conf, target, row))
        row, src, rule, target, conf = (x[order] for x in (row, src, rule, target, conf))
        first = np.ones(row.size, dtype=bool)
        first[1:] = (row[1:] != row[:-1]) | (target[1:] != target[:-1])
        row, src, rule, target, conf = (x[first] for x in (row, src, rule, target, conf))
        order = np.lexsort((-self.rule_lift_[rule], -conf, row))
        row, src, rule, target, conf = (x[order] for x in (row, src, rule, target, conf))
        if row.size:
            starts_r = np.r_[0, np.flatnonzero(row[1:] != row[:-1]) + 1]
            sizes = np.diff(np.r_[starts_r, row.size])
            rank = np.arange(row.size) - np.repeat(starts_r, sizes)
            top = rank < top_k
            row, src, rule, target, conf = (x[top] for x in (row, src, rule, target, conf))
        seq = self.rule_sequence_[rule]
        return Offers(customer=row, item=self.items_[target], because=self.items_[src],
                      confidence=conf, sequence=seq, lift=self.rule_lift_[rule],
                      sequential=seq >= 0.5 * conf)
