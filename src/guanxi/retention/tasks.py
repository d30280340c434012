"""The daily run as a background task, and the worker's daily schedule (``GUANXI_DAILY_AT``).

The database task worker has no clock of its own, so the schedule is a chain: each run, when
scheduled, enqueues the next one for ``GUANXI_DAILY_AT`` tomorrow (company time).
``guanxi daily --schedule`` starts the chain; it never enqueues a second copy while one is
waiting. Without ``GUANXI_DAILY_AT`` nothing is scheduled (use cron or a systemd timer).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django_tasks import TaskResultStatus, task

from guanxi.core import clock
from guanxi.retention.conf import daily_at


@task()
def daily_run_task(as_of: str | None = None, scheduled: bool = False) -> dict[str, Any]:
    """``daily_run`` for ``as_of`` (ISO date; default today); ``scheduled`` chains the next."""
    from guanxi.retention.services import daily_run

    day = dt.date.fromisoformat(as_of) if as_of else None
    try:
        report: dict[str, Any] = daily_run(as_of=day)
    finally:
        # A failed day must not break the chain: tomorrow's run is queued either way.
        if scheduled:
            daily_schedule_next()
    return report


def next_daily_run(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """The next ``GUANXI_DAILY_AT`` after ``now``, as an aware datetime, or None if unset."""
    at = daily_at()
    if at is None:
        return None
    local_now = timezone.localtime(now or clock.now())
    when = timezone.make_aware(dt.datetime.combine(local_now.date(), at))
    if when <= local_now:
        when = timezone.make_aware(
            dt.datetime.combine(local_now.date() + dt.timedelta(days=1), at))
    return when


def daily_schedule_next(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """Enqueue the next scheduled run unless one is already waiting; returns its time."""
    when = next_daily_run(now=now)
    if when is None:
        return None
    if not daily_run_task.get_backend().supports_defer:
        # The immediate backend (tests, GUANXI_TASKS_BACKEND=immediate) would run it now,
        # and that run would schedule the next: no chain without a queue.
        return None
    from django_tasks_db.models import DBTaskResult

    if DBTaskResult.objects.filter(task_path=daily_run_task.module_path,
                                   status=TaskResultStatus.READY).exists():
        return None
    daily_run_task.using(run_after=when).enqueue(scheduled=True)
    return when
