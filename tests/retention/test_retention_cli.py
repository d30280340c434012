"""Stories about ``guanxi daily``, ``guanxi alerts`` and ``guanxi retention``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from retention_story import AS_OF, Shop
from typer.testing import CliRunner

from guanxi.accounts.models import User
from guanxi.cli.main import app
from guanxi.retention.models import AlertStatus, ChurnAlert

pytestmark = pytest.mark.django_db

runner = CliRunner()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_daily_prints_what_it_did_and_does_nothing_new_the_second_time(
        shop: Shop, the_next_morning: None) -> None:
    first = _json(["daily", "--as-of", AS_OF.isoformat()])
    assert first["scores"]["created"] == 1
    assert first["churn_alerts"]["created"] >= 2
    assert first["replenishments"]["created"] == 1
    second = _json(["daily", "--as-of", AS_OF.isoformat()])
    assert all(counts["created"] == 0 for kind, counts in second.items()
               if kind != "milliseconds")
    assert set(second["milliseconds"]) >= {"scores", "churn_alerts", "replenishments"}


def test_alerts_are_listed_per_person_and_closed_from_the_terminal(
        shop: Shop, rep1: User, rep2: User, the_next_morning: None) -> None:
    runner.invoke(app, ["daily"])
    # Li sees her customer's alert, not Wang's
    li = _json(["alerts", "--user", rep1.username])
    assert shop.weekly.name in {a["customer"] for a in li}
    assert shop.wangs_weekly.name not in {a["customer"] for a in li}
    alert = next(a for a in li if a["customer"] == shop.weekly.name)
    # (the run is for today, the morning after the as-of date: 21 days of silence)
    assert alert["reason"] == "usually orders every 7 days; 21 days since the last order"
    # Wang may not close it
    result = runner.invoke(app, ["alerts", "close", str(alert["id"]), "--as", "lost",
                                 "--by", rep2.username])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    # Li closes it as dismissed
    closed = _json(["alerts", "close", str(alert["id"]), "--as", "dismissed", "--by",
                    rep1.username, "--note", "On holiday"])
    assert closed["status"] == "dismissed"
    assert ChurnAlert.objects.get(pk=alert["id"]).status == AlertStatus.DISMISSED
    assert alert["id"] not in {a["id"] for a in _json(["alerts"])}
    assert alert["id"] in {a["id"] for a in _json(["alerts", "--status", "dismissed"])}
    # The table form prints too
    assert runner.invoke(app, ["alerts"]).exit_code == 0
    assert runner.invoke(app, ["retention", "due", "--user", rep1.username]).exit_code == 0


def test_backtest_on_the_shop_reports_precision_and_recall(
        shop: Shop, the_next_morning: None) -> None:
    report = _json(["retention", "backtest", "--as-of", "2026-03-31", "--horizon", "60"])
    assert report["repeat_buyers"] > 50
    for rule in report["rules"].values():
        assert rule["precision"] is None or 0 <= rule["precision"] <= 1
        assert rule["recall"] is None or 0 <= rule["recall"] <= 1
    assert report["rules"]["flat_same_budget"]["flagged"] == report["rules"]["rhythm"]["flagged"]
    # A horizon that reaches past today cannot be judged yet
    result = runner.invoke(app, ["retention", "backtest", "--as-of", AS_OF.isoformat(),
                                 "--horizon", "30"])
    assert result.exit_code == 2
    assert "not known yet" in result.stderr


def test_backtest_on_a_file_needs_no_database(tmp_path: Any, the_next_morning: None) -> None:
    rows = []
    for c in range(40):
        gap = 7 + c
        day = dt.date(1997, 1, 1)
        while day < dt.date(1997, 9, 1) + dt.timedelta(days=(c % 3) * 60):
            rows.append(f"{c:05d} {day:%Y%m%d} 1 {10 + c}.00")
            day += dt.timedelta(days=gap)
    path = tmp_path / "cdnow.txt"
    path.write_text("\n".join(rows) + "\n")
    report = _json(["retention", "backtest", "--as-of", "1997-06-30", "--horizon", "60",
                    "--file", str(path), "--format", "cdnow"])
    assert report["repeat_buyers"] == 40
    # Everyone bought again within 60 days (the longest gap is 46): no recall to speak of
    assert report["did_not_come_back"] == 0
    assert report["rules"]["rhythm"]["recall"] is None
