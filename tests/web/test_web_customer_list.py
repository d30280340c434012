"""The customer list (issue #5 §3): search, filters, keyset pages, bulk actions."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, CustomerEvent, EventType
from guanxi.customers.services import customer_create
from guanxi.web import selectors
from value_fixtures import give_value

ClientFor = Callable[[User], Client]


def _csv(response: HttpResponseBase) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[arg-type]
    return list(csv.reader(io.StringIO(body)))


def _names(html: str) -> list[str]:
    return re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', html)


def test_search_by_pinyin_initials_finds_a_chinese_name(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    customer_create(actor=rep1, name="李娜", owner=rep1)
    # When Li types the initials "zw"
    html = client_for(rep1).get(reverse("customer_list"), {"q": "zw"}).content.decode()
    # Then 张伟 is found, and 李娜 is not
    assert _names(html) == ["张伟"]


def test_search_by_full_pinyin_and_by_phone(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    customer_create(actor=rep1, name="李娜", phone="137 1234 5678", owner=rep1)
    client = client_for(rep1)
    assert _names(client.get(reverse("customer_list"), {"q": "zhangwei"}).content.decode()) \
        == ["张伟"]
    # The phone written the way a person reads it off a card
    assert _names(client.get(reverse("customer_list"), {"q": "138-0013-8000"}).content.decode()) \
        == ["张伟"]
    assert _names(client.get(reverse("customer_list"), {"q": "zhangwei@example.cn"})
                  .content.decode()) == ["张伟"]


def test_search_never_reaches_other_reps_customers(
    rep1: User, liu_yang: Customer, client_for: ClientFor
) -> None:
    html = client_for(rep1).get(reverse("customer_list"), {"q": "139 0000 1111"}).content.decode()
    assert _names(html) == []


def test_filters_narrow_the_list(rep1: User, client_for: ClientFor) -> None:
    customer_create(actor=rep1, name="Shanghai VIP", city="上海", owner=rep1)
    customer_create(actor=rep1, name="Beijing one", city="北京", owner=rep1)
    give_value(Customer.objects.get(name="Shanghai VIP"), value_tier="vip",
               rfm_segment="champions")
    client = client_for(rep1)
    assert _names(client.get(reverse("customer_list"), {"city": "上海"}).content.decode()) \
        == ["Shanghai VIP"]
    assert _names(client.get(reverse("customer_list"), {"tier": "vip"}).content.decode()) \
        == ["Shanghai VIP"]
    assert _names(client.get(reverse("customer_list"), {"segment": "champions"})
                  .content.decode()) == ["Shanghai VIP"]


def test_last_purchase_filter_and_sort(rep1: User, client_for: ClientFor) -> None:
    tz = dt.UTC
    for name, when in (("Old", dt.datetime(2024, 1, 5, tzinfo=tz)),
                       ("Recent", dt.datetime(2026, 3, 1, tzinfo=tz)),
                       ("Never", None)):
        c = customer_create(actor=rep1, name=name, owner=rep1)
        Customer.objects.filter(pk=c.pk).update(last_purchase_at=when)
    client = client_for(rep1)
    recent = client.get(reverse("customer_list"), {"purchased_since": "2025-01-01"})
    assert _names(recent.content.decode()) == ["Recent"]
    by_last = client.get(reverse("customer_list"), {"sort": "-last_purchase_at"})
    assert _names(by_last.content.decode()) == ["Recent", "Old", "Never"]


@pytest.mark.parametrize("sort", list(selectors.SORTS))
def test_pagination_walks_every_customer_once(rep1: User, rep2: User, sort: str) -> None:
    # Given 23 of Li's customers with repeated names and values (ties test the keyset) and
    # some empty values, and Wang's customers that must never appear
    for i in range(23):
        c = customer_create(actor=rep1, name=f"客户{i % 4}", owner=rep1)
        # Every fifth was never scored (no latest values: an empty CLV)
        if i % 5:
            give_value(c, clv=Decimal(i % 3) * 100)
        Customer.objects.filter(pk=c.pk).update(
            last_purchase_at=None if i % 7 == 0 else dt.datetime(2025, 1, 1 + i % 2, tzinfo=dt.UTC),
        )
    for i in range(5):
        customer_create(actor=rep2, name=f"客户{i}", owner=rep2)

    # When Li walks the list 5 at a time
    filters = selectors.ListFilters(sort=sort)  # type: ignore[arg-type]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = selectors.customer_page(user=rep1, filters=filters, cursor=cursor, limit=5)
        seen += [c.pk for c in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    # Then every one of Li's customers comes exactly once, in 5 pages
    mine = set(Customer.objects.filter(owner=rep1).values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == mine
    assert pages == 5


def test_pagination_through_the_page(rep1: User, client_for: ClientFor) -> None:
    for i in range(60):
        customer_create(actor=rep1, name=f"Customer {i:02d}", owner=rep1)
    client = client_for(rep1)
    first = client.get(reverse("customer_list")).content.decode()
    assert "60 customers" in first
    match = re.search(r'href="\?(cursor=[^"]+)"', first)
    assert match is not None
    second = client.get(reverse("customer_list") + "?" + match.group(1).replace("&amp;", "&"))
    names = _names(first) + _names(second.content.decode())
    assert len(names) == len(set(names)) == 60
    assert 'rel="next"' not in second.content.decode()


def test_the_count_stops_at_the_cap(rep1: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # The list never counts more than COUNT_CAP rows (a million-row COUNT(*) per page is slow)
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    for i in range(5):
        customer_create(actor=rep1, name=f"C{i}", owner=rep1)
    page = selectors.customer_page(user=rep1, filters=selectors.ListFilters(), limit=2)
    assert (page.count, page.count_capped) == (3, True)


def test_a_forged_cursor_shows_the_first_page(rep1: User, zhang_wei: Customer,
                                              client_for: ClientFor) -> None:
    response = client_for(rep1).get(reverse("customer_list"), {"cursor": "forged:abc"})
    assert response.status_code == 200
    assert _names(response.content.decode()) == ["张伟"]


def test_htmx_search_returns_only_the_results_fragment(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    response = client_for(rep1).get(reverse("customer_list"), {"q": "zw"},
                                    headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert _names(html) == ["张伟"]


def test_a_manager_assigns_customers_to_a_rep_in_bulk(
    manager: User, rep1: User, rep2: User, zhang_wei: Customer, liu_yang: Customer,
    client_for: ClientFor,
) -> None:
    # When Mei gives both customers to Wang
    response = client_for(manager).post(reverse("customer_bulk"), {
        "action": "assign", "ids": [zhang_wei.pk, liu_yang.pk], "owner": rep2.pk,
    })
    # Then both belong to Wang, and 张伟's timeline says who moved it
    assert response.status_code == 302
    zhang_wei.refresh_from_db()
    assert zhang_wei.owner == rep2
    event = CustomerEvent.objects.get(customer=zhang_wei, type=EventType.OWNER_CHANGED)
    assert event.actor == manager
    assert event.data == {"old_owner": "li", "new_owner": "wang"}


def test_a_rep_cannot_reassign_or_touch_others_customers_in_bulk(
    rep1: User, rep2: User, zhang_wei: Customer, liu_yang: Customer, client_for: ClientFor
) -> None:
    client = client_for(rep1)
    # Li may not give away even their own customer
    own = client.post(reverse("customer_bulk"),
                      {"action": "assign", "ids": [zhang_wei.pk], "owner": rep1.pk})
    assert own.status_code == 422  # rep1 is not among the owners Li may choose
    # Nor export Wang's customer by slipping its id in
    other = client.post(reverse("customer_bulk"),
                        {"action": "export_csv", "ids": [zhang_wei.pk, liu_yang.pk]})
    assert other.status_code == 404
    zhang_wei.refresh_from_db()
    assert zhang_wei.owner == rep1


def test_export_csv_obeys_the_contact_details_rule(
    rep1: User, analyst: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    Customer.objects.filter(pk=zhang_wei.pk).update(city="=cmd|calc")
    rep_csv = client_for(rep1).post(reverse("customer_bulk"),
                                    {"action": "export_csv", "ids": [zhang_wei.pk]})
    rows = _csv(rep_csv)
    assert rows[0][:4] == ["id", "name", "phone", "e-mail"]
    assert rows[1][:4] == [str(zhang_wei.pk), "张伟", "+8613800138000", "zhangwei@example.cn"]
    # A value that a spreadsheet would run as a formula is quoted
    assert "'=cmd|calc" in rows[1]

    analyst_csv = client_for(analyst).post(reverse("customer_bulk"),
                                           {"action": "export_csv", "ids": [zhang_wei.pk]})
    analyst_rows = _csv(analyst_csv)
    text = str(analyst_rows)
    assert "phone" not in analyst_rows[0]
    assert "+8613800138000" not in text
    assert "zhangwei@example.cn" not in text


def test_export_xlsx(rep1: User, zhang_wei: Customer, client_for: ClientFor) -> None:
    response = client_for(rep1).post(reverse("customer_bulk"),
                                     {"action": "export_xlsx", "ids": [zhang_wei.pk]})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == "张伟"


def test_a_rep_tags_their_customers_in_bulk(
    rep1: User, zhang_wei: Customer, liu_yang: Customer, client_for: ClientFor
) -> None:
    other = customer_create(actor=rep1, name="李娜", owner=rep1)
    client = client_for(rep1)
    # When Li tags two customers, typing a full-width comma as a Chinese keyboard does
    response = client.post(reverse("customer_bulk"), {
        "action": "tag", "ids": [zhang_wei.pk, other.pk], "tags": "展会2026， wholesale",
    })
    # Then both carry both tags, the timeline says so, and the tag filter finds them
    assert response.status_code == 302
    assert sorted(zhang_wei.tags.values_list("name", flat=True)) == ["wholesale", "展会2026"]
    event = CustomerEvent.objects.filter(customer=zhang_wei, type=EventType.UPDATED).latest("id")
    assert event.data["changes"]["tags"] == ["", "wholesale, 展会2026"]
    listed = client.get(reverse("customer_list"), {"tag": "wholesale"}).content.decode()
    assert sorted(_names(listed)) == ["张伟", "李娜"]
    # But Li cannot tag Wang's customer
    refused = client.post(reverse("customer_bulk"),
                          {"action": "tag", "ids": [liu_yang.pk], "tags": "mine"})
    assert refused.status_code == 404
    assert not liu_yang.tags.exists()


def test_an_analyst_cannot_tag(analyst: User, zhang_wei: Customer,
                               client_for: ClientFor) -> None:
    client = client_for(analyst)
    assert 'value="tag"' not in client.get(reverse("customer_list")).content.decode()
    response = client.post(reverse("customer_bulk"),
                           {"action": "tag", "ids": [zhang_wei.pk], "tags": "x"})
    assert response.status_code == 403
    assert not zhang_wei.tags.exists()


def test_an_agent_cannot_reassign(agent: User, rep2: User, zhang_wei: Customer,
                                  client_for: ClientFor) -> None:
    response = client_for(agent).post(reverse("customer_bulk"), {
        "action": "assign", "ids": [zhang_wei.pk], "owner": rep2.pk})
    assert response.status_code == 422  # no owner is offered to an agent
    zhang_wei.refresh_from_db()
    assert zhang_wei.owner != rep2


def test_exporting_the_whole_filtered_list(
    rep1: User, analyst: User, zhang_wei: Customer, liu_yang: Customer, client_for: ClientFor
) -> None:
    customer_create(actor=rep1, name="李娜", city="杭州", owner=rep1)
    # Li exports the Shanghai customers: only his own, only Shanghai
    rows = _csv(client_for(rep1).get(reverse("customer_export", args=["csv"]), {"city": "上海"}))
    assert [r[1] for r in rows[1:]] == ["张伟"]
    # Chen exports everyone, without contact details
    rows = _csv(client_for(analyst).get(reverse("customer_export", args=["csv"])))
    assert sorted(r[1] for r in rows[1:]) == ["刘洋", "张伟", "李娜"]
    assert "e-mail" not in rows[0]
    # The Excel file holds the same rows
    book = client_for(rep1).get(reverse("customer_export", args=["xlsx"]))
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    assert sorted(r[1] for r in list(sheet.iter_rows(values_only=True))[1:]) == ["张伟", "李娜"]


def test_an_excel_export_too_large_is_refused(
    rep1: User, zhang_wei: Customer, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guanxi.web import exports

    customer_create(actor=rep1, name="李娜", owner=rep1)
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 1)
    response = client_for(rep1).get(reverse("customer_export", args=["xlsx"]))
    assert response.status_code == 422
    assert client_for(rep1).get(reverse("customer_export", args=["pdf"])).status_code == 404


def test_only_the_first_page_counts_and_a_short_list_is_not_counted(
    rep1: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def counts(queries: CaptureQueriesContext) -> int:
        return sum("COUNT(" in q["sql"].upper() for q in queries.captured_queries)

    # Given seven of Li's customers, listed three at a time
    for i in range(7):
        customer_create(actor=rep1, name=f"C{i}", owner=rep1)
    filters = selectors.ListFilters()
    # When Li opens the first page, then the next
    with CaptureQueriesContext(connection) as first_queries:
        first = selectors.customer_page(user=rep1, filters=filters, limit=3)
    with CaptureQueriesContext(connection) as next_queries:
        second = selectors.customer_page(user=rep1, filters=filters, cursor=first.next_cursor,
                                         limit=3)
    # Then the first page counts, and the next one shows the count its cursor carried
    assert counts(first_queries) == 1
    assert counts(next_queries) == 0
    assert (first.count, second.count) == (7, 7)
    # And a list that fits on one page is counted by its rows, not by a query
    with CaptureQueriesContext(connection) as short_queries:
        whole = selectors.customer_page(user=rep1, filters=filters, limit=10)
    assert (whole.count, whole.count_capped, counts(short_queries)) == (7, False, 0)


def test_a_list_of_one_stage_takes_a_large_count_from_the_dashboard(
    rep1: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from guanxi.web import charts

    # Given six of Li's active customers, a cap of two, and Li's dashboard already cached
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    for i in range(6):
        give_value(customer_create(actor=rep1, name=f"C{i}", owner=rep1),
                   lifecycle_stage="active")
    filters = selectors.ListFilters(lifecycle_stage="active")
    assert charts.cached_list_count(user=rep1, filters=filters) is None  # nothing cached yet
    charts.dashboard_data(user=rep1)

    # When Li lists her active customers
    known = charts.cached_list_count(user=rep1, filters=filters)
    with CaptureQueriesContext(connection) as queries:
        page = selectors.customer_page(user=rep1, filters=filters, limit=2, known_count=known)

    # Then the dashboard's count (six, far above the cap) stands in for a COUNT query
    assert known == 6
    assert (page.count, page.count_capped) == (2, True)
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    # And a list with any other filter beside the stage is counted as usual
    assert charts.cached_list_count(
        user=rep1, filters=dataclasses.replace(filters, city="上海")) is None
