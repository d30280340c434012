"""Scoring as a background task, enqueued by the "Score now" button of the dashboard."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from guanxi.value.services import score_all


@task()
def score_all_task() -> dict[str, Any]:
    """Score every customer as of today; the dashboard's cache is keyed by the run it makes."""
    from guanxi.web.charts import dashboards_warm

    run = score_all()
    # The new run changes the dashboard's cache key: compute the new figures now, in the
    # background, rather than on each person's next visit.
    warmed = dashboards_warm()
    return {"run_id": run.pk, "as_of": run.as_of.isoformat(), "status": run.status,
            "dashboards_warmed": warmed}
