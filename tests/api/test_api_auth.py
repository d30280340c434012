"""Tokens: per user, stored hashed, shown once, revocable; and the error shape of a refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from guanxi.accounts.models import ApiToken, User, hash_token
from guanxi.accounts.services import api_token_create
from guanxi.customers.models import Customer

ApiAs = Callable[[User], Any]

NOT_AUTHENTICATED = {
    "code": "not_authenticated",
    "message": "Sign in, or send a valid token: Authorization: Bearer <token>.",
    "field": None,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_lets_its_owner_in(rep1: User, li_customers: list[Customer]) -> None:
    _token, raw = api_token_create(user=rep1, name="shop sync")
    response = Client().get("/api/v1/customers", headers=bearer(raw))
    assert response.status_code == 200
    assert len(response.json()["items"]) == 3


@pytest.mark.parametrize("header", [
    None, "Bearer gx_wrong", "Bearer ", "Basic bGk6cGFzcw==", "Bearer 令牌",
])
def test_no_or_a_wrong_token_is_refused_in_the_common_shape(
    db: None, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = Client().get("/api/v1/customers", headers=headers)
    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED


def test_a_revoked_token_no_longer_works(api_as: ApiAs, rep1: User) -> None:
    # Given Li has two tokens, one for a script they retire
    client = api_as(rep1)
    created = client.post("/tokens", {"name": "old script"}).json()
    old = Client()
    assert old.get("/api/v1/customers", headers=bearer(created["token"])).status_code == 200
    # When Li revokes it
    response = client.delete(f"/tokens/{created['id']}")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    # Then it is refused, while Li's other token still works
    assert old.get("/api/v1/customers", headers=bearer(created["token"])).status_code == 401
    assert client.get("/customers").status_code == 200


def test_only_the_hash_is_stored_and_the_raw_token_is_shown_once(
    api_as: ApiAs, rep1: User
) -> None:
    client = api_as(rep1)
    created = client.post("/tokens", {"name": "BI export"})
    assert created.status_code == 201
    raw = created.json()["token"]
    stored = ApiToken.objects.get(pk=created.json()["id"])
    assert stored.digest == hash_token(raw)
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix)
    listed = client.get("/tokens").json()
    assert {t["name"] for t in listed} == {"tests", "BI export"}
    assert all("token" not in t for t in listed)
    assert raw not in str(listed)


def test_nobody_revokes_or_lists_someone_elses_token(api_as: ApiAs, rep1: User,
                                                     rep2: User) -> None:
    theirs, _raw = api_token_create(user=rep2, name="wang's")
    client = api_as(rep1)
    response = client.delete(f"/tokens/{theirs.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "token_not_found"
    assert "wang's" not in {t["name"] for t in client.get("/tokens").json()}
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_token_of_a_deactivated_user_is_refused(rep1: User) -> None:
    _token, raw = api_token_create(user=rep1, name="x")
    User.objects.filter(pk=rep1.pk).update(is_active=False)
    assert Client().get("/api/v1/customers", headers=bearer(raw)).status_code == 401


def test_a_signed_in_browser_session_may_read(rep1: User, li_customers: list[Customer]) -> None:
    client = Client()
    client.force_login(rep1)
    assert client.get("/api/v1/customers").status_code == 200


def test_a_token_name_is_required(api_as: ApiAs, rep1: User) -> None:
    response = api_as(rep1).post("/tokens", {"name": ""})
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("validation_error", "name")
