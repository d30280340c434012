"""The shop in our value stories: a few people we know well, and a crowd to learn from.

- Li (``rep1``) owns 孙悦 (a prospect who never bought), 周敏 (first purchase ten days before the
  as-of date), and 吴强 (a regular: every three weeks for a year, latest last week).
- Wang (``rep2``) owns 郑洁, who bought eight weeks in a row early last year and never again.
- 300 simulated customers give the models a population to fit (BG/NBD, fixed seed).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create
from guanxi.sales.models import Order
from guanxi.sales.services import order_create

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
AS_OF = dt.date(2026, 6, 30)


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def simulate_crowd(n: int, *, seed: int = 7, start: dt.date = dt.date(2025, 1, 1),
                   end: dt.date = AS_OF) -> list[tuple[int, dt.date, Decimal]]:
    """BG/NBD purchases: (customer index, day, amount) with r=0.4, α=4, a=1, b=3 per week."""
    rng = np.random.default_rng(seed)
    span = (end - start).days
    rows: list[tuple[int, dt.date, Decimal]] = []
    for i in range(n):
        lam = rng.gamma(0.4, 1 / 4.0) / 7.0  # purchases per day
        p = rng.beta(1.0, 3.0)
        first = int(rng.integers(0, span - 100))
        day = float(first)
        spend = rng.gamma(6.0, 10.0)
        rows.append((i, start + dt.timedelta(days=first), Decimal(f"{spend:.2f}")))
        while lam > 0:
            day += rng.exponential(1 / lam)
            if day > span:
                break
            rows.append((i, start + dt.timedelta(days=int(day)),
                         Decimal(f"{rng.gamma(6.0, spend / 6.0):.2f}")))
            if rng.random() < p:
                break
    return rows


def cdnow_sample() -> Path:
    """../shared/data/cdnow/CDNOW_sample.txt: CI must have it; elsewhere its tests skip."""
    path = SHARED_DATA / "cdnow" / "CDNOW_sample.txt"
    if not path.exists():
        reason = f"data set {path} is missing (it lives in ../shared/data beside the repo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@dataclass
class Shop:
    prospect: Customer
    newcomer: Customer
    regular: Customer
    lapsed: Customer
    crowd: list[Customer]

    @property
    def everyone(self) -> list[Customer]:
        return [self.prospect, self.newcomer, self.regular, self.lapsed, *self.crowd]


@pytest.fixture
def shop(rep1: User, rep2: User) -> Shop:
    prospect = customer_create(actor=rep1, name="孙悦", owner=rep1)
    newcomer = customer_create(actor=rep1, name="周敏", owner=rep1)
    regular = customer_create(actor=rep1, name="吴强", owner=rep1)
    lapsed = customer_create(actor=rep2, name="郑洁", owner=rep2)
    order_create(actor=rep1, customer=newcomer, placed_at=at(AS_OF - dt.timedelta(days=10)),
                 total=Decimal("88.00"))
    day = dt.date(2025, 7, 1)
    while day <= AS_OF - dt.timedelta(days=7):
        order_create(actor=rep1, customer=regular, placed_at=at(day), total=Decimal("120.00"))
        day += dt.timedelta(days=21)
    for week in range(8):
        order_create(actor=rep2, customer=lapsed,
                     placed_at=at(dt.date(2025, 1, 6) + dt.timedelta(weeks=week)),
                     total=Decimal("60.00"))
    crowd = Customer.objects.bulk_create(
        [Customer(name=f"Crowd {i}") for i in range(300)])
    Order.objects.bulk_create([
        Order(external_id=f"crowd-{n}", customer=crowd[i], placed_at=at(day, 12), total=amount)
        for n, (i, day, amount) in enumerate(simulate_crowd(300))
    ])
    return Shop(prospect, newcomer, regular, lapsed, crowd)
