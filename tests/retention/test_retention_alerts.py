"""Churn early warning stories: late against their own rhythm, one alert per episode."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from retention_story import AS_OF, Shop, at

from guanxi.accounts.models import User
from guanxi.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from guanxi.customers.models import CustomerEvent, EventType
from guanxi.retention import selectors, services
from guanxi.retention.models import AlertReason, AlertStatus, ChurnAlert
from guanxi.sales.models import Order

pytestmark = pytest.mark.django_db


def test_the_weekly_customer_is_flagged_on_day_20_the_quarterly_one_is_not(
        shop: Shop, rep1: User, the_next_morning: None) -> None:
    # Given a shop scored the morning after the as-of date
    # When the daily run looks for late customers
    report = services.daily_run(as_of=AS_OF)

    # Then Li's weekly customer, silent for 20 days, has an alert with the reason in words
    assert report["churn_alerts"]["created"] >= 2
    alert = ChurnAlert.objects.get(customer=shop.weekly)
    assert alert.status == AlertStatus.OPEN
    assert alert.reason_code == AlertReason.LATE
    assert alert.owner == rep1
    assert alert.reason == "usually orders every 7 days; 20 days since the last order"
    assert alert.last_purchase_on == AS_OF - dt.timedelta(days=20)
    assert alert.value_at_stake is not None
    assert alert.value_at_stake > 0
    # And the quarterly customer, silent for as long, has none
    assert not ChurnAlert.objects.filter(customer=shop.quarterly).exists()
    # And the alert is on the weekly customer's timeline
    event = CustomerEvent.objects.get(customer=shop.weekly, type=EventType.CHURN_ALERT_RAISED)
    assert event.data["reason"] == "late"


def test_running_the_daily_job_twice_creates_nothing_new(shop: Shop,
                                                         the_next_morning: None) -> None:
    first = services.daily_run(as_of=AS_OF)
    alerts = ChurnAlert.objects.count()
    events = CustomerEvent.objects.count()
    # When it runs again the same day
    second = services.daily_run(as_of=AS_OF)
    # Then nothing new is created and everything open is left unchanged
    assert second["scores"]["created"] == 0
    assert second["churn_alerts"]["created"] == 0
    assert second["churn_alerts"]["unchanged"] == alerts
    assert second["replenishments"]["created"] == 0
    assert second["replenishments"]["unchanged"] == first["replenishments"]["created"]
    assert ChurnAlert.objects.count() == alerts
    assert CustomerEvent.objects.count() == events


def test_a_customer_who_buys_again_is_won_back(shop: Shop, rep1: User) -> None:
    import time_machine

    with time_machine.travel(at(AS_OF + dt.timedelta(days=1), 6), tick=False):
        services.daily_run(as_of=AS_OF)
    # Given the weekly customer comes back two days later
    Order.objects.create(external_id="back", customer=shop.weekly,
                         placed_at=at(AS_OF + dt.timedelta(days=2)), total=Decimal("99.00"))
    # When the next daily run scores the day
    with time_machine.travel(at(AS_OF + dt.timedelta(days=3), 6), tick=False):
        report = services.daily_run(as_of=AS_OF + dt.timedelta(days=2))
    # Then the alert is closed as won back, with the outcome recorded
    alert = ChurnAlert.objects.get(customer=shop.weekly)
    assert alert.status == AlertStatus.WON_BACK
    assert alert.closed_on == AS_OF + dt.timedelta(days=2)
    assert alert.outcome_note == (AS_OF + dt.timedelta(days=2)).isoformat()
    assert alert.outcome == f"bought again on {alert.outcome_note}"
    assert report["churn_alerts"]["closed"] >= 1
    assert CustomerEvent.objects.filter(customer=shop.weekly,
                                        type=EventType.CHURN_ALERT_CLOSED).exists()


def test_reps_see_their_own_alerts_managers_the_team(
        shop: Shop, rep1: User, rep2: User, manager: User, analyst: User,
        the_next_morning: None) -> None:
    services.daily_run(as_of=AS_OF)
    mine = set(selectors.alerts_open(user=rep1).values_list("customer_id", flat=True))
    wangs = set(selectors.alerts_open(user=rep2).values_list("customer_id", flat=True))
    team = set(selectors.alerts_open(user=manager).values_list("customer_id", flat=True))
    assert shop.weekly.pk in mine
    assert shop.wangs_weekly.pk not in mine
    assert shop.wangs_weekly.pk in wangs
    assert mine | wangs == team
    # And Wang cannot open Li's alert, not even to learn that it exists
    alert = ChurnAlert.objects.get(customer=shop.weekly)
    with pytest.raises(NotFound):
        selectors.access_alert(user=rep2, alert_id=alert.pk)
    # And the analyst may read it but not close it
    assert selectors.access_alert(user=analyst, alert_id=alert.pk) == alert
    with pytest.raises(PermissionDenied):
        selectors.access_alert(user=analyst, alert_id=alert.pk, write=True)


def test_a_rep_closes_an_alert_as_lost_and_it_is_not_raised_again(
        shop: Shop, rep1: User, the_next_morning: None) -> None:
    services.daily_run(as_of=AS_OF)
    alert = selectors.access_alert(user=rep1,
                                   alert_id=ChurnAlert.objects.get(customer=shop.weekly).pk,
                                   write=True)
    with pytest.raises(ValidationFailed):
        services.alert_close(alert=alert, actor=rep1, outcome="won_back")
    # When Li closes it as lost, saying why
    services.alert_close(alert=alert, actor=rep1, outcome="lost", note="Moved to Shenzhen")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.LOST
    assert alert.closed_by == rep1
    assert alert.outcome_note == "Moved to Shenzhen"
    with pytest.raises(Conflict):
        services.alert_close(alert=alert, actor=rep1, outcome="dismissed")
    # Then the next run does not raise the same silence again
    report = services.daily_run(as_of=AS_OF)
    assert report["churn_alerts"]["created"] == 0
    assert ChurnAlert.objects.filter(customer=shop.weekly).count() == 1


def test_a_rice_buyer_is_due_five_days_before_the_bag_runs_out(
        shop: Shop, rep1: User, rep2: User, the_next_morning: None) -> None:
    services.daily_run(as_of=AS_OF)
    due = list(selectors.replenishments_due(user=rep1, as_of=AS_OF))
    assert [(r.customer_id, r.item_name) for r in due] == [(shop.rice_buyer.pk, "Rice 10 kg")]
    item = due[0]
    assert item.due_on == AS_OF + dt.timedelta(days=5)
    assert item.value == Decimal("50.00")
    assert item.reason == ("buys Rice 10 kg about every 30 days; last on 2026-06-05, "
                           "runs out around 2026-07-05")
    assert not selectors.replenishments_due(user=rep2, as_of=AS_OF).exists()
    # And the reminder is closed once she buys again
    order = Order.objects.create(external_id="rice-again", customer=shop.rice_buyer,
                                 placed_at=at(AS_OF), total=Decimal("50.00"))
    order.lines.create(product=shop.rice, quantity=1, amount=Decimal("50.00"))
    report = services.replenishments_refresh(as_of=AS_OF)
    assert report["closed"] == 1


def test_the_reason_reads_in_chinese(shop: Shop, the_next_morning: None) -> None:
    from django.utils import translation

    services.daily_run(as_of=AS_OF)
    alert = ChurnAlert.objects.get(customer=shop.weekly)
    with translation.override("zh-hans"):
        assert alert.reason == "通常每 7 天下单一次；距上次下单已 20 天"
        assert alert.get_severity_display() in {"紧急", "高", "中", "低"}
