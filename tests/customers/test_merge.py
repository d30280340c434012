"""Stories about merging two records of one customer (issue #2 §3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.accounts.models import User
from guanxi.core.errors import Conflict, NotFound, PermissionDenied
from guanxi.customers import merge
from guanxi.customers.errors import CustomerErrorCode
from guanxi.customers.merge import (
    customer_merge_preview,
    customer_resolve_external_id,
)
from guanxi.customers.models import (
    Customer,
    CustomerEvent,
    DateKind,
    EventType,
    ExternalId,
    ImportantDate,
    Kind,
    Tag,
)
from guanxi.customers.services import (
    consent_set,
    customer_create,
    customer_merge,
    interaction_log,
    note_add,
)
from guanxi.sales.services import order_create

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def pair(rep1: User) -> tuple[Customer, Customer]:
    """Li's customer 张伟, typed in by hand, and 张玮, the same man brought in by the web shop."""
    with time_machine.travel(_at(1), tick=False):
        survivor = customer_create(actor=rep1, name="张伟", phone="138 0013 8000", city="杭州",
                                   owner=rep1, external_id="A1", source_system="erp",
                                   acquired_on=dt.date(2024, 6, 1))
        merged = customer_create(actor=rep1, name="张玮", email="zw@example.com", city="杭州",
                                 owner=rep1, external_id="S9", source_system="shop",
                                 birthday=dt.date(1985, 5, 4), occupation="engineer",
                                 acquired_on=dt.date(2023, 1, 15),
                                 attributes={"shoe_size": 42})
    return survivor, merged


def test_merge_moves_everything_and_leaves_a_tombstone(
    rep1: User, pair: tuple[Customer, Customer]
) -> None:
    survivor, merged = pair
    # Given the shop record has orders, a note, a call, a consent, a date, tags and a referral
    with time_machine.travel(_at(2), tick=False):
        order_create(actor=rep1, customer=merged, placed_at=_at(2), total=Decimal("199.00"),
                     external_id="SO-1")
        order_create(actor=rep1, customer=merged, placed_at=_at(3), total=Decimal("88.50"),
                     external_id="SO-2")
        note_add(actor=rep1, customer=merged, text="Prefers window seats", pinned=True)
        interaction_log(actor=rep1, customer=merged, channel="phone", subject="Welcome call")
        consent_set(actor=rep1, customer=merged, channel="email", purpose="marketing",
                    granted=True)
        ImportantDate.objects.create(customer=merged, kind=DateKind.ANNIVERSARY,
                                     date=dt.date(2020, 10, 1))
        merged.tags.add(Tag.objects.create(name="wine"))
        survivor.tags.add(Tag.objects.create(name="golf"))
        friend = customer_create(actor=rep1, name="李娜", owner=rep1, referred_by=merged)
    assert customer_merge_preview(survivor=survivor, merged=merged) == {
        "consents": 1, "events": 6, "external_ids": 1, "important_dates": 1,
        "interactions": 1, "notes": 1, "orders": 2, "referrals": 1, "tags": 1,
    }

    # When Li merges the shop record into the one she typed in
    with time_machine.travel(_at(5), tick=False):
        result = customer_merge(actor=rep1, survivor=survivor, merged=merged)

    # Then everything belongs to the survivor
    assert result.pk == survivor.pk
    assert sorted(result.orders.values_list("external_id", flat=True)) == ["SO-1", "SO-2"]
    assert result.notes.get().text == "Prefers window seats"
    assert result.interactions.get().subject == "Welcome call"
    assert result.consents.get().granted is True
    assert result.important_dates.get().kind == DateKind.ANNIVERSARY
    assert sorted(t.name for t in result.tags.all()) == ["golf", "wine"]
    friend.refresh_from_db()
    assert friend.referred_by_id == survivor.pk
    assert result.last_purchase_at == _at(3)
    # and its empty profile fields were filled, its own kept, the earlier acquisition date won
    assert result.phone == "+8613800138000"
    assert result.email == "zw@example.com"
    assert result.birthday == dt.date(1985, 5, 4)
    assert result.occupation == "engineer"
    assert result.acquired_on == dt.date(2023, 1, 15)
    assert result.attributes == {"shoe_size": 42}
    assert result.name == "张伟"

    # And the merged record is a tombstone with nothing left on it
    merged.refresh_from_db()
    assert merged.is_active is False
    assert merged.merged_into_id == survivor.pk
    assert not merged.events.exists()
    assert not merged.orders.exists()
    assert not merged.tags.exists()

    # And its external id became an alias of the survivor, which later imports resolve
    alias = ExternalId.objects.get(source="shop", value="S9")
    assert (alias.customer_id, alias.is_alias) == (survivor.pk, True)
    own = ExternalId.objects.get(source="erp", value="A1")
    assert (own.customer_id, own.is_alias) == (survivor.pk, False)
    assert customer_resolve_external_id(source="shop", value="S9") == survivor
    assert customer_resolve_external_id(source="erp", value="A1") == survivor
    assert customer_resolve_external_id(source="shop", value="nope") is None

    # And the timeline shows the merge, by Li, with what moved, and the shop record's history
    event = result.events.filter(type=EventType.MERGED).get()
    assert event.actor == rep1
    assert event.occurred_at == _at(5)
    assert event.data == {
        "merged_id": merged.pk, "merged_name": "张玮",
        "moved": {"consents": 1, "events": 6, "external_ids": 1, "important_dates": 1,
                  "interactions": 1, "notes": 1, "orders": 2, "referrals": 1, "tags": 1},
    }
    assert result.events.filter(type=EventType.ORDER_PLACED).count() == 2
    filled = result.events.filter(type=EventType.UPDATED).get()
    assert set(filled.data["changes"]) == {"email", "birthday", "occupation", "acquired_on",
                                           "attributes"}


