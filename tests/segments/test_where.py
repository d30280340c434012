"""Rules in words: ``--where`` reads the way a marketer writes a condition."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi.core.errors import ValidationFailed
from guanxi.segments.rules import validate_rule
from guanxi.segments.where import parse_where


@pytest.mark.parametrize(("text", "rule"), [
    ("city = 上海", {"field": "city", "op": "eq", "value": "上海"}),
    ("tier in vip,key and not tag has 投诉", {"all": [
        {"field": "value_tier", "op": "in", "value": ["vip", "key"]},
        {"not": {"field": "tag", "op": "has", "value": "投诉"}}]}),
    ("stage = loyal or clv >= 5000 and city != 北京", {"any": [
        {"field": "lifecycle_stage", "op": "eq", "value": "loyal"},
        {"all": [{"field": "clv", "op": "gte", "value": 5000},
                 {"field": "city", "op": "ne", "value": "北京"}]}]}),
    ("(stage = loyal or stage = active) and spent > 5000 in 365d", {"all": [
        {"any": [{"field": "lifecycle_stage", "op": "eq", "value": "loyal"},
                 {"field": "lifecycle_stage", "op": "eq", "value": "active"}]},
        {"field": "spent", "op": "gt", "value": 5000, "period": {"days": 365}}]}),
    ("last_purchase over 180d", {"field": "last_purchase", "op": "more_than_days_ago",
                                 "value": 180}),
    ("next_purchase within 14d", {"field": "next_purchase", "op": "within_next_days",
                                  "value": 14}),
    ("acquired_on < 2025-01-01", {"field": "acquired_on", "op": "before",
                                  "value": "2025-01-01"}),
    ("consent = sms/marketing", {"field": "consent", "op": "granted",
                                 "value": {"purpose": "marketing", "channel": "sms"}}),
    ("tag has none 投诉,黑名单", {"field": "tag", "op": "has_none", "value": ["投诉", "黑名单"]}),
    ("company_size is not set", {"field": "company_size", "op": "is_not_set"}),
    ("category = tea", {"field": "bought_category", "op": "in", "value": ["tea"]}),
    ('industry ~ "教育 培训"', {"field": "industry", "op": "contains", "value": "教育 培训"}),
    ("birthday_month not in 1,2", {"field": "birthday_month", "op": "not_in", "value": [1, 2]}),
])
def test_words_become_the_rule(text: str, rule: Any) -> None:
    assert parse_where(text) == rule
    validate_rule(rule)


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty"),
    ("colour = red", "Unknown field"),
    ("city", "ends too early"),
    ("city = 上海 北京", "Unexpected '北京'"),
    ("(city = 上海", "ends too early"),
    ("clv > lots", "Expected a number"),
    ("last_purchase within soon", "number of days"),
    ("tag > 3", "does not take"),
    ('city = "上海', "Cannot read"),
])
def test_a_sentence_we_cannot_read_is_refused(text: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_where(text)
    assert words in caught.value.message
