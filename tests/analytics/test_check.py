"""Holdout report and tracking curve on small stories where the answer can be worked out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guanxi.analytics import (
    BGNBD,
    InvalidInputError,
    holdout_report,
    plot_tracking,
    summarize_transactions,
    tracking_curve,
)

MODEL = BGNBD.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})


def test_holdout_report_groups_by_calibration_frequency() -> None:
    # Given three customers: one-timer Li, Wang with 1 repeat, Zhao with 8 repeats.
    day = np.datetime64("2024-01-01")
    customer = [1] + [2, 2] + [3] * 9 + [1, 3, 3]
    date = np.array([day, day, day + 14, *[day + 7 * k for k in range(9)],
                     day + 70, day + 71, day + 80])
    s = summarize_transactions(customer, date, np.ones(len(customer)),
                               calibration_end=day + 63, holdout_end=day + 91)
    report = holdout_report(MODEL, s)

    predicted = MODEL.expected_purchases(4.0, s.x, s.t_x, s.T)
    assert report.n_customers.tolist() == [1, 1, 0, 0, 0, 0, 0, 1]
    assert report.actual_total.tolist() == [1, 0, 0, 0, 0, 0, 0, 2]
    assert report.predicted_total[[0, 1, 7]] == pytest.approx(predicted)
    assert np.isnan(report.actual_mean[2])
    assert report.actual == 3
    assert report.predicted == pytest.approx(predicted.sum())
    assert report.holdout_length == 4.0
    assert report.rows()[7] == {
        "group": "7+", "n_customers": 1, "actual_mean": 2.0,
        "predicted_mean": pytest.approx(predicted[2]), "actual_total": 2.0,
        "predicted_total": pytest.approx(predicted[2]),
        "error": pytest.approx(predicted[2] - 2.0),
    }


def test_holdout_report_needs_a_holdout_period() -> None:
    s = summarize_transactions([1, 1], np.array(["2024-01-01", "2024-01-09"], "datetime64[D]"),
                               [1.0, 1.0], calibration_end="2024-02-01")
    with pytest.raises(InvalidInputError, match="holdout_end"):
        holdout_report(MODEL, s)


def test_tracking_curve_sums_new_customer_expectations_by_start() -> None:
    first = np.array([0.0, 0.0, 2.0])
    repeat = np.array([0.5, 1.0, 2.5, 3.0])
    curve = tracking_curve(MODEL, first, repeat, end=4.0, calibration_end=2.0)

    assert curve.time.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert curve.actual.tolist() == [2.0, 2.0, 4.0, 4.0]
    new = MODEL.expected_purchases_new
    assert curve.expected == pytest.approx(
        [2 * new(1.0), 2 * new(2.0), 2 * new(3.0) + new(1.0), 2 * new(4.0) + new(2.0)]
    )
    assert curve.actual_per_period.tolist() == [2.0, 0.0, 2.0, 0.0]
    assert curve.expected_per_period.sum() == pytest.approx(curve.expected[-1])


def test_plot_tracking_writes_a_png(tmp_path: Path) -> None:
    curve = tracking_curve(MODEL, [0.0, 1.0], [0.5, 3.0], calibration_end=2.0)
    path = plot_tracking(curve, tmp_path / "plot.png")
    assert path == tmp_path / "plot.png"
    assert path.read_bytes().startswith(b"\x89PNG")
