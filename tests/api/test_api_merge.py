"""Merging two records of one customer through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, CustomerEvent, EventType
from guanxi.customers.services import customer_create, note_add

ApiAs = Callable[[User], Any]


def test_a_rep_merges_a_duplicate_into_the_survivor(api_as: ApiAs, rep1: User) -> None:
    # Given Li has the same person twice, once from the shop and once from a trade fair
    survivor = customer_create(actor=rep1, name="张伟", phone="13800138000", owner=rep1)
    duplicate = customer_create(actor=rep1, name="张伟", email="zw@example.cn", owner=rep1)
    note_add(actor=rep1, customer=duplicate, text="Prefers green tea")
    # When Li merges the duplicate into the first record
    response = api_as(rep1).post(f"/customers/{survivor.pk}/merge",
                                 {"merged_id": duplicate.pk})
    # Then one customer remains, with both records' details and the duplicate's note
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == survivor.pk
    assert body["email"] == "zw@example.cn"
    duplicate.refresh_from_db()
    assert not duplicate.is_active
    assert duplicate.merged_into_id == survivor.pk
    assert survivor.notes.filter(text="Prefers green tea").exists()
    assert CustomerEvent.objects.filter(customer=survivor, type=EventType.MERGED).exists()
    listed = api_as(rep1).get("/customers").json()["items"]
    assert [c["id"] for c in listed] == [survivor.pk]


def test_a_customer_cannot_be_merged_into_itself(api_as: ApiAs, rep1: User,
                                                 li_customers: list[Customer]) -> None:
    customer = li_customers[0]
    response = api_as(rep1).post(f"/customers/{customer.pk}/merge",
                                 {"merged_id": customer.pk})
    assert response.status_code == 409
    assert response.json()["code"] == "merge_into_itself"


def test_a_rep_cannot_merge_away_someone_elses_customer(
    api_as: ApiAs, rep1: User, li_customers: list[Customer], wang_customer: Customer
) -> None:
    response = api_as(rep1).post(f"/customers/{li_customers[0].pk}/merge",
                                 {"merged_id": wang_customer.pk})
    assert response.status_code == 404
    wang_customer.refresh_from_db()
    assert wang_customer.is_active


def test_an_agent_may_not_merge(api_as: ApiAs, agent: User,
                                li_customers: list[Customer]) -> None:
    response = api_as(agent).post(f"/customers/{li_customers[0].pk}/merge",
                                  {"merged_id": li_customers[1].pk})
    assert response.status_code == 403
    assert response.json()["code"] == "read_only"


def test_merge_needs_the_merged_id(api_as: ApiAs, rep1: User,
                                   li_customers: list[Customer]) -> None:
    response = api_as(rep1).post(f"/customers/{li_customers[0].pk}/merge", {})
    assert response.status_code == 422
    assert response.json()["field"] == "merged_id"
