"""``guanxi care`` and ``guanxi queue --user NAME`` (issue #6 §8)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from typer.testing import CliRunner

from guanxi.accounts.models import User
from guanxi.care.services import task_create
from guanxi.cli.main import app
from guanxi.customers.models import Customer, ImportantDate
from guanxi.customers.services import note_add

from .conftest import SHANGHAI

runner = CliRunner()
NOW = dt.datetime(2026, 9, 15, 8, tzinfo=SHANGHAI)


@pytest.mark.django_db
def test_care_creates_the_calendar_once_and_prints_json(rep1: User, zhang_wei: Customer) -> None:
    ImportantDate.objects.create(customer=zhang_wei, kind="birthday", date=dt.date(1990, 8, 15),
                                 is_lunar=True)
    with time_machine.travel(NOW, tick=False):
        first = runner.invoke(app, ["care", "--days", "14", "--json"])
        again = runner.invoke(app, ["care", "--days", "14", "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert out["counts"]["birthday"]["created"] == 1
    assert [t["due_on"] for t in out["tasks"]] == ["2026-09-25"]
    assert json.loads(again.stdout)["counts"]["birthday"] == {
        "created": 0, "closed": 0, "unchanged": 1, "skipped_taboo": 0}


@pytest.mark.django_db
def test_queue_lists_a_persons_work_with_notes(rep1: User, zhang_wei: Customer) -> None:
    with time_machine.travel(NOW, tick=False):
        note_add(actor=rep1, customer=zhang_wei, text="Prefers calls after 6 pm", pinned=True)
        task_create(actor=rep1, customer=zhang_wei, due_on=dt.date(2026, 9, 14), title="Call")
        result = runner.invoke(app, ["queue", "--user", "li", "--json"])
        table = runner.invoke(app, ["queue", "--user", "li"])
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)["items"]
    assert item["title"] == "Call"
    assert item["days_overdue"] == 1
    assert item["notes"] == ["Prefers calls after 6 pm"]
    assert "Call" in table.stdout


@pytest.mark.django_db
def test_queue_of_an_unknown_user_is_one_sentence() -> None:
    result = runner.invoke(app, ["queue", "--user", "nobody"])
    assert result.exit_code != 0
