"""The insights pages: each person sees what their role allows, in English and in Chinese."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from insights_story import Accounts, Shop
from openpyxl import load_workbook

from guanxi.accounts.models import User
from guanxi.insights.models import KeyAccountPlan

pytestmark = pytest.mark.django_db


def _as(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_analyst_reads_the_traits_and_the_strategy(shop: Shop, analyst: User) -> None:
    client = _as(analyst)
    page = client.get("/insights/traits/?top=vip").content.decode()
    assert "Customers acquired through referral are 3.8× as likely to become VIP" in page
    strategy = client.get("/insights/strategy/").content.decode()
    assert "Recommendation" in strategy
    assert '<svg class="chart"' in strategy
    assert client.get("/insights/strategy/?format=csv").status_code == 200
    png = client.get("/insights/strategy/?format=png")
    assert png.content[:4] == b"\x89PNG"
    index = client.get("/insights/").content.decode()
    assert "/insights/strategy/" in index


def test_a_rep_gets_no_aggregate_page_but_his_own_prospects(shop: Shop, rep1: User) -> None:
    client = _as(rep1)
    assert client.get("/insights/traits/").status_code == 403
    assert client.get("/insights/strategy/").status_code == 403
    page = client.get("/insights/prospects/?top=vip").content.decode()
    assert "有同意" in page
    assert "王的潜客" not in page
    assert "no marketing consent recorded" in page
    assert "/insights/strategy/" not in client.get("/insights/").content.decode()
    book = client.get("/insights/prospects/?top=vip&format=xlsx")
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[2]][:3] == [1, shop.prospects["granted"].pk, "有同意"]


def test_the_analyst_sees_prospects_without_names(shop: Shop, analyst: User) -> None:
    page = _as(analyst).get("/insights/prospects/").content.decode()
    assert "有同意" not in page
    assert f"#{shop.prospects['granted'].pk}" in page


def test_li_starts_and_advances_a_plan_from_the_page(accounts: Accounts, rep1: User,
                                                    rep2: User, analyst: User) -> None:
    client = _as(rep1)
    listing = client.get("/insights/key-accounts/").content.decode()
    assert "华信科技" in listing
    assert "远大集团" not in listing
    url = f"/insights/key-accounts/{accounts.steady.pk}/"
    assert "Start the plan" in client.get(url).content.decode()
    response = client.post(url, {"owner": rep1.pk, "stage": "build", "goals": "框架协议",
                                 "next_review_on": "2026-08-01", "notes": ""})
    assert response.status_code == 302
    client.post(f"{url}advance/")
    assert KeyAccountPlan.objects.get().stage == "stabilize"
    # In place with htmx: the panel comes back with the last stage and no advance button
    panel = client.post(f"{url}advance/", headers={"hx-request": "true"}).content.decode()
    assert 'id="plan-panel"' in panel
    assert "Strengthen the relationship" in panel
    assert "Advance to the next stage" not in panel
    assert "<html" not in panel
    # Wang cannot see it; the analyst reads it but gets no form and cannot advance it
    assert _as(rep2).get(url).status_code == 404
    read_only = _as(analyst).get(url).content.decode()
    assert "框架协议" in read_only
    assert "Save the plan" not in read_only
    assert _as(analyst).post(f"{url}advance/").status_code == 403


def test_the_pages_speak_chinese(shop: Shop, manager: User) -> None:
    client = _as(manager)
    page = client.get("/insights/traits/?top=vip", headers={"accept-language": "zh-hans"})
    text = page.content.decode()
    assert "最佳客户" in text
    assert "通过referral获得的客户" in text


def test_before_any_scoring_the_pages_say_what_to_do(analyst: User, frozen: None) -> None:
    client = _as(analyst)
    for url in ("/insights/traits/", "/insights/prospects/", "/insights/strategy/"):
        page = client.get(url)
        assert page.status_code == 200
        assert "guanxi score" in page.content.decode()
    assert "No organizations." in client.get("/insights/key-accounts/").content.decode()
