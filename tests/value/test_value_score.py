"""Stories of ``guanxi score``: stages, snapshots, replacements, failures and time zones."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from typer.testing import CliRunner
from value_story import AS_OF, SHANGHAI, Shop, at

from guanxi.customers.models import Customer, CustomerEvent, EventType
from guanxi.sales.models import OrderStatus
from guanxi.sales.services import order_create
from guanxi.value import selectors, services
from guanxi.value.models import CustomerScore, CustomerValue, RunStatus, ScoreRun

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _stage(customer: Customer) -> str:
    return Customer.objects.get(pk=customer.pk).value.lifecycle_stage


def test_each_customer_gets_the_stage_their_history_tells(shop: Shop, frozen: None) -> None:
    # Given the shop's history up to the end of June
    # When the value engine scores everyone as of 30 June
    run = services.score_all(as_of=AS_OF)
    # Then the run is complete and covers every customer
    assert run.status == RunStatus.COMPLETE
    assert run.n_customers == Customer.objects.count()
    assert run.n_buyers == Customer.objects.count() - 1 - sum(
        1 for c in shop.crowd if not c.orders.exists())
    # And each story customer is where their history puts them
    assert _stage(shop.prospect) == "prospect"
    assert _stage(shop.newcomer) == "new"
    assert _stage(shop.regular) == "loyal"
    assert _stage(shop.lapsed) == "lost"
    # And the regular carries the latest values: tier, CLV, P(alive), next purchase, RFM
    regular = Customer.objects.get(pk=shop.regular.pk).value
    assert regular.value_tier in {"vip", "key"}
    assert regular.clv is not None
    assert regular.clv > Decimal("0")
    assert regular.p_alive is not None
    assert regular.p_alive > 0.7
    assert regular.expected_next_purchase is not None
    assert regular.expected_next_purchase > AS_OF
    assert regular.rfm_segment
    assert len(regular.rfm_score) == 3
    assert regular.scored_on == AS_OF
    # The latest purchase keeps its time of day, not just the day.
    assert regular.last_purchase_at == shop.regular.orders.latest("placed_at").placed_at
    # And the prospect has no score values
    prospect = Customer.objects.get(pk=shop.prospect.pk).value
    assert prospect.clv is None
    assert prospect.value_tier == ""
    assert prospect.p_alive is None


def test_probabilities_and_values_are_sane(shop: Shop, frozen: None) -> None:
    run = services.score_all(as_of=AS_OF)
    scores = CustomerScore.objects.filter(run=run, x__isnull=False)
    for s in scores:
        assert s.p_alive is not None
        assert 0.0 <= s.p_alive <= 1.0
        assert s.p_purchase is not None
        assert 0.0 <= s.p_purchase <= 1.0
        assert s.expected_purchases is not None
        assert s.expected_purchases >= 0
        assert s.clv is not None
        assert s.clv >= 0
    assert run.equity == sum((s.clv for s in scores if s.clv is not None), Decimal("0"))
    assert {"bgnbd", "gammagamma"} <= set(run.models_info)
    assert set(run.models_info["bgnbd"]["params"]) == {"r", "alpha", "a", "b"}


def test_rescoring_the_same_day_replaces_its_snapshot(shop: Shop, frozen: None) -> None:
    # Given a snapshot as of 30 June
    first = services.score_all(as_of=AS_OF)
    # When the same day is scored again
    second = services.score_all(as_of=AS_OF)
    # Then there is still one snapshot for that day, with one score per customer
    assert ScoreRun.objects.filter(status=RunStatus.COMPLETE).count() == 1
    assert not ScoreRun.objects.filter(pk=first.pk).exists()
    assert CustomerScore.objects.count() == Customer.objects.count()
    assert CustomerScore.objects.filter(run=second).count() == Customer.objects.count()


def test_two_dates_keep_two_snapshots(shop: Shop, frozen: None) -> None:
    # Given a snapshot at the end of May and one at the end of June
    may = services.score_all(as_of=dt.date(2026, 5, 31))
    june = services.score_all(as_of=AS_OF)
    # Then both are kept: the newcomer did not exist as a buyer in May
    assert ScoreRun.objects.filter(status=RunStatus.COMPLETE).count() == 2
    assert CustomerScore.objects.get(run=may, customer=shop.newcomer).lifecycle_stage == "prospect"
    assert CustomerScore.objects.get(run=june, customer=shop.newcomer).lifecycle_stage == "new"
    # And re-scoring May afterwards does not overwrite June's values on the customer
    services.score_all(as_of=dt.date(2026, 5, 31))
    assert _stage(shop.newcomer) == "new"


@pytest.mark.parametrize("breaking_point", ["_insert_scores", "_write_score_events"])
def test_a_failure_half_way_keeps_the_previous_snapshot(
    shop: Shop, frozen: None, monkeypatch: pytest.MonkeyPatch, breaking_point: str
) -> None:
    # Given a complete snapshot as of 30 June
    good = services.score_all(as_of=AS_OF)
    before = {v.pk: (v.lifecycle_stage, v.clv, v.run_id) for v in CustomerValue.objects.all()}
    n_scores = CustomerScore.objects.filter(run=good).count()

    # When the next run of that day breaks after writing its scores, or inside the swap
    # after the old snapshot's rows were already deleted
    real = getattr(services, breaking_point)

    def breaking(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, breaking_point, breaking)
    order_create(actor=None, customer=shop.prospect, placed_at=at(AS_OF, 9),
                 total=Decimal("10.00"))
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False), \
            pytest.raises(RuntimeError, match="disk full"):
        services.score_all(as_of=AS_OF)

    # Then the previous snapshot is intact and still the only complete one
    assert list(ScoreRun.objects.filter(status=RunStatus.COMPLETE)) == [good]
    assert CustomerScore.objects.filter(run=good).count() == n_scores
    # And the customers still show its values
    assert {v.pk: (v.lifecycle_stage, v.clv, v.run_id)
            for v in CustomerValue.objects.all()} == before
    # And the broken run is recorded as failed, without rows
    failed = ScoreRun.objects.get(status=RunStatus.FAILED)
    assert "disk full" in failed.error
    assert not CustomerScore.objects.filter(run=failed).exists()


def test_a_change_of_stage_writes_one_event(shop: Shop, frozen: None) -> None:
    # Given everyone scored at the end of May (a first score is not a change)
    services.score_all(as_of=dt.date(2026, 5, 31))
    assert not CustomerEvent.objects.filter(type=EventType.SCORE_CHANGED).exists()
    # When June's score moves the newcomer from prospect to new
    services.score_all(as_of=AS_OF)
    # Then score_changed events are written only for customers whose stage or tier moved
    changed = CustomerEvent.objects.filter(type=EventType.SCORE_CHANGED,
                                           customer=shop.newcomer).get()
    assert changed.data["lifecycle_stage"] == ["prospect", "new"]
    assert not CustomerEvent.objects.filter(type=EventType.SCORE_CHANGED,
                                            customer=shop.prospect).exists()


def test_days_are_counted_in_the_company_time_zone(rep1: Any, frozen: None) -> None:
    # Given orders late at night and just after midnight, Shanghai time
    from guanxi.customers.services import customer_create

    c = customer_create(actor=rep1, name="林夜", owner=rep1)
    for when, total in [
        (at(dt.date(2026, 6, 29), 23, 30), "10.00"),  # 15:30 UTC on the 29th
        (at(dt.date(2026, 6, 30), 0, 0), "5.00"),     # exactly midnight: the 30th
        (at(dt.date(2026, 6, 30), 0, 30), "20.00"),   # 16:30 UTC on the 29th: the 30th here
        (at(dt.date(2026, 6, 30), 23, 30), "30.00"),  # still the as-of day
        (at(dt.date(2026, 7, 1), 0, 30), "40.00"),    # 16:30 UTC on the 30th: the next day
    ]:
        order_create(actor=rep1, customer=c, placed_at=when, total=Decimal(total))
    order_create(actor=rep1, customer=c, placed_at=at(dt.date(2026, 6, 28)),
                 total=Decimal("99.00"), status=OrderStatus.REFUNDED)
    # When the purchase days up to 30 June are read
    days = selectors.purchase_days(as_of=AS_OF)
    # Then the 23:30 and 00:30 orders fall on their own local days, the order after
    # midnight on 1 July is not included, and the refund does not count
    assert [str(d) for d in days.day] == ["2026-06-29", "2026-06-30"]
    assert days.amount.tolist() == [10.0, 55.0]


def test_a_zone_with_daylight_saving_time_counts_local_days_too(
    rep1: Any, settings: Any
) -> None:
    # Given a shop in Berlin, on summer time (UTC+2) at the end of June
    settings.TIME_ZONE = "Europe/Berlin"
    from zoneinfo import ZoneInfo

    from guanxi.customers.services import customer_create

    berlin = ZoneInfo("Europe/Berlin")
    c = customer_create(actor=rep1, name="Jonas", owner=rep1)
    for when, total in [
        (dt.datetime(2026, 6, 29, 23, 30, tzinfo=berlin), "10.00"),  # 21:30 UTC
        (dt.datetime(2026, 6, 30, 0, 30, tzinfo=berlin), "20.00"),   # 22:30 UTC on the 29th
        (dt.datetime(2026, 7, 1, 0, 30, tzinfo=berlin), "40.00"),    # after the as-of day
    ]:
        order_create(actor=rep1, customer=c, placed_at=when, total=Decimal(total))
    # When the purchase days up to 30 June are read
    days = selectors.purchase_days(as_of=AS_OF)
    # Then each order is on its Berlin day
    assert [str(d) for d in days.day] == ["2026-06-29", "2026-06-30"]
    assert days.amount.tolist() == [10.0, 20.0]


def test_guanxi_score_cli_prints_a_json_summary(shop: Shop, frozen: None) -> None:
    from guanxi.cli.main import app

    result = CliRunner().invoke(app, ["score", "--as-of", "2026-06-30", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["as_of"] == "2026-06-30"
    assert summary["customers"] == Customer.objects.count()
    assert summary["stages"]["prospect"] >= 1
    assert set(summary["timings"]) >= {"read", "summarize", "fit", "score", "write", "swap"}


def test_the_packed_read_equals_the_grouped_read(shop: Shop, frozen: None) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the packed read is PostgreSQL's")
    import datetime as dt_
    from zoneinfo import ZoneInfo

    from guanxi.core import clock
    from guanxi.sales.models import Order

    # Given orders at awkward times: just before and after local midnight, the same day twice
    order_create(actor=None, customer=shop.prospect, placed_at=at(AS_OF, 23, 59),
                 total=Decimal("0.10"))
    order_create(actor=None, customer=shop.prospect, placed_at=at(AS_OF, 0, 0),
                 total=Decimal("0.20"))
    order_create(actor=None, customer=shop.prospect, placed_at=at(AS_OF - dt_.timedelta(1), 23),
                 total=Decimal("12345678.91"))
    # When the purchase days are read both ways
    placeholders, statuses = selectors._not_purchase_sql()
    table = connection.ops.quote_name(Order._meta.db_table)
    end = clock.start_of_day(AS_OF + dt_.timedelta(days=1))
    grouped = selectors._purchase_days_postgres(table, placeholders, statuses, end,
                                                ZoneInfo("Asia/Shanghai"), None)
    packed = selectors._purchase_days_postgres_packed(table, placeholders, statuses, end, 480,
                                                      None, step=100)
    # Then they agree exactly
    for name in ("customer", "day", "amount", "last_epoch", "first_epoch"):
        assert getattr(packed, name).tolist() == getattr(grouped, name).tolist(), name
