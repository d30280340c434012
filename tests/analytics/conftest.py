"""Fixtures of the analytics tests: the CDNOW sample, loaded once, and its literature set-up.

The data live beside the repository in ``../shared/data/cdnow`` (see its README). Where they
are missing, CI (``CI=true``) fails, since it must check the published numbers; anywhere else
the tests that need them are skipped, saying why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from guanxi.analytics import CustomerSummary, summarize_transactions

REPO_ROOT = Path(__file__).resolve().parents[2]
CDNOW_DIR = REPO_ROOT.parent / "shared" / "data" / "cdnow"

CALIBRATION_END = np.datetime64("1997-09-30")
HOLDOUT_END = np.datetime64("1998-06-30")


@dataclass(frozen=True)
class Transactions:
    customer: np.ndarray
    date: np.ndarray
    amount: np.ndarray


def _yyyymmdd(values: np.ndarray) -> np.ndarray:
    """YYYYMMDD integers as datetime64[D], vectorized."""
    year, month, day = values // 10000, values // 100 % 100, values % 100
    months = (year - 1970) * 12 + (month - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]") + (day - 1).astype(
        "timedelta64[D]"
    )


def _data_file(name: str) -> Path:
    path = CDNOW_DIR / name
    if not path.exists():
        reason = f"CDNOW data {path} is missing (it lives in ../shared/data/cdnow beside the repo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def cdnow_transactions() -> Transactions:
    """The 1/10th CDNOW sample: sample id, day and dollars of each of its 6,919 lines."""
    table = np.loadtxt(_data_file("CDNOW_sample.txt"), dtype=np.float64)
    return Transactions(
        customer=table[:, 1].astype(np.int64),
        date=_yyyymmdd(table[:, 2].astype(np.int64)),
        amount=table[:, 4],
    )


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_transactions: Transactions) -> CustomerSummary:
    """The papers' set-up: calibration to 1997-09-30, holdout to 1998-06-30, in weeks."""
    return summarize_transactions(
        cdnow_transactions.customer,
        cdnow_transactions.date,
        cdnow_transactions.amount,
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
        time_unit="week",
    )
