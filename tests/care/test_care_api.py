"""``/api/v1/care/...``: tasks CRUD for own and team, the queue, the calendar and offers — and
the refusals when a rep reaches for another rep's work."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import time_machine
from django.test import Client

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create
from guanxi.care.models import Task, TaskStatus
from guanxi.customers.models import Customer, ImportantDate
from guanxi.customers.services import note_add

from .conftest import SHANGHAI

NOW = dt.datetime(2026, 9, 15, 9, tzinfo=SHANGHAI)


class Api:
    def __init__(self, user: User) -> None:
        _token, raw = api_token_create(user=user, name="tests")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", data=params, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        return getattr(self.client, method)(f"/api/v1{path}", data=json.dumps(body or {}),
                                            content_type="application/json",
                                            headers=self.headers)


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
def test_a_rep_sets_snoozes_and_completes_a_reminder(rep1: User, zhang_wei: Customer) -> None:
    api = Api(rep1)
    # When Li sets a reminder for today through the API
    created = api.send("post", "/care/tasks", {"customer_id": zhang_wei.pk,
                                               "due_on": "2026-09-15", "title": "Call back"})
    assert created.status_code == 201, created.content
    task_id = created.json()["id"]
    # Then it is in her queue, with the customer's pinned note
    note_add(actor=rep1, customer=zhang_wei, text="Prefers calls after 6 pm", pinned=True)
    queue = api.get("/care/queue").json()
    assert [i["title"] for i in queue["items"]] == ["Call back"]
    assert queue["items"][0]["notes"] == ["Prefers calls after 6 pm"]
    # When she snoozes it for a week, it leaves today's queue
    snoozed = api.send("post", f"/care/tasks/{task_id}/snooze", {"days": 7})
    assert snoozed.json()["snoozed_until"] == "2026-09-22"
    assert api.get("/care/queue").json()["items"] == []
    # and done is done
    done = api.send("post", f"/care/tasks/{task_id}/done")
    assert done.json()["status"] == TaskStatus.DONE
    # and an edit and a delete work on her own reminder
    assert api.send("patch", f"/care/tasks/{task_id}", {"title": "Called"}).json()[
        "title"] == "Called"
    assert api.send("delete", f"/care/tasks/{task_id}").status_code == 204


@pytest.mark.django_db
def test_another_rep_cannot_touch_the_task_or_the_customer(
    rep1: User, rep2: User, zhang_wei: Customer
) -> None:
    task_id = Api(rep1).send("post", "/care/tasks", {
        "customer_id": zhang_wei.pk, "due_on": "2026-09-15", "title": "Call"}).json()["id"]
    wang = Api(rep2)
    assert wang.get(f"/care/tasks/{task_id}").status_code == 404
    assert wang.send("post", f"/care/tasks/{task_id}/done").status_code == 404
    assert wang.send("delete", f"/care/tasks/{task_id}").status_code == 404
    assert wang.get("/care/tasks").json()["items"] == []
    assert wang.get("/care/queue", user="li").status_code == 404
    assert wang.get(f"/customers/{zhang_wei.pk}/offers").status_code == 404
    refused = wang.send("post", "/care/tasks", {"customer_id": zhang_wei.pk,
                                                "due_on": "2026-09-15", "title": "Mine now"})
    assert refused.status_code == 404
    assert Task.objects.get(pk=task_id).status == TaskStatus.OPEN


@pytest.mark.django_db
def test_an_analyst_sets_no_reminders_and_sees_no_team(
    rep1: User, analyst: User, zhang_wei: Customer
) -> None:
    api = Api(analyst)
    refused = api.send("post", "/care/tasks", {"customer_id": zhang_wei.pk,
                                               "due_on": "2026-09-15", "title": "x"})
    assert refused.status_code == 403
    assert api.get("/care/team").status_code == 403


@pytest.mark.django_db
def test_a_manager_sees_and_assigns_the_teams_work(
    manager: User, rep1: User, rep2: User, zhang_wei: Customer
) -> None:
    mei = Api(manager)
    # Mei sets a follow-up for Li on Li's customer
    created = mei.send("post", "/care/tasks", {"customer_id": zhang_wei.pk,
                                               "due_on": "2026-09-14", "title": "Follow up",
                                               "kind": "follow_up", "owner": "li"})
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == "li"
    # and sees Li's queue and the overdue count
    assert [i["title"] for i in mei.get("/care/queue", user="li").json()["items"]] == [
        "Follow up"]
    team = {r["user"]: r for r in mei.get("/care/team").json()}
    assert team["li"]["overdue"] == 1
    # Li sees it too; Wang does not
    assert Api(rep1).get("/care/tasks").json()["items"][0]["title"] == "Follow up"
    assert Api(rep2).get("/care/tasks").json()["items"] == []


@pytest.mark.django_db
def test_the_calendar_groups_tasks_by_day(rep1: User, zhang_wei: Customer) -> None:
    from guanxi.care.services import care_tasks_create

    ImportantDate.objects.create(customer=zhang_wei, kind="birthday", date=dt.date(1990, 8, 15),
                                 is_lunar=True)
    care_tasks_create(as_of=dt.date(2026, 9, 15))
    body = Api(rep1).get("/care/calendar", days=14).json()
    assert [d["date"] for d in body["days"]] == ["2026-09-25"]
    (task,) = body["days"][0]["tasks"]
    assert task["kind"] == "birthday"
    assert task["channel"] is None
    assert Api(rep1).get("/care/calendar", days=100).status_code == 422
