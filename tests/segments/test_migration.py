"""Stories of snapshots and migration: who moved from which segment to which, and with what value.

Planted in the shop (see ``segrule_story``), June → July by lifecycle stage:
loyal → loyal: 王芳 (9,000 → 9,500); loyal → dormant: 张伟 (5,200 → 900) and 赵磊 (8,000 →
1,500); new → loyal: 刘洋 (800 → 7,000); prospect → prospect: 陈静.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import time_machine
from segrule_story import JULY, JUNE, NOW, Shop, july, june, snapshot

from guanxi.accounts.models import User
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.segments import services
from guanxi.segments.migration import (
    migration_runs,
    segment_migration,
    segment_migration_customers,
)
from guanxi.segments.models import SegmentKind, SegmentMembership
from guanxi.segments.selectors import segment_customers, segment_history
from guanxi.value.models import ScoreRun
from guanxi.value.signals import score_run_completed

pytestmark = pytest.mark.django_db

VIP = {"field": "value_tier", "op": "eq", "value": "vip"}
AT_RISK = {"all": [{"field": "lifecycle_stage", "op": "eq", "value": "dormant"},
                   {"field": "clv", "op": "gte", "value": 1000}]}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def members(run: ScoreRun, segment: object) -> set[str]:
    return set(SegmentMembership.objects.filter(run=run, segment=segment)
               .values_list("customer__name", flat=True))


def test_every_scoring_run_stores_the_segments_members(shop: Shop, admin: User,
                                                       rep1: User) -> None:
    # Given a VIP rule, an at-risk rule and Li's static list
    vips = services.segment_create(user=admin, name="VIP", definition=VIP)
    risk = services.segment_create(user=admin, name="流失风险", definition=AT_RISK)
    picked = services.segment_create(user=rep1, name="回访", kind=SegmentKind.STATIC,
                                     customer_ids=[shop.chenjing.pk])
    # When June and July are scored (the value engine sends the signal)
    june_run = june(shop)
    score_run_completed.send(sender=ScoreRun, run=june_run)
    july_run = july(shop)
    score_run_completed.send(sender=ScoreRun, run=july_run)
    # Then each snapshot holds that run's members
    assert members(june_run, vips) == {"王芳", "赵磊"}
    assert members(july_run, vips) == {"王芳", "刘洋"}
    assert members(june_run, risk) == set()
    assert members(july_run, risk) == {"赵磊"}
    assert members(july_run, picked) == {"陈静"}
    assert SegmentMembership.objects.filter(probability__isnull=False).count() == 0
    # And the segment's history counts them per run (Li: her own only)
    assert [h["size"] for h in segment_history(user=admin, segment=vips)] == [2, 2]
    assert [h["size"] for h in segment_history(user=rep1, segment=vips)] == [1, 1]
    # And a run's snapshot is readable as the segment's members then
    assert set(segment_customers(user=admin, segment=vips, run=june_run)
               .values_list("name", flat=True)) == {"王芳", "赵磊"}
    # When July is scored again, the old run's memberships go with it
    # (the value engine deletes the old run as it swaps the new one in)
    ScoreRun.objects.filter(pk=july_run.pk).delete()
    july_again = snapshot(JULY, {shop.wangfang: ("loyal", "vip", "1")})
    score_run_completed.send(sender=ScoreRun, run=july_again)
    assert not SegmentMembership.objects.filter(run_id=july_run.pk).exists()
    assert members(july_again, vips) == {"王芳"}
    # And writing a snapshot twice replaces it
    services.snapshot_write(run=july_again)
    assert SegmentMembership.objects.filter(run=july_again, segment=vips).count() == 1


def test_the_planted_stage_migration_is_counted_exactly(shop: Shop, admin: User) -> None:
    june(shop)
    july(shop)
    # Given the two latest snapshots by default
    from_run, to_run = migration_runs()
    assert (from_run.as_of, to_run.as_of) == (JUNE, JULY)
    # When the admin reads the stage migration
    moved = segment_migration(user=admin, from_run=from_run, to_run=to_run, scheme="stage")
    # Then every cell is the planted one, with the CLV at both ends
    assert moved.matrix() == {"prospect": {"prospect": 1}, "new": {"loyal": 1},
                              "loyal": {"loyal": 1, "dormant": 2}}
    cell = moved.cell("loyal", "dormant")
    assert cell is not None
    assert (cell.count, cell.value_from, cell.value_to) == (2, Decimal("13200.00"),
                                                            Decimal("2400.00"))
    assert cell.value_change == Decimal("-10800.00")
    # And the Sankey data links the same cells between named nodes
    sankey = moved.sankey()
    link = next(lk for lk in sankey["links"]
                if sankey["nodes"][lk["source"]]["key"] == "loyal"
                and sankey["nodes"][lk["target"]]["key"] == "dormant")
    assert (link["count"], link["value_from"]) == (2, "13200.00")
    assert sankey["nodes"][link["target"]] == {"id": "to:dormant", "key": "dormant",
                                               "label": "Dormant", "side": "to"}
    # And tiers are read the same way (陈静 has no tier: "none")
    tiers = segment_migration(user=admin, from_run=from_run, to_run=to_run, scheme="tier")
    assert tiers.matrix() == {"vip": {"vip": 1, "major": 1}, "key": {"ordinary": 1},
                              "ordinary": {"vip": 1}, "none": {"none": 1}}


def test_the_customers_behind_a_cell_with_a_value_filter(shop: Shop, admin: User,
                                                         rep1: User) -> None:
    from_run, to_run = june(shop), july(shop)
    # "loyal → dormant, with CLV over 5,000 back in June": both
    page = segment_migration_customers(user=admin, from_run=from_run, to_run=to_run,
                                       source="loyal", target="dormant", clv_min=Decimal(5000),
                                       clv_at="from")
    assert [c.customer.name for c in page.items] == ["张伟", "赵磊"]
    assert page.items[0].clv_from == Decimal("5200.00")
    assert page.items[0].clv_to == Decimal("900.00")
    # "with CLV over 1,000 now": only 赵磊
    page = segment_migration_customers(user=admin, from_run=from_run, to_run=to_run,
                                       source="loyal", target="dormant", clv_min=Decimal(1000))
    assert [c.customer.name for c in page.items] == ["赵磊"]
    # Paged one at a time
    first = segment_migration_customers(user=admin, from_run=from_run, to_run=to_run,
                                        source="loyal", target="dormant", limit=1)
    assert first.next_cursor is not None
    second = segment_migration_customers(user=admin, from_run=from_run, to_run=to_run,
                                         source="loyal", target="dormant", limit=1,
                                         after=first.next_cursor)
    assert [c.customer.name for c in first.items + second.items] == ["张伟", "赵磊"]
    assert second.next_cursor is None
    # And Li sees only her own customer in that cell, and her own book in the matrix
    page = segment_migration_customers(user=rep1, from_run=from_run, to_run=to_run,
                                       source="loyal", target="dormant")
    assert [c.customer.name for c in page.items] == ["张伟"]
    mine = segment_migration(user=rep1, from_run=from_run, to_run=to_run)
    assert mine.matrix() == {"prospect": {"prospect": 1}, "loyal": {"loyal": 1, "dormant": 1}}


def test_rule_segments_migrate_first_match_wins(shop: Shop, admin: User) -> None:
    # Given VIP listed before at-risk, and snapshots written on both runs
    vips = services.segment_create(user=admin, name="VIP", definition=VIP)
    risk = services.segment_create(user=admin, name="流失风险", definition=AT_RISK)
    from_run, to_run = june(shop), july(shop)
    services.snapshot_write(run=from_run)
    services.snapshot_write(run=to_run)
    # And a customer new in July (none → none: no score in June, no segment in July)
    newcomer = Customer.objects.create(name="新客")
    moved = segment_migration(user=admin, from_run=from_run, to_run=to_run, scheme="rules",
                              segments=[vips, risk])
    v, r = str(vips.pk), str(risk.pk)
    # 王芳 vip→vip, 赵磊 vip→risk, 刘洋 none→vip, 张伟 and 陈静 none→none
    assert moved.matrix() == {v: {v: 1, r: 1}, "none": {v: 1, "none": 2}}
    assert moved.labels[v] == "VIP"
    assert newcomer.pk  # not scored in either run: not in the matrix


def test_statistical_migration_reads_the_primary_segment(shop: Shop, admin: User) -> None:
    from guanxi.segments.models import Segment

    from_run, to_run = june(shop), july(shop)
    a, b = (Segment.objects.create(name=n, kind=SegmentKind.STATISTICAL, created_at=NOW,
                                   updated_at=NOW) for n in ("高价值常客", "沉睡客户"))
    for run, primary in ((from_run, {shop.zhaolei: a, shop.wangfang: a}),
                         (to_run, {shop.zhaolei: b, shop.wangfang: a})):
        for customer, seg in primary.items():
            other = b if seg == a else a
            SegmentMembership.objects.create(run=run, segment=seg, customer=customer,
                                             probability=0.8, is_primary=True)
            SegmentMembership.objects.create(run=run, segment=other, customer=customer,
                                             probability=0.2, is_primary=False)
    moved = segment_migration(user=admin, from_run=from_run, to_run=to_run,
                              scheme="statistical")
    assert moved.matrix() == {str(a.pk): {str(a.pk): 1, str(b.pk): 1}, "none": {"none": 3}}


def test_migration_needs_two_runs_and_a_known_scheme(shop: Shop, admin: User) -> None:
    with pytest.raises(NotFound):
        migration_runs()
    june(shop)
    with pytest.raises(NotFound) as caught:
        migration_runs()
    assert "before" in caught.value.message
    july(shop)
    with pytest.raises(NotFound):
        migration_runs(from_date=dt.date(2026, 1, 1))
    with pytest.raises(ValidationFailed):
        migration_runs(from_date=JULY, to_date=JUNE)
    from_run, to_run = migration_runs(from_date=JUNE, to_date=JULY)
    with pytest.raises(ValidationFailed):
        segment_migration(user=admin, from_run=from_run, to_run=to_run, scheme="colour")
    with pytest.raises(ValidationFailed):
        segment_migration(user=admin, from_run=from_run, to_run=to_run, scheme="rules")


def test_a_customers_segments_over_time(shop: Shop, admin: User, rep1: User) -> None:
    from guanxi.segments.selectors import customer_segments

    vips = services.segment_create(user=admin, name="VIP", definition=VIP)
    risk = services.segment_create(user=admin, name="流失风险", definition=AT_RISK)
    june_run, july_run = june(shop), july(shop)
    services.snapshot_write(run=june_run)
    services.snapshot_write(run=july_run)
    # 赵磊 was a VIP in June and at risk in July
    history = customer_segments(user=admin, customer=shop.zhaolei)
    assert [(h["as_of"], [s["name"] for s in h["segments"]]) for h in history] == [
        (JULY, ["流失风险"]), (JUNE, ["VIP"])]
    assert history[0]["segments"][0]["id"] == risk.pk
    # An inactive segment is left out
    services.segment_update(user=admin, segment=vips, is_active=False)
    assert customer_segments(user=rep1, customer=shop.wangfang)[1]["segments"] == []
