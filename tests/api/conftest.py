"""API test helpers: a client that authenticates the way a program does, with a bearer token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_create


class ApiClient:
    """Django's test client with a bearer token and JSON in and out."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _send(self, method: str, path: str, body: Any) -> Any:
        call = getattr(self.client, method)
        return call(f"/api/v1{path}", data=json.dumps(body), content_type="application/json",
                    headers=self.headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"/api/v1{path}", data=params or {}, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self._send("post", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self._send("put", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._send("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers)


@pytest.fixture
def api_as() -> Callable[[User], ApiClient]:
    """``api_as(rep1)``: a client holding a fresh token of that person."""

    def make(user: User) -> ApiClient:
        _token, raw = api_token_create(user=user, name="tests")
        return ApiClient(raw)

    return make


@pytest.fixture
def li_customers(rep1: User) -> list[Customer]:
    """Three customers owned by Li (rep1)."""
    return [
        customer_create(actor=rep1, name="张伟", phone="13800138000", email="zw@example.cn",
                        city="上海", owner=rep1),
        customer_create(actor=rep1, name="Alice Brown", email="alice@example.com",
                        city="Beijing", owner=rep1, external_id="ERP-1001"),
        customer_create(actor=rep1, name="李娜", phone="13900139000", city="上海", owner=rep1),
    ]


@pytest.fixture
def wang_customer(rep2: User) -> Customer:
    """A customer of Wang (rep2), whom Li must not know about."""
    return customer_create(actor=rep2, name="王芳", phone="13700137000", owner=rep2)
