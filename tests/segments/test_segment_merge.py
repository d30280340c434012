"""A customer merged into another keeps their place on the lists, and the snapshots stay as they
were (like the score history)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from segrule_story import JULY, NOW, Shop, july, june, order

from guanxi.accounts.models import User
from guanxi.customers.merge import customer_merge
from guanxi.segments import services
from guanxi.segments.models import (
    CategoryStats,
    OrderStats,
    SegmentKind,
    SegmentMember,
    SegmentMembership,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def test_merging_two_customers_on_the_same_list(shop: Shop, admin: User) -> None:
    # Given 王芳 and 张伟 (one person twice) on the same list and in the same rule segment
    both = services.segment_create(user=admin, name="回访", kind=SegmentKind.STATIC,
                                   customer_ids=[shop.wangfang.pk, shop.zhangwei.pk])
    only_zw = services.segment_create(user=admin, name="投诉回访", kind=SegmentKind.STATIC,
                                      customer_ids=[shop.zhangwei.pk])
    shanghai = services.segment_create(user=admin, name="上海",
                                       definition={"field": "city", "op": "eq",
                                                   "value": "上海"})
    order(shop.zhangwei, JULY, "50.00", "tea")
    june(shop)
    run = july(shop)
    services.snapshot_write(run=run)
    assert OrderStats.objects.filter(customer=shop.zhangwei).exists()
    # (both bought tea: their per-category rows would collide if they moved)
    assert CategoryStats.objects.filter(customer__in=[shop.wangfang, shop.zhangwei],
                                        category="tea").count() == 2
    # When 张伟 is merged into 王芳
    customer_merge(actor=admin, survivor=shop.wangfang, merged=shop.zhangwei)
    # Then 王芳 is on both lists once, and the snapshot still says who was where that day
    assert set(SegmentMember.objects.filter(customer=shop.wangfang)
               .values_list("segment_id", flat=True)) == {both.pk, only_zw.pk}
    assert not SegmentMember.objects.filter(customer=shop.zhangwei).exists()
    assert SegmentMembership.objects.filter(run=run, segment=shanghai,
                                            customer=shop.zhangwei).exists()
    assert SegmentMembership.objects.filter(run=run, segment=shanghai,
                                            customer=shop.wangfang).exists()
