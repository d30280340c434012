"""From transaction lines to one row per customer: the RFM and (x, t_x, T) summaries.

The literature's conventions (Fader, Hardie & Lee 2005; the CDNOW set-up) are followed:

- several lines of one customer on one calendar day are **one purchase** (amounts summed);
- the **first purchase** starts the customer's clock: it counts neither in x (repeat
  purchases) nor in the mean repeat spend ``monetary``;
- ``calibration_end`` is the last day included, and times are counted in whole days from
  one purchase day to another: ``t_x`` = last - first purchase day and ``T`` =
  ``calibration_end`` - first purchase day. A customer first seen on 1997-01-01 has
  T = 272 days = 38.86 weeks at 1997-09-30, as in the data behind the published CDNOW
  estimates (with T = 39 weeks, i.e. counting the last day once more, the BG/NBD fit misses
  them: LL -9589.9 instead of -9582.4);
- customers whose first purchase is after ``calibration_end`` are not in the summary.

Summaries **merge exactly**. :meth:`PartialSummary.from_transactions` turns any chunk of
transaction lines (a file, a database page, a dask partition) into a table of customer-days;
:meth:`PartialSummary.merge` combines such tables, and :meth:`PartialSummary.finalize`
computes the per-customer summary. The result is identical, bit for bit, to
:func:`summarize_transactions` on all lines at once, however the lines were split, even when
one customer-day is spread over chunks. Two choices make that true:

- a partial keeps customer-days, not per-customer statistics: x, T and the intervals depend
  on ``calibration_end``, which is only known at ``finalize``;
- amounts are accumulated as integers of 1e-6 currency units. Float addition is not
  associative (``(0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)``), so summing floats per chunk
  would make the result depend on the chunking; integer sums do not. Amounts must therefore
  be below 9e12 in absolute value (they are money, and micro-units of it are exact enough).

Dates are calendar days. ``datetime64[s]`` values are cut to their day as given: numpy
datetimes carry no time zone, so convert timestamps to the business's local time *before*
calling, or a late-evening order lands on the next day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Final, Protocol, overload

import numpy as np
import numpy.typing as npt

from . import _validation as v
from ._validation import BoolArray, FloatArray, IntArray
from .errors import InvalidInputError

__all__ = ["CustomerSummary", "PartialSummary", "summarize_transactions"]

DateArray = npt.NDArray[np.datetime64]
DateLike = str | dt.date | np.datetime64

_MICRO: Final = 1_000_000
_MAX_AMOUNT: Final = 9.0e12  # |amount| * 1e6 must stay inside int64 (9.22e18)


def _day(name: str, value: DateLike) -> int:
    """A calendar date as days since 1970-01-01."""
    if isinstance(value, dt.datetime):
        raise InvalidInputError(
            f"{name} must be a calendar date, not a datetime: decide in which time zone the "
            "day ends, then pass its date."
        )
    try:
        day = np.datetime64(value, "D")  # type: ignore[call-overload]  # str | date | datetime64 all work
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} is not a date: {value!r} ({exc}).") from None
    if np.isnat(day):
        raise InvalidInputError(f"{name} is not a date: {value!r}.")
    return int(day.astype(np.int64))


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False, kw_only=True)
class CustomerSummary:
    """One row per customer, sorted by customer id; every field is an array of that length.

    Calibration fields cover the purchases from ``observation_start`` (or the beginning) to
    ``calibration_end`` inclusive; holdout fields, present when a ``holdout_end`` was given,
    cover ``(calibration_end, holdout_end]``. A "purchase" is a distinct purchase day.

    Attributes
    ----------
    customer : ndarray
        The customer ids, sorted.
    x : ndarray of int64
        Repeat purchases in calibration (purchase days after the first).
    t_x : ndarray of float64
        Time from the first to the last purchase, in ``time_unit`` (0 when x = 0).
    T : ndarray of float64
        Time from the first purchase day to ``calibration_end``, in ``time_unit``.
    monetary : ndarray of float64
        Mean spend of the repeat purchases (the first excluded); 0 when x = 0.
    first_purchase, last_purchase : ndarray of datetime64[D]
        First and last purchase days in calibration.
    n_orders : ndarray of int64
        Transaction lines in calibration (several per purchase day are possible).
    total_spend : ndarray of float64
        Spend in calibration, first purchase included.
    recency_days : ndarray of int64
        Days from the last purchase to ``calibration_end``.
    frequency : ndarray of int64
        Distinct purchase days in calibration (x + 1).
    mean_interval_days, std_interval_days : ndarray of float64
        Mean and sample standard deviation of the gaps between purchase days; NaN with
        fewer than one (mean) or two (standard deviation) gaps.
    x_holdout : ndarray of int64 or None
        Purchase days in the holdout period.
    spend_holdout : ndarray of float64 or None
        Spend in the holdout period.
    holdout_length : ndarray of float64 or None
        Length of the holdout period in ``time_unit`` (the same for everyone).
    calibration_end, holdout_end : numpy.datetime64
        The period ends used, as dates (``holdout_end`` may be None).
    time_unit : {"week", "day"}
        Unit of t_x, T and holdout_length.
    """

    customer: npt.NDArray[Any]
    x: IntArray
    t_x: FloatArray
    T: FloatArray
    monetary: FloatArray
    first_purchase: DateArray
    last_purchase: DateArray
    n_orders: IntArray
    total_spend: FloatArray
    recency_days: IntArray
    frequency: IntArray
    mean_interval_days: FloatArray
    std_interval_days: FloatArray
    x_holdout: IntArray | None = None
    spend_holdout: FloatArray | None = None
    holdout_length: FloatArray | None = None
    calibration_end: np.datetime64 = field(default_factory=lambda: np.datetime64("NaT", "D"))
    holdout_end: np.datetime64 | None = None
    time_unit: str = "week"

    def __post_init__(self) -> None:
        n = self.customer.shape[0]
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.ndim == 1:
                if value.shape[0] != n:
                    raise InvalidInputError(
                        f"CustomerSummary.{f.name} has {value.shape[0]} rows, not {n}."
                    )
                _frozen(value)

    def __len__(self) -> int:
        return int(self.customer.shape[0])


class _MergeOne(Protocol):
    def __call__(self, *others: PartialSummary) -> PartialSummary: ...


class _MergeMany(Protocol):
    def __call__(self, parts: Iterable[PartialSummary], /) -> PartialSummary: ...


class _MergeDescriptor:
    """``PartialSummary.merge(parts)`` and ``part.merge(other, ...)``: one operation.

    Merging is associative and commutative, so both spellings are just a concatenation of
    customer-days followed by the same collapse as for transaction lines.
    """

    @overload
    def __get__(self, obj: None, owner: type[PartialSummary]) -> _MergeMany: ...
    @overload
    def __get__(self, obj: PartialSummary, owner: type[PartialSummary]) -> _MergeOne: ...
    def __get__(
        self, obj: PartialSummary | None, owner: type[PartialSummary]
    ) -> _MergeMany | _MergeOne:
        if obj is None:
            return _merge_parts

        def merge_with(*others: PartialSummary) -> PartialSummary:
            return _merge_parts([obj, *others])

        return merge_with



@dataclass(frozen=True, eq=False)
class PartialSummary:
    """Customer-days of a chunk of transaction lines, ready to merge with other chunks.

    Build one with :meth:`from_transactions`, combine with :meth:`merge`, and turn into a
    :class:`CustomerSummary` with :meth:`finalize`. Rows are unique per (customer, day) and
    sorted by customer id, then day.

    Attributes
    ----------
    customer_ids : ndarray
        Sorted distinct customer ids of the chunk.
    row_customer : ndarray of int64
        For each customer-day, the index of its customer in ``customer_ids``.
    day : ndarray of int64
        The day, as days since 1970-01-01.
    amount_micro : ndarray of int64
        Spend of the customer-day in 1e-6 currency units (exact under merging).
    n_lines : ndarray of int64
        Transaction lines that made up the customer-day.
    """

    customer_ids: npt.NDArray[Any]
    row_customer: IntArray
    day: IntArray
    amount_micro: IntArray
    n_lines: IntArray

    @classmethod
    def from_transactions(
        cls, customer: npt.ArrayLike, date: npt.ArrayLike, amount: npt.ArrayLike
    ) -> PartialSummary:
        """Collapse transaction lines to customer-days (same-day lines summed).

        Parameters
        ----------
        customer : array_like
            Customer id of each line (integers or strings).
        date : array_like of datetime64
            Day (``datetime64[D]``) or time (``datetime64[s]``, cut to its day) of each line.
        amount : array_like of float
            Money of each line; finite, below 9e12 in absolute value.
        """
        ids = np.asarray(customer)
        if ids.ndim != 1:
            raise InvalidInputError("customer must be a 1-d array of ids.")
        if ids.dtype.kind not in "iuUSO":
            raise InvalidInputError(f"customer ids must be integers or strings, not {ids.dtype}.")
        try:
            dates = np.asarray(date)
            if dates.dtype.kind != "M":
                dates = dates.astype("datetime64[D]")
            days = dates.astype("datetime64[D]").astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"date must hold dates (datetime64): {exc}") from None
        if np.any(np.isnat(dates)):
            raise InvalidInputError("date contains NaT (missing dates).")
        money = v.as_float("amount", amount)
        if not (ids.shape == days.shape == money.shape):
            raise InvalidInputError(
                f"customer, date and amount must have the same length: "
                f"{ids.shape[0]}, {days.shape[0] if days.ndim else 1}, {money.size}."
            )
        if np.any(np.abs(money) >= _MAX_AMOUNT):
            raise InvalidInputError("amount must be below 9e12 in absolute value.")
        micro = np.rint(money * _MICRO).astype(np.int64)
        if ids.size == 0:
            return _empty_partial(ids.dtype)
        return _collapse_lines(ids, days, micro, None)

    merge = _MergeDescriptor()

    def finalize(
        self,
        *,
        calibration_end: DateLike,
        holdout_end: DateLike | None = None,
        time_unit: str = "week",
        observation_start: DateLike | None = None,
    ) -> CustomerSummary:
        """The per-customer summary; see :func:`summarize_transactions` for the arguments."""
        return _finalize(
            self,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            time_unit=time_unit,
            observation_start=observation_start,
        )

    def tracking_inputs(
        self,
        *,
        origin: DateLike,
        end: DateLike,
        time_unit: str = "week",
    ) -> tuple[FloatArray, FloatArray]:
        """The inputs of :func:`~guanxi.analytics.tracking_curve` from these customer-days.

        Returns ``(first_purchase_offsets, repeat_purchase_times)``: each customer's first
        purchase day and every later purchase day up to ``end``, as time since ``origin``
        in ``time_unit`` (customers first seen after ``end`` are left out).
        """
        unit = v.days_per_unit(time_unit)
        origin_day, end_day = _day("origin", origin), _day("end", end)
        keep = self.day <= end_day
        rows, days = self.row_customer[keep], self.day[keep]
        is_first = np.ones(rows.size, dtype=bool)
        is_first[1:] = rows[1:] != rows[:-1]
        first = (days[is_first] - origin_day) / unit
        repeat = (days[~is_first] - origin_day) / unit
        return first.astype(np.float64), repeat.astype(np.float64)

    def __len__(self) -> int:
        """Customer-days held."""
        return int(self.day.shape[0])




def _empty_partial(dtype: np.dtype[Any]) -> PartialSummary:
    empty = np.zeros(0, dtype=np.int64)
    return PartialSummary(np.zeros(0, dtype=dtype), empty, empty.copy(), empty.copy(),
                          empty.copy())


def _merge_parts(parts: Iterable[PartialSummary], /) -> PartialSummary:
    parts = list(parts)
    if not parts:
        raise InvalidInputError("PartialSummary.merge() needs at least one part.")
    if len(parts) == 1:
        return parts[0]
    kinds = {p.customer_ids.dtype.kind for p in parts if p.customer_ids.size}
    if len(kinds - {"i", "u"}) > 1 or ((kinds & {"i", "u"}) and (kinds - {"i", "u"})):
        raise InvalidInputError("Cannot merge partial summaries with integer and string ids.")
    ids = np.concatenate([p.customer_ids[p.row_customer] for p in parts])
    days = np.concatenate([p.day for p in parts])
    micro = np.concatenate([p.amount_micro for p in parts])
    lines = np.concatenate([p.n_lines for p in parts])
    if ids.size == 0:
        return _empty_partial(ids.dtype)
    return _collapse_lines(ids, days, micro, lines)


def _collapse_lines(
    ids: npt.NDArray[Any], days: IntArray, micro: IntArray, lines: IntArray | None
) -> PartialSummary:
    """Sort lines by (customer, day) and sum each customer-day. Exact: integer sums only.

    ``lines`` is the number of transaction lines behind each input row (None: one each).
    One argsort of a combined integer key is much faster than ``np.lexsort`` on two keys;
    for integer ids that fit, the key is built from the ids themselves, which saves the full
    sort ``np.unique`` would need, and the ids are renumbered afterwards by a running count
    over the already sorted keys.
    """
    n = ids.shape[0]
    day_min = int(days.min())
    span = int(days.max()) - day_min + 1
    codes: IntArray
    direct = False
    if ids.dtype.kind in "iu":
        id_min, id_max = int(ids.min()), int(ids.max())
        direct = (id_max - id_min + 1) * span < 2**62
    if direct:
        codes = ids.astype(np.int64) - id_min
    else:
        unique_ids, inverse = np.unique(ids, return_inverse=True)
        codes = inverse.astype(np.int64).ravel()
    key = codes * span + (days - day_min)
    order = np.argsort(key)
    # The sorted keys by a second (vectorized) sort: cheaper than gathering key[order], a
    # random access per row; ties are equal values, so both give the same array.
    key = np.sort(key)
    new_day = np.empty(n, dtype=bool)
    new_day[0] = True
    np.not_equal(key[1:], key[:-1], out=new_day[1:])
    starts = np.flatnonzero(new_day)
    amount = _group_sums(micro[order], starts)
    if lines is None:
        n_lines = np.diff(starts, append=n).astype(np.int64)
    else:
        n_lines = _group_sums(lines[order], starts)
    key = key[starts]
    row_code = key // span
    day = key - row_code * span + day_min
    if direct:
        new_customer = np.empty(row_code.size, dtype=bool)
        new_customer[0] = True
        np.not_equal(row_code[1:], row_code[:-1], out=new_customer[1:])
        row_customer = np.cumsum(new_customer) - 1
        customer_ids = (row_code[new_customer] + id_min).astype(ids.dtype)
    else:
        row_customer, customer_ids = row_code, unique_ids
    return PartialSummary(customer_ids, row_customer.astype(np.int64), day, amount, n_lines)


def _group_sums(values: IntArray, starts: IntArray) -> IntArray:
    """Sum of each run ``values[starts[i]:starts[i + 1]]`` (the last run to the end), exactly.

    ``np.add.reduceat`` with the one case it gets wrong handled: no runs at all.
    """
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(np.add.reduceat(values, starts), dtype=np.int64)


def _group_starts(row_customer: IntArray) -> IntArray:
    """Index of the first row of each run of equal customer indices (rows are sorted)."""
    if row_customer.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, row_customer[1:] != row_customer[:-1]])


def _finalize(
    part: PartialSummary,
    *,
    calibration_end: DateLike,
    holdout_end: DateLike | None,
    time_unit: str,
    observation_start: DateLike | None,
) -> CustomerSummary:
    unit = v.days_per_unit(time_unit)
    cal_end = _day("calibration_end", calibration_end)
    start = _day("observation_start", observation_start) if observation_start is not None else None
    hold_end = _day("holdout_end", holdout_end) if holdout_end is not None else None
    if start is not None and start > cal_end:
        raise InvalidInputError("observation_start must not be after calibration_end.")
    if hold_end is not None and hold_end <= cal_end:
        raise InvalidInputError("holdout_end must be after calibration_end.")

    in_cal: BoolArray = part.day <= cal_end
    if start is not None:
        in_cal &= part.day >= start
    if bool(in_cal.all()):  # the usual scoring case: no copies of ten million rows
        rows, days, micro = part.row_customer, part.day, part.amount_micro
    else:
        rows, days, micro = part.row_customer[in_cal], part.day[in_cal], part.amount_micro[in_cal]
    starts = _group_starts(rows)
    ends = np.append(starts[1:], rows.size)[: starts.size].astype(np.int64)
    customers = rows[starts]

    first, last = days[starts], days[ends - 1]
    frequency = (ends - starts).astype(np.int64)
    x = frequency - 1
    total_micro = _group_sums(micro, starts)
    repeat_micro = total_micro - micro[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(x > 0, repeat_micro / _MICRO / np.maximum(x, 1), 0.0)
    n_orders = (
        _group_sums(part.n_lines if rows is part.row_customer else part.n_lines[in_cal], starts)
    )

    # Gaps between consecutive purchase days of one customer (the first row of a customer
    # has none). They are whole days, so their sums are exact integers: the gaps of a
    # customer add up to last - first, and with S2 the sum of their squares the sample
    # variance is (x S2 - (last - first)^2) / (x (x - 1)) with an exact integer numerator.
    # No cancellation (the float E[d^2] - E[d]^2 loses every digit for regular buyers), and
    # no per-row gather of the customer's mean.
    squared_gap = np.empty(rows.size, dtype=np.int64)
    if rows.size:
        squared_gap[0] = 0
        np.subtract(days[1:], days[:-1], out=squared_gap[1:])
        np.multiply(squared_gap, squared_gap, out=squared_gap)
        squared_gap[starts] = 0
    sum_squares = _group_sums(squared_gap, starts)
    span = last - first
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(x > 0, span / np.maximum(x, 1), np.nan)
        numerator = (x * sum_squares - span * span).astype(np.float64)
        std_gap = np.where(x > 1, np.sqrt(numerator / np.maximum(x * (x - 1), 1)), np.nan)

    x_holdout: IntArray | None = None
    spend_holdout: FloatArray | None = None
    holdout_length: FloatArray | None = None
    if hold_end is not None:
        in_hold = (part.day > cal_end) & (part.day <= hold_end)
        hold_rows = part.row_customer[in_hold]
        hold_micro = part.amount_micro[in_hold]
        # Only customers acquired in calibration are summarized: map each holdout row to its
        # summary position (-1 for customers first seen after calibration_end).
        position = np.full(part.customer_ids.shape[0], -1, dtype=np.int64)
        position[customers] = np.arange(customers.size)
        pos = position[hold_rows]
        known = pos >= 0
        pos, hold_micro = pos[known], hold_micro[known]
        x_holdout = np.bincount(pos, minlength=customers.size).astype(np.int64)
        hold_starts = _group_starts(pos)
        spend_micro = np.zeros(customers.size, dtype=np.int64)
        if hold_starts.size:
            spend_micro[pos[hold_starts]] = _group_sums(hold_micro, hold_starts)
        spend_holdout = spend_micro / _MICRO
        holdout_length = np.full(customers.size, (hold_end - cal_end) / unit)

    # Time is counted in whole days between purchase days, as in the literature's CDNOW
    # data (Hardie's summaries, lifetimes): T = calibration_end - first purchase day, so a
    # customer first seen on 1997-01-01 has T = 272 / 7 = 38.86 weeks at 1997-09-30 and a
    # purchase *on* calibration_end has t_x = T. Counting calibration_end as a full extra
    # day (T = 39 weeks) shifts every T by 1/7 and the CDNOW fit to r = 0.2417,
    # alpha = 4.394, a = 0.814, b = 2.477, LL = -9589.9, away from the published values.
    return CustomerSummary(
        customer=part.customer_ids[customers],
        x=x,
        t_x=((last - first) / unit).astype(np.float64),
        T=((cal_end - first) / unit).astype(np.float64),
        monetary=monetary.astype(np.float64),
        first_purchase=first.astype("datetime64[D]"),
        last_purchase=last.astype("datetime64[D]"),
        n_orders=n_orders.astype(np.int64),
        total_spend=(total_micro / _MICRO).astype(np.float64),
        recency_days=(cal_end - last).astype(np.int64),
        frequency=frequency,
        mean_interval_days=mean_gap.astype(np.float64),
        std_interval_days=std_gap.astype(np.float64),
        x_holdout=x_holdout,
        spend_holdout=spend_holdout,
        holdout_length=holdout_length,
        calibration_end=np.datetime64(cal_end, "D"),
        holdout_end=np.datetime64(hold_end, "D") if hold_end is not None else None,
        time_unit=time_unit,
    )


def summarize_transactions(
    customer: npt.ArrayLike,
    date: npt.ArrayLike,
    amount: npt.ArrayLike,
    *,
    calibration_end: DateLike,
    holdout_end: DateLike | None = None,
    time_unit: str = "week",
    observation_start: DateLike | None = None,
) -> CustomerSummary:
    """One summary row per customer from transaction lines (see the module docstring).

    Parameters
    ----------
    customer : array_like
        Customer id of each line: integers or strings.
    date : array_like of datetime64
        Day of each line (``datetime64[D]``, or ``datetime64[s]`` cut to its day).
    amount : array_like of float
        Money of each line.
    calibration_end : str, datetime.date or numpy.datetime64
        Last day of the calibration period (included).
    holdout_end : date-like, optional
        Last day of the holdout period ``(calibration_end, holdout_end]``; adds the
        ``x_holdout``, ``spend_holdout`` and ``holdout_length`` fields.
    time_unit : {"week", "day"}
        Unit of t_x, T and holdout_length.
    observation_start : date-like, optional
        First day of the observed history: earlier lines are ignored, and a customer's
        first purchase on or after it starts their clock. Use it to drop a history you do
        not trust; customers who really bought before it then look newer than they are.

    Returns
    -------
    CustomerSummary
        One row per customer with a purchase in calibration, sorted by customer id.

    Examples
    --------
    >>> s = summarize_transactions([1, 1, 2], np.array(["1997-01-01", "1997-01-08",
    ...     "1997-01-02"], dtype="datetime64[D]"), [10.0, 5.0, 3.0],
    ...     calibration_end="1997-01-14")
    >>> s.x.tolist(), s.t_x.tolist(), s.T.tolist()
    ([1, 0], [1.0, 0.0], [1.8571428571428572, 1.7142857142857142])
    """
    return PartialSummary.from_transactions(customer, date, amount).finalize(
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        time_unit=time_unit,
        observation_start=observation_start,
    )

