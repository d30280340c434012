"""Stories of ``/api/v1/segments``: programs save segments, page members, read migration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from segrule_story import NOW, Shop, july, june

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create
from guanxi.segments.services import snapshot_write

pytestmark = pytest.mark.django_db

VIP = {"field": "value_tier", "op": "eq", "value": "vip"}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


class Api:
    def __init__(self, user: User) -> None:
        _token, raw = api_token_create(user=user, name="tests")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", data=params, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        return getattr(self.client, method)(f"/api/v1{path}", data=json.dumps(body),
                                            content_type="application/json",
                                            headers=self.headers)


def test_a_segment_round_trip(shop: Shop, manager: User) -> None:
    june(shop)
    july(shop)
    api = Api(manager)
    # Given a preview while editing
    preview = api.send("post", "/segments/preview", {"definition": VIP})
    assert preview.status_code == 200, preview.content
    assert preview.json()["size"] == 2
    # When Mei saves it
    made = api.send("post", "/segments", {"name": "VIP", "definition": VIP})
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["summary"]["size"], body["rule"], body["can_change"]) == (2, "value tier is vip",
                                                                            True)
    pk = body["id"]
    # Then it is listed, readable, and its members page by id
    assert [s["name"] for s in api.get("/segments").json()] == ["VIP"]
    assert api.get("/segments", count="true").json()[0]["summary"]["size"] == 2
    assert api.get(f"/segments/{pk}").json()["history"] == []
    first = api.get(f"/segments/{pk}/members", limit=1).json()
    second = api.get(f"/segments/{pk}/members", limit=1, after=first["next"]).json()
    assert [m["name"] for m in first["items"] + second["items"]] == ["王芳", "刘洋"]
    assert second["next"] is None
    assert first["items"][0]["clv"] == "9500.00"
    # And edits, freezing and deleting work
    changed = api.send("patch", f"/segments/{pk}",
                       {"definition": {"field": "value_tier", "op": "in",
                                       "value": ["vip", "major"]}})
    assert changed.json()["summary"]["size"] == 3
    frozen = api.send("post", f"/segments/{pk}/freeze", {"name": "VIP 冻结"})
    assert frozen.status_code == 201
    assert frozen.json()["kind"] == "static"
    assert api.send("delete", f"/segments/{pk}").status_code == 204
    assert api.get(f"/segments/{pk}").status_code == 404


def test_a_rep_works_only_with_their_customers(shop: Shop, manager: User, rep1: User,
                                               rep2: User) -> None:
    june(shop)
    july(shop)
    mei, li, wang = Api(manager), Api(rep1), Api(rep2)
    pk = mei.send("post", "/segments", {"name": "VIP", "definition": VIP}).json()["id"]
    # Li sees the segment but only her VIP in it, and may not change Mei's segment
    assert [m["name"] for m in li.get(f"/segments/{pk}/members").json()["items"]] == ["王芳"]
    assert li.get(f"/segments/{pk}").json()["summary"]["size"] == 1
    refused = li.send("patch", f"/segments/{pk}", {"name": "mine"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "segment_read_only"
    # Li's static list cannot take Wang's customer
    made = li.send("post", "/segments", {"name": "回访", "kind": "static",
                                         "customer_ids": [shop.wangfang.pk]})
    assert made.status_code == 201
    lst = made.json()["id"]
    stolen = li.send("post", f"/segments/{lst}/members", {"customer_ids": [shop.liuyang.pk]})
    assert stolen.status_code == 404
    assert stolen.json()["code"] == "segment_customer_not_found"
    assert li.send("post", f"/segments/{lst}/members",
                   {"customer_ids": [shop.zhangwei.pk]}).json() == {"count": 1}
    assert li.send("post", f"/segments/{lst}/members/remove",
                   {"customer_ids": [shop.wangfang.pk]}).json() == {"count": 1}
    # And Wang cannot change Li's list
    assert wang.send("post", f"/segments/{lst}/members",
                     {"customer_ids": [shop.liuyang.pk]}).status_code == 403
    # And a bad rule is answered with the node at fault
    bad = li.send("post", "/segments/preview",
                  {"definition": {"all": [{"field": "city", "op": "gt", "value": 1}]}})
    assert bad.status_code == 422
    assert bad.json()["field"] == "definition.all[0].op"


def test_migration_over_the_api(shop: Shop, admin: User, rep1: User) -> None:
    api = Api(admin)
    pk = api.send("post", "/segments", {"name": "VIP", "definition": VIP}).json()["id"]
    june_run, july_run = june(shop), july(shop)
    snapshot_write(run=june_run)
    snapshot_write(run=july_run)
    moved = api.get("/segments/migration").json()
    cells = {(c["from"], c["to"]): c for c in moved["cells"]}
    assert (cells[("loyal", "dormant")]["count"], cells[("loyal", "dormant")]["value_to"]) == (
        2, "2400.00")
    assert moved["from"]["as_of"] == "2026-06-30"
    assert len(moved["sankey"]["links"]) == len(moved["cells"])
    rules = api.get("/segments/migration", scheme="rules", segments=str(pk)).json()
    assert {(c["from"], c["to"]): c["count"] for c in rules["cells"]} == {
        (str(pk), str(pk)): 1, (str(pk), "none"): 1, ("none", str(pk)): 1, ("none", "none"): 2}
    behind = api.get("/segments/migration/customers", source="loyal", target="dormant",
                     clv_min="5000", clv_at="from").json()
    assert [c["name"] for c in behind["items"]] == ["张伟", "赵磊"]
    # Li: only 张伟 behind that cell
    li = Api(rep1).get("/segments/migration/customers", source="loyal", target="dormant").json()
    assert [c["name"] for c in li["items"]] == ["张伟"]
    # A run that does not exist, and a scheme we do not know
    missing = api.get("/segments/migration", **{"from": "2020-01-01"})
    assert missing.status_code == 404
    assert api.get("/segments/migration", scheme="colour").status_code == 422
    # Members of June's snapshot
    then = api.get(f"/segments/{pk}/members", as_of="2026-06-30").json()
    assert [m["name"] for m in then["items"]] == ["王芳", "赵磊"]
    # A customer's segments over time; Li may not ask about Wang's customer
    history = api.get(f"/customers/{shop.zhaolei.pk}/segments").json()
    assert [[s["name"] for s in h["segments"]] for h in history] == [[], ["VIP"]]
    assert Api(rep1).get(f"/customers/{shop.zhaolei.pk}/segments").status_code == 404
