"""Stories of the daily re-score: when nothing changed, yesterday's summaries are moved on a day."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from value_story import AS_OF, SHANGHAI, Shop, at

from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create
from guanxi.sales.models import Order, OrderStatus
from guanxi.sales.services import order_create
from guanxi.value import services
from guanxi.value.models import CustomerScore, RunPath, ScoreRun

pytestmark = pytest.mark.django_db

NEXT_DAY = AS_OF + dt.timedelta(days=1)
NOW = dt.datetime(2026, 7, 2, 9, 0, tzinfo=SHANGHAI)

_COMPARED = [f.name for f in CustomerScore._meta.concrete_fields
             if f.name not in {"id", "run"}]


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _rows(run: ScoreRun) -> dict[int, dict[str, Any]]:
    return {r["customer"]: r for r in CustomerScore.objects.filter(run=run).values(*_COMPARED)}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def test_the_next_day_with_no_change_reuses_the_summaries_and_equals_a_full_run(
    shop: Shop, frozen: None
) -> None:
    # Given everyone scored as of 30 June from the orders
    june = services.score_all(as_of=AS_OF)
    assert june.path == RunPath.FULL
    # When the next day is scored and no order or customer changed
    incremental = services.score_all(as_of=NEXT_DAY)
    # Then the run says it moved June's summaries on instead of reading the orders
    assert incremental.path == RunPath.INCREMENTAL
    assert incremental.source["from_run"] == june.pk
    moved = _rows(incremental)
    models = incremental.models_info
    # And a full run of the same day gives the same numbers, customer by customer
    full = services.score_all(as_of=NEXT_DAY, full=True)
    assert full.path == RunPath.FULL
    again = _rows(full)
    assert moved.keys() == again.keys()
    for cid, row in moved.items():
        for name in _COMPARED:
            assert _same(row[name], again[cid][name]), (cid, name, row[name], again[cid][name])
    for name in ("bgnbd", "gammagamma"):
        for key, value in models[name]["params"].items():
            assert math.isclose(value, full.models_info[name]["params"][key], rel_tol=1e-9)
    assert (incremental.n_customers, incremental.n_buyers, incremental.n_purchases,
            incremental.equity) == (full.n_customers, full.n_buyers, full.n_purchases,
                                    full.equity)
    # And the clock moved: the regular's T and recency grew by one day
    regular_june = CustomerScore.objects.get(run=june, customer=shop.regular)
    assert moved[shop.regular.pk]["recency_days"] == regular_june.recency_days + 1


def _changes() -> dict[str, Any]:
    def new_order(shop: Shop) -> None:
        order_create(actor=None, customer=shop.lapsed, placed_at=at(AS_OF, 11),
                     total=Decimal("30.00"))

    def order_after_the_last_run(shop: Shop) -> None:
        order_create(actor=None, customer=shop.newcomer, placed_at=at(NEXT_DAY, 8),
                     total=Decimal("30.00"))

    def refund(shop: Shop) -> None:
        order = shop.regular.orders.latest("placed_at")
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.REFUNDED)

    def amount(shop: Shop) -> None:
        Order.objects.filter(pk=shop.regular.orders.latest("placed_at").pk).update(
            total=Decimal("121.00"))

    def moved_order(shop: Shop) -> None:
        Order.objects.filter(pk=shop.newcomer.orders.get().pk).update(customer=shop.prospect)

    def new_customer(shop: Shop) -> None:
        customer_create(actor=None, name="新客")

    def deleted_customer(shop: Shop) -> None:
        Customer.objects.filter(pk=shop.prospect.pk).delete()

    return {f.__name__: f for f in (new_order, order_after_the_last_run, refund, amount,
                                    moved_order, new_customer, deleted_customer)}


@pytest.mark.parametrize("change", sorted(_changes()))
def test_any_change_of_orders_or_customers_reads_everything_again(
    shop: Shop, frozen: None, change: str
) -> None:
    # Given a complete run as of 30 June
    services.score_all(as_of=AS_OF)
    # When something changes before the next day is scored
    _changes()[change](shop)
    run = services.score_all(as_of=NEXT_DAY)
    # Then the run reads the orders again
    assert run.path == RunPath.FULL
    assert run.source["from_run"] is None


def test_other_settings_read_everything_again(shop: Shop, frozen: None) -> None:
    services.score_all(as_of=AS_OF)
    run = services.score_all(as_of=NEXT_DAY, overrides={"dormant_below": 0.45})
    assert run.path == RunPath.FULL
    # And the day after, with the same settings and nothing changed, moves on again
    later = services.score_all(as_of=NEXT_DAY, overrides={"dormant_below": 0.45})
    assert later.path == RunPath.INCREMENTAL


def test_the_cli_says_which_path_it_took(shop: Shop, frozen: None) -> None:
    import json

    from typer.testing import CliRunner

    from guanxi.cli.main import app

    runner = CliRunner()
    assert runner.invoke(app, ["score", "--as-of", AS_OF.isoformat()]).exit_code == 0
    moved = runner.invoke(app, ["score", "--as-of", NEXT_DAY.isoformat()])
    assert moved.exit_code == 0, moved.output
    assert "from the summaries of the previous run" in moved.stdout
    full = runner.invoke(app, ["score", "--as-of", NEXT_DAY.isoformat(), "--full", "--json"])
    assert full.exit_code == 0, full.output
    assert json.loads(full.stdout)["path"] == "full"