def test_the_most_recent_consent_wins(rep1: User, pair: tuple[Customer, Customer]) -> None:
    survivor, merged = pair
    # Given the survivor granted e-mail marketing on the 2nd but withdrew it on the shop
    # record on the 3rd; and the shop record granted SMS service before the survivor withdrew it
    with time_machine.travel(_at(2), tick=False):
        consent_set(actor=rep1, customer=survivor, channel="email", purpose="marketing",
                    granted=True)
        consent_set(actor=rep1, customer=merged, channel="sms", purpose="service",
                    granted=True)
    with time_machine.travel(_at(3), tick=False):
        consent_set(actor=rep1, customer=merged, channel="email", purpose="marketing",
                    granted=False)
        consent_set(actor=rep1, customer=survivor, channel="sms", purpose="service",
                    granted=False)

    customer_merge(actor=rep1, survivor=survivor, merged=merged)

    # Then both latest wishes hold: no marketing e-mail, no service SMS
    states = {(c.channel, c.purpose): (c.granted, c.recorded_at)
              for c in survivor.consents.all()}
    assert states == {("email", "marketing"): (False, _at(3)),
                      ("sms", "service"): (False, _at(3))}


def test_a_tie_between_consents_keeps_the_withdrawal(
    rep1: User, pair: tuple[Customer, Customer]
) -> None:
    survivor, merged = pair
    with time_machine.travel(_at(2), tick=False):
        consent_set(actor=rep1, customer=survivor, channel="email", purpose="marketing",
                    granted=True)
        consent_set(actor=rep1, customer=merged, channel="email", purpose="marketing",
                    granted=False)

    customer_merge(actor=rep1, survivor=survivor, merged=merged)

    assert survivor.consents.get().granted is False


def test_the_same_birthday_is_not_remembered_twice(
    rep1: User, pair: tuple[Customer, Customer]
) -> None:
    survivor, merged = pair
    for customer in pair:
        ImportantDate.objects.create(customer=customer, kind=DateKind.BIRTHDAY,
                                     date=dt.date(1985, 5, 4))

    customer_merge(actor=rep1, survivor=survivor, merged=merged)

    assert survivor.important_dates.count() == 1
    assert not ImportantDate.objects.filter(customer=merged).exists()


