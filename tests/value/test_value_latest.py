"""Stories of the customers' latest values: ``customer.value`` follows the latest complete run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from value_story import AS_OF, SHANGHAI, Shop

from guanxi.customers.models import Customer
from guanxi.value import selectors, services
from guanxi.value.models import CustomerScore, CustomerValue, ScoreRun
from guanxi.value.signals import score_run_completed

pytestmark = pytest.mark.django_db(transaction=False)

NOW = dt.datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_customer_never_scored_has_no_value(shop: Shop, frozen: None) -> None:
    # Given a shop that was never scored
    # Then no customer has latest values, and there is no latest run
    assert selectors.latest_run() is None
    customer = Customer.objects.get(pk=shop.regular.pk)
    assert getattr(customer, "value", None) is None
    assert not CustomerValue.objects.exists()


def test_the_latest_values_are_the_latest_complete_run(shop: Shop, frozen: None) -> None:
    # Given snapshots at the end of May and of June
    may = services.score_all(as_of=dt.date(2026, 5, 31))
    june = services.score_all(as_of=AS_OF)
    # Then the latest run is June's, and every customer's value comes from it
    assert selectors.latest_run() == june
    assert CustomerValue.objects.count() == Customer.objects.count()
    regular = Customer.objects.select_related("value").get(pk=shop.regular.pk)
    score = CustomerScore.objects.get(run=june, customer=regular)
    assert regular.value.run_id == june.pk
    assert regular.value.clv == score.clv
    assert regular.value.scored_on == AS_OF
    assert len(regular.value.rfm_score) == 3
    # And filters through the relation see the same rows
    tiers = set(Customer.objects.filter(value__value_tier="vip").values_list("pk", flat=True))
    assert tiers == set(CustomerScore.objects.filter(run=june, value_tier="vip")
                        .values_list("customer_id", flat=True))
    # And re-scoring May does not take the place of June
    services.score_all(as_of=dt.date(2026, 5, 31))
    assert selectors.latest_run() == june
    assert not ScoreRun.objects.filter(pk=may.pk).exists()
    assert Customer.objects.get(pk=shop.newcomer.pk).value.lifecycle_stage == "new"


def test_the_score_keeps_the_first_purchase_and_the_rhythm(shop: Shop, frozen: None) -> None:
    services.score_all(as_of=AS_OF)
    regular = CustomerValue.objects.get(customer=shop.regular)
    orders = shop.regular.orders.order_by("placed_at")
    assert regular.first_purchase_at == orders.first().placed_at  # type: ignore[union-attr]
    assert regular.last_purchase_at == orders.last().placed_at  # type: ignore[union-attr]
    # The regular buys every three weeks: the mean gap is 21 days, with no spread
    assert regular.interval_mean_days == pytest.approx(21.0)
    assert regular.interval_sd_days == pytest.approx(0.0)
    # A one-time buyer has no rhythm yet; a prospect has no purchase at all
    newcomer = CustomerValue.objects.get(customer=shop.newcomer)
    assert newcomer.interval_mean_days is None
    assert newcomer.first_purchase_at == newcomer.last_purchase_at
    prospect = CustomerValue.objects.get(customer=shop.prospect)
    assert prospect.lifecycle_stage == "prospect"
    assert prospect.first_purchase_at is None


@pytest.mark.django_db(transaction=True)
def test_listeners_hear_about_a_complete_run_after_it_committed(
    shop: Shop, frozen: None
) -> None:
    heard: list[tuple[int, bool]] = []

    def listener(sender: Any, run: ScoreRun, **kwargs: Any) -> None:
        # By then the run's values are visible as the latest values
        heard.append((run.pk, CustomerValue.objects.filter(run_id=run.pk).exists()))

    score_run_completed.connect(listener)
    try:
        run = services.score_all(as_of=AS_OF)
    finally:
        score_run_completed.disconnect(listener)
    assert heard == [(run.pk, True)]


def test_deleting_a_customer_deletes_their_scores(shop: Shop, frozen: None) -> None:
    # The scores have no foreign-key constraint in the database (it made writes slow):
    # Django's cascade must still take them away with the customer.
    services.score_all(as_of=AS_OF)
    # (orders protect a buyer from deletion: the prospect can go)
    Customer.objects.filter(pk=shop.prospect.pk).delete()
    assert not CustomerScore.objects.filter(customer_id=shop.prospect.pk).exists()
    assert not CustomerValue.objects.filter(customer_id=shop.prospect.pk).exists()


def _partitions() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                       " JOIN pg_class p ON p.oid = i.inhparent"
                       " WHERE p.relname = 'value_customerscore'")
        return {name for (name,) in cursor.fetchall()}


def test_on_postgresql_each_run_is_a_partition_dropped_with_the_run(shop: Shop,
                                                                    frozen: None) -> None:
    from django.db import connection

    from guanxi.value import partitions

    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's; SQLite keeps one table")
    # Given a run of June
    first = services.score_all(as_of=AS_OF)
    # Then its rows are a partition of their own, beside the default one
    assert _partitions() == {partitions.DEFAULT, partitions.name(first.pk)}
    assert CustomerScore.objects.filter(run=first).count() == Customer.objects.count()
    # When June is scored again, the replaced run's partition goes with it
    second = services.score_all(as_of=AS_OF, full=True)
    assert _partitions() == {partitions.DEFAULT, partitions.name(second.pk)}
    assert not CustomerScore.objects.filter(run_id=first.pk).exists()
    # And the unique (run, customer) rule holds in the new partition
    from django.db import IntegrityError, transaction

    row = CustomerScore.objects.filter(run=second).first()
    assert row is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerScore.objects.create(run=second, customer_id=row.customer_id,
                                     lifecycle_stage="new")


def test_old_daily_snapshots_are_pruned_but_month_ends_and_the_latest_stay(
        shop: Shop, settings: Any) -> None:
    # Given daily runs from mid-April to the end of June
    days = [dt.date(2026, 4, 20) + dt.timedelta(days=k) for k in range(0, 72, 3)]
    with time_machine.travel(dt.datetime(2026, 7, 2, 9, 0, tzinfo=SHANGHAI), tick=False):
        runs = {day: services.score_all(as_of=day).pk for day in days}
        # When history is pruned on 1 July keeping 30 days
        settings.GUANXI_SCORE_HISTORY_DAYS = 30
        deleted = services.history_prune(today=dt.date(2026, 7, 1))
    cutoff = dt.date(2026, 6, 1)
    # Then runs before June are gone, except April's and May's last ones
    kept = set(ScoreRun.objects.values_list("as_of", flat=True))
    month_ends = {max(d for d in days if d.month == m) for m in (4, 5)}
    assert kept == {d for d in days if d >= cutoff} | month_ends
    assert sorted(deleted) == sorted(runs[d] for d in days if d < cutoff and d not in month_ends)
    # And their scores went with them, while the latest values still come from the last run
    assert not CustomerScore.objects.filter(run_id__in=deleted).exists()
    assert selectors.latest_run().pk == runs[days[-1]]  # type: ignore[union-attr]
    # And keeping everything deletes nothing
    settings.GUANXI_SCORE_HISTORY_DAYS = "all"
    assert services.history_prune(today=dt.date(2027, 1, 1)) == []


def test_a_bad_history_setting_is_named(settings: Any) -> None:
    from guanxi.core.errors import ValidationFailed

    settings.GUANXI_SCORE_HISTORY_DAYS = "a month"
    with pytest.raises(ValidationFailed, match="GUANXI_SCORE_HISTORY_DAYS"):
        services.history_days()
