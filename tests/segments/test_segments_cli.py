"""Stories of ``guanxi segments``: a marketer saves segments and reads migration in a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from segrule_story import NOW, Shop, july, june
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.segments.models import Segment, SegmentMember, SegmentMembership

pytestmark = pytest.mark.django_db
runner = CliRunner()


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def ok(*args: str) -> str:
    result = runner.invoke(app, ["segments", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def fails(*args: str) -> str:
    result = runner.invoke(app, ["segments", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0].removeprefix("Error: ")


def test_create_list_show_and_preview(shop: Shop) -> None:
    june(shop)
    july(shop)
    # When a marketer previews and saves "VIPs in Shanghai or Beijing" in words
    where = "tier = vip and city in 上海,北京"
    preview = as_json("preview", "--where", where)
    assert (preview["size"], preview["customers"]) == (2, 5)
    created = as_json("create", "VIP 一线", "--where", where)
    assert created["size"] == 2
    assert created["definition"]["all"][0] == {"field": "value_tier", "op": "eq",
                                               "value": "vip"}
    # And one as JSON
    ok("create", "流失风险", "--rule",
       '{"field": "lifecycle_stage", "op": "eq", "value": "dormant"}')
    # Then both are listed with their sizes
    listed = {row["name"]: row for row in as_json("list")}
    assert listed["VIP 一线"]["size"] == 2
    assert listed["流失风险"]["size"] == 2
    assert "VIP 一线" in ok("list")
    # And show names the members
    shown = as_json("show", "VIP 一线")
    assert {m["name"] for m in shown["members"]} == {"王芳", "刘洋"}
    assert shown["rule"] == "value tier is vip and city is one of 上海, 北京"
    assert "王芳" in ok("show", str(shown["id"]))


def test_static_lists_and_freezing(shop: Shop) -> None:
    ids = f"{shop.wangfang.pk},{shop.zhangwei.pk}"
    made = as_json("create", "回访", "--static", "--customers", ids)
    assert made["size"] == 2
    assert as_json("add", "回访", str(shop.chenjing.pk))["added"] == 1
    assert as_json("remove", "回访", str(shop.wangfang.pk))["removed"] == 1
    assert set(SegmentMember.objects.filter(segment_id=made["id"])
               .values_list("customer__name", flat=True)) == {"张伟", "陈静"}
    frozen = as_json("create", "回访 7月", "--freeze", "回访")
    assert (frozen["kind"], frozen["size"]) == ("static", 2)
    ok("delete", "回访 7月", "--yes")
    assert not Segment.objects.filter(name="回访 7月").exists()


def test_migration_in_the_terminal(shop: Shop) -> None:
    ok("create", "VIP", "--where", "tier = vip")
    june(shop)
    july(shop)
    ok("snapshot", "--as-of", "2026-06-30")
    written = as_json("snapshot")
    assert list(written["segments"].values()) == [2]
    assert SegmentMembership.objects.count() == 4
    moved = as_json("migration")
    cells = {(c["from"], c["to"]): c for c in moved["cells"]}
    assert cells[("loyal", "dormant")]["count"] == 2
    assert cells[("loyal", "dormant")]["value_from"] == "13200.00"
    assert moved["sankey"]["links"]
    text = ok("migration", "--from", "2026-06-30", "--to", "2026-07-31")
    assert "Dormant" in text
    assert "-10,800.00" in text
    behind = as_json("migration", "--cell", "loyal:dormant", "--clv-min", "1000")
    assert [c["name"] for c in behind["customers"]] == ["赵磊"]
    rules = as_json("migration", "--scheme", "rules", "--segments", "VIP")
    assert {(c["from"], c["to"]) for c in rules["cells"]} >= {("none", "none")}


def test_errors_are_one_sentence(shop: Shop) -> None:
    assert "unknown field 'colour'" in fails("preview", "--rule",
                                             '{"field": "colour", "op": "eq", "value": 1}')
    assert "not valid JSON" in fails("create", "x", "--rule", "{city")
    assert "Unknown field 'colour'" in fails("preview", "--where", "colour = red")
    assert "no segment named" in fails("show", "nobody")
    assert "needs two scoring runs" in fails("migration")
    ok("create", "VIP", "--where", "tier = vip")
    assert "already a segment named" in fails("create", "VIP", "--where", "tier = key")
    assert "static" in fails("add", "VIP", str(shop.wangfang.pk))
