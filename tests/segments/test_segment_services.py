"""Stories of saving segments: who may create and change them, static lists, freezing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from segrule_story import NOW, Shop, july, june

from guanxi.accounts.models import User
from guanxi.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from guanxi.segments import services
from guanxi.segments.models import SegmentKind, SegmentMember
from guanxi.segments.selectors import access_segment, segment_customers

pytestmark = pytest.mark.django_db

VIP = {"field": "value_tier", "op": "eq", "value": "vip"}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def member_names(segment: object, user: User) -> set[str]:
    return set(segment_customers(user=user, segment=segment)  # type: ignore[arg-type]
               .values_list("name", flat=True))


def test_a_rep_sees_only_their_customers_inside_a_segment(shop: Shop, manager: User,
                                                         rep1: User, rep2: User) -> None:
    # Given July's VIPs 王芳 (Li's) and 刘洋 (Wang's) and a segment Mei saved
    june(shop)
    july(shop)
    vips = services.segment_create(user=manager, name="VIP", definition=VIP)
    # Then Mei sees both, Li only hers, Wang only his
    assert member_names(vips, manager) == {"王芳", "刘洋"}
    assert member_names(vips, rep1) == {"王芳"}
    assert member_names(vips, rep2) == {"刘洋"}


def test_who_may_create_and_change_a_segment(shop: Shop, manager: User, rep1: User,
                                             rep2: User, agent: User, analyst: User) -> None:
    # Given Li saved a segment
    mine = services.segment_create(user=rep1, name="上海茶友",
                                   definition={"field": "city", "op": "eq", "value": "上海"})
    # Then she and her manager may change it, Wang and the analyst may only read it
    assert access_segment(user=rep1, segment_id=mine.pk, write=True) == mine
    assert access_segment(user=manager, segment_id=mine.pk, write=True) == mine
    for reader in (rep2, analyst, agent):
        assert access_segment(user=reader, segment_id=mine.pk) == mine
        with pytest.raises(PermissionDenied):
            access_segment(user=reader, segment_id=mine.pk, write=True)
    # And a service agent creates none
    with pytest.raises(PermissionDenied):
        services.segment_create(user=agent, name="x", definition=VIP)
    # And a name is taken once
    with pytest.raises(Conflict):
        services.segment_create(user=rep2, name="上海茶友", kind=SegmentKind.STATIC)
    # And a bad rule is refused before anything is saved
    with pytest.raises(ValidationFailed):
        services.segment_create(user=rep1, name="bad", definition={"field": "x"})
    with pytest.raises(NotFound):
        access_segment(user=rep1, segment_id=mine.pk + 100)


def test_a_static_list_takes_only_customers_its_editor_may_see(shop: Shop, rep1: User) -> None:
    # Given Li's hand-picked list
    picked = services.segment_create(user=rep1, name="回访名单", kind=SegmentKind.STATIC,
                                     customer_ids=[shop.wangfang.pk])
    # When she adds 张伟 twice and 王芳 again
    assert services.segment_add_customers(user=rep1, segment=picked,
                                          customer_ids=[shop.zhangwei.pk, shop.zhangwei.pk,
                                                        shop.wangfang.pk]) == 1
    assert member_names(picked, rep1) == {"王芳", "张伟"}
    # Then Wang's customer cannot be added: for Li it does not exist
    with pytest.raises(NotFound) as caught:
        services.segment_add_customers(user=rep1, segment=picked,
                                       customer_ids=[shop.liuyang.pk])
    assert str(shop.liuyang.pk) in caught.value.message
    # And removing works
    assert services.segment_remove_customers(user=rep1, segment=picked,
                                             customer_ids=[shop.wangfang.pk]) == 1
    assert member_names(picked, rep1) == {"张伟"}
    # And a dynamic segment takes no hand-picked customers
    rule = services.segment_create(user=rep1, name="VIP", definition=VIP)
    with pytest.raises(ValidationFailed):
        services.segment_add_customers(user=rep1, segment=rule, customer_ids=[shop.zhangwei.pk])


def test_freezing_a_rule_keeps_todays_members(shop: Shop, admin: User, rep1: User) -> None:
    # Given the VIP rule over July's values
    june(shop)
    july(shop)
    vips = services.segment_create(user=admin, name="VIP", definition=VIP)
    # When the admin freezes it, and Li freezes her view of it
    frozen_all = services.segment_freeze(user=admin, segment=vips, name="VIP 2026-07")
    frozen_li = services.segment_freeze(user=rep1, segment=vips, name="我的 VIP")
    # Then the copies are static lists of those customers
    assert frozen_all.kind == SegmentKind.STATIC
    assert set(SegmentMember.objects.filter(segment=frozen_all)
               .values_list("customer__name", flat=True)) == {"王芳", "刘洋"}
    assert set(SegmentMember.objects.filter(segment=frozen_li)
               .values_list("customer__name", flat=True)) == {"王芳"}
    # And editing the rule does not change the frozen copy
    services.segment_update(user=admin, segment=vips,
                            definition={"field": "value_tier", "op": "eq", "value": "major"})
    assert member_names(vips, admin) == {"赵磊"}
    assert member_names(frozen_all, admin) == {"王芳", "刘洋"}


def test_renaming_a_statistical_segment_marks_it_chosen_by_a_person(shop: Shop,
                                                                    analyst: User) -> None:
    from guanxi.segments.models import Segment

    found = Segment.objects.create(name="高价值常客", suggested_name="高价值常客",
                                   kind=SegmentKind.STATISTICAL, created_at=NOW,
                                   updated_at=NOW)
    access_segment(user=analyst, segment_id=found.pk, write=True)
    services.segment_update(user=analyst, segment=found, name="核心茶客")
    found.refresh_from_db()
    assert (found.name, found.renamed) == ("核心茶客", True)
