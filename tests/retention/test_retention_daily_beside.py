"""The daily run on PostgreSQL: the replenishments run beside the scoring, on a connection of
their own, and come out as they do one after the other."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from retention_story import AS_OF, Shop

from guanxi.retention import services
from guanxi.retention.models import ChurnAlert, Replenishment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="steps run at once on PostgreSQL only (SQLite has one writer)"),
]


def test_replenishments_run_beside_the_scoring(shop: Shop, the_next_morning: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the daily run is not inside a transaction of its caller
    threads: list[str] = []
    refresh = services.replenishments_refresh

    def watched(**kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return refresh(**kwargs)

    monkeypatch.setattr(services, "replenishments_refresh", watched)
    # When it runs
    report = services.daily_run(as_of=AS_OF)
    # Then the replenishments ran in a thread of their own, and their reminder is stored
    assert threads == ["guanxi-daily-beside"]
    assert report["replenishments"] == {"created": 1, "closed": 0, "unchanged": 0}
    assert Replenishment.objects.count() == 1
    assert report["scores"]["created"] == 1
    assert report["churn_alerts"]["created"] == ChurnAlert.objects.count() > 0
    assert report["milliseconds"]["replenishments"] >= 0
    # And a second run the same day repeats nothing
    again = services.daily_run(as_of=AS_OF)
    assert again["replenishments"] == {"created": 0, "closed": 0, "unchanged": 1}


def test_a_failure_beside_fails_the_run_once_the_alerts_are_stored(
        shop: Shop, the_next_morning: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the replenishment step breaks down
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "replenishments_refresh", broken)
    # When the daily run runs, it fails with that error
    with pytest.raises(RuntimeError, match="disk full"):
        services.daily_run(as_of=AS_OF)
    # Then the steps beside it finished and stay done, and running again completes the rest
    alerts = ChurnAlert.objects.count()
    assert alerts > 0
    monkeypatch.undo()
    report = services.daily_run(as_of=AS_OF)
    assert report["churn_alerts"]["created"] == 0
    assert report["replenishments"]["created"] == 1
