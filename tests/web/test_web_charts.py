"""Dashboard charts (issue #5 §4): SVG + table + CSV + PNG, cached per scoring run and scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, ImportantDate
from guanxi.customers.services import customer_create
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun
from guanxi.web import charts
from value_fixtures import give_value

ClientFor = Callable[[User], Client]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _run(as_of: dt.date, tiers: dict[Customer, str]) -> ScoreRun:
    """A complete snapshot in which each customer has the given tier (CLV 1000 per vip)."""
    equity = Decimal(1000) * sum(1 for t in tiers.values() if t == "vip")
    run = ScoreRun.objects.create(as_of=as_of, status=RunStatus.COMPLETE,
                                  created_at=timezone.now(), equity=equity)
    for customer, tier in tiers.items():
        rfm = (5, 5, 1) if tier == "vip" else (1, 1, 5)
        CustomerScore.objects.create(run=run, customer=customer, lifecycle_stage="active",
                                     value_tier=tier,
                                     clv=Decimal(1000) if tier == "vip" else Decimal(10),
                                     rfm_r=rfm[0], rfm_f=rfm[1], rfm_m=rfm[2])
    return run


def _three(rep1: User, rep2: User) -> tuple[Customer, Customer, Customer]:
    return (customer_create(actor=rep1, name="张伟", owner=rep1),
            customer_create(actor=rep1, name="李娜", owner=rep1),
            customer_create(actor=rep2, name="刘洋", owner=rep2))


def test_migration_equity_trend_and_rfm_grid_between_two_runs(
    rep1: User, rep2: User, admin: User
) -> None:
    # Given two runs: 李娜 moved up from ordinary to vip, the others kept their tier
    zhang, li, liu = _three(rep1, rep2)
    _run(dt.date(2026, 5, 1), {zhang: "vip", li: "ordinary", liu: "ordinary"})
    _run(dt.date(2026, 6, 1), {zhang: "vip", li: "vip", liu: "ordinary"})

    # When the administrator's charts are built
    built = charts.build_charts(user=admin, data=charts.dashboard_data(user=admin))

    # Then the equity line has both runs, the migration has one upward flow
    assert built["equity"].rows == [["2026-05-01", Decimal(1000)], ["2026-06-01", Decimal(2000)]]
    flows = {(a, b): n for a, b, n in built["migration"].rows}
    assert flows == {("VIP", "VIP"): 1, ("Ordinary", "VIP"): 1, ("Ordinary", "Ordinary"): 1}
    assert "<path" in built["migration"].svg
    # And the RFM grid counts two customers in R5F5 and one in R1F1
    grid = {(r, f): n for r, f, n in built["rfm"].rows}
    assert (grid[(5, 5)], grid[(1, 1)], sum(grid.values())) == (2, 1, 3)
    # And Li sees only her two customers in every chart
    mine = charts.build_charts(user=rep1, data=charts.dashboard_data(user=rep1))
    assert sum(n for _a, _b, n in mine["migration"].rows) == 2
    assert mine["equity"].rows[-1] == ["2026-06-01", Decimal(2000)]


def test_the_aggregates_are_cached_until_the_next_scoring_run(
    rep1: User, rep2: User, admin: User, client_for: ClientFor
) -> None:
    zhang, li, liu = _three(rep1, rep2)
    _run(dt.date(2026, 5, 1), {zhang: "vip", li: "ordinary", liu: "ordinary"})
    first = charts.dashboard_data(user=admin)
    # When a customer changes without a new scoring run, the cached figures stay
    CustomerScore.objects.filter(customer=liu).update(value_tier="vip")
    assert charts.dashboard_data(user=admin) == first
    # And a new run refreshes them
    _run(dt.date(2026, 6, 1), {zhang: "vip", li: "vip", liu: "vip"})
    assert charts.dashboard_data(user=admin)["summary"].tiers != first["summary"].tiers


def test_a_reps_equity_history_sums_each_earlier_run_once(rep1: User, rep2: User) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Given two runs whose dashboard Li has seen
    zhang, li, liu = _three(rep1, rep2)
    _run(dt.date(2026, 5, 1), {zhang: "vip", li: "ordinary", liu: "ordinary"})
    _run(dt.date(2026, 6, 1), {zhang: "vip", li: "vip", liu: "ordinary"})
    charts.dashboard_data(user=rep1)
    # When a third run lands and Li opens the dashboard
    _run(dt.date(2026, 7, 1), {zhang: "ordinary", li: "vip", liu: "vip"})
    with CaptureQueriesContext(connection) as queries:
        data = charts.dashboard_data(user=rep1)
    # Then her equity line has all three runs
    assert [v for _d, v in data["equity"]] == [Decimal(1010), Decimal(2000), Decimal(1010)]
    # And only the run that just became history was summed (May's sum was kept; July's is the
    # latest scores' own total)
    sums = [q["sql"] for q in queries.captured_queries if 'SUM("value_customerscore"' in q["sql"]]
    assert len(sums) == 1


def test_each_chart_downloads_as_csv_and_png(
    rep1: User, rep2: User, manager: User, client_for: ClientFor
) -> None:
    zhang, li, liu = _three(rep1, rep2)
    _run(dt.date(2026, 5, 1), {zhang: "vip", li: "ordinary", liu: "ordinary"})
    client = client_for(manager)
    html = client.get(reverse("home")).content.decode()
    for key in charts.CHART_KEYS:
        assert f"/dashboard/{key}.csv" in html
        csv = client.get(reverse("chart_export", args=[key, "csv"]))
        assert csv.status_code == 200
        assert csv["Content-Type"].startswith("text/csv")
        if key != "at_risk":
            image = client.get(reverse("chart_export", args=[key, "png"]))
            assert image["Content-Type"] == "image/png"
            assert image.content.startswith(b"\x89PNG")
    pyramid = client.get(reverse("chart_export", args=["pyramid", "csv"])).content.decode()
    assert pyramid.splitlines()[1] == "VIP,1,1000.00"
    assert client.get("/dashboard/nope.csv").status_code == 404
    assert client.get("/dashboard/at_risk.png").status_code == 404


def test_customers_at_risk_and_todays_work(
    rep1: User, rep2: User, analyst: User, client_for: ClientFor
) -> None:
    # Given Li's dormant valuable customer, one due to buy soon and one with a birthday
    zhang, li, _liu = _three(rep1, rep2)
    give_value(zhang, clv=Decimal("8000.00"), p_alive=0.2, lifecycle_stage="dormant")
    give_value(li, expected_next_purchase=dt.date(2026, 6, 12))
    ImportantDate.objects.create(customer=zhang, kind="birthday", date=dt.date(1980, 6, 14),
                                 yearly=True)
    with time_machine.travel(dt.datetime(2026, 6, 10, 9, tzinfo=SHANGHAI), tick=False):
        work = charts.todays_work(user=rep1)
        html = client_for(rep1).get(reverse("home")).content.decode()
        analyst_html = client_for(analyst).get(reverse("home")).content.decode()
    # Then Li's work lists the call and the birthday, in date order
    assert [(w.name, w.on) for w in work] == [("李娜", dt.date(2026, 6, 12)),
                                              ("张伟", dt.date(2026, 6, 14))]
    assert "Today&#x27;s work" in html or "Today's work" in html
    # And the at-risk table names 张伟 for Li, but only by number for the analyst
    assert f'href="/customers/{zhang.pk}/">张伟</a>' in html
    assert "张伟" not in analyst_html
    assert f"#{zhang.pk}" in analyst_html


def test_score_now_is_for_managers(manager: User, rep1: User, client_for: ClientFor) -> None:
    assert "Score now" in client_for(manager).get(reverse("home")).content.decode()
    assert "Score now" not in client_for(rep1).get(reverse("home")).content.decode()


def test_after_a_scoring_run_the_dashboards_are_ready_before_anyone_looks(
    rep1: User, rep2: User, admin: User, analyst: User, manager: User
) -> None:
    from django.core.cache import caches

    zhang, li, liu = _three(rep1, rep2)
    run = _run(dt.date(2026, 5, 1), {zhang: "vip", li: "ordinary", liu: "ordinary"})
    # When the cache is warmed after the run: admin and analyst share one entry
    assert charts.dashboards_warm() == 4  # all, Mei, Li, Wang
    # Then Li's figures are there before she loads the page
    assert caches["dashboard"].get(charts.cache_key(rep1, run.pk))["summary"].total == 2
