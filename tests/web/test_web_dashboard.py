"""The home dashboard (issue #5 §4): aggregates within each person's rights."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import time_machine
from django.test import Client
from django.urls import reverse

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create
from guanxi.web import selectors
from value_fixtures import give_value

ClientFor = Callable[[User], Client]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _scored(owner: User, name: str, tier: str, clv: str, segment: str,
            next_on: dt.date | None = None) -> Customer:
    c = customer_create(actor=owner, name=name, owner=owner)
    give_value(c, value_tier=tier, clv=Decimal(clv), rfm_segment=segment,
               lifecycle_stage="active", expected_next_purchase=next_on)
    return c


def test_each_person_sees_the_aggregates_of_their_customers(
    rep1: User, rep2: User, analyst: User, client_for: ClientFor
) -> None:
    # Given Li's two customers and Wang's one
    _scored(rep1, "张伟", "vip", "9000.00", "champions", dt.date(2026, 6, 12))
    _scored(rep1, "李娜", "ordinary", "100.50", "at risk", dt.date(2026, 8, 1))
    _scored(rep2, "刘洋", "vip", "5000.00", "champions")

    with time_machine.travel(dt.datetime(2026, 6, 10, 9, tzinfo=SHANGHAI), tick=False):
        mine = selectors.dashboard(user=rep1)
        everyone = selectors.dashboard(user=analyst)

    # Then Li's figures count only Li's customers
    assert (mine.total, mine.equity, mine.due_soon) == (2, Decimal("9100.50"), 1)
    assert {b.key: b.count for b in mine.tiers if b.count} == {"vip": 1, "ordinary": 1}
    assert [(b.key, b.count) for b in mine.segments] == [("at risk", 1), ("champions", 1)]
    # And the analyst's count everyone's
    assert (everyone.total, everyone.equity) == (3, Decimal("14100.50"))
    vip = next(b for b in everyone.tiers if b.key == "vip")
    assert (vip.count, vip.clv, vip.share) == (2, Decimal("14000.00"), 1.0)


def test_the_dashboard_page_links_each_bar_to_the_list(
    rep1: User, analyst: User, client_for: ClientFor
) -> None:
    _scored(rep1, "张伟", "vip", "9000.00", "champions")
    html = client_for(analyst).get(reverse("home")).content.decode()
    assert "¥9,000.00" in html
    assert '/customers/?tier=vip"' in html
    assert '/customers/?segment=champions"' in html
    # No personal data on the dashboard
    assert "张伟" not in html
