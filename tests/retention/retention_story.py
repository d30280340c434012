"""The shop in our retention stories.

- Li (``rep1``) owns 吴强, who has bought every 7 days since January and last bought 20 days
  before the as-of date; 周敏, who buys every 90 days and also last bought 20 days before; and
  王芳, who buys a 10 kg bag of rice every 30 days (last 25 days before: due in five days).
- Wang (``rep2``) owns 郑洁, who bought weekly and has been silent for 30 days.
- 200 customers with their own steady rhythms (5 to 60 days) give the models a population.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import time_machine

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.sales.models import Order, OrderLine, Product

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = dt.date(2026, 6, 30)
START = dt.date(2025, 1, 1)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


@dataclass
class Shop:
    weekly: Customer
    quarterly: Customer
    rice_buyer: Customer
    wangs_weekly: Customer
    rice: Product
    crowd: list[Customer]


def _every(days: int, last: dt.date, first: dt.date) -> list[dt.date]:
    out = []
    day = last
    while day >= first:
        out.append(day)
        day -= dt.timedelta(days=days)
    return sorted(out)


def build_shop(rep1: User, rep2: User) -> Shop:
    weekly = Customer.objects.create(name="吴强", owner=rep1)
    quarterly = Customer.objects.create(name="周敏", owner=rep1)
    rice_buyer = Customer.objects.create(name="王芳", owner=rep1)
    wangs_weekly = Customer.objects.create(name="郑洁", owner=rep2)
    crowd = Customer.objects.bulk_create(
        [Customer(name=f"Crowd {i}", owner=rep1 if i % 2 else rep2) for i in range(200)])
    rice = Product.objects.create(sku="RICE-10", name="Rice 10 kg", category="Rice",
                                  unit_price=Decimal("50.00"))
    orders: list[Order] = []
    lines: list[tuple[int, Decimal]] = []

    def buy(customer: Customer, day: dt.date, total: Decimal, rice_kg: int = 0) -> None:
        orders.append(Order(external_id=f"o{len(orders)}", customer=customer,
                            placed_at=at(day), total=total))
        lines.append((len(orders) - 1, Decimal(rice_kg)))

    for day in _every(7, AS_OF - dt.timedelta(days=20), dt.date(2026, 1, 5)):
        buy(weekly, day, Decimal("120.00"))
    for day in _every(90, AS_OF - dt.timedelta(days=20), dt.date(2024, 7, 1)):
        buy(quarterly, day, Decimal("300.00"))
    for day in _every(30, AS_OF - dt.timedelta(days=25), dt.date(2026, 2, 1)):
        buy(rice_buyer, day, Decimal("50.00"), rice_kg=1)
    for day in _every(7, AS_OF - dt.timedelta(days=30), dt.date(2026, 1, 5)):
        buy(wangs_weekly, day, Decimal("80.00"))
    rng = np.random.default_rng(11)
    span = (AS_OF - START).days
    for customer in crowd:
        rhythm = rng.uniform(5, 60)
        day = float(rng.integers(0, 120))
        stop = rng.uniform(100, span + 200)
        while day <= min(span, stop):
            buy(customer, START + dt.timedelta(days=int(day)),
                Decimal(f"{rng.gamma(5.0, 12.0):.2f}"))
            day += max(1.0, rng.gamma(6.0, rhythm / 6.0))
    Order.objects.bulk_create(orders, batch_size=2000)
    OrderLine.objects.bulk_create(
        [OrderLine(order=orders[i], product=rice, quantity=q, amount=orders[i].total)
         for i, q in lines if q], batch_size=2000)
    for customer in [weekly, quarterly, rice_buyer, wangs_weekly]:
        last = max(o.placed_at for o in orders if o.customer_id == customer.pk)
        Customer.objects.filter(pk=customer.pk).update(last_purchase_at=last)
    return Shop(weekly, quarterly, rice_buyer, wangs_weekly, rice, crowd)


@pytest.fixture
def shop(rep1: User, rep2: User) -> Shop:
    return build_shop(rep1, rep2)


@pytest.fixture
def the_next_morning() -> Iterator[None]:
    """The morning after the as-of date, when the daily job runs."""
    with time_machine.travel(at(AS_OF + dt.timedelta(days=1), 6), tick=False):
        yield
