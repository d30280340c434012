"""Scoring as a background task, enqueued by the "Score now" button of the dashboard."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from guanxi.value.services import score_all


@task()
def score_all_task() -> dict[str, Any]:
    """Score every customer as of today; the dashboard's cache is keyed by the run it makes."""
    run = score_all()
    return {"run_id": run.pk, "as_of": run.as_of.isoformat(), "status": run.status}
