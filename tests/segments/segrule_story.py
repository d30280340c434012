"""The shop of the rule-segment stories: customers we know by heart, and two score snapshots.

Li (``rep1``) owns:
- 王芳, Shanghai, referred, tagged 茶友, SMS marketing consent, born in March; bought tea for
  6,000 last month — VIP, loyal in June, still loyal in July;
- 张伟, Shanghai, store, tagged 茶友 and 投诉; bought teaware twice (300) a year ago — loyal in
  June, dormant in July (the planted "loyal → dormant" move, CLV 5,200 → 900);
- 陈静, Beijing, online, no orders: a prospect never scored.

Wang (``rep2``) owns:
- 刘洋, Beijing, referred, tagged 茶友; three tea orders (1,500) this spring — new in June, loyal in
  July (CLV 800 → 7,000);
- 赵磊, Hangzhou, store, e-mail marketing consent withdrawn; loyal → dormant too (CLV 8,000 →
  1,500).

The snapshots are written straight into complete ``ScoreRun`` rows (the value engine is tested
on its own), so every count and sum is known exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from guanxi.accounts.models import User
from guanxi.customers.models import Consent, Customer, Tag
from guanxi.sales.models import Order, OrderLine, Product
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun

SHANGHAI = ZoneInfo("Asia/Shanghai")
JUNE = dt.date(2026, 6, 30)
JULY = dt.date(2026, 7, 31)
NOW = dt.datetime(2026, 8, 1, 9, 0, tzinfo=SHANGHAI)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


@dataclass
class Shop:
    wangfang: Customer
    zhangwei: Customer
    chenjing: Customer
    liuyang: Customer
    zhaolei: Customer

    @property
    def everyone(self) -> list[Customer]:
        return [self.wangfang, self.zhangwei, self.chenjing, self.liuyang, self.zhaolei]


def order(customer: Customer, day: dt.date, total: str, category: str = "",
          status: str = "completed", hour: int = 10) -> Order:
    n = Order.objects.count()
    placed = Order.objects.create(external_id=f"o-{customer.pk}-{n}", customer=customer,
                                  placed_at=at(day, hour), total=Decimal(total), status=status)
    if category:
        product, _ = Product.objects.get_or_create(sku=f"sku-{category}",
                                                   defaults={"name": category,
                                                             "category": category})
        OrderLine.objects.create(order=placed, product=product, amount=Decimal(total))
    last = Customer.objects.get(pk=customer.pk).last_purchase_at
    if status not in ("refunded", "cancelled") and (last is None or last < placed.placed_at):
        Customer.objects.filter(pk=customer.pk).update(last_purchase_at=placed.placed_at)
    return placed


def snapshot(as_of: dt.date, rows: dict[Customer, tuple[str, str, str | None]]) -> ScoreRun:
    """A complete run: per customer (stage, tier, clv)."""
    run = ScoreRun.objects.create(as_of=as_of, status=RunStatus.COMPLETE, created_at=NOW,
                                  finished_at=NOW)
    CustomerScore.objects.bulk_create([
        CustomerScore(run=run, customer=c, lifecycle_stage=stage, value_tier=tier,
                      clv=Decimal(clv) if clv is not None else None,
                      rfm_segment={"loyal": "champions", "dormant": "hibernating"}.get(stage, ""),
                      p_alive=None if clv is None else 0.9 if stage in ("loyal", "new") else 0.2,
                      last_purchase_at=Customer.objects.get(pk=c.pk).last_purchase_at)
        for c, (stage, tier, clv) in rows.items()
    ])
    return run


def june(shop: Shop) -> ScoreRun:
    return snapshot(JUNE, {
        shop.wangfang: ("loyal", "vip", "9000.00"),
        shop.zhangwei: ("loyal", "key", "5200.00"),
        shop.chenjing: ("prospect", "", None),
        shop.liuyang: ("new", "ordinary", "800.00"),
        shop.zhaolei: ("loyal", "vip", "8000.00"),
    })


def july(shop: Shop) -> ScoreRun:
    return snapshot(JULY, {
        shop.wangfang: ("loyal", "vip", "9500.00"),
        shop.zhangwei: ("dormant", "ordinary", "900.00"),
        shop.chenjing: ("prospect", "", None),
        shop.liuyang: ("loyal", "vip", "7000.00"),
        shop.zhaolei: ("dormant", "major", "1500.00"),
    })


@pytest.fixture
def shop(rep1: User, rep2: User) -> Shop:
    tea, complaint = Tag.objects.create(name="茶友"), Tag.objects.create(name="投诉")
    wangfang = Customer.objects.create(name="王芳", owner=rep1, city="上海", source="referral",
                                       birthday=dt.date(1990, 3, 14), industry="教育")
    zhangwei = Customer.objects.create(name="张伟", owner=rep1, city="上海", source="store",
                                       income_band="comfortable")
    chenjing = Customer.objects.create(name="陈静", owner=rep1, city="北京", source="online",
                                       acquired_on=dt.date(2026, 7, 20))
    liuyang = Customer.objects.create(name="刘洋", owner=rep2, city="北京", source="referral",
                                      kind="organization", company_size="50-200")
    zhaolei = Customer.objects.create(name="赵磊", owner=rep2, city="杭州", source="store",
                                      acquired_on=dt.date(2024, 1, 5))
    wangfang.tags.add(tea)
    zhangwei.tags.add(tea, complaint)
    liuyang.tags.add(tea)
    Consent.objects.create(customer=wangfang, channel="sms", purpose="marketing", granted=True,
                           recorded_at=NOW)
    Consent.objects.create(customer=zhaolei, channel="email", purpose="marketing",
                           granted=False, recorded_at=NOW)
    order(wangfang, dt.date(2026, 7, 10), "6000.00", "tea")
    order(zhangwei, dt.date(2025, 7, 20), "100.00", "teaware")
    order(zhangwei, dt.date(2025, 8, 2), "200.00", "teaware")
    order(zhangwei, dt.date(2026, 7, 25), "999.00", "tea", status="refunded")
    for day in (dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)):
        order(liuyang, day, "500.00", "tea")
    order(zhaolei, dt.date(2025, 12, 31), "80.00", hour=23)
    return Shop(wangfang, zhangwei, chenjing, liuyang, zhaolei)
