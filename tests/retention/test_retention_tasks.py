"""The worker's daily schedule: one queued run at GUANXI_DAILY_AT, never two."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from retention_story import AS_OF, SHANGHAI, Shop
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.retention.models import ChurnAlert
from guanxi.retention.tasks import daily_run_task, daily_schedule_next, next_daily_run

pytestmark = pytest.mark.django_db


def test_without_guanxi_daily_at_nothing_is_scheduled(settings: Any) -> None:
    settings.GUANXI_DAILY_AT = ""
    assert daily_schedule_next() is None
    result = CliRunner().invoke(app, ["daily", "--schedule"])
    assert result.exit_code == 2
    assert "GUANXI_DAILY_AT" in result.stderr


def test_the_next_run_is_at_six_tomorrow_and_queued_once(settings: Any,
                                                         the_next_morning: None) -> None:
    # Given the worker is to run the daily job at 06:00, and it is 06:00 on July 1st
    settings.GUANXI_DAILY_AT = "06:00"
    expected = dt.datetime(2026, 7, 2, 6, 0, tzinfo=SHANGHAI)
    assert next_daily_run() == expected
    # When the schedule is started twice
    first = CliRunner().invoke(app, ["daily", "--schedule", "--json"])
    assert first.exit_code == 0, first.output
    assert daily_schedule_next() is None
    # Then one run waits, for tomorrow at six
    waiting = DBTaskResult.objects.filter(task_path=daily_run_task.module_path,
                                          status=TaskResultStatus.READY)
    assert waiting.count() == 1
    assert waiting.get().run_after == expected


def test_the_task_runs_the_daily_job(shop: Shop, settings: Any, the_next_morning: None) -> None:
    settings.GUANXI_DAILY_AT = "06:00"
    report = daily_run_task.call(as_of=AS_OF.isoformat(), scheduled=True)
    assert report["churn_alerts"]["created"] >= 2
    assert ChurnAlert.objects.filter(customer=shop.weekly).exists()
    # and, run on schedule, it queued tomorrow's
    assert DBTaskResult.objects.filter(task_path=daily_run_task.module_path).count() == 1
