"""Summaries: the literature's conventions on small stories, and exact merging of chunks."""

from __future__ import annotations

import datetime as dt
import pickle
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.analytics import (
    CustomerSummary,
    InvalidInputError,
    PartialSummary,
    summarize_transactions,
)


def days(*iso: str) -> np.ndarray:
    return np.array(iso, dtype="datetime64[D]")


def assert_same_summary(a: CustomerSummary, b: CustomerSummary) -> None:
    for f in fields(CustomerSummary):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype, f.name
            assert np.array_equal(left, right, equal_nan=left.dtype.kind == "f"), f.name
        else:
            assert left == right, f.name


def test_same_day_lines_are_one_purchase_and_the_first_purchase_is_not_repeat_spend() -> None:
    # Given Mei buys twice on 1 January (10 + 5), again on the 8th (20) and the 22nd (40).
    s = summarize_transactions(
        ["mei", "mei", "mei", "mei"],
        days("1997-01-01", "1997-01-01", "1997-01-08", "1997-01-22"),
        [10.0, 5.0, 20.0, 40.0],
        calibration_end="1997-01-29",
    )
    # Then she has two repeat purchases worth 30 on average, her first (15) left out.
    assert s.customer.tolist() == ["mei"]
    assert s.x.tolist() == [2]
    assert s.frequency.tolist() == [3]
    assert s.n_orders.tolist() == [4]
    assert s.monetary.tolist() == [30.0]
    assert s.total_spend.tolist() == [75.0]
    assert s.t_x.tolist() == [3.0]
    assert s.T.tolist() == [4.0]
    assert s.recency_days.tolist() == [7]
    assert s.mean_interval_days.tolist() == [10.5]
    assert s.std_interval_days[0] == pytest.approx(np.std([7, 14], ddof=1))
    assert s.first_purchase.tolist() == [dt.date(1997, 1, 1)]
    assert s.last_purchase.tolist() == [dt.date(1997, 1, 22)]


def test_one_time_buyer_has_zero_monetary_and_undefined_intervals() -> None:
    s = summarize_transactions([7], days("1997-03-01"), [12.5], calibration_end="1997-03-15",
                               time_unit="day")
    assert s.x.tolist() == [0]
    assert s.t_x.tolist() == [0.0]
    assert s.T.tolist() == [14.0]
    assert s.monetary.tolist() == [0.0]
    assert np.isnan(s.mean_interval_days[0])
    assert np.isnan(s.std_interval_days[0])


def test_holdout_counts_purchase_days_after_calibration_and_drops_later_newcomers() -> None:
    # Given Li buys in calibration and twice on one holdout day; Wang first buys in holdout.
    s = summarize_transactions(
        [1, 1, 1, 1, 2],
        days("1997-01-01", "1997-02-01", "1997-02-01", "1997-03-01", "1997-02-15"),
        [10.0, 4.0, 6.0, 99.0, 50.0],
        calibration_end="1997-01-31",
        holdout_end="1997-02-28",
    )
    # Then only Li is summarized; the March purchase is past the holdout.
    assert s.customer.tolist() == [1]
    assert s.x_holdout is not None
    assert s.x_holdout.tolist() == [1]
    assert s.spend_holdout is not None
    assert s.spend_holdout.tolist() == [10.0]
    assert s.holdout_length is not None
    assert s.holdout_length.tolist() == [4.0]


def test_observation_start_ignores_older_lines() -> None:
    s = summarize_transactions(
        [1, 1, 1], days("1996-12-01", "1997-01-05", "1997-01-12"), [1.0, 2.0, 3.0],
        calibration_end="1997-01-19", observation_start="1997-01-01",
    )
    assert s.first_purchase.tolist() == [dt.date(1997, 1, 5)]
    assert s.x.tolist() == [1]


def test_timestamps_are_cut_to_their_day_and_ids_sorted() -> None:
    stamps = np.array(["1997-01-01T23:59:59", "1997-01-01T08:00:00", "1997-01-02T00:00:01"],
                      dtype="datetime64[s]")
    s = summarize_transactions([30, 30, 4], stamps, [1.0, 2.0, 3.0],
                               calibration_end=dt.date(1997, 1, 8))
    assert s.customer.tolist() == [4, 30]
    assert s.x.tolist() == [0, 0]
    assert s.total_spend.tolist() == [3.0, 3.0]


