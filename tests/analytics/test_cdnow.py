"""The published CDNOW numbers, reproduced from the raw transaction lines.

Given the 1/10th CDNOW sample and the papers' set-up (calibration to 1997-09-30, holdout to
1998-06-30, weeks), when we summarize and fit, then we get the counts, parameters and
log-likelihood that Fader, Hardie & Lee (2005) report, to the digits they report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guanxi.analytics import (
    BGNBD,
    CustomerSummary,
    GammaGamma,
    PartialSummary,
    customer_lifetime_value,
    holdout_report,
    plot_tracking,
    tracking_curve,
    value_tiers,
)

from .conftest import CALIBRATION_END, HOLDOUT_END, Transactions


@pytest.fixture(scope="module")
def bgnbd(cdnow_summary: CustomerSummary) -> BGNBD:
    return BGNBD().fit(cdnow_summary.x, cdnow_summary.t_x, cdnow_summary.T)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow_summary: CustomerSummary) -> GammaGamma:
    return GammaGamma().fit(cdnow_summary.x, cdnow_summary.monetary)


def test_summary_counts_match_the_papers(cdnow_summary: CustomerSummary) -> None:
    assert len(cdnow_summary) == 2357
    assert int(np.count_nonzero(cdnow_summary.x > 0)) == 946
    assert int(cdnow_summary.x.sum()) == 2457
    # T runs from the first purchase day to 1997-09-30: 272 days for a 1997-01-01 buyer.
    jan1 = cdnow_summary.first_purchase == np.datetime64("1997-01-01")
    assert np.all(cdnow_summary.T[jan1] == 272 / 7)
    assert cdnow_summary.T.max() == pytest.approx(38.857, abs=1e-3)
    assert cdnow_summary.holdout_length is not None
    assert np.all(cdnow_summary.holdout_length == 273 / 7)  # weeks 40-78


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd: BGNBD) -> None:
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert {k: round(v, 3) for k, v in bgnbd.params_.items()} == published
    assert round(bgnbd.log_likelihood_, 1) == -9582.4
    assert bgnbd.converged_
    assert bgnbd.n_customers_ == 2357
    assert all(0 < se < 1 for se in bgnbd.standard_errors_.values())


def test_gamma_gamma_reproduces_fader_hardie_lee_2005(gamma_gamma: GammaGamma) -> None:
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    assert {k: round(v, 2) for k, v in gamma_gamma.params_.items()} == published
    assert gamma_gamma.n_customers_ == 946
    assert gamma_gamma.converged_


def test_holdout_report_tracks_the_holdout_period(
    bgnbd: BGNBD, cdnow_summary: CustomerSummary
) -> None:
    report = holdout_report(bgnbd, cdnow_summary)

    assert report.group == ("0", "1", "2", "3", "4", "5", "6", "7+")
    assert int(report.n_customers.sum()) == 2357
    assert report.n_customers[0] == 1411
    assert report.actual == 1882  # purchase days of calibration customers in weeks 40-78
    # The BG/NBD under-forecasts this holdout by about 12%; a regression would show here.
    assert report.relative_error == pytest.approx(-0.12, abs=0.02)
    # Expectations rise with past frequency, as the purchases did.
    assert np.all(np.diff(report.predicted_mean) > 0)
    assert np.all(np.abs(report.error) < 0.4)
    assert report.rows()[0]["group"] == "0"


def test_tracking_curve_follows_cumulative_repeat_purchases(
    bgnbd: BGNBD, cdnow_transactions: Transactions, tmp_path: Path
) -> None:
    part = PartialSummary.from_transactions(
        cdnow_transactions.customer, cdnow_transactions.date, cdnow_transactions.amount
    )
    first, repeat = part.tracking_inputs(origin="1997-01-01", end=HOLDOUT_END)
    curve = tracking_curve(bgnbd, first, repeat, calibration_end=39.0)

    assert curve.time[-1] == 78.0
    assert curve.actual[-1] == repeat.size
    week39 = int(np.flatnonzero(curve.time == 39.0)[0])
    assert curve.expected[week39] == pytest.approx(curve.actual[week39], rel=0.03)
    assert curve.expected[-1] == pytest.approx(curve.actual[-1], rel=0.06)

    png = plot_tracking(curve, tmp_path / "tracking.png", title="CDNOW")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_clv_and_tiers_on_cdnow(
    bgnbd: BGNBD, gamma_gamma: GammaGamma, cdnow_summary: CustomerSummary
) -> None:
    s = cdnow_summary
    clv = customer_lifetime_value(bgnbd, gamma_gamma, s.x, s.t_x, s.T, s.monetary,
                                  horizon=52, margin=0.3)
    assert clv.shape == (2357,)
    assert np.all(np.isfinite(clv))
    assert np.all(clv > 0)
    tiers = value_tiers(clv)
    counts = {name: int(np.count_nonzero(tiers == name)) for name in np.unique(tiers)}
    # 1% / 4% / 15% of 2,357, rounded to whole customers: 24, 118 and 471 cumulative.
    assert counts == {"vip": 24, "key": 94, "major": 353, "ordinary": 1886}
    assert clv[tiers == "vip"].min() >= clv[tiers == "key"].max()


def test_calibration_end_is_a_date_of_the_summary(cdnow_summary: CustomerSummary) -> None:
    assert cdnow_summary.calibration_end == CALIBRATION_END
    assert cdnow_summary.holdout_end == HOLDOUT_END
    assert cdnow_summary.time_unit == "week"