def test_merging_organizations_moves_their_contacts(admin: User) -> None:
    # Given "Acme" twice, each with one contact person
    acme = customer_create(actor=admin, name="Acme Ltd", kind=Kind.ORGANIZATION)
    acme2 = customer_create(actor=admin, name="ACME Limited", kind=Kind.ORGANIZATION)
    ann = customer_create(actor=admin, name="Ann", organization=acme)
    bob = customer_create(actor=admin, name="Bob", organization=acme2)

    customer_merge(actor=admin, survivor=acme, merged=acme2)

    assert set(acme.contacts.all()) == {ann, bob}


def test_a_chain_of_merges_resolves_to_the_last_survivor(admin: User) -> None:
    a = customer_create(actor=admin, name="A", external_id="1", source_system="pos")
    b = customer_create(actor=admin, name="B")
    c = customer_create(actor=admin, name="C")

    customer_merge(actor=admin, survivor=b, merged=a)
    customer_merge(actor=admin, survivor=c, merged=b)

    assert customer_resolve_external_id(source="pos", value="1") == c
    a.refresh_from_db()
    assert a.merged_into_id == c.pk  # older tombstones point at the newest survivor
    # An id written on a tombstone around a merge still resolves to the survivor
    ExternalId.objects.create(customer=a, source="pos", value="2")
    assert customer_resolve_external_id(source="pos", value="2") == c


def test_a_customer_cannot_be_merged_into_itself(rep1: User,
                                                  pair: tuple[Customer, Customer]) -> None:
    survivor, _ = pair
    with pytest.raises(Conflict) as exc:
        customer_merge(actor=rep1, survivor=survivor, merged=survivor)
    assert exc.value.code == CustomerErrorCode.MERGE_INTO_ITSELF


def test_an_already_merged_customer_cannot_be_merged_again(
    rep1: User, pair: tuple[Customer, Customer]
) -> None:
    survivor, merged = pair
    third = customer_create(actor=rep1, name="张卫", owner=rep1)
    customer_merge(actor=rep1, survivor=survivor, merged=merged)

    for args in ({"survivor": third, "merged": merged}, {"survivor": merged, "merged": third}):
        with pytest.raises(Conflict) as exc:
            customer_merge(actor=rep1, **args)
        assert exc.value.code == CustomerErrorCode.ALREADY_MERGED
        assert "was already merged into customer" in exc.value.message


def test_a_person_is_not_merged_into_an_organization(admin: User) -> None:
    org = customer_create(actor=admin, name="Acme", kind=Kind.ORGANIZATION)
    person = customer_create(actor=admin, name="Acme")

    with pytest.raises(Conflict) as exc:
        customer_merge(actor=admin, survivor=org, merged=person)

    assert exc.value.code == CustomerErrorCode.MERGE_KIND_MISMATCH
    person.refresh_from_db()
    assert person.is_active


def test_rep2_cannot_merge_rep1s_customers(
    rep2: User, pair: tuple[Customer, Customer]
) -> None:
    survivor, merged = pair
    # Wang may not even learn that Li's customers exist
    with pytest.raises(NotFound) as exc:
        customer_merge(actor=rep2, survivor=survivor, merged=merged)
    assert exc.value.code == CustomerErrorCode.NOT_FOUND
    merged.refresh_from_db()
    assert merged.is_active


def test_a_service_agent_sees_but_cannot_merge(
    agent: User, pair: tuple[Customer, Customer]
) -> None:
    survivor, merged = pair
    with pytest.raises(PermissionDenied) as exc:
        customer_merge(actor=agent, survivor=survivor, merged=merged)
    assert exc.value.code == CustomerErrorCode.READ_ONLY


