"""Stories about the retention API: a program reads and closes the alerts its person may."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from retention_story import AS_OF, Shop

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create
from guanxi.retention.models import AlertStatus, ChurnAlert
from guanxi.retention.services import daily_run

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, user: User) -> None:
        _token, raw = api_token_create(user=user, name="tests")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", data=params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api/v1{path}", data=json.dumps(body),
                                content_type="application/json", headers=self.headers)


def test_a_rep_lists_gets_and_closes_their_alerts_but_not_others(
        shop: Shop, rep1: User, rep2: User, analyst: User, the_next_morning: None) -> None:
    daily_run(as_of=AS_OF)
    li, wang = Api(rep1), Api(rep2)
    # Li lists her open alerts: her weekly customer, with the reason in words
    page = li.get("/alerts").json()
    names = {a["customer_name"] for a in page["items"]}
    assert shop.weekly.name in names
    assert shop.wangs_weekly.name not in names
    alert = next(a for a in page["items"] if a["customer_name"] == shop.weekly.name)
    assert alert["reason"] == "usually orders every 7 days; 20 days since the last order"
    assert li.get(f"/alerts/{alert['id']}").json()["id"] == alert["id"]
    # Wang cannot see it, nor close it
    assert wang.get(f"/alerts/{alert['id']}").status_code == 404
    response = wang.post(f"/alerts/{alert['id']}/close", {"outcome": "lost"})
    assert response.status_code == 404
    assert response.json()["code"] == "alert_not_found"
    # The analyst reads it but may not close it
    assert Api(analyst).get(f"/alerts/{alert['id']}").status_code == 200
    assert Api(analyst).post(f"/alerts/{alert['id']}/close",
                             {"outcome": "lost"}).status_code == 403
    # A wrong outcome is refused with its field
    bad = li.post(f"/alerts/{alert['id']}/close", {"outcome": "won_back"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "outcome"
    # Li closes it as lost
    closed = li.post(f"/alerts/{alert['id']}/close", {"outcome": "lost", "note": "Moved"})
    assert closed.status_code == 200
    assert closed.json()["status"] == "lost"
    assert closed.json()["closed_by_id"] == rep1.pk
    assert ChurnAlert.objects.get(pk=alert["id"]).status == AlertStatus.LOST
    assert li.post(f"/alerts/{alert['id']}/close", {"outcome": "lost"}).status_code == 409
    # And filters: lost ones on request, open ones by default
    assert alert["id"] in {a["id"] for a in li.get("/alerts", status="lost").json()["items"]}
    assert alert["id"] not in {a["id"] for a in li.get("/alerts").json()["items"]}


def test_replenishments_due_follow_the_same_rules(shop: Shop, rep1: User, rep2: User,
                                                   the_next_morning: None) -> None:
    daily_run(as_of=AS_OF)
    mine = Api(rep1).get("/replenishments/due").json()
    assert [(r["customer_name"], r["item"]) for r in mine] == [(shop.rice_buyer.name,
                                                                 "Rice 10 kg")]
    assert Api(rep2).get("/replenishments/due").json() == []
