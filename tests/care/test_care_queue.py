"""The work queue (issue #6 §5, M26): each rep's list for today, with the notes and the offer at
hand; managers see the team's and what went undone; nobody sees another rep's tasks."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from guanxi.accounts.models import User
from guanxi.care.models import Task, TaskKind, TaskStatus
from guanxi.care.selectors import (
    access_task,
    offers_for,
    queue_for,
    queue_user,
    team_overview,
)
from guanxi.care.services import task_create, task_done, task_snooze
from guanxi.core.errors import NotFound, PermissionDenied
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create, note_add

from .conftest import SHANGHAI, buy

TODAY = dt.date(2026, 9, 15)
NOW = dt.datetime(2026, 9, 15, 9, tzinfo=SHANGHAI)


@pytest.fixture
def frozen() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_a_rep_sees_due_reminders_with_pinned_notes_and_not_tomorrows(
    rep1: User, zhang_wei: Customer
) -> None:
    # Given Li set a reminder for today, one for tomorrow, and 张伟 has a pinned note
    note_add(actor=rep1, customer=zhang_wei, text="Prefers calls after 6 pm", pinned=True)
    task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="Call about the order")
    task_create(actor=rep1, customer=zhang_wei, due_on=TODAY + dt.timedelta(days=1),
                title="Send the catalogue")
    # When Li opens today's queue
    items = queue_for(user=rep1, as_of=TODAY)
    # Then only today's reminder is there, with the note at hand
    assert [i.title for i in items] == ["Call about the order"]
    assert items[0].notes == ["Prefers calls after 6 pm"]
    assert items[0].source == "task"


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_done_leaves_the_queue_and_snoozed_comes_back(rep1: User, zhang_wei: Customer) -> None:
    a = task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="A")
    b = task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="B")
    # When Li marks A done and snoozes B until next week
    task_done(actor=rep1, task=a)
    task_snooze(actor=rep1, task=b, until=TODAY + dt.timedelta(days=7))
    # Then today's queue is empty, and B comes back next week
    assert queue_for(user=rep1, as_of=TODAY) == []
    back = queue_for(user=rep1, as_of=TODAY + dt.timedelta(days=7))
    assert [i.title for i in back] == ["B"]
    assert Task.objects.get(pk=a.pk).done_by == rep1


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_reps_cannot_see_each_others_tasks_but_their_manager_can(
    rep1: User, rep2: User, manager: User, analyst: User, zhang_wei: Customer
) -> None:
    task = task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="Call")
    # Wang and the analyst are told it does not exist
    for outsider in (rep2, analyst):
        with pytest.raises(NotFound):
            access_task(user=outsider, task_id=task.pk, write=True)
    # Mei, their manager, may open and work it, and open Li's queue
    assert access_task(user=manager, task_id=task.pk, write=True) == task
    assert queue_user(user=manager, username="li") == rep1
    # but Wang may not open Li's queue
    with pytest.raises(NotFound):
        queue_user(user=rep2, username="li")


@pytest.mark.django_db
def test_the_manager_sees_what_went_undone(rep1: User, rep2: User, manager: User,
                                           zhang_wei: Customer, liu_yang: Customer) -> None:
    with time_machine.travel(NOW - dt.timedelta(days=3), tick=False):
        task_create(actor=rep1, customer=zhang_wei, due_on=TODAY - dt.timedelta(days=2),
                    title="Forgotten")
        task_create(actor=rep2, customer=liu_yang, due_on=TODAY, title="Today")
    with time_machine.travel(NOW, tick=False):
        rows = {r.username: r for r in team_overview(user=manager, as_of=TODAY)}
        assert rows["li"].overdue == 1
        assert rows["li"].due_today == 1
        assert rows["wang"].overdue == 0
        with pytest.raises(PermissionDenied):
            team_overview(user=rep1, as_of=TODAY)


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_the_offer_comes_with_its_reason_and_respects_taboos(
    rep1: User, zhang_wei: Customer
) -> None:
    # Given tea buyers usually buy a cup afterwards, and a baijiu set alongside
    for n in range(4):
        c = customer_create(actor=rep1, name=f"Buyer {n}", owner=rep1)
        buy(c, dt.datetime(2026, 5, 1, 10, tzinfo=SHANGHAI), ("pu-er-tea", "tea"),
            ("baijiu-set", "alcohol"))
        buy(c, dt.datetime(2026, 5, 20, 10, tzinfo=SHANGHAI), ("tea-cup", "tableware"))
    for n in range(4):
        other = customer_create(actor=rep1, name=f"Rice {n}", owner=rep1)
        buy(other, dt.datetime(2026, 5, 1, 10, tzinfo=SHANGHAI), ("rice", "food"))
    buy(zhang_wei, dt.datetime(2026, 9, 1, 10, tzinfo=SHANGHAI), ("pu-er-tea", "tea"))
    # When Li asks what to offer 张伟 (who does not drink alcohol)
    note_add(actor=rep1, customer=zhang_wei, text="No alcohol: 不喝酒", category="taboo")
    offers = offers_for(user=rep1, customer_id=zhang_wei.pk)
    # Then the cup, with the reason in numbers (4 of the 5 tea buyers, 张伟 included, went on
    # to buy one), and never the baijiu
    assert [o.product for o in offers] == ["Tea Cup"]
    assert offers[0].reason == "bought Pu Er Tea; 80% of Pu Er Tea buyers then buy Tea Cup"
    # and the queue carries it with a reminder
    task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="Call",
                kind=TaskKind.FOLLOW_UP)
    (item,) = queue_for(user=rep1, as_of=TODAY)
    assert item.offer is not None
    assert item.offer.product == "Tea Cup"


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_offers_for_another_reps_customer_are_refused(rep2: User, zhang_wei: Customer) -> None:
    with pytest.raises(NotFound):
        offers_for(user=rep2, customer_id=zhang_wei.pk)


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_people_set_only_reminders_and_follow_ups(rep1: User, zhang_wei: Customer) -> None:
    from guanxi.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="x",
                    kind=TaskKind.BIRTHDAY)
    with pytest.raises(ValidationFailed):
        task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="  ")
    assert Task.objects.filter(status=TaskStatus.OPEN).count() == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_the_queue_puts_the_most_valuable_customer_first(rep1: User, zhang_wei: Customer) -> None:
    from decimal import Decimal

    from value_fixtures import give_value

    whale = customer_create(actor=rep1, name="大客户", owner=rep1)
    give_value(zhang_wei, clv=Decimal("120.00"))
    give_value(whale, clv=Decimal("98000.00"))
    task_create(actor=rep1, customer=zhang_wei, due_on=TODAY - dt.timedelta(days=5),
                title="Small, late")
    task_create(actor=rep1, customer=whale, due_on=TODAY, title="Big, today")
    items = queue_for(user=rep1, as_of=TODAY)
    assert [i.title for i in items] == ["Big, today", "Small, late"]
    assert items[0].value == Decimal("98000.00")


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_on_a_large_base_the_rules_are_learnt_from_a_sample_of_customers(
    rep1: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guanxi.care import selectors

    # Given 12 tea-then-cup buyers, 12 rice buyers, and a sample of at most 9 customers
    # (every 3rd id of 25)
    for n in range(12):
        c = customer_create(actor=rep1, name=f"Buyer {n}", owner=rep1)
        buy(c, dt.datetime(2026, 5, 1, 10, tzinfo=SHANGHAI), ("pu-er-tea", "tea"))
        buy(c, dt.datetime(2026, 5, 20, 10, tzinfo=SHANGHAI), ("tea-cup", "tableware"))
        other = customer_create(actor=rep1, name=f"Rice {n}", owner=rep1)
        buy(other, dt.datetime(2026, 5, 1, 10, tzinfo=SHANGHAI), ("rice", "food"))
    newcomer = customer_create(actor=rep1, name="Newcomer", owner=rep1)
    buy(newcomer, dt.datetime(2026, 9, 1, 10, tzinfo=SHANGHAI), ("pu-er-tea", "tea"))
    monkeypatch.setattr(selectors, "SAMPLE_CUSTOMERS", 9)
    rows = selectors._training_rows(TODAY - dt.timedelta(days=730))
    # Then about a third of the customers' (customer, product) pairs are read (37 in all), and
    # the newcomer still gets the cup
    assert 8 <= len(rows) <= 18
    offers = offers_for(user=rep1, customer_id=newcomer.pk)
    assert [o.product for o in offers] == ["Tea Cup"]
