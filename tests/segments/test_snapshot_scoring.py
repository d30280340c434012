"""End to end: the value engine's scoring run stores the segments' snapshot by itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import time_machine
from segrule_story import SHANGHAI

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.sales.models import Order
from guanxi.segments.migration import migration_runs, segment_migration
from guanxi.segments.models import SegmentMembership
from guanxi.segments.services import segment_create
from guanxi.value import services as value_services
from guanxi.value.models import CustomerScore, ScoreRun

pytestmark = pytest.mark.django_db

MAY, JUNE = dt.date(2026, 5, 31), dt.date(2026, 6, 30)


@pytest.fixture
def crowd() -> list[Customer]:
    """200 buyers with a few purchases each over a year and a half (fixed seed)."""
    rng = np.random.default_rng(11)
    customers = Customer.objects.bulk_create([Customer(name=f"Crowd {i}") for i in range(200)])
    orders = []
    for i, customer in enumerate(customers):
        days = np.sort(rng.choice(540, size=1 + rng.poisson(3), replace=False))
        for k, day in enumerate(days):
            placed = dt.datetime(2025, 1, 1, 12, tzinfo=SHANGHAI) + dt.timedelta(days=int(day))
            orders.append(Order(external_id=f"c{i}-{k}", customer=customer, placed_at=placed,
                                total=Decimal(f"{rng.gamma(5.0, 20.0):.2f}")))
    Order.objects.bulk_create(orders)
    return customers


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(dt.datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI), tick=False):
        yield


def test_scoring_writes_the_snapshot_and_a_rescore_replaces_it(
    crowd: list[Customer], admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    def score(as_of: dt.date) -> ScoreRun:
        # The signal is sent once the run has committed: run those callbacks here.
        with django_capture_on_commit_callbacks(execute=True):
            return value_services.score_all(as_of=as_of)

    # Given a rule segment of valuable customers
    valuable = segment_create(user=admin, name="valuable",
                              definition={"field": "clv", "op": "gt", "value": 50})
    # When the value engine scores May and June
    may = score(MAY)
    june = score(JUNE)

    # Then each run holds the rule's members as of that run
    def expected(run: ScoreRun) -> set[int]:
        return set(CustomerScore.objects.filter(run=run, clv__gt=50)
                   .values_list("customer_id", flat=True))

    def stored(run: ScoreRun) -> set[int]:
        return set(SegmentMembership.objects.filter(run=run, segment=valuable)
                   .values_list("customer_id", flat=True))

    assert stored(may) == expected(may)
    assert stored(june) == expected(june)
    assert stored(june)
    # And the stage migration accounts for every customer once
    from_run, to_run = migration_runs()
    moved = segment_migration(user=admin, from_run=from_run, to_run=to_run)
    assert sum(c.count for c in moved.cells) == len(crowd)
    # When June is scored again, the replaced run's memberships go with it
    again = score(JUNE)
    assert again.pk != june.pk
    assert not SegmentMembership.objects.filter(run_id=june.pk).exists()
    assert stored(again) == expected(again)
