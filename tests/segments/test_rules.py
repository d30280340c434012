"""Stories of the rule language: a marketer's conditions become one database filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from segrule_story import JULY, JUNE, NOW, Shop, july, june

from guanxi.accounts.models import User
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer
from guanxi.segments.rules import compile_rule, describe_rule, validate_rule
from guanxi.segments.selectors import segment_preview
from guanxi.value.models import ScoreRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def names(rule: Any, **kwargs: Any) -> set[str]:
    return set(Customer.objects.filter(compile_rule(rule, **kwargs))
               .values_list("name", flat=True))


def cond(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def test_profile_fields_tags_and_groups(shop: Shop) -> None:
    # Given the shop, When a marketer combines profile conditions and tags
    # Then each rule selects exactly the customers it describes
    assert names(cond("city", "eq", "上海")) == {"王芳", "张伟"}
    assert names(cond("city", "in", ["北京", "杭州"])) == {"陈静", "刘洋", "赵磊"}
    assert names(cond("source", "ne", "store")) == {"王芳", "陈静", "刘洋"}
    assert names(cond("kind", "eq", "organization")) == {"刘洋"}
    assert names(cond("income_band", "eq", "comfortable")) == {"张伟"}
    assert names(cond("company_size", "is_set")) == {"刘洋"}
    assert names(cond("birthday_month", "in", [3, 4])) == {"王芳"}
    assert names(cond("acquired_on", "within_last_days", 30)) == {"陈静"}
    assert names(cond("owner", "eq", "wang")) == {"刘洋", "赵磊"}
    assert names(cond("tag", "has", "茶友")) == {"王芳", "张伟", "刘洋"}
    assert names(cond("tag", "has_all", ["茶友", "投诉"])) == {"张伟"}
    assert names(cond("tag", "has_none", ["投诉"])) == {"王芳", "陈静", "刘洋", "赵磊"}
    # And groups combine with and / or / not
    rule = {"all": [cond("tag", "has", "茶友"),
                    {"any": [cond("city", "eq", "北京"), cond("source", "eq", "referral")]},
                    {"not": cond("tag", "has", "投诉")}]}
    assert names(rule) == {"王芳", "刘洋"}


def test_order_history_counts_purchases_in_the_period(shop: Shop) -> None:
    # Given orders over the last year (a refund does not count)
    # Then "spent more than" and "number of orders" read purchases only
    assert names(cond("spent", "gt", 1000)) == {"王芳", "刘洋"}
    assert names(cond("spent", "gt", 1000, period={"days": 30})) == {"王芳"}
    # And "spent less than 100" includes who never bought
    assert names(cond("spent", "lt", 100)) == {"陈静", "赵磊"}
    assert names(cond("orders", "gte", 2)) == {"张伟", "刘洋"}
    assert names(cond("orders", "eq", 0)) == {"陈静"}
    assert names(cond("orders", "between", [1, 2],
                      period={"from": "2025-07-01", "to": "2025-12-31"})) == {"张伟", "赵磊"}
    assert names(cond("bought_category", "in", ["teaware"])) == {"张伟"}
    # A refunded tea order is not a purchase of tea
    assert names(cond("bought_category", "in", "tea")) == {"王芳", "刘洋"}
    assert names(cond("bought_category", "not_in", ["tea"])) == {"张伟", "陈静", "赵磊"}


def test_last_purchase_counts_days_in_shanghai(shop: Shop) -> None:
    # Given 赵磊 bought at 23:00 on 31 December, Shanghai time (15:00 UTC)
    # Then his last purchase was in 2025, not after it
    assert "赵磊" in names(cond("last_purchase", "before", "2026-01-01"))
    assert "赵磊" not in names(cond("last_purchase", "after", "2025-12-31"))
    assert names(cond("last_purchase", "between", ["2025-12-31", "2025-12-31"])) == {"赵磊"}
    assert names(cond("last_purchase", "more_than_days_ago", 180)) == {"张伟", "赵磊"}
    assert names(cond("last_purchase", "is_not_set")) == {"陈静"}


def test_consent_is_granted_only_where_recorded(shop: Shop) -> None:
    sms = {"channel": "sms", "purpose": "marketing"}
    assert names(cond("consent", "granted", sms)) == {"王芳"}
    assert names(cond("consent", "granted", {"purpose": "marketing"})) == {"王芳"}
    # A withdrawn consent is not a consent
    assert names(cond("consent", "granted", {"channel": "email", "purpose": "marketing"})) == set()
    assert "赵磊" in names(cond("consent", "not_granted", {"purpose": "marketing"}))


def test_values_come_from_the_latest_run_or_the_given_one(shop: Shop) -> None:
    # Given nobody scored yet, everyone is a prospect with no tier
    assert names(cond("lifecycle_stage", "eq", "prospect")) == {c.name for c in shop.everyone}
    assert names(cond("value_tier", "in", ["vip", "key"])) == set()
    # When June and July are scored
    june_run = june(shop)
    july(shop)
    # Then values are July's
    assert names(cond("value_tier", "eq", "vip")) == {"王芳", "刘洋"}
    assert names(cond("lifecycle_stage", "eq", "dormant")) == {"张伟", "赵磊"}
    assert names(cond("clv", "gt", 5000)) == {"王芳", "刘洋"}
    assert names(cond("clv", "between", [900, 1500])) == {"张伟", "赵磊"}
    assert names(cond("p_alive", "lt", 0.5)) == {"张伟", "赵磊"}
    assert names(cond("rfm_segment", "eq", "champions")) == {"王芳", "刘洋"}
    assert names({"not": cond("value_tier", "eq", "vip")}) == {"张伟", "陈静", "赵磊"}
    # And the prospect 陈静 has a score row saying so; "unscored" customers count as prospects
    late = Customer.objects.create(name="新客")
    assert "新客" in names(cond("lifecycle_stage", "eq", "prospect"))
    assert "新客" not in names(cond("lifecycle_stage", "ne", "prospect"))
    assert late.pk
    # And a snapshot of June reads June's values
    assert names(cond("value_tier", "eq", "vip"), run=june_run) == {"王芳", "赵磊"}
    assert names(cond("clv", "gte", 5200), run=june_run) == {"王芳", "张伟", "赵磊"}
    # Values before the 10 July order: 王芳 had not spent anything by June's end
    assert "王芳" not in names(cond("spent", "gt", 0), today=june_run.as_of, run=june_run)


@pytest.mark.parametrize(("rule", "path", "words"), [
    ({"field": "colour", "op": "eq", "value": "red"}, "definition.field", "unknown field"),
    ({"all": [{"field": "city", "op": "gt", "value": 3}]}, "definition.all[0].op",
     "does not support"),
    ({"any": [{"field": "city", "op": "eq", "value": "上海"},
              {"field": "value_tier", "op": "in", "value": ["gold"]}]},
     "definition.any[1].value[0]", "'gold' is not a value_tier"),
    ({"all": []}, "definition.all", "non-empty list"),
    ({"not": {"field": "clv", "op": "between", "value": [10, 1]}}, "definition.not.value",
     "above the high end"),
    ({"field": "spent", "op": "gt", "value": 1, "period": {"weeks": 2}}, "definition.period",
     "days"),
    ({"field": "consent", "op": "granted", "value": {"purpose": "spam"}},
     "definition.value.purpose", "not a purpose"),
    ({"field": "birthday_month", "op": "eq", "value": 13}, "definition.value", "1 to 12"),
    ({"all": [{"field": "city"}]}, "definition.all[0]", 'needs "field" and "op"'),
    ("city = 上海", "definition", "expected a group"),
])
def test_a_bad_rule_is_refused_naming_the_node(rule: Any, path: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_rule(rule)
    assert caught.value.field == path
    assert words in caught.value.message


def test_a_rule_reads_back_in_words() -> None:
    rule = {"all": [cond("city", "eq", "上海"),
                    {"any": [cond("value_tier", "in", ["vip", "key"]),
                             cond("spent", "gt", 5000, period={"days": 365})]}]}
    assert describe_rule(cond("last_purchase", "more_than_days_ago", 90)) == (
        "last purchase more than 90 days ago")
    assert describe_rule(rule) == ("city is 上海 and (value tier is one of vip, key or "
                                   "amount spent > 5000 (last 365 days))")


def test_preview_counts_what_the_person_may_see(shop: Shop, admin: User, rep1: User,
                                                rep2: User) -> None:
    # Given July's values (equity 9500 + 900 + 7000 + 1500 = 18,900)
    june(shop)
    july(shop)
    rule = cond("value_tier", "eq", "vip")
    # When the admin previews VIPs: two customers, 16,500 of 18,900
    everyone = segment_preview(definition=rule, user=admin)
    assert (everyone.size, everyone.customers) == (2, 5)
    assert everyone.value_share == pytest.approx(16500 / 18900)
    # And Li sees only her VIP (王芳 9,500) against her own book (9,500 + 900)
    li = segment_preview(definition=rule, user=rep1)
    assert (li.size, li.customers) == (1, 3)
    assert li.value_share == pytest.approx(9500 / 10400)
    # And Wang only 刘洋
    assert segment_preview(definition=rule, user=rep2).size == 1
    assert dt.date.today()  # time is frozen, nothing else


@pytest.mark.parametrize("rule", [
    cond("spent", "gt", 1000),
    cond("spent", "gt", 1000, period={"days": 30}),
    cond("spent", "lt", 100, period={"days": 365}),
    cond("spent", "between", [0, 300]),
    cond("orders", "gte", 2, period={"days": 365}),
    cond("orders", "eq", 0, period={"days": 90}),
    cond("orders", "lte", 1, period={"days": 180}),
    {"not": cond("orders", "gt", 2)},
    cond("bought_category", "in", ["tea"]),
    cond("bought_category", "in", ["tea", "teaware"], period={"days": 30}),
    cond("bought_category", "not_in", "teaware", period={"days": 365}),
])
def test_order_totals_of_the_latest_run_give_the_same_answer(shop: Shop, rule: Any) -> None:
    # Given the per-customer order totals written for July's run (the latest)
    from guanxi.segments.models import OrderStats
    from guanxi.segments.services import order_stats_refresh

    june(shop)
    july_run = july(shop)
    assert order_stats_refresh(run=july_run) == 4  # 陈静 never bought
    assert OrderStats.objects.get(customer=shop.zhangwei).spent_all == 300  # the refund is not
    # Then a rule read from them selects what summing the orders up to July's end selects
    q = compile_rule(rule, today=july_run.as_of)
    assert "stats" in str(Customer.objects.filter(q).query)
    assert "sales_order" not in str(Customer.objects.filter(q).query)
    assert names(rule, today=july_run.as_of) == names(rule, today=july_run.as_of,
                                                      order_stats=False)
    # And a snapshot of June (not the stats' run) sums the orders
    june_q = compile_rule(rule, run=ScoreRun.objects.get(as_of=JUNE))
    assert "stats" not in str(Customer.objects.filter(june_q).query)


@pytest.mark.parametrize("days", [0, 1, 20, 200, 400])
def test_the_next_days_stats_moved_forward_equal_a_full_rewrite(shop: Shop, days: int) -> None:
    # Given the order totals written for July's run (after the last order), and a later run
    # that re-scored incrementally from it (no order changed: on PostgreSQL the stats are
    # moved, not summed again)
    from guanxi.segments.models import CategoryStats, OrderStats, OrderStatsRun
    from guanxi.segments.services import order_stats_refresh
    from guanxi.value.models import RunPath

    def stored() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return (sorted(OrderStats.objects.values_list()),
                sorted(CategoryStats.objects.values_list("customer_id", "category",
                                                         "last_bought_at")))

    july_run = july(shop)
    order_stats_refresh(run=july_run)
    later = ScoreRun.objects.create(as_of=JULY + dt.timedelta(days=days), status="building",
                                    created_at=NOW, finished_at=NOW,
                                    path=RunPath.INCREMENTAL, source={"from_run": july_run.pk})
    # When the later run refreshes them
    with CaptureQueriesContext(connection) as queries:
        assert order_stats_refresh(run=later) == 4
    if connection.vendor == "postgresql":  # moved: only the customers who left a window
        sql = [query["sql"] for query in queries.captured_queries]
        assert not any("TRUNCATE" in q or "INSERT INTO \"segments_orderstats\"" in q
                       for q in sql)
        assert any(q.startswith("UPDATE") for q in sql) == (days > 0)
    moved = stored()
    # Then they equal a rewrite from every order up to the later date
    ScoreRun.objects.filter(pk=later.pk).update(path=RunPath.FULL)
    later.refresh_from_db()
    order_stats_refresh(run=later)
    assert moved == stored()
    assert OrderStatsRun.objects.get().run_id == later.pk
