"""The daily run at the edges: an empty company, an interrupted run, a rotated category."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from retention_story import AS_OF, Shop, at

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.retention import services
from guanxi.retention.models import ChurnAlert, Replenishment
from guanxi.sales.models import Order, Product

pytestmark = pytest.mark.django_db


def test_a_company_without_purchases_runs_without_error(rep1: User,
                                                        the_next_morning: None) -> None:
    Customer.objects.create(name="孙悦", owner=rep1)
    report = services.daily_run(as_of=AS_OF)
    assert report["scores"]["created"] == 0
    assert report["churn_alerts"] == {"created": 0, "closed": 0, "unchanged": 0}
    assert report["replenishments"] == {"created": 0, "closed": 0, "unchanged": 0}


def test_an_interrupted_run_is_finished_by_running_it_again(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, the_next_morning: None) -> None:
    # Given the run breaks down in the replenishment step
    def broken(**kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(services, "replenishments_refresh", broken)
    with pytest.raises(KeyboardInterrupt):
        services.daily_run(as_of=AS_OF)
    alerts = ChurnAlert.objects.count()
    assert alerts > 0
    assert not Replenishment.objects.exists()
    # When it runs again
    monkeypatch.undo()
    report = services.daily_run(as_of=AS_OF)
    # Then it finishes what was left and repeats nothing
    assert report["scores"]["created"] == 0
    assert report["churn_alerts"]["created"] == 0
    assert ChurnAlert.objects.count() == alerts
    assert report["replenishments"]["created"] == 1


def test_a_customer_rotating_brands_is_reminded_of_the_category(
        rep1: User, the_next_morning: None) -> None:
    # Given a household that buys rice every 30 days, a different brand each time
    household = Customer.objects.create(name="赵丽", owner=rep1)
    for k, day in enumerate([AS_OF - dt.timedelta(days=d) for d in (85, 55, 25)]):
        brand = Product.objects.create(sku=f"RICE-{k}", name=f"Rice brand {k}", category="Rice")
        order = Order.objects.create(external_id=f"r{k}", customer=household, placed_at=at(day),
                                     total=Decimal("60.00"))
        order.lines.create(product=brand, quantity=1, amount=Decimal("60.00"))
    # When replenishments are refreshed
    counts = services.replenishments_refresh(as_of=AS_OF)
    # Then one reminder follows the category, due 30 days after the last bag
    assert counts["created"] == 1
    item = Replenishment.objects.get()
    assert item.category == "Rice"
    assert item.product is None
    assert item.item_name == "Rice"
    assert item.due_on == AS_OF + dt.timedelta(days=5)
    # And a second refresh the same day adds nothing
    assert services.replenishments_refresh(as_of=AS_OF)["created"] == 0


def test_a_new_brand_of_the_category_closes_the_reminder(rep1: User,
                                                        the_next_morning: None) -> None:
    household = Customer.objects.create(name="赵丽", owner=rep1)
    other = Customer.objects.create(name="钱进", owner=rep1)
    brands = [Product.objects.create(sku=f"RICE-{k}", name=f"Rice brand {k}", category="Rice")
              for k in range(4)]
    for who in (household, other):
        for k, back in enumerate((85, 55, 25)):
            order = Order.objects.create(external_id=f"{who.pk}-{k}", customer=who,
                                         placed_at=at(AS_OF - dt.timedelta(days=back)),
                                         total=Decimal("60.00"))
            order.lines.create(product=brands[k], quantity=1, amount=Decimal("60.00"))
    assert services.replenishments_refresh(as_of=AS_OF)["created"] == 2
    # When the household buys a fourth brand of rice
    order = Order.objects.create(external_id="new-brand", customer=household,
                                 placed_at=at(AS_OF), total=Decimal("60.00"))
    order.lines.create(product=brands[3], quantity=1, amount=Decimal("60.00"))
    counts = services.replenishments_refresh(as_of=AS_OF)
    # Then its reminder is closed as bought; the other household's stays open
    assert counts == {"created": 0, "closed": 1, "unchanged": 1}
    assert Replenishment.objects.get(customer=household).status == "bought"
    assert Replenishment.objects.get(customer=other).status == "open"
