"""A small shop whose answers are known: who became VIP, which prospects may be contacted,
which organization buys like a key account.

- 200 scored buyers owned by Li (rep1) and Wang (rep2): 40 came through referrals and 24 of
  them became VIP (60%); of the 160 others only 8 did (5%). The base rate is 32/200 = 16%,
  so referrals are 3.75× as likely to become VIP.
- Prospects (no purchase yet) with different consent states.
- Organizations: 华信科技 (Li's) buys 3 of 4 categories every year through one buyer; 远大集团
  (Wang's) bought once, through many buyers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.customers.models import Consent, Customer, Kind
from guanxi.sales.models import Order, OrderLine, Product
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def score(rows: list[tuple[Customer, str, str, Decimal]]) -> ScoreRun:
    """A complete scoring run giving each customer (tier, RFM segment, CLV)."""
    run = ScoreRun.objects.create(as_of=clock.today(), status=RunStatus.COMPLETE,
                                  created_at=clock.now(), finished_at=clock.now())
    CustomerScore.objects.bulk_create([
        CustomerScore(run=run, customer=c, lifecycle_stage="active", value_tier=tier,
                      rfm_segment=segment, clv=clv, frequency=1)
        for c, tier, segment, clv in rows])
    return run


def consent(customer: Customer, channel: str, purpose: str, granted: bool) -> None:
    Consent.objects.create(customer=customer, channel=channel, purpose=purpose, granted=granted,
                           recorded_at=clock.now(), source="test")


@dataclasses.dataclass
class Shop:
    buyers: list[Customer]
    referral_vips: int
    prospects: dict[str, Customer]
    products: dict[str, Product]


def _order(customer: Customer, when: dt.datetime, lines: list[tuple[Product, str]],
           n: list[int]) -> None:
    n[0] += 1
    total = sum((Decimal(a) for _p, a in lines), Decimal(0))
    order = Order.objects.create(external_id=f"o{n[0]}", customer=customer, placed_at=when,
                                 total=total)
    OrderLine.objects.bulk_create([OrderLine(order=order, product=p, amount=Decimal(a))
                                   for p, a in lines])


@pytest.fixture
def shop(rep1: User, rep2: User, frozen: None) -> Shop:
    products = {cat: Product.objects.create(sku=cat, name=cat, category=cat,
                                            unit_price=Decimal("100"))
                for cat in ("books", "music", "video", "games")}
    buyers = []
    rows = []
    counter = [0]
    for i in range(200):
        referral = i < 40
        vip = i < 24 if referral else i < 48
        owner = rep1 if i % 2 == 0 else rep2
        c = Customer.objects.create(
            name=f"买家{i}", source="referral" if referral else ("ads" if i % 3 else "search"),
            city="上海" if i % 4 == 0 else "拉萨", owner=owner,
            last_purchase_at=NOW - dt.timedelta(days=30))
        _order(c, NOW - dt.timedelta(days=300 + i), [(products["books"], "120")], counter)
        buyers.append(c)
        rows.append((c, "vip" if vip else "ordinary", "champions" if vip else "hibernating",
                     Decimal("5000") if vip else Decimal("100")))
    score(rows)

    def prospect(name: str, owner: User, source: str = "referral") -> Customer:
        return Customer.objects.create(name=name, source=source, city="上海", owner=owner,
                                       phone="+8613800000000")

    prospects = {
        "granted": prospect("有同意", rep1),
        "ads": prospect("广告来的", rep1, source="ads"),
        "none": prospect("没记录", rep1),
        "withdrawn": prospect("撤回了", rep1),
        "profiling": prospect("反对画像", rep1),
        "wangs": prospect("王的潜客", rep2),
    }
    consent(prospects["granted"], "sms", "marketing", True)
    consent(prospects["granted"], "email", "marketing", False)
    consent(prospects["ads"], "email", "marketing", True)
    consent(prospects["withdrawn"], "sms", "marketing", False)
    consent(prospects["profiling"], "sms", "marketing", True)
    consent(prospects["profiling"], "sms", "profiling", False)
    consent(prospects["wangs"], "wechat", "marketing", True)
    return Shop(buyers=buyers, referral_vips=24, prospects=prospects, products=products)


@dataclasses.dataclass
class Accounts:
    steady: Customer
    once: Customer
    buyer: Customer


@pytest.fixture
def accounts(rep1: User, rep2: User, frozen: None) -> Accounts:
    products = {cat: Product.objects.get_or_create(
        sku=f"ka-{cat}", defaults={"name": cat, "category": cat, "unit_price": Decimal("10")})[0]
        for cat in ("paper", "printers", "servers", "software")}
    steady = Customer.objects.create(name="华信科技", kind=Kind.ORGANIZATION, owner=rep1)
    buyer = Customer.objects.create(name="采购部 张经理", organization=steady, owner=rep1)
    once = Customer.objects.create(name="远大集团", kind=Kind.ORGANIZATION, owner=rep2)
    branches = [Customer.objects.create(name=f"远大分公司{i}", organization=once, owner=rep2)
                for i in range(4)]
    n = [1000]
    for year in range(4):
        when = NOW - dt.timedelta(days=100 + 365 * year)
        _order(buyer, when, [(products["paper"], "1000"), (products["printers"], "1000"),
                             (products["servers"], "1000")], n)
    for branch in branches:
        _order(branch, NOW - dt.timedelta(days=50), [(products["paper"], "5000")], n)
    return Accounts(steady=steady, once=once, buyer=buyer)