def test_summary_arrays_are_read_only() -> None:
    s = summarize_transactions([1], days("1997-01-01"), [1.0], calibration_end="1997-01-02")
    with pytest.raises(ValueError, match="read-only"):
        s.x[0] = 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": [np.nan]}, "NaN"),
        ({"amount": [1e13]}, "9e12"),
        ({"date": np.array(["NaT"], dtype="datetime64[D]")}, "NaT"),
        ({"customer": [1.5]}, "integers or strings"),
        ({"customer": [1, 2]}, "same length"),
        ({"time_unit": "month"}, "time_unit"),
        ({"calibration_end": dt.datetime(1997, 1, 2, tzinfo=dt.UTC)}, "not a datetime"),
        ({"holdout_end": "1996-12-01"}, "holdout_end"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"customer": [1], "date": days("1997-01-01"), "amount": [1.0],
                               "calibration_end": "1997-01-02"}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        summarize_transactions(args.pop("customer"), args.pop("date"), args.pop("amount"),  # type: ignore[arg-type]
                               **args)  # type: ignore[arg-type]


def test_no_customer_in_calibration_gives_an_empty_summary() -> None:
    s = summarize_transactions([1], days("1998-01-01"), [1.0], calibration_end="1997-01-01",
                               holdout_end="1999-01-01")
    assert len(s) == 0
    assert s.x_holdout is not None
    assert s.x_holdout.size == 0


# --- exact merging -------------------------------------------------------------------------

transaction_lines = st.lists(
    st.tuples(
        st.integers(0, 6),  # customer: few ids, so customers repeat across chunks
        st.integers(0, 40),  # day offset: few days, so customer-days repeat across chunks
        # Cents and awkward binary fractions alike: float sums would depend on the order.
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.integers(0, 4),  # chunk the line goes to
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(lines=transaction_lines, cal=st.integers(0, 40), hold=st.integers(1, 20),
       unit=st.sampled_from(["week", "day"]), string_ids=st.booleans())
def test_merged_partial_summaries_equal_the_one_pass_summary(
    lines: list[tuple[int, int, float, int]], cal: int, hold: int, unit: str, string_ids: bool
) -> None:
    customer = np.array([c for c, _, _, _ in lines])
    if string_ids:
        customer = np.array([f"c{c}" for c in customer])
    date = np.datetime64("2020-02-20") + np.array([d for _, d, _, _ in lines])
    amount = np.array([a for _, _, a, _ in lines])
    chunk = np.array([k for _, _, _, k in lines])
    end = np.datetime64("2020-02-20") + cal
    options = {"calibration_end": end, "holdout_end": end + hold, "time_unit": unit}

    whole = summarize_transactions(customer, date, amount, **options)  # type: ignore[arg-type]
    parts = [PartialSummary.from_transactions(customer[chunk == k], date[chunk == k],
                                              amount[chunk == k]) for k in range(5)]
    # Merging all at once, pairwise, and in another order: always the same summary.
    all_at_once = PartialSummary.merge(parts).finalize(**options)  # type: ignore[arg-type]
    pairwise = parts[4].merge(parts[2]).merge(parts[0].merge(parts[3], parts[1]))
    assert_same_summary(whole, all_at_once)
    assert_same_summary(whole, pairwise.finalize(**options))  # type: ignore[arg-type]


def test_integer_and_string_partials_do_not_merge() -> None:
    a = PartialSummary.from_transactions([1], days("2020-01-01"), [1.0])
    b = PartialSummary.from_transactions(["x"], days("2020-01-01"), [1.0])
    with pytest.raises(InvalidInputError, match="integer and string"):
        a.merge(b)


def test_partials_and_summaries_survive_pickling_for_distributed_workers() -> None:
    part = PartialSummary.from_transactions([1, 2, 1], days("2020-01-01", "2020-01-02",
                                                           "2020-01-09"), [1.0, 2.0, 3.0])
    again = pickle.loads(pickle.dumps(part))
    options = {"calibration_end": "2020-01-31"}
    assert_same_summary(again.finalize(**options), part.finalize(**options))
    summary = part.finalize(**options)
    assert_same_summary(pickle.loads(pickle.dumps(summary)), summary)


@settings(max_examples=30, deadline=None)
@given(lines=transaction_lines)
def test_interval_statistics_match_a_direct_computation(
    lines: list[tuple[int, int, float, int]],
) -> None:
    customer = np.array([c for c, _, _, _ in lines])
    date = np.datetime64("2020-02-20") + np.array([d * 3 for _, d, _, _ in lines])
    s = summarize_transactions(customer, date, np.ones(len(lines)),
                               calibration_end="2020-12-31", time_unit="day")
    for i, c in enumerate(s.customer):
        gaps = np.diff(np.unique(date[customer == c])).astype(float)
        mean = gaps.mean() if gaps.size else np.nan
        std = gaps.std(ddof=1) if gaps.size > 1 else np.nan
        assert s.mean_interval_days[i] == pytest.approx(mean, nan_ok=True)
        assert s.std_interval_days[i] == pytest.approx(std, rel=1e-12, abs=1e-12, nan_ok=True)
