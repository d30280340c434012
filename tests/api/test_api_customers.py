"""Stories of people using the customers API, each seeing exactly what their role allows."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, CustomerEvent, EventType, Tag
from guanxi.customers.services import customer_create
from value_fixtures import give_value

# api_as(user) gives a client holding that user's token (see conftest.py).
ApiAs = Callable[[User], Any]


def names(response: object) -> set[str]:
    return {c["name"] for c in response.json()["items"]}  # type: ignore[attr-defined]


def test_a_rep_lists_only_their_own_customers(
    api_as: ApiAs, rep1: User, li_customers: list[Customer], wang_customer: Customer
) -> None:
    # Given Li owns three customers and Wang one
    # When Li lists customers
    response = api_as(rep1).get("/customers")
    # Then Li sees their three and not Wang's
    assert response.status_code == 200
    assert names(response) == {"张伟", "Alice Brown", "李娜"}
    assert response.json()["next"] is None


def test_another_reps_customer_is_not_found_not_forbidden(
    api_as: ApiAs, rep1: User, wang_customer: Customer
) -> None:
    # Li must not even learn that Wang's customer exists.
    response = api_as(rep1).get(f"/customers/{wang_customer.pk}")
    assert response.status_code == 404
    assert response.json() == {"code": "customer_not_found",
                               "message": f"Customer {wang_customer.pk} does not exist.",
                               "field": None}


def test_the_manager_sees_the_whole_team(
    api_as: ApiAs, manager: User, li_customers: list[Customer], wang_customer: Customer
) -> None:
    assert names(api_as(manager).get("/customers")) == {"张伟", "Alice Brown", "李娜", "王芳"}


def test_an_analyst_sees_customers_without_contact_details(
    api_as: ApiAs, analyst: User, li_customers: list[Customer]
) -> None:
    client = api_as(analyst)
    listed = client.get("/customers").json()["items"]
    single = client.get(f"/customers/{li_customers[0].pk}").json()
    for customer in [*listed, single]:
        assert customer["phone"] is None
        assert customer["email"] is None
        assert customer["birthday"] is None
    assert single["city"] == "上海"


def test_a_rep_sees_contact_details_of_their_customer(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    body = api_as(rep1).get(f"/customers/{li_customers[0].pk}").json()
    assert body["phone"] == "+8613800138000"
    assert body["email"] == "zw@example.cn"
    assert body["name_pinyin"] == "zhangwei"


def test_an_agent_reads_but_may_not_update(
    api_as: ApiAs, agent: User, li_customers: list[Customer]
) -> None:
    client = api_as(agent)
    customer = li_customers[0]
    assert client.get(f"/customers/{customer.pk}").status_code == 200
    response = client.patch(f"/customers/{customer.pk}", {"city": "杭州"})
    assert response.status_code == 403
    assert response.json()["code"] == "read_only"
    customer.refresh_from_db()
    assert customer.city == "上海"


def test_an_agent_may_not_create_customers(api_as: ApiAs, agent: User) -> None:
    response = api_as(agent).post("/customers", {"name": "New"})
    assert response.status_code == 403
    assert response.json()["code"] == "read_only"


def test_the_admin_sees_and_changes_everything(
    api_as: ApiAs, admin: User, rep1: User, li_customers: list[Customer],
    wang_customer: Customer
) -> None:
    client = api_as(admin)
    assert len(client.get("/customers").json()["items"]) == 4
    response = client.patch(f"/customers/{wang_customer.pk}", {"owner_id": rep1.pk})
    assert response.status_code == 200
    assert response.json()["owner_id"] == rep1.pk
    assert CustomerEvent.objects.filter(customer=wang_customer,
                                        type=EventType.OWNER_CHANGED).exists()


def test_a_rep_creates_a_customer_they_then_own(api_as: ApiAs, rep1: User) -> None:
    # When Li adds a customer with a messy phone number
    response = api_as(rep1).post("/customers", {
        "name": " 陈静 ", "phone": "139 1234 5678", "city": "广州", "external_id": "SHOP-7",
    })
    # Then it is stored normalized, owned by Li, with its creation event
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "陈静"
    assert body["phone"] == "+8613912345678"
    assert body["owner_id"] == rep1.pk
    customer = Customer.objects.get(pk=body["id"])
    assert customer.external_ids.get().value == "SHOP-7"
    assert CustomerEvent.objects.filter(customer=customer, type=EventType.CREATED).count() == 1


def test_a_rep_may_not_hand_a_new_customer_to_a_colleague(
    api_as: ApiAs, rep1: User, rep2: User
) -> None:
    response = api_as(rep1).post("/customers", {"name": "X", "owner_id": rep2.pk})
    assert response.status_code == 403
    assert response.json()["field"] == "owner_id"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 422, "validation_error", "name"),
        ({"name": ""}, 422, "validation_error", "name"),
        ({"name": "   "}, 422, "invalid_field", "name"),
        ({"name": "X", "phone": "12"}, 422, "invalid_phone", "phone"),
        ({"name": "X", "email": "not-an-address"}, 422, "invalid_email", "email"),
        ({"name": "X", "kind": "robot"}, 422, "validation_error", "kind"),
        ({"name": "X", "birthday": "31/02/1990"}, 422, "validation_error", "birthday"),
        ({"name": "X", "owner_id": 99999}, 422, "invalid_field", "owner_id"),
        ({"name": "X", "organization_id": 99999}, 422, "invalid_field", "organization_id"),
    ],
)
def test_create_validation_errors_name_the_field(
    api_as: ApiAs, admin: User, body: dict[str, object], status: int, code: str, field: str
) -> None:
    response = api_as(admin).post("/customers", body)
    assert response.status_code == status
    error = response.json()
    assert set(error) == {"code", "message", "field"}
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    assert not Customer.objects.exists()


def test_update_changes_only_the_fields_sent_and_records_them(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    customer = li_customers[0]
    response = api_as(rep1).patch(f"/customers/{customer.pk}",
                                  {"city": "杭州", "email": "ZW@Example.CN "})
    assert response.status_code == 200
    body = response.json()
    assert (body["city"], body["email"], body["phone"]) == ("杭州", "zw@example.cn",
                                                            "+8613800138000")
    event = CustomerEvent.objects.get(customer=customer, type=EventType.UPDATED)
    assert event.data["changes"] == {"city": ["上海", "杭州"]}
    assert event.actor == rep1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"phone": "abc"}, "invalid_phone", "phone"),
        ({"name": None}, "invalid_field", "name"),
        ({"name": ""}, "validation_error", "name"),
        ({"lifecycle_stage": "loyal"}, "validation_error", "lifecycle_stage"),
        ({"income_band": "rich"}, "validation_error", "income_band"),
    ],
)
def test_update_validation_errors_name_the_field(
    api_as: ApiAs, rep1: User, li_customers: list[Customer], body: dict[str, object],
    code: str, field: str
) -> None:
    response = api_as(rep1).patch(f"/customers/{li_customers[0].pk}", body)
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == (code, field)


def test_a_null_clears_a_text_field(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    response = api_as(rep1).patch(f"/customers/{li_customers[0].pk}", {"email": None})
    assert response.status_code == 200
    assert response.json()["email"] == ""


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("张", {"张伟"}),
        ("zhangwei", {"张伟"}),
        ("zw", {"张伟"}),
        ("alice", {"Alice Brown"}),
        ("13900139000", {"李娜"}),
        ("zw@example.cn", {"张伟"}),
        ("ERP-1001", {"Alice Brown"}),
        ("nobody", set()),
    ],
)
def test_search_finds_by_name_pinyin_phone_email_and_external_id(
    api_as: ApiAs, rep1: User, li_customers: list[Customer], wang_customer: Customer,
    term: str, expected: set[str]
) -> None:
    assert names(api_as(rep1).get("/customers", {"search": term})) == expected


def test_search_never_reaches_beyond_what_the_user_sees(
    api_as: ApiAs, rep1: User, li_customers: list[Customer], wang_customer: Customer
) -> None:
    assert names(api_as(rep1).get("/customers", {"search": "13700137000"})) == set()


def test_filters_combine(
    api_as: ApiAs, admin: User, rep1: User, li_customers: list[Customer],
    wang_customer: Customer
) -> None:
    vip = Tag.objects.create(name="vip")
    li_customers[2].tags.add(vip)
    give_value(li_customers[0], lifecycle_stage="loyal", value_tier="key")
    client = api_as(admin)
    assert names(client.get("/customers", {"owner": rep1.pk, "city": "上海"})) == {"张伟", "李娜"}
    assert names(client.get("/customers", {"lifecycle_stage": "loyal"})) == {"张伟"}
    assert names(client.get("/customers", {"value_tier": "key"})) == {"张伟"}
    tagged = client.get("/customers", {"tag": "vip"}).json()["items"]
    assert [(c["name"], c["tags"]) for c in tagged] == [("李娜", ["vip"])]


def test_an_unknown_filter_value_is_a_validation_error(api_as: ApiAs, admin: User) -> None:
    response = api_as(admin).get("/customers", {"lifecycle_stage": "zombie"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["field"] == "lifecycle_stage"


def test_cursors_walk_the_whole_list_once(api_as: ApiAs, rep1: User, rep2: User) -> None:
    # Given 23 customers of Li's interleaved with 10 of Wang's
    for i in range(33):
        owner = rep2 if i % 3 == 2 else rep1
        customer_create(actor=None, name=f"Customer {i:02d}", owner=owner)
    client = api_as(rep1)
    seen: list[int] = []
    after = None
    pages = 0
    # When Li walks the list five at a time
    while True:
        params: dict[str, object] = {"limit": 5}
        if after is not None:
            params["after"] = after
        body = client.get("/customers", params).json()
        seen.extend(c["id"] for c in body["items"])
        pages += 1
        after = body["next"]
        if after is None:
            break
    # Then every one of Li's customers comes exactly once, in order
    expected = list(Customer.objects.filter(owner=rep1).order_by("pk")
                    .values_list("pk", flat=True))
    assert seen == expected
    assert len(seen) == 22
    assert pages == 5


@pytest.mark.parametrize("limit", [0, 201, "x"])
def test_page_size_is_bounded(api_as: ApiAs, admin: User, limit: object) -> None:
    response = api_as(admin).get("/customers", {"limit": limit})
    assert response.status_code == 422
    assert response.json()["field"] == "limit"


def test_the_list_keeps_the_documented_shape(
    api_as: ApiAs, rep1: User, li_customers: list[Customer]
) -> None:
    # The list is serialized without per-request validation (speed); this holds it to the
    # schema the OpenAPI document promises, field for field.
    from guanxi.api.schemas import CustomerOut, CustomerPageOut

    give_value(li_customers[0], clv=Decimal("1234.50"))
    li_customers[0].tags.add(Tag.objects.create(name="vip"), Tag.objects.create(name="a"))
    body = api_as(rep1).get("/customers").json()
    page = CustomerPageOut.model_validate(body)
    assert len(page.items) == 3
    assert set(body["items"][0]) == set(CustomerOut.model_fields)
    first = next(c for c in body["items"] if c["id"] == li_customers[0].pk)
    assert first["clv"] == "1234.50"
    assert first["tags"] == ["a", "vip"]
    single = api_as(rep1).get(f"/customers/{li_customers[0].pk}").json()
    assert {k: v for k, v in single.items() if k not in {"created_at", "updated_at"}} == {
        k: v for k, v in first.items() if k not in {"created_at", "updated_at"}}
