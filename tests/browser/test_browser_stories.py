"""Issue #5 §8 in a real browser: a rep's day on the 360 page, a manager's dashboard, Chinese."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import expect

from guanxi.accounts.models import User
from guanxi.customers.services import customer_create
from value_fixtures import give_value

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]




def test_a_rep_finds_a_customer_notes_and_logs_and_cannot_open_anothers(
    live_server: Any, context: Any, sign_in: Any, rep1: User, rep2: User, shots: Any
) -> None:
    # Given Li's customer 张伟 and Wang's customer 刘洋
    zhang = customer_create(actor=rep1, name="张伟", city="上海", owner=rep1)
    liu = customer_create(actor=rep2, name="刘洋", city="北京", owner=rep2)
    customer_create(actor=rep1, name="李娜", owner=rep1)
    page = context.new_page()
    shot = shots(page)
    base = live_server.url

    # When Li signs in and types the pinyin initials "zw" in the search
    sign_in(page, base, rep1.username)
    shot("signed-in")
    page.goto(f"{base}/customers/")
    page.fill("#id_q", "zw")
    results = page.locator("#results")
    expect(results.get_by_role("link", name="张伟")).to_be_visible()
    expect(results.get_by_role("link", name="李娜")).to_have_count(0)
    shot("found-by-initials")

    # And opens the 360 page
    results.get_by_role("link", name="张伟").click()
    page.wait_for_url(f"{base}/customers/{zhang.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("张伟")
    shot("customer-360")

    # And adds a pinned note: it shows at the top of the notes
    page.fill("#notes textarea", "Prefers calls after 6 pm; allergic to peanuts")
    page.check("#notes input[type=checkbox]")
    page.click("#notes button[type=submit]")
    expect(page.locator("#notes .pinned-note").first).to_contain_text("allergic to peanuts")
    shot("pinned-note")

    # And logs a call: it appears in the timeline without a reload
    page.fill("#interaction-form input[name=subject]", "Asked about the autumn catalogue")
    page.click("#interaction-form button[type=submit]")
    expect(page.locator("#timeline")).to_contain_text("Asked about the autumn catalogue")
    shot("timeline")

    # Then Wang's customer is not found for Li
    response = page.goto(f"{base}/customers/{liu.pk}/")
    assert response is not None
    assert response.status == 404
    shot("other-reps-customer")


def _scored(owner: User, name: str, tier: str, clv: str) -> None:
    c = customer_create(actor=owner, name=name, owner=owner)
    give_value(c, value_tier=tier, clv=Decimal(clv), rfm_r=5, rfm_f=4, rfm_m=5,
               rfm_segment="champions", lifecycle_stage="active")


def test_a_manager_sees_the_dashboard_charts_in_english_and_chinese(
    live_server: Any, context: Any, sign_in: Any, manager: User, rep1: User, shots: Any
) -> None:
    _scored(rep1, "张伟", "vip", "9000.00")
    _scored(rep1, "李娜", "ordinary", "120.00")
    page = context.new_page()
    shot = shots(page)
    base = live_server.url

    sign_in(page, base, manager.username)
    # Then every chart is drawn (an SVG in its panel) and has its exports
    for key in ("pyramid", "rfm", "equity", "migration"):
        panel = page.locator(f"#chart-{key}")
        expect(panel.locator("svg.chart")).to_be_visible()
        expect(panel.get_by_role("link", name="CSV")).to_be_visible()
    # And a chart's table view opens
    page.locator("#chart-pyramid summary").click()
    expect(page.locator("#chart-pyramid table")).to_contain_text("VIP")
    shot("dashboard")

    # When she switches to Chinese, the same pages render in Chinese
    page.select_option("#language", "zh-hans")
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#chart-pyramid svg.chart")).to_be_visible()
    shot("dashboard-zh")
    page.goto(f"{base}/customers/")
    expect(page.locator("#results").get_by_role("link", name="张伟")).to_be_visible()
    expect(page.locator("nav.mainnav")).to_contain_text("客户")
    shot("list-zh")
