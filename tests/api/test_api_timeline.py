"""Orders, memory notes and interactions through the API: each lands on the customer's timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, CustomerEvent, EventType
from guanxi.sales.models import Order

ApiAs = Callable[[User], Any]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 3, 14, 10, 30, tzinfo=SHANGHAI)


@time_machine.travel(NOW, tick=False)
def test_a_rep_records_an_order_and_the_customer_remembers_the_purchase(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    customer = li_customers[0]
    # When Li posts an order placed this morning
    response = api_as(rep1).post("/orders", {
        "customer_id": customer.pk, "placed_at": "2025-03-14T09:15:00+08:00",
        "total": "1280.5", "external_id": "SO-2025-0001", "channel": "store",
    })
    # Then it is stored in cents, the customer's last purchase moves, and the timeline shows it
    assert response.status_code == 201
    body = response.json()
    assert (body["total"], body["currency"], body["status"]) == ("1280.50", "CNY", "completed")
    order = Order.objects.get(external_id="SO-2025-0001")
    assert order.total == Decimal("1280.50")
    customer.refresh_from_db()
    assert customer.last_purchase_at == dt.datetime(2025, 3, 14, 9, 15, tzinfo=SHANGHAI)
    event = CustomerEvent.objects.get(customer=customer, type=EventType.ORDER_PLACED)
    assert event.data["order_id"] == order.pk
    assert event.data["total"] == "1280.50"
    assert event.actor == rep1


def test_an_older_order_does_not_move_the_last_purchase_back(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    client = api_as(rep1)
    customer = li_customers[0]
    for when in ("2025-03-01T10:00:00+08:00", "2025-01-05T10:00:00+08:00"):
        assert client.post("/orders", {"customer_id": customer.pk, "placed_at": when,
                                       "total": "10"}).status_code == 201
    client.post("/orders", {"customer_id": customer.pk, "placed_at": "2025-04-01T10:00:00+08:00",
                            "total": "10", "status": "cancelled"})
    customer.refresh_from_db()
    assert customer.last_purchase_at == dt.datetime(2025, 3, 1, 10, tzinfo=SHANGHAI)


def test_a_refund_is_its_own_event(api_as: ApiAs, rep1: User,
                                   li_customers: list[Customer]) -> None:
    customer = li_customers[0]
    response = api_as(rep1).post("/orders", {"customer_id": customer.pk, "total": "99",
                                             "placed_at": "2025-03-01T10:00:00Z",
                                             "status": "refunded"})
    assert response.status_code == 201
    assert CustomerEvent.objects.filter(customer=customer,
                                        type=EventType.ORDER_REFUNDED).count() == 1
    customer.refresh_from_db()
    assert customer.last_purchase_at is None


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"total": "-1"}, 422, "invalid_amount", "total"),
        ({"total": "abc"}, 422, "validation_error", "total"),
        ({"total": "1.234"}, 422, "validation_error", "total"),
        ({"currency": "RMB1"}, 422, "validation_error", "currency"),
        ({"currency": "R1B"}, 422, "invalid_currency", "currency"),
        ({"placed_at": "yesterday"}, 422, "validation_error", "placed_at"),
        ({"status": "lost"}, 422, "validation_error", "status"),
        ({"external_id": "SO-1"}, 409, "order_exists", "external_id"),
    ],
)
def test_a_bad_order_is_refused_naming_the_field(
    api_as: ApiAs, rep1: User, li_customers: list[Customer], change: dict[str, str],
    status: int, code: str, field: str
) -> None:
    client = api_as(rep1)
    base = {"customer_id": li_customers[0].pk, "placed_at": "2025-03-01T10:00:00+08:00",
            "total": "10", "external_id": "SO-1"}
    assert client.post("/orders", base).status_code == 201
    response = client.post("/orders", {**base, "external_id": "SO-2", **change})
    assert response.status_code == status
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert Order.objects.count() == 1


def test_a_time_without_offset_is_company_local_time(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    response = api_as(rep1).post("/orders", {"customer_id": li_customers[0].pk, "total": "1",
                                             "placed_at": "2025-03-01T23:30:00"})
    assert response.status_code == 201
    # 23:30 in Shanghai is 15:30 UTC: the same day for the shop, whatever the server's zone.
    assert Order.objects.get().placed_at == dt.datetime(2025, 3, 1, 15, 30, tzinfo=dt.UTC)


def test_orders_are_listed_only_for_visible_customers(
    api_as: ApiAs, rep1: User, rep2: User, admin: User, li_customers: list[Customer],
    wang_customer: Customer
) -> None:
    admin_client = api_as(admin)
    for customer in (li_customers[0], li_customers[1], wang_customer):
        admin_client.post("/orders", {"customer_id": customer.pk, "total": "5",
                                      "placed_at": "2025-03-01T10:00:00+08:00"})
    li = api_as(rep1)
    listed = li.get("/orders").json()
    assert {o["customer_id"] for o in listed["items"]} == {li_customers[0].pk,
                                                           li_customers[1].pk}
    wangs = Order.objects.get(customer=wang_customer)
    assert li.get(f"/orders/{wangs.pk}").status_code == 404
    assert li.get("/orders", {"customer_id": wang_customer.pk}).json()["items"] == []
    assert len(admin_client.get("/orders").json()["items"]) == 3
    # Li may not post an order for Wang's customer either: to Li it does not exist.
    response = li.post("/orders", {"customer_id": wang_customer.pk, "total": "5",
                                   "placed_at": "2025-03-01T10:00:00+08:00"})
    assert response.status_code == 404


def test_an_analyst_may_not_record_orders(api_as: ApiAs, analyst: User,
                                          li_customers: list[Customer]) -> None:
    response = api_as(analyst).post("/orders", {"customer_id": li_customers[0].pk, "total": "5",
                                                "placed_at": "2025-03-01T10:00:00+08:00"})
    assert response.status_code == 403
    assert response.json()["code"] == "read_only"


@time_machine.travel(NOW, tick=False)
def test_a_note_is_remembered_and_listed(api_as: ApiAs, rep1: User, agent: User,
                                         li_customers: list[Customer]) -> None:
    customer = li_customers[0]
    # Given Li notes the guest's standing request
    response = api_as(rep1).post(f"/customers/{customer.pk}/notes", {
        "text": "Wants a drafting table in the room", "category": "request", "pinned": True,
    })
    assert response.status_code == 201
    assert response.json()["created_at"] == "2025-03-14T02:30:00Z"
    # Then the service agent sees it at the next contact
    notes = api_as(agent).get(f"/customers/{customer.pk}/notes").json()
    assert [(n["text"], n["category"], n["pinned"], n["author_id"]) for n in notes["items"]] == [
        ("Wants a drafting table in the room", "request", True, rep1.pk)
    ]
    assert CustomerEvent.objects.filter(customer=customer, type=EventType.NOTE_ADDED).exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"text": ""}, "text"), ({"text": "   "}, "text"),
    ({"text": "x", "category": "gossip"}, "category"),
])
def test_a_bad_note_names_the_field(api_as: ApiAs, rep1: User, li_customers: list[Customer],
                                    body: dict[str, str], field: str) -> None:
    response = api_as(rep1).post(f"/customers/{li_customers[0].pk}/notes", body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_notes_of_another_reps_customer_are_not_found(
    api_as: ApiAs, rep1: User, wang_customer: Customer
) -> None:
    client = api_as(rep1)
    assert client.get(f"/customers/{wang_customer.pk}/notes").status_code == 404
    assert client.post(f"/customers/{wang_customer.pk}/notes",
                       {"text": "x"}).status_code == 404


def test_interactions_are_logged_and_paged(api_as: ApiAs, rep1: User,
                                           li_customers: list[Customer]) -> None:
    client = api_as(rep1)
    customer = li_customers[0]
    for day in range(1, 4):
        response = client.post(f"/customers/{customer.pk}/interactions", {
            "channel": "phone", "direction": "out", "subject": f"Follow-up {day}",
            "occurred_at": f"2025-03-0{day}T10:00:00+08:00",
        })
        assert response.status_code == 201
    first = client.get(f"/customers/{customer.pk}/interactions", {"limit": 2}).json()
    second = client.get(f"/customers/{customer.pk}/interactions",
                        {"limit": 2, "after": first["next"]}).json()
    subjects = [i["subject"] for i in first["items"] + second["items"]]
    assert subjects == ["Follow-up 1", "Follow-up 2", "Follow-up 3"]
    assert second["next"] is None
    assert CustomerEvent.objects.filter(customer=customer,
                                        type=EventType.INTERACTION_LOGGED).count() == 3


def test_an_unknown_channel_is_refused(api_as: ApiAs, rep1: User,
                                       li_customers: list[Customer]) -> None:
    response = api_as(rep1).post(f"/customers/{li_customers[0].pk}/interactions",
                                 {"channel": "pigeon"})
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("validation_error",
                                                                    "channel")


def test_consent_is_granted_withdrawn_and_listed(api_as: ApiAs, rep1: User, analyst: User,
                                                 li_customers: list[Customer]) -> None:
    customer = li_customers[0]
    client = api_as(rep1)
    url = f"/customers/{customer.pk}/consents"
    granted = client.put(url, {"channel": "sms", "purpose": "marketing", "granted": True,
                               "evidence": "signed form 2025-03-01"})
    assert granted.status_code == 200
    assert granted.json()["granted"] is True
    withdrawn = client.put(url, {"channel": "sms", "purpose": "marketing", "granted": False})
    assert withdrawn.json()["granted"] is False
    listed = api_as(analyst).get(url).json()
    assert [(c["channel"], c["purpose"], c["granted"]) for c in listed] == [
        ("sms", "marketing", False)]
    assert CustomerEvent.objects.filter(customer=customer,
                                        type=EventType.CONSENT_CHANGED).count() == 2
    refused = api_as(analyst).put(url, {"channel": "sms", "purpose": "marketing",
                                        "granted": True})
    assert refused.status_code == 403
    bad = client.put(url, {"channel": "fax", "purpose": "marketing", "granted": True})
    assert (bad.status_code, bad.json()["field"]) == (422, "channel")
