"""The insights through the API and the command line: the same answers, the same refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from insights_story import Accounts, Shop
from openpyxl import load_workbook
from typer.testing import CliRunner

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create
from guanxi.cli.main import app
from guanxi.insights.models import KeyAccountPlan

pytestmark = pytest.mark.django_db
runner = CliRunner()


class Api:
    def __init__(self, user: User) -> None:
        _token, raw = api_token_create(user=user, name="tests")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", data=params, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        return getattr(self.client, method)(f"/api/v1{path}", data=json.dumps(body or {}),
                                            content_type="application/json",
                                            headers=self.headers)


def test_the_api_gives_traits_to_the_analyst_and_refuses_the_rep(
        shop: Shop, analyst: User, rep1: User) -> None:
    response = Api(analyst).get("/insights/traits", top="vip")
    assert response.status_code == 200
    body = response.json()
    assert body["top_customers"] == 32
    assert body["traits"][0]["level"] == "referral"
    refused = Api(rep1).get("/insights/traits")
    assert refused.status_code == 403
    assert refused.json()["code"] == "insights_aggregates_only"
    bad = Api(analyst).get("/insights/traits", top="gold")
    assert bad.status_code == 422
    assert bad.json()["code"] == "insights_invalid_tier"


def test_li_pages_through_his_ranked_prospects_and_exports_them(shop: Shop, rep1: User) -> None:
    api = Api(rep1)
    first = api.get("/insights/prospects", top="vip", limit=1).json()
    assert first["ranked"] == 2
    assert first["excluded"] == {"marketing_withdrawn": 1, "no_marketing_consent": 1,
                                 "profiling_refused": 1}
    assert first["items"][0]["id"] == shop.prospects["granted"].pk
    assert first["next"] == 1
    second = api.get("/insights/prospects", top="vip", limit=1, after=1).json()
    assert [p["id"] for p in second["items"]] == [shop.prospects["ads"].pk]
    assert second["next"] is None

    exported = api.get("/insights/prospects/export", top="vip", format="csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Rank", "Customer id", "Name"]
    assert [r[2] for r in rows[1:]] == ["有同意", "广告来的"]
    book = Api(rep1).get("/insights/prospects/export", top="vip", format="xlsx")
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    assert sheet.max_row == 3


def test_key_account_plans_through_the_api(accounts: Accounts, rep1: User, rep2: User,
                                           analyst: User) -> None:
    li = Api(rep1)
    listed = li.get("/insights/key-accounts", candidates=True).json()
    assert [a["id"] for a in listed] == [accounts.steady.pk]

    path = f"/insights/key-accounts/{accounts.steady.pk}/plan"
    created = li.send("post", path, {"goals": "年度框架协议", "owner_id": rep1.pk,
                                     "next_review_on": "2026-09-30"})
    assert created.status_code == 201, created.content
    assert created.json()["stage"] == "build"
    assert li.send("post", f"{path}/advance").json()["stage"] == "stabilize"
    patched = li.send("patch", path, {"notes": "拜访了CIO"})
    assert patched.json()["notes"] == "拜访了CIO"
    assert li.get(path).json()["goals"] == "年度框架协议"

    # Wang may not even learn Li's plan exists; the analyst reads but may not write.
    assert Api(rep2).get(path).status_code == 404
    assert Api(rep2).send("patch", path, {"notes": "x"}).status_code == 404
    assert Api(analyst).get(path).status_code == 200
    assert Api(analyst).send("post", f"{path}/advance").status_code == 403
    assert li.send("post", path, {}).status_code == 409
    assert KeyAccountPlan.objects.get().stage == "stabilize"


def test_the_strategy_report_in_the_api(shop: Shop, manager: User, rep1: User) -> None:
    body = Api(manager).get("/insights/strategy").json()
    assert body["recommendation"] in ("focused", "differentiated", "undifferentiated")
    assert len(body["concentration"]["pareto"]) == 101
    assert Api(rep1).get("/insights/strategy").status_code == 403


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_command_line_tells_traits_prospects_and_strategy(shop: Shop,
                                                              tmp_path: Path) -> None:
    out = _ok(["traits", "--top", "vip"])
    assert "1. Customers acquired through referral are 3.8× as likely to become VIP" in out
    data = json.loads(_ok(["traits", "--top", "vip", "--json"]))
    assert data["traits"][0]["level"] == "referral"

    target = tmp_path / "prospects.xlsx"
    ranked = json.loads(_ok(["prospects", "rank", "--top", "vip", "--json", "--export",
                             str(target)]))
    # The CLI is the system: it ranks everyone's prospects (Li's two and Wang's one).
    assert ranked["ranked"] == 3
    assert ranked["excluded"]["profiling_refused"] == 1
    assert target.exists()
    bad = runner.invoke(app, ["prospects", "rank", "--export", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 2

    text = _ok(["report", "strategy"])
    assert "Top 1% hold" in text
    assert "Recommendation" in text


def test_the_command_line_plans_a_key_account(accounts: Accounts, rep1: User) -> None:
    out = _ok(["keyaccounts", "list", "--candidates"])
    assert "华信科技" in out
    assert "远大集团" not in out
    data = json.loads(_ok(["keyaccounts", "plan", str(accounts.steady.pk), "--owner", "li",
                           "--goals", "服务器统一采购", "--review", "2026-10-01", "--json"]))
    assert data["stage"] == "build"
    assert data["owner"] == "li"
    data = json.loads(_ok(["keyaccounts", "plan", str(accounts.steady.pk), "--advance",
                           "--json"]))
    assert data["stage"] == "stabilize"
    refused = runner.invoke(app, ["keyaccounts", "plan", str(accounts.buyer.pk)])
    assert refused.exit_code == 2
    assert "not an organization" in refused.stderr