def test_the_manager_merges_across_the_team(
    manager: User, rep1: User, rep2: User
) -> None:
    mine = customer_create(actor=rep1, name="王芳", owner=rep1)
    theirs = customer_create(actor=rep2, name="王芳", owner=rep2)

    customer_merge(actor=manager, survivor=mine, merged=theirs)

    theirs.refresh_from_db()
    assert theirs.merged_into_id == mine.pk


def test_a_failed_merge_leaves_both_customers_untouched(
    rep1: User, pair: tuple[Customer, Customer], monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, merged = pair
    order_create(actor=rep1, customer=merged, placed_at=_at(2), total=Decimal("10"),
                 external_id="SO-9")
    note_add(actor=rep1, customer=merged, text="Allergic to peanuts")
    merged.tags.add(Tag.objects.create(name="wine"))
    events_before = CustomerEvent.objects.filter(customer=merged).count()

    # Given the very last step of the merge fails (the disk is full, say)
    def broken(**kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(merge.events, "customer_merged_event", broken)

    # When Li merges
    with pytest.raises(RuntimeError, match="disk full"):
        customer_merge(actor=rep1, survivor=survivor, merged=merged)

    # Then nothing moved and nothing was filled in
    merged.refresh_from_db()
    survivor.refresh_from_db()
    assert merged.is_active
    assert merged.merged_into_id is None
    assert merged.orders.count() == 1
    assert merged.notes.count() == 1
    assert merged.tags.count() == 1
    assert CustomerEvent.objects.filter(customer=merged).count() == events_before
    assert ExternalId.objects.get(source="shop", value="S9").customer_id == merged.pk
    assert not ExternalId.objects.get(source="shop", value="S9").is_alias
    assert survivor.email == ""
    assert not survivor.events.filter(type__in=[EventType.MERGED, EventType.UPDATED]).exists()


def test_score_snapshots_stay_with_the_tombstone(rep1: User,
                                                 pair: tuple[Customer, Customer]) -> None:
    from guanxi.value.models import CustomerScore, ScoreRun

    # Given last night's scoring run scored both records
    survivor, merged = pair
    run = ScoreRun.objects.create(as_of=dt.date(2025, 3, 1), created_at=_at(1),
                                  status="complete")
    for customer in pair:
        CustomerScore.objects.create(run=run, customer=customer, lifecycle_stage="new")

    # When they are merged (the run's one-row-per-customer rule must not stop it)
    customer_merge(actor=rep1, survivor=survivor, merged=merged)

    # Then each snapshot still describes the record it was computed for
    assert CustomerScore.objects.filter(customer=survivor).count() == 1
    assert CustomerScore.objects.filter(customer=merged).count() == 1
    # And each keeps its own latest values (a read-only view, never re-pointed)
    survivor.refresh_from_db()
    assert survivor.value.run_id == run.pk


@pytest.mark.django_db(transaction=True)
def test_two_opposite_merges_at_once_neither_deadlock_nor_both_win(admin: User) -> None:
    import threading

    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("the in-memory SQLite test database locks whole tables and fails instead "
                    "of waiting; a real SQLite file serializes writers (IMMEDIATE transactions)")
    a = customer_create(actor=admin, name="王芳", phone="13800138000")
    b = customer_create(actor=admin, name="王芳", phone="13800138000")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    # Given two people merge the pair at the same moment, in opposite directions
    def run(survivor: Customer, merged: Customer) -> None:
        try:
            start.wait()
            customer_merge(actor=None, survivor=survivor, merged=merged)
            outcomes.append("merged")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a, b)),
               threading.Thread(target=run, args=(b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    # Then one merge wins and the other is told the customer is gone, with no deadlock
    assert sorted(outcomes) == [CustomerErrorCode.ALREADY_MERGED, "merged"]
    states = {c.pk: (c.is_active, c.merged_into_id) for c in Customer.objects.all()}
    assert sorted(states.values(), key=str) in (
        [(False, b.pk), (True, None)], [(False, a.pk), (True, None)])
