"""The pages (issue #6 §5, issue #5's "set a reminder"): the work queue with one-click actions,
the care calendar, the reminder form on the 360 page, and the lunar countdown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from guanxi.accounts.models import User
from guanxi.care.models import Task, TaskKind, TaskStatus
from guanxi.care.services import care_tasks_create, task_create
from guanxi.customers.models import Customer, ImportantDate
from guanxi.customers.services import note_add

from .conftest import SHANGHAI

ClientFor = Callable[[User], Client]
NOW = dt.datetime(2026, 9, 15, 9, tzinfo=SHANGHAI)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def _frozen() -> object:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
def test_the_rep_sets_a_reminder_on_the_360_page_and_finds_it_in_the_queue(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    client = client_for(rep1)
    page = client.get(reverse("customer_detail", args=[zhang_wei.pk])).content.decode()
    assert 'id="reminder-form"' in page
    # When Li sets a reminder for today without leaving the page
    response = client.post(reverse("care:reminder_add", args=[zhang_wei.pk]),
                           {"due_on": "2026-09-15", "title": "Send the quote"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Reminder set" in response.content.decode()
    # Then it is in her queue
    note_add(actor=rep1, customer=zhang_wei, text="Prefers calls after 6 pm", pinned=True)
    queue = client.get(reverse("care:queue")).content.decode()
    assert "Send the quote" in queue
    assert "Prefers calls after 6 pm" in queue


@pytest.mark.django_db
def test_a_reminder_needs_a_date_and_text(rep1: User, zhang_wei: Customer,
                                          client_for: ClientFor) -> None:
    response = client_for(rep1).post(reverse("care:reminder_add", args=[zhang_wei.pk]),
                                     {"due_on": "", "title": "x"},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_another_rep_can_neither_set_reminders_nor_work_tasks(
    rep1: User, rep2: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    task = task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="Call")
    wang = client_for(rep2)
    assert wang.post(reverse("care:reminder_add", args=[zhang_wei.pk]),
                     {"due_on": "2026-09-15", "title": "Mine"}).status_code == 404
    assert wang.post(reverse("care:task_action", args=[task.pk, "done"])).status_code == 404
    assert wang.get(reverse("care:queue") + "?user=li").status_code == 404
    assert "Call" not in wang.get(reverse("care:calendar")).content.decode()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN


@pytest.mark.django_db
def test_done_and_snooze_are_one_click(rep1: User, zhang_wei: Customer,
                                       client_for: ClientFor) -> None:
    a = task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="A")
    b = task_create(actor=rep1, customer=zhang_wei, due_on=TODAY, title="B")
    client = client_for(rep1)
    done = client.post(reverse("care:task_action", args=[a.pk, "done"]),
                       headers={"HX-Request": "true"})
    assert "Done" in done.content.decode()
    client.post(reverse("care:task_action", args=[b.pk, "snooze-week"]),
                headers={"HX-Request": "true"})
    assert Task.objects.get(pk=a.pk).status == TaskStatus.DONE
    assert Task.objects.get(pk=b.pk).snoozed_until == TODAY + dt.timedelta(days=7)
    assert "Nothing due today" in client.get(reverse("care:queue")).content.decode()
    assert client.post(reverse("care:task_action", args=[b.pk, "explode"])).status_code == 404


@pytest.mark.django_db
def test_the_manager_sees_the_team_and_a_reps_queue(
    manager: User, rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    task_create(actor=rep1, customer=zhang_wei, due_on=TODAY - dt.timedelta(days=3),
                title="Forgotten call", kind=TaskKind.FOLLOW_UP)
    client = client_for(manager)
    page = client.get(reverse("care:queue")).content.decode()
    assert "The team" in page
    assert "?user=li" in page
    li = client.get(reverse("care:queue") + "?user=li").content.decode()
    assert "Forgotten call" in li
    assert "3 days late" in li


@pytest.mark.django_db
def test_the_calendar_shows_a_lunar_birthday_and_the_360_counts_down_to_it(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    ImportantDate.objects.create(customer=zhang_wei, kind="birthday", date=dt.date(1990, 8, 15),
                                 is_lunar=True)
    care_tasks_create(as_of=TODAY)
    client = client_for(rep1)
    cal = client.get(reverse("care:calendar")).content.decode()
    assert 'datetime="2026-09-25"' in cal
    assert "生日快乐" in cal
    assert client.get(reverse("care:calendar") + "?month=2026-13").status_code == 200
    page = client.get(reverse("customer_detail", args=[zhang_wei.pk])).content.decode()
    assert "in 10 days" in page


@pytest.mark.django_db
def test_the_pages_speak_chinese(rep1: User, zhang_wei: Customer, client_for: ClientFor) -> None:
    client = client_for(rep1)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("care:queue"), headers={"Accept-Language": "zh-hans"})
    assert "今天的工作" in page.content.decode()
